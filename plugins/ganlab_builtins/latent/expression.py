"""The arithmetic expression language: weighted sums of concepts.

``glasses_man - man + woman``, ``0.5*a + 0.5*b``, ``2*(smiling - neutral) + man``:
concept names, numbers, unary and binary ``+`` and ``-``, ``*`` and
parentheses. Python's own parser (:mod:`ast`, eval mode) reads the text; a
walk over the tree then allows only those nodes and multiplies out the
parentheses into a flat list of terms, so nothing is ever evaluated as
Python and every other construct is refused with its position.
"""

from __future__ import annotations

import ast
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .bounds import MAX_COEFFICIENT, MAX_EXPRESSION_CHARS, MAX_TERMS
from .exemplars import NAME_PATTERN, LatentSpecError

#: Syntax nodes a legal expression of MAX_TERMS terms can need (name, coefficient, *, +).
_MAX_NODES = 8 * MAX_TERMS
_ALLOWED = "concept names, numbers, +, -, * and parentheses"


@dataclass(frozen=True)
class Term:
    """``coefficient * concept``."""

    coefficient: float
    name: str


@dataclass(frozen=True)
class Expression:
    """A signed, weighted sum of concepts, e.g. ``glasses_man - man + woman``.

    Attributes:
        text: The source text.
        terms: The terms in order (a concept may appear more than once).

    """

    text: str
    terms: tuple[Term, ...]

    @property
    def names(self) -> list[str]:
        """Concept names used, first appearance first, without repeats."""
        return list(dict.fromkeys(term.name for term in self.terms))

    def evaluate(self, vectors: Mapping[str, np.ndarray]) -> np.ndarray:
        """Σ coefficient · vector, accumulated left to right (float32)."""
        result = None
        for term in self.terms:
            value = np.float32(term.coefficient) * np.asarray(vectors[term.name], np.float32)
            result = value if result is None else result + value
        return result.astype(np.float32)

    def term_label(self, position: int) -> str:
        """How term ``position`` reads in the figure: ``man``, ``- man``, ``+ 0.5*woman``."""
        term = self.terms[position]
        magnitude = abs(term.coefficient)
        body = term.name if magnitude == 1 else f"{magnitude:g}*{term.name}"
        if position == 0:
            return body if term.coefficient >= 0 else f"- {body}"
        return f"{'-' if term.coefficient < 0 else '+'} {body}"

    def check_names(self, known: Sequence[str]) -> None:
        """Raise :class:`LatentSpecError` naming any concept not in ``known``."""
        for name in self.names:
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise LatentSpecError(
                    f"unknown concept '{name}' in expression {self.text!r}{hint}; defined "
                    f"concepts: {', '.join(known) or 'none'}")


def parse_expression(text: str, known: Sequence[str] | None = None) -> Expression:
    """Parse an expression such as ``glasses_man - man + woman`` into terms.

    Args:
        text: The expression.
        known: Defined concept names; when given, unknown names are errors.

    Raises:
        LatentSpecError: A syntax error or a construct outside the language
            (with its position), too many terms, or an unknown concept.

    """
    if not isinstance(text, str) or not text.strip():
        raise LatentSpecError("the expression is empty: write e.g. 'glasses_man - man + woman'")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise LatentSpecError(f"the expression is {len(text)} characters long; at most "
                              f"{MAX_EXPRESSION_CHARS} are read (and {MAX_TERMS} terms)")
    # Whitespace of any kind is a space, so positions stay on one line.
    source = re.sub(r"\s", " ", text)
    tree = _parse(text, source)
    _check_size(text, tree)
    terms = _Walker(text, source).terms(tree.body)
    if len(terms) > MAX_TERMS:
        raise LatentSpecError(f"bad expression {_short(text)}: {len(terms)} terms once "
                              f"multiplied out; at most {MAX_TERMS}")
    expression = Expression(text.strip(), tuple(terms))
    if known is not None:
        expression.check_names(known)
    return expression


def _parse(text: str, source: str) -> ast.Expression:
    stripped = source.lstrip()
    try:
        return ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        problem = (exc.msg or "invalid syntax").split(". ")[0]
        offset = exc.offset if exc.offset and exc.lineno == 1 else 0
        position = len(source) - len(stripped) + offset - 1 if offset else len(source.rstrip())
        raise LatentSpecError(_at(text, position, problem)) from None
    except (ValueError, RecursionError, MemoryError):
        # NUL characters (ValueError) or nesting too deep for the parser.
        raise LatentSpecError(f"bad expression {_short(text)}: it is not an expression of "
                              f"{_ALLOWED}") from None


