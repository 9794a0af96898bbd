"""Latent priors, the fixed latent bank, and interpolation (numpy; no TensorFlow).

The engine draws training latents from a ``tf.random.Generator`` (so its
state lives in the checkpoint); everything a user names — bank entries,
seeds — comes from here, reproducibly.
"""

from __future__ import annotations

import numpy as np

from ganlab.contracts import LATENT_DISTRIBUTIONS


def check_distribution(distribution: str) -> str:
    """Return ``distribution`` if known, else raise ``ValueError``."""
    if distribution not in LATENT_DISTRIBUTIONS:
        raise ValueError(f"latent distribution must be one of {LATENT_DISTRIBUTIONS}, "
                         f"got {distribution!r}")
    return distribution


def sample_latents(count: int, latent_dim: int, distribution: str, seed: int) -> np.ndarray:
    """``count`` float32 latents from the prior, reproducible from ``seed``.

    Args:
        count: Number of latents.
        latent_dim: Size of each.
        distribution: ``"normal"`` (N(0, 1)) or ``"uniform"`` (U(-1, 1), the DCGAN paper).
        seed: Any non-negative integer.

    """
    rng = np.random.default_rng(seed)
    if check_distribution(distribution) == "uniform":
        values = rng.uniform(-1.0, 1.0, size=(count, latent_dim))
    else:
        values = rng.standard_normal(size=(count, latent_dim))
    return values.astype(np.float32)


def with_class(latents: np.ndarray, num_classes: int, label: int) -> np.ndarray:
    """``latents`` made to name class ``label`` for a class-conditional generator.

    A conditional generator draws the class that the argmax of a latent's
    last ``num_classes`` entries names. Each latent's largest class entry is
    swapped with entry ``label``: a permutation, so the entries keep the
    prior's distribution and z is untouched.

    Raises:
        ValueError: ``num_classes`` is 0 (an unconditional generator) or
            ``label`` is not in ``0 .. num_classes - 1``.

    """
    if num_classes < 2:
        raise ValueError("the generator is not class-conditional (num_classes is 0)")
    if not 0 <= label < num_classes:
        raise ValueError(f"class {label} is not one of the generator's classes "
                         f"0-{num_classes - 1}")
    chosen = np.array(latents, dtype=np.float32, copy=True)
    entries = chosen[:, -num_classes:]  # a view: swapping in it edits `chosen`
    rows = np.arange(len(entries))
    largest = entries.argmax(axis=1)
    entries[rows, largest], entries[rows, label] = entries[rows, label], entries[rows, largest]
    return chosen


#: Mixed into a truncation's seed, so that its resampling draws are not the latents' own.
TRUNCATION_STREAM = 0x7472756E
#: The smallest truncation threshold (below it, resampling takes very many rounds).
MIN_TRUNCATION = 0.01


def truncate(latents: np.ndarray, threshold: float, seed: int, num_classes: int = 0,
             first_index: int = 0) -> np.ndarray:
    """The truncation trick (Brock et al. 2019): entries beyond ``±threshold`` resampled.

    Every entry of a normal latent with ``|z| > threshold`` is drawn again from
    N(0, 1) until it falls inside, so the latents follow the normal prior
    truncated to ``[-threshold, threshold]``. Lower thresholds trade variety
    for fidelity.

    Row ``r`` is resampled from its own stream, seeded by ``(seed, first_index
    + r)``: a latent is truncated the same way whatever batch it comes in,
    and the first 5,000 of 50,000 truncated samples are the 5,000 truncated
    samples.

    A class-conditional generator draws the class that the argmax of the last
    ``num_classes`` entries names. Those entries are truncated too (the
    network sees them), then each row's largest class entry is swapped with
    the entry of its original class, so every latent still names the class
    it named before (all entries stay inside the threshold).

    Args:
        latents: ``(n, latent_dim)`` normal latents.
        threshold: The truncation threshold (at least :data:`MIN_TRUNCATION`).
        seed: Seeds the resampling.
        num_classes: ``K`` of a class-conditional generator (``0``: none).
        first_index: The index of the first row in its sample (see above).

    Raises:
        ValueError: ``threshold`` is below :data:`MIN_TRUNCATION` or not finite.

    """
    if not (np.isfinite(threshold) and threshold >= MIN_TRUNCATION):
        raise ValueError(f"the truncation threshold must be a number from {MIN_TRUNCATION}, "
                         f"got {threshold!r}")
    truncated = np.array(latents, dtype=np.float32, copy=True)
    classes = truncated[:, -num_classes:].argmax(axis=1) if num_classes else None
    for row, values in enumerate(truncated):
        rng = np.random.default_rng([seed, TRUNCATION_STREAM, first_index + row])
        outside = np.abs(values) > threshold
        while outside.any():
            values[outside] = rng.standard_normal(int(outside.sum())).astype(np.float32)
            outside = np.abs(values) > threshold
    if classes is not None:
        _name_classes(truncated[:, -num_classes:], classes)
    return truncated


def truncate_exemplar(latent: np.ndarray, threshold: float, *, run_seed: int,
                      index: int | None = None, seed: int | None = None,
                      num_classes: int = 0) -> np.ndarray:
    """One named latent truncated the way ``ganlab sample --truncation`` truncates its cell.

    Bank entry ``index`` is row ``index`` of the run's seed; the latent of
    seed ``S`` is row 0 of seed ``S`` (see :func:`truncate`).

    Args:
        latent: The ``(latent_dim,)`` latent.
        threshold: The truncation threshold.
        run_seed: The run's seed (for bank entries).
        index: Its bank index, or
        seed: the seed it was drawn from (exactly one of the two).
        num_classes: ``K`` of a class-conditional generator.

    """
    if seed is not None:
        return truncate(latent[None], threshold, seed, num_classes)[0]
    return truncate(latent[None], threshold, run_seed, num_classes, first_index=int(index or 0))[0]


def check_truncation(distribution: str, threshold: float | None) -> None:
    """Refuse truncation for a prior it does not apply to.

    Raises:
        ValueError: ``threshold`` is given for uniform latents.

    """
    if threshold is not None and check_distribution(distribution) == "uniform":
        raise ValueError(
            "truncation applies to normal latents, but this run's latents are uniform in "
            "[-1, 1] (already bounded): drop --truncation, or train with a normal prior "
            "(the architecture's latent_distribution: normal)")


def _name_classes(entries: np.ndarray, classes: np.ndarray) -> None:
    """Swap each row's largest entry with the entry of its class (in place)."""
    rows = np.arange(len(entries))
    largest = entries.argmax(axis=1)
    entries[rows, largest], entries[rows, classes] = entries[rows, classes], entries[rows, largest]


def lerp(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points on the straight line from ``start`` to ``end`` (both included)."""
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return ((1.0 - weights) * start[None, :] + weights * end[None, :]).astype(np.float32)


def slerp(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points on the great circle from ``start`` to ``end`` (White, 2016).

    Falls back to :func:`lerp` when the two are (anti)parallel.
    """
    unit_start = start / np.linalg.norm(start)
    unit_end = end / np.linalg.norm(end)
    omega = np.arccos(np.clip(np.dot(unit_start, unit_end), -1.0, 1.0))
    if np.isclose(np.sin(omega), 0.0):
        return lerp(start, end, steps)
    weights = np.linspace(0.0, 1.0, steps)[:, None]
    coefficients_start = np.sin((1.0 - weights) * omega) / np.sin(omega)
    coefficients_end = np.sin(weights * omega) / np.sin(omega)
    return (coefficients_start * start[None, :] + coefficients_end * end[None, :]).astype(
        np.float32)
