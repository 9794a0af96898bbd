"""The vector arithmetic and the interpolation paths (numpy only).

Radford, Metz & Chintala (2015), section 6 and figure 7: single latents are
unstable, so a concept is the mean of a few exemplar latents (the paper used
three); the expression over the means gives a new latent, shown together
with neighbours: the result plus uniform noise in [-0.25, 0.25].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ganlab.latents import lerp, slerp

from .expression import Expression


@dataclass(frozen=True)
class ArithmeticLatents:
    """Every latent of one arithmetic figure.

    Attributes:
        expression: The expression.
        exemplars: Concept name → its exemplar latents ``(k, d)``.
        means: Concept name → the mean of its exemplars ``(d,)``.
        result: The expression evaluated on the means ``(d,)``.
        neighbours: ``result`` plus uniform jitter ``(n, d)``.

    """

    expression: Expression
    exemplars: dict[str, np.ndarray]
    means: dict[str, np.ndarray]
    result: np.ndarray
    neighbours: np.ndarray

    def batch(self) -> np.ndarray:
        """All latents in one batch, in the order :meth:`split` expects.

        Per concept its exemplars then its mean; then the result; then the neighbours.
        """
        parts = []
        for name in self.expression.names:
            parts += [self.exemplars[name], self.means[name][None]]
        parts += [self.result[None], self.neighbours]
        return np.concatenate(parts).astype(np.float32)

    def split(self, images: np.ndarray) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                                 np.ndarray, np.ndarray]:
        """Images of :meth:`batch` → ``({name: (exemplars, mean)}, result, neighbours)``."""
        per_concept, start = {}, 0
        for name in self.expression.names:
            count = len(self.exemplars[name])
            per_concept[name] = (images[start:start + count], images[start + count])
            start += count + 1
        return per_concept, images[start], images[start + 1:]


def jitter_neighbours(center: np.ndarray, count: int, jitter: float, seed: int) -> np.ndarray:
    """``count`` points ``center + U(-jitter, jitter)`` per coordinate, reproducible."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-jitter, jitter, size=(count, center.shape[-1]))
    return (center[None, :] + noise).astype(np.float32)


def latent_arithmetic(expression: Expression, concepts: Mapping[str, np.ndarray], *,
                      neighbours: int = 8, jitter: float = 0.25,
                      seed: int = 0) -> ArithmeticLatents:
    """Concept means, the expression's result and its jittered neighbours.

    Args:
        expression: The parsed expression.
        concepts: Concept name → exemplar latents ``(k, d)``.
        neighbours: How many jittered neighbours of the result.
        jitter: Half-width of the uniform noise (0.25 in the paper).
        seed: Seed of the noise.

    """
    expression.check_names(list(concepts))
    exemplars = {name: np.asarray(concepts[name], np.float32) for name in expression.names}
    means = {name: latents.mean(axis=0) for name, latents in exemplars.items()}
    result = expression.evaluate(means)
    return ArithmeticLatents(expression, exemplars, means, result,
                             jitter_neighbours(result, neighbours, jitter, seed))


def interpolation_path(start: np.ndarray, end: np.ndarray, steps: int,
                       spherical: bool) -> np.ndarray:
    """``steps`` latents from ``start`` to ``end`` (both included)."""
    return (slerp if spherical else lerp)(start, end, steps)


def default_slerp(distribution: str) -> bool:
    """Spherical (White 2016) for a normal prior, linear (the paper's) for a uniform one.

    Samples of a high-dimensional normal concentrate near a sphere that a
    straight line cuts through; a uniform prior's hypercube contains its chords.
    """
    return distribution == "normal"