def _check_size(text: str, tree: ast.Expression) -> None:
    """Bound the tree before the recursive walk (which could otherwise recurse deeply)."""
    nodes = names = 0
    for node in ast.walk(tree):
        nodes += 1
        names += isinstance(node, ast.Name)
    if names > MAX_TERMS or nodes > _MAX_NODES:
        raise LatentSpecError(f"bad expression {_short(text)}: {names} concept names; an "
                              f"expression has at most {MAX_TERMS} terms")


class _Walker:
    """Turns an allowed syntax tree into terms; a bare number stays a ``float``."""

    def __init__(self, text: str, source: str):
        self.text = text
        self.offset = len(source) - len(source.lstrip())
        self.encoded = source.lstrip().encode("utf-8")

    def terms(self, node: ast.expr) -> list[Term]:
        value = self.walk(node)
        if isinstance(value, float):
            raise self.error(node, "the expression is a number; it must combine concepts")
        return value

    def walk(self, node: ast.expr) -> list[Term] | float:
        if isinstance(node, ast.Name):
            if not NAME_PATTERN.fullmatch(node.id):
                raise self.error(node, f"bad concept name {node.id!r} (use letters, digits "
                                       "and _)")
            return [Term(1.0, node.id)]
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            return self.scale(self.walk(node.operand), -1.0 if isinstance(node.op, ast.USub)
                              else 1.0, node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult):
            return self.binary(node)
        raise self.error(node, f"{_describe(node)} is not allowed; use {_ALLOWED}")

    def number(self, node: ast.Constant) -> float:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(node, f"{value!r} is not allowed; use {_ALLOWED}")
        return self.bounded(float(value), node)

    def bounded(self, value: float, node: ast.expr) -> float:
        if not math.isfinite(value) or abs(value) > MAX_COEFFICIENT:
            raise self.error(node, f"coefficient {value:g} is outside "
                                   f"[-{MAX_COEFFICIENT:g}, {MAX_COEFFICIENT:g}]")
        return value

    def binary(self, node: ast.BinOp) -> list[Term] | float:
        left, right = self.walk(node.left), self.walk(node.right)
        if isinstance(node.op, ast.Mult):
            if isinstance(left, float) and isinstance(right, float):
                return self.bounded(left * right, node)
            if isinstance(left, float) or isinstance(right, float):
                factor, terms = (left, right) if isinstance(left, float) else (right, left)
                return self.scale(terms, factor, node)
            raise self.error(node, "two concepts cannot be multiplied; a coefficient is a "
                                   "number, as in 0.5*man")
        if isinstance(left, float) or isinstance(right, float):
            number = node.left if isinstance(left, float) else node.right
            raise self.error(number, "a number on its own cannot be added; write it as a "
                                     "coefficient, as in 0.5*man")
        return left + (self.scale(right, -1.0, node) if isinstance(node.op, ast.Sub)
                       else right)

    def scale(self, value: list[Term] | float, factor: float,
              node: ast.expr) -> list[Term] | float:
        if isinstance(value, float):
            return self.bounded(value * factor, node)
        return [Term(self.bounded(t.coefficient * factor, node), t.name) for t in value]

    def error(self, node: ast.expr, problem: str) -> LatentSpecError:
        start = node.col_offset
        if isinstance(node, ast.BinOp):
            # Point at the operator, which follows the left operand.
            rest = self.encoded[node.left.end_col_offset:]
            start = node.left.end_col_offset + len(rest) - len(rest.lstrip().lstrip(b")"))
            rest = self.encoded[start:]
            start += len(rest) - len(rest.lstrip())
        # col_offset counts UTF-8 bytes; the message counts characters.
        characters = len(self.encoded[:start].decode("utf-8", errors="ignore"))
        return LatentSpecError(_at(self.text, self.offset + characters, problem))


_OPERATORS = {ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.MatMult: "@",
              ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<",
              ast.RShift: ">>", ast.Invert: "~", ast.Not: "not"}


def _describe(node: ast.expr) -> str:
    kinds = {ast.Call: "a call", ast.Attribute: "an attribute", ast.Subscript: "indexing",
             ast.Compare: "a comparison", ast.BoolOp: "and/or", ast.Lambda: "lambda",
             ast.Tuple: "a tuple (a comma)", ast.List: "a list", ast.Dict: "a dict"}
    if isinstance(node, ast.BinOp | ast.UnaryOp):
        return f"the operator {_OPERATORS.get(type(node.op), type(node.op).__name__)}"
    return kinds.get(type(node), f"a {type(node).__name__}")


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57] + "...")


def _at(text: str, position: int, problem: str) -> str:
    return f"bad expression {_short(text)} at character {position + 1}: {problem}"
