"""Attribute-guided arithmetic: exemplars found by a classifier, results scored by it.

Instead of picking exemplars by eye, a concept can be a label query
(:mod:`.queries`). A seeded *pool* of latents is generated and classified;
each query concept keeps its most confident matching pool latents (three by
default, as in the DCGAN paper). The result and its neighbours are then
classified too, and their share matching the *expected* query is set against
the same share over the whole pool (random latents): an expression that
works scores far above chance.

Everything here takes the classifier as an object with
``probabilities(images)``, ``label_names`` and ``multi_label`` (the feature
extractor contract), so it runs on numpy alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganlab.latents import sample_latents

from .exemplars import LatentSpecError
from .expression import Expression
from .queries import BoundQuery, bind_query, literals, parse_query

#: Images generated and classified at a time, so a large pool never sits in memory.
CHUNK = 256


@dataclass(frozen=True)
class Pool:
    """Candidate latents: latent ``i`` is the seed exemplar ``s<first_seed + i>``.

    Drawing each from its own seed makes every chosen exemplar one the user
    can name again (``--concept man=s2071,s2133``) without the pool.
    """

    first_seed: int
    latents: np.ndarray

    @classmethod
    def draw(cls, size: int, first_seed: int, latent_dim: int, distribution: str) -> Pool:
        """``size`` latents from seeds ``first_seed, first_seed + 1, ...``."""
        latents = np.concatenate([sample_latents(1, latent_dim, distribution, first_seed + i)
                                  for i in range(size)])
        return cls(first_seed, latents)

    def label(self, index: int) -> str:
        """The seed exemplar of pool latent ``index``, e.g. ``s2071``."""
        return f"s{self.first_seed + int(index)}"


def classify(generate: Callable[[np.ndarray], np.ndarray], classifier: Any,
             latents: np.ndarray) -> np.ndarray:
    """The classifier's probabilities ``(n, k)`` for the images of ``latents``, chunk by chunk."""
    rows = [np.asarray(classifier.probabilities(generate(latents[i:i + CHUNK])), np.float64)
            for i in range(0, len(latents), CHUNK)]
    return np.concatenate(rows)


@dataclass(frozen=True)
class Choice:
    """The exemplars a query concept keeps from the pool.

    Attributes:
        indices: Pool indices, most confident first.
        matching: How many of them match the query (fewer than ``len(indices)``
            when the pool holds too few matches; the rest are the next most
            confident latents).

    """

    indices: np.ndarray
    matching: int


def choose_exemplars(query: BoundQuery, probabilities: np.ndarray, count: int) -> Choice:
    """The ``count`` pool latents that match ``query`` most confidently."""
    confidence, matches = query.evaluate(probabilities)
    # Matches first, then by confidence (descending); ties keep pool order.
    order = np.lexsort((-confidence, ~matches))[:count]
    return Choice(order, int(matches[order].sum()))


@dataclass(frozen=True)
class Verdict:
    """How often the result and its neighbours show the expected query, against chance.

    Attributes:
        expect: The expected query's text.
        matched: Result and neighbours that match.
        total: Result and neighbours classified.
        baseline: Share of random latents (the pool) that match.
        pool_size: How many random latents the baseline is over.

    """

    expect: str
    matched: int
    total: int
    baseline: float
    pool_size: int

    @property
    def rate(self) -> float:
        """Share of the result and its neighbours that match."""
        return self.matched / self.total

    def line(self) -> str:
        """One line for the figure and the command's output."""
        return (f"result matches '{self.expect}': {self.matched}/{self.total} "
                f"({100 * self.rate:.0f} %); random latents: {100 * self.baseline:.0f} %")


def judge(expect: BoundQuery, result_probabilities: np.ndarray,
          pool_probabilities: np.ndarray) -> Verdict:
    """Score the result (and neighbours) and the pool against ``expect``."""
    _, result_matches = expect.evaluate(result_probabilities)
    _, pool_matches = expect.evaluate(pool_probabilities)
    return Verdict(expect.text, int(result_matches.sum()), len(result_matches),
                   float(pool_matches.mean()), len(pool_matches))


def bind_queries(queries: Mapping[str, Any], classifier: Any) -> dict[str, BoundQuery]:
    """Resolve every query's labels against the classifier (``LatentSpecError`` if unknown)."""
    names, multi = list(classifier.label_names), bool(classifier.multi_label)
    bound = {}
    for name, query in queries.items():
        try:
            bound[name] = bind_query(query, names, multi)
        except LatentSpecError as exc:
            raise LatentSpecError(f"concept '{name}': {exc}") from None
    return bound


def derive_expectation(expression: Expression, queries: Mapping[str, BoundQuery],
                       classifier: Any) -> BoundQuery | None:
    """The query the result should satisfy, when the expression's concepts imply one.

    Every concept must be a query that is a conjunction of labels and negated
    labels. Each label's coefficients are summed (``+c`` for ``A``, ``-c`` for
    ``!A``): for a multi-label classifier the expectation is the conjunction of
    the labels with a positive sum and the negations of those with a negative
    sum (``Eyeglasses & Male`` - ``Male & !Eyeglasses`` + ``!Male & !Eyeglasses``
    gives ``Eyeglasses & !Male``); for a single-label classifier, whose classes
    exclude each other, the classes with a positive sum joined by ``|``.

    Returns:
        The expectation, or ``None`` when nothing can be derived.

    """
    totals: dict[int, float] = {}
    for term in expression.terms:
        signs = literals(queries[term.name]) if term.name in queries else None
        if signs is None:
            return None
        for column, sign in signs.items():
            totals[column] = totals.get(column, 0.0) + term.coefficient * sign
    names = list(classifier.label_names)
    if classifier.multi_label:
        parts = [names[c] if total > 0 else f"!{names[c]}"
                 for c, total in totals.items() if abs(total) > 1e-9]
        text = " & ".join(parts)
    else:
        text = " | ".join(names[c] for c, total in totals.items() if total > 1e-9)
    if not text:
        return None
    try:
        return bind_query(parse_query(text), names, bool(classifier.multi_label))
    except LatentSpecError:
        return None  # label names that are not query atoms: nothing to derive
