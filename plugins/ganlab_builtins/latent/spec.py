"""What an arithmetic figure is made of, from the callback's params or the command's options.

Both the ``latent_arithmetic`` callback and ``ganlab arithmetic`` turn their
input into one :class:`ArithmeticSpec`, checked against every bound before
any image is generated, and draw it with :func:`~.figure.draw_figure`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .bounds import (
    MAX_EXEMPLARS,
    MAX_JITTER,
    MAX_NEIGHBOURS,
    MAX_POOL_SIZE,
    SEED_LIMIT,
    check_int,
    check_number,
    check_seed,
)
from .exemplars import (
    Exemplar,
    LatentSpecError,
    check_concept_count,
    check_concept_name,
    parse_concepts,
    split_option,
)
from .expression import Expression, parse_expression
from .layout import ArithmeticLayout
from .queries import Query, parse_query

DEFAULT_POOL_SIZE = 2000
DEFAULT_EXEMPLARS = 3


@dataclass(frozen=True)
class ArithmeticSpec:
    """A validated arithmetic figure: concepts, expression and the guided-search settings.

    Attributes:
        expression: The parsed expression.
        exemplars: Concepts given by exemplars (bank indices, seeds).
        queries: Concepts given by label queries.
        expect: The query the result should satisfy (``None``: derive it
            from the queries when possible).
        neighbours: Jittered neighbours of the result.
        jitter: Half-width of their uniform noise.
        seed: Seed of the jitter (``None``: the run's seed).
        per_query: Exemplars kept per query concept.
        pool_size: Latents generated and classified to find them.
        pool_seed: First seed of the pool (``None``: the run's seed).

    """

    expression: Expression
    exemplars: dict[str, tuple[Exemplar, ...]]
    queries: dict[str, Query]
    expect: Query | None = None
    neighbours: int = 8
    jitter: float = 0.25
    seed: int | None = None
    per_query: int = DEFAULT_EXEMPLARS
    pool_size: int = DEFAULT_POOL_SIZE
    pool_seed: int | None = None

    @classmethod
    def build(cls, *, concepts: Mapping[str, Any] | None, queries: Mapping[str, Any] | None,
              expression: str, expect: str | None = None, neighbours: int = 8,
              jitter: float = 0.25, seed: int | None = None,
              exemplars: int = DEFAULT_EXEMPLARS, pool_size: int = DEFAULT_POOL_SIZE,
              pool_seed: int | None = None) -> ArithmeticSpec:
        """Validate everything; ``ValueError`` (:class:`LatentSpecError`) says what is wrong."""
        by_exemplars = parse_concepts(concepts) if concepts else {}
        by_query = parse_queries(queries) if queries else {}
        if not by_exemplars and not by_query:
            raise LatentSpecError(
                "no concepts: give concepts (exemplars, e.g. {man: [3, 8, 21]}) or queries "
                "(labels, e.g. {man: 'Male & !Eyeglasses'}), or both")
        both = sorted(set(by_exemplars) & set(by_query))
        if both:
            raise LatentSpecError(f"concept(s) {', '.join(both)} defined both by exemplars and "
                                  "by a query; give each concept one way")
        check_concept_count(len(by_exemplars) + len(by_query))
        parsed = parse_expression(expression, known=[*by_exemplars, *by_query])
        pool_size = check_int("pool_size", pool_size, 1, MAX_POOL_SIZE)
        pool_seed = check_seed("pool_seed", pool_seed)
        if pool_seed is not None and pool_seed + pool_size > SEED_LIMIT:
            raise LatentSpecError(f"pool_seed + pool_size must stay below 2**32 (the pool's "
                                  f"latents are seeds pool_seed, pool_seed + 1, ...), got "
                                  f"{pool_seed} + {pool_size}")
        return cls(
            expression=parsed, exemplars=by_exemplars, queries=by_query,
            expect=_parse_expect(expect),
            neighbours=check_int("neighbours", neighbours, 0, MAX_NEIGHBOURS),
            jitter=check_number("jitter", jitter, 0.0, MAX_JITTER),
            seed=check_seed("seed", seed),
            per_query=check_int("exemplars", exemplars, 1, MAX_EXEMPLARS),
            pool_size=pool_size, pool_seed=pool_seed)

    @property
    def needs_classifier(self) -> bool:
        """Query concepts and expectations are judged by the dataset's classifier."""
        return bool(self.used_queries) or self.expect is not None

    @property
    def used_queries(self) -> dict[str, Query]:
        """The query concepts the expression uses."""
        return {name: q for name, q in self.queries.items() if name in self.expression.names}

    def used_exemplars(self) -> list[Exemplar]:
        """Every exemplar of the exemplar concepts the expression uses."""
        return [e for name in self.expression.names for e in self.exemplars.get(name, ())]

    def check_figure(self, image_shape: tuple[int, ...]) -> None:
        """Refuse (``ValueError``) a figure too large to draw, before generating anything."""
        labels = [self.expression.term_label(i) + self.row_note(term.name)
                  for i, term in enumerate(self.expression.terms)]
        columns = max([len(self.exemplars.get(n, ())) for n in self.expression.names]
                      + [self.per_query if self.used_queries else 0])
        verdict = "x" * (70 + len(self.expect.text if self.expect else "x" * 40))
        ArithmeticLayout.plan(row_labels=labels, columns=columns, neighbours=self.neighbours,
                              image_size=tuple(image_shape[:2]), caption=f"x\n{verdict}",
                              title="x" * (len(self.expression.text) + 40))

    def row_note(self, name: str) -> str:
        """The query after a query concept's row label, as the figure shows it."""
        return f"  [{self.queries[name].text}]" if name in self.queries else ""


def parse_queries(queries: Mapping[str, Any]) -> dict[str, Query]:
    """A mapping ``name → query text``, validated."""
    if not isinstance(queries, Mapping):
        raise LatentSpecError("queries must be a mapping of concept name to a label query, "
                              "e.g. {man: 'Male & !Eyeglasses', woman: '!Male & !Eyeglasses'}")
    check_concept_count(len(queries))
    parsed = {}
    for name, text in queries.items():
        try:
            check_concept_name(name)
            if isinstance(text, int) and not isinstance(text, bool):
                text = str(text)  # YAML reads `seven: 7` as a number: the class 7
            if not isinstance(text, str):
                raise LatentSpecError(f"expected a query string such as 'Eyeglasses & Male', "
                                      f"got {text!r}")
            parsed[name] = parse_query(text)
        except LatentSpecError as exc:
            raise LatentSpecError(f"query concept {name!r}: {exc}") from None
    return parsed


def parse_query_option(option: str) -> tuple[str, Query]:
    """``'man=Male & !Eyeglasses'`` (the ``--query`` syntax) → name and query."""
    name, text = split_option(option, "--query", "NAME=QUERY",
                              "glasses_man='Eyeglasses & Male'")
    try:
        return name, parse_query(text)
    except LatentSpecError as exc:
        raise LatentSpecError(f"--query {option!r}: {exc}") from None


def _parse_expect(expect: Any) -> Query | None:
    if expect is None:
        return None
    if isinstance(expect, int) and not isinstance(expect, bool):
        expect = str(expect)
    if not isinstance(expect, str):
        raise LatentSpecError(f"expect must be a query string such as 'Eyeglasses & !Male', "
                              f"got {expect!r}")
    try:
        return parse_query(expect)
    except LatentSpecError as exc:
        raise LatentSpecError(f"expect: {exc}") from None
