"""Drawing one arithmetic figure from a spec: exemplars, queries, classifier verdict."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from ganlab.latents import truncate_exemplar

from .arithmetic import ArithmeticLatents, latent_arithmetic
from .exemplars import Exemplar, exemplar_latents
from .guided import (
    Pool,
    Verdict,
    bind_queries,
    choose_exemplars,
    classify,
    derive_expectation,
    judge,
)
from .queries import BoundQuery
from .render import draw_arithmetic, generate_arithmetic
from .spec import ArithmeticSpec

Generate = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LatentSpace:
    """A run's latent space: where exemplars come from.

    Attributes:
        bank: The run's fixed, numbered latents.
        latent_dim: Latent size.
        distribution: The prior, ``"normal"`` or ``"uniform"``.
        seed: The run's seed (default of the jitter and pool seeds).
        truncation: Truncate the exemplars' and the pool's (normal) latents at
            this threshold, each as ``ganlab sample --truncation`` truncates
            it (:func:`ganlab.latents.truncate_exemplar`); the arithmetic's
            results and neighbours are what the truncated exemplars give.
        num_classes: ``K`` of a class-conditional run (truncation keeps classes).

    """

    bank: np.ndarray
    latent_dim: int
    distribution: str
    seed: int
    truncation: float | None = None
    num_classes: int = 0

    def truncated(self, latents: np.ndarray, exemplars: Sequence[Exemplar]) -> np.ndarray:
        """``latents`` (one per exemplar) truncated when the space says so."""
        if self.truncation is None:
            return latents
        return np.stack([truncate_exemplar(latent, self.truncation, run_seed=self.seed,
                                           index=e.index, seed=e.seed,
                                           num_classes=self.num_classes)
                         for latent, e in zip(latents, exemplars, strict=True)])


@dataclass(frozen=True)
class Judge:
    """The classifier with the spec's queries and expectation resolved to its labels.

    Attributes:
        classifier: ``probabilities(images)``, ``label_names``, ``multi_label``.
        queries: Query concept → its bound query.
        expect: The expectation (given or derived), or ``None``.
        derived: Whether ``expect`` was derived from the queries.

    """

    classifier: Any
    queries: dict[str, BoundQuery]
    expect: BoundQuery | None
    derived: bool

    @classmethod
    def bind(cls, spec: ArithmeticSpec, classifier: Any) -> Judge:
        """Resolve labels (:class:`~.exemplars.LatentSpecError` names an unknown one)."""
        queries = bind_queries(spec.used_queries, classifier)
        if spec.expect is not None:
            expect = bind_queries({"expect": spec.expect}, classifier)["expect"]
            return cls(classifier, queries, expect, derived=False)
        derived = derive_expectation(spec.expression, queries, classifier) if queries else None
        return cls(classifier, queries, derived, derived=derived is not None)


@dataclass(frozen=True)
class FigureReport:
    """What a figure says beyond its pictures.

    Attributes:
        verdict: The classifier's score of the result, when there is an expectation.
        labels: Concept name → its exemplars' labels (pool picks are seeds, ``s2071``).
        shortfalls: Query concepts whose pool held too few matching latents.
        unscored: Why the result was not scored, when it was not.
        arithmetic: Every latent of the figure.

    """

    verdict: Verdict | None = None
    labels: dict[str, list[str]] = field(default_factory=dict)
    shortfalls: list[str] = field(default_factory=list)
    unscored: str = ""
    arithmetic: ArithmeticLatents | None = None

    def lines(self) -> list[str]:
        """The caption lines below the figure's own caption."""
        if self.verdict is not None:
            return [self.verdict.line(), *self.shortfalls]
        return [line for line in [self.unscored, *self.shortfalls] if line]


def draw_pool(spec: ArithmeticSpec, space: LatentSpace) -> Pool:
    """The spec's candidate latents (seeded by ``pool_seed``, else the run's seed)."""
    first = space.seed if spec.pool_seed is None else spec.pool_seed
    first = min(first, 2**32 - spec.pool_size)  # the last seed stays a valid seed
    pool = Pool.draw(spec.pool_size, first, space.latent_dim, space.distribution)
    seeds = [Exemplar(seed=first + i) for i in range(len(pool.latents))]
    return Pool(pool.first_seed, space.truncated(pool.latents, seeds))


def draw_figure(spec: ArithmeticSpec, generate: Generate, space: LatentSpace, *,
                judge_with: Judge | None = None, pool: Pool | None = None,
                title: str = "") -> tuple[Image.Image, FigureReport]:
    """Choose exemplars, do the arithmetic, generate, score and lay out the figure.

    Args:
        spec: The figure.
        generate: Latents → images in [-1, 1].
        space: The run's latent space.
        judge_with: The classifier; required when ``spec.needs_classifier``.
        pool: The candidate latents (drawn from the spec when ``None``).
        title: Text on top.

    """
    if spec.needs_classifier and judge_with is None:
        raise ValueError("query concepts and expectations need a classifier")
    latents, labels = {}, {}
    for name in spec.expression.names:
        if name in spec.exemplars:
            latents[name] = space.truncated(
                exemplar_latents(spec.exemplars[name], space.bank, space.latent_dim,
                                 space.distribution), spec.exemplars[name])
            labels[name] = [e.label for e in spec.exemplars[name]]
    shortfalls: list[str] = []
    pool_probabilities = None
    if judge_with is not None and (judge_with.queries or judge_with.expect is not None):
        pool = pool or draw_pool(spec, space)
        pool_probabilities = classify(generate, judge_with.classifier, pool.latents)
        for name, query in judge_with.queries.items():
            choice = choose_exemplars(query, pool_probabilities, spec.per_query)
            latents[name] = pool.latents[choice.indices]
            labels[name] = [pool.label(i) for i in choice.indices]
            if choice.matching < len(choice.indices):
                shortfalls.append(
                    f"{name}: {choice.matching} of {len(choice.indices)} exemplars match "
                    f"'{query.text}' (pool of {len(pool.latents)})")
    arithmetic = latent_arithmetic(spec.expression, latents, neighbours=spec.neighbours,
                                   jitter=spec.jitter,
                                   seed=space.seed if spec.seed is None else spec.seed)
    images = generate_arithmetic(generate, arithmetic)
    verdict, unscored = None, ""
    if pool_probabilities is not None and judge_with.expect is not None:
        shown = np.concatenate([images.result[None], images.neighbours])
        verdict = judge(judge_with.expect, np.asarray(judge_with.classifier.probabilities(shown)),
                        pool_probabilities)
    elif spec.used_queries:
        unscored = "result not scored: no expected query (set expect)"
    report = FigureReport(verdict, labels, shortfalls, unscored, arithmetic)
    figure = draw_arithmetic(images, arithmetic, labels, jitter=spec.jitter, title=title,
                             notes=report.lines(),
                             row_notes={n: q.text for n, q in spec.queries.items()})
    return figure, report

