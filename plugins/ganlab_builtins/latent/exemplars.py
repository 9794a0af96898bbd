"""Exemplars (latents a user picked) and concepts made of them.

An *exemplar* is a latent the user picked by looking at generated images:

- ``12``: entry 12 of the run's fixed, numbered latent bank (``latents.npy``;
  ``ganlab sample RUN --numbered`` labels each image with its index);
- ``s42``: ``sample_latents(1, latent_dim, prior, seed=42)``, a latent drawn
  from a seed (``ganlab sample RUN --seed 42 --num 1`` shows it).

A *concept* is a name and a few exemplars; its latent is their mean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganlab.latents import sample_latents

from .bounds import MAX_CONCEPTS, MAX_EXEMPLARS, SEED_LIMIT

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# ASCII digits only: str.isdigit() also accepts '²', which int() then rejects.
_INDEX = re.compile(r"[0-9]{1,10}")
_SEED = re.compile(r"[sS]([0-9]{1,10})")


class LatentSpecError(ValueError):
    """A concept, exemplar, query, expression or pair is malformed (message says how)."""


@dataclass(frozen=True)
class Exemplar:
    """One latent the user picked: a bank index or a seed (exactly one is set).

    Attributes:
        index: Index into the run's latent bank.
        seed: Seed of a latent drawn with :func:`ganlab.latents.sample_latents`.

    """

    index: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        values = [v for v in (self.index, self.seed) if v is not None]
        if len(values) != 1 or not 0 <= values[0] < SEED_LIMIT:
            raise LatentSpecError(f"an exemplar is one bank index or seed from 0 to "
                                  f"{SEED_LIMIT - 1}, got index={self.index!r}, "
                                  f"seed={self.seed!r}")

    @property
    def label(self) -> str:
        """``12`` or ``s42``: how the user writes it (and how images are labelled)."""
        return f"s{self.seed}" if self.seed is not None else str(self.index)

    def latent(self, bank: np.ndarray, latent_dim: int, distribution: str) -> np.ndarray:
        """The latent vector, ``(latent_dim,)`` float32.

        Raises:
            LatentSpecError: A bank index outside the bank.

        """
        if self.seed is not None:
            return sample_latents(1, latent_dim, distribution, self.seed)[0]
        if self.index >= len(bank):
            raise LatentSpecError(
                f"exemplar {self.index} is outside the run's latent bank, which holds "
                f"{len(bank)} latents (0-{len(bank) - 1}); pick indices from "
                "'ganlab sample RUN --numbered', or use a seed exemplar such as s42")
        return np.asarray(bank[self.index], dtype=np.float32)


def parse_exemplar(value: int | str) -> Exemplar:
    """``12``/``"12"`` → bank index 12; ``"s42"`` → seed 42.

    Raises:
        LatentSpecError: Anything else (a negative or non-ASCII number included).

    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < SEED_LIMIT:
        return Exemplar(index=value)
    text = value.strip() if isinstance(value, str) else None
    if text and _INDEX.fullmatch(text) and int(text) < SEED_LIMIT:
        return Exemplar(index=int(text))
    seed = _SEED.fullmatch(text) if text else None
    if seed and int(seed.group(1)) < SEED_LIMIT:
        return Exemplar(seed=int(seed.group(1)))
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise LatentSpecError(f"bad exemplar {shown}: expected a latent-bank index such as 12 "
                          f"or a seed such as s42 (written with the digits 0-9, below 2**32)")


def parse_exemplars(values: str | int | Sequence[int | str]) -> tuple[Exemplar, ...]:
    """A comma-separated string or a list of exemplars → 1 to 16 :class:`Exemplar`."""
    if isinstance(values, str):
        items: Sequence[int | str] = [v for v in values.split(",") if v.strip()]
    elif isinstance(values, int) and not isinstance(values, bool):
        items = [values]
    elif isinstance(values, Sequence):
        items = values
    else:
        raise LatentSpecError(f"expected a list of exemplars, got {values!r}")
    if not items:
        raise LatentSpecError("a concept needs at least one exemplar (the paper used three)")
    if len(items) > MAX_EXEMPLARS:
        raise LatentSpecError(f"{len(items)} exemplars; a concept has at most "
                              f"{MAX_EXEMPLARS} (the paper used three)")
    return tuple(parse_exemplar(item) for item in items)


def check_concept_name(name: Any) -> str:
    """``name`` if it is a valid concept name, else :class:`LatentSpecError`."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise LatentSpecError(f"bad concept name {name!r}: use letters, digits and _, not "
                              "starting with a digit (e.g. glasses_man)")
    return name


def check_concept_count(count: int) -> None:
    """Refuse more than :data:`~.bounds.MAX_CONCEPTS` concepts."""
    if count > MAX_CONCEPTS:
        raise LatentSpecError(f"{count} concepts; at most {MAX_CONCEPTS} can be defined")


def parse_concepts(concepts: Mapping[str, Any]) -> dict[str, tuple[Exemplar, ...]]:
    """A mapping ``name → exemplars`` (lists or ``"12,40,s7"`` strings), validated."""
    if not isinstance(concepts, Mapping) or not concepts:
        raise LatentSpecError("concepts must be a non-empty mapping of concept name to a list "
                              "of exemplars, e.g. {man: [3, 8, 21], woman: [5, 33, 60]}")
    check_concept_count(len(concepts))
    parsed = {}
    for name, values in concepts.items():
        try:
            parsed[check_concept_name(name)] = parse_exemplars(values)
        except LatentSpecError as exc:
            raise LatentSpecError(f"concept {name!r}: {exc}") from None
    return parsed


def split_option(option: str, flag: str, syntax: str, example: str) -> tuple[str, str]:
    """``"NAME=VALUE"`` → name and value (the ``--concept``/``--query`` syntax)."""
    name, sep, value = option.partition("=")
    if not sep:
        raise LatentSpecError(f"{flag} {option!r}: expected {syntax}, such as {example}")
    try:
        return check_concept_name(name.strip()), value
    except LatentSpecError as exc:
        raise LatentSpecError(f"{flag} {option!r}: {exc}") from None


def parse_concept_option(option: str) -> tuple[str, tuple[Exemplar, ...]]:
    """``"glasses_man=12,40,s57"`` (the ``--concept`` syntax) → name and exemplars."""
    name, values = split_option(option, "--concept", "NAME=E1,E2,...",
                                  "glasses_man=12,40,57")
    try:
        return name, parse_exemplars(values)
    except LatentSpecError as exc:
        raise LatentSpecError(f"--concept {option!r}: {exc}") from None


def parse_pair(pair: Any) -> tuple[Exemplar, Exemplar]:
    """``[from, to]`` → two exemplars."""
    if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise LatentSpecError(f"bad pair {pair!r}: expected [from, to], e.g. [3, 17] or "
                              "[s1, s2]")
    return parse_exemplar(pair[0]), parse_exemplar(pair[1])


def exemplar_latents(exemplars: Sequence[Exemplar], bank: np.ndarray, latent_dim: int,
                     distribution: str) -> np.ndarray:
    """The latents of ``exemplars``, ``(k, latent_dim)`` float32."""
    return np.stack([e.latent(bank, latent_dim, distribution) for e in exemplars])
