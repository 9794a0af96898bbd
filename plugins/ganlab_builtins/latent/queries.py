"""Label queries: which generated images show a concept, by the classifier's labels.

A query names labels of the dataset's classifier and combines them::

    Eyeglasses & Male          both attributes (CelebA)
    Male & !Eyeglasses         Male, and not Eyeglasses
    !Male & (Smiling | Young)  parentheses group
    7                          the digit class 7 (MNIST)
    3 | 8                      a 3 or an 8

Atoms are the classifier's label names (CelebA's 40 attribute names, the
dataset's class names: MNIST's ``0`` .. ``9``, CIFAR-10's ``cat``, a folder
dataset's ``circle``); a whole number that is not a label name is a class
index of a single-label classifier. A name of letters, digits, ``_``, ``-``
and ``.`` is written as it is; any other name is quoted: ``'golden
retriever' | "sea lion"``. ``!`` binds tighter than ``&``, which binds
tighter than ``|``. Queries are parsed here, never evaluated as code.

Meaning, given the classifier's probabilities:

- multi-label (sigmoid per attribute): an image *matches* when the query
  holds with every attribute thresholded at 0.5; its *confidence* is the
  fuzzy truth (``!`` is 1 - p, ``&`` the minimum, ``|`` the maximum), which is
  above 0.5 exactly when it matches;
- single-label (softmax): the query selects a set of classes; an image
  matches when its most likely class is in the set, and its confidence is
  the probability of the set.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bounds import MAX_QUERY_CHARS
from .exemplars import LatentSpecError

_TOKEN = re.compile(r"""\s*(?:(?P<atom>[A-Za-z0-9_.\-]+)|'(?P<single>[^']*)'"""
                    r"""|"(?P<double>[^"]*)"|(?P<op>[&|!()]))""")
#: A token: its text (an atom's name, or the operator), its position, and whether it is an atom.
Token = tuple[str, int, bool]


@dataclass(frozen=True)
class Atom:
    """One label name as written, and where."""

    name: str
    position: int


@dataclass(frozen=True)
class Not:
    """``!operand``."""

    operand: QueryNode


@dataclass(frozen=True)
class And:
    """``a & b & ...``."""

    operands: tuple[QueryNode, ...]


@dataclass(frozen=True)
class Or:
    """``a | b | ...``."""

    operands: tuple[QueryNode, ...]


QueryNode = Atom | Not | And | Or


@dataclass(frozen=True)
class Query:
    """A parsed query.

    Attributes:
        text: The source text (stripped).
        root: Its syntax tree.

    """

    text: str
    root: QueryNode

    @property
    def atoms(self) -> list[Atom]:
        """The atoms, in the order written."""
        found: list[Atom] = []
        stack: list[QueryNode] = [self.root]
        while stack:
            node = stack.pop()
            if isinstance(node, Atom):
                found.append(node)
            elif isinstance(node, Not):
                stack.append(node.operand)
            else:
                stack.extend(reversed(node.operands))
        return found


def parse_query(text: str) -> Query:
    """Parse a label query such as ``Eyeglasses & !Male``.

    Raises:
        LatentSpecError: Empty, too long, or a syntax error (with its position).

    """
    if not isinstance(text, str) or not text.strip():
        raise LatentSpecError("the query is empty: write label names with &, |, ! and "
                              "parentheses, e.g. 'Eyeglasses & !Male' or '7'")
    if len(text) > MAX_QUERY_CHARS:
        raise LatentSpecError(f"the query is {len(text)} characters long; at most "
                              f"{MAX_QUERY_CHARS} are read")
    parser = _Parser(text)
    root = parser.disjunction()
    if parser.peek() is not None:
        raise parser.error(f"unexpected {parser.peek()[0]!r}")
    return Query(text.strip(), root)


class _Parser:
    """Recursive descent over ``|`` (lowest), ``&``, then ``!`` and atoms."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = self._tokenize(text)
        self.index = 0

    def _tokenize(self, text: str) -> list[Token]:
        tokens: list[Token] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                if text[position:].strip() == "":
                    break
                start = position + len(text[position:]) - len(text[position:].lstrip())
                raise LatentSpecError(self._at(start, f"unexpected character {text[start]!r} "
                                                      "(labels use letters, digits, _, - and "
                                                      "., or are quoted: 'sea lion'; "
                                                      "operators are &, |, ! and parentheses)"))
            kind = match.lastgroup
            value = match.group(kind)
            if kind in ("single", "double") and not value.strip():
                raise LatentSpecError(self._at(match.start(kind) - 1, "an empty quoted label"))
            tokens.append((value, match.start(kind), kind != "op"))
            position = match.end()
        return tokens

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str) -> bool:
        token = self.peek()
        if token is not None and not token[2] and token[0] == value:
            self.index += 1
            return True
        return False

    def disjunction(self) -> QueryNode:
        operands = [self.conjunction()]
        while self.take("|"):
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def conjunction(self) -> QueryNode:
        operands = [self.unary()]
        while self.take("&"):
            operands.append(self.unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def unary(self) -> QueryNode:
        token = self.peek()
        if token is None:
            raise self.error("the query ends where a label was expected")
        if self.take("!"):
            return Not(self.unary())
        if self.take("("):
            inner = self.disjunction()
            if not self.take(")"):
                raise self.error("expected ')'")
            return inner
        if not token[2]:
            raise self.error(f"expected a label, got {token[0]!r}")
        self.index += 1
        return Atom(token[0], token[1])

    def error(self, problem: str) -> LatentSpecError:
        token = self.peek()
        return LatentSpecError(self._at(token[1] if token else len(self.text.rstrip()),
                                        problem))

    def _at(self, position: int, problem: str) -> str:
        return f"bad query {self.text!r} at character {position + 1}: {problem}"


@dataclass(frozen=True)
class BoundQuery:
    """A query whose atoms are columns of a classifier's probabilities.

    Attributes:
        query: The parsed query.
        columns: Atom name → column of the probabilities.
        label_names: The classifier's labels.
        multi_label: Whether the classifier is multi-label (sigmoids).

    """

    query: Query
    columns: dict[str, int]
    label_names: tuple[str, ...]
    multi_label: bool

    @property
    def text(self) -> str:
        """The query as written."""
        return self.query.text

    def classes(self) -> list[int]:
        """Single-label: the classes that satisfy the query."""
        return [k for k in range(len(self.label_names))
                if _holds(self.query.root, self.columns, lambda column, k=k: column == k)]

    def evaluate(self, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(confidence, matches)`` per row of ``probabilities`` ``(n, k)``."""
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if self.multi_label:
            confidence = _fuzzy(self.query.root, self.columns, probabilities)
            matches = _holds(self.query.root, self.columns, lambda c: probabilities[:, c] >= 0.5)
            return confidence, np.asarray(matches, dtype=bool)
        chosen = self.classes()
        confidence = probabilities[:, chosen].sum(axis=1)
        matches = np.isin(probabilities.argmax(axis=1), chosen)
        return confidence, matches


def bind_query(query: Query, label_names: Sequence[str], multi_label: bool) -> BoundQuery:
    """Resolve the atoms of ``query`` against the classifier's ``label_names``.

    Raises:
        LatentSpecError: An atom that is no label (with a did-you-mean and
            the list of labels).

    """
    names = [str(name) for name in label_names]
    columns = {}
    for atom in query.atoms:
        columns[atom.name] = _column(query, atom, names, multi_label)
    return BoundQuery(query, columns, tuple(names), bool(multi_label))


def _column(query: Query, atom: Atom, names: list[str], multi_label: bool) -> int:
    if atom.name in names:
        return names.index(atom.name)
    if not multi_label and atom.name.isdigit() and int(atom.name) < len(names):
        return int(atom.name)
    lowered = {name.lower(): name for name in names}
    close = [lowered[m] for m in difflib.get_close_matches(atom.name.lower(), list(lowered),
                                                           n=1, cutoff=0.6)]
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    kind = "attribute" if multi_label else "class"
    raise LatentSpecError(
        f"unknown {kind} '{atom.name}' in query {query.text!r} at character "
        f"{atom.position + 1}{hint}; the classifier's labels are: {', '.join(names)}")


def _fuzzy(node: QueryNode, columns: dict[str, int], probabilities: np.ndarray) -> np.ndarray:
    if isinstance(node, Atom):
        return probabilities[:, columns[node.name]]
    if isinstance(node, Not):
        return 1.0 - _fuzzy(node.operand, columns, probabilities)
    values = [_fuzzy(operand, columns, probabilities) for operand in node.operands]
    return np.minimum.reduce(values) if isinstance(node, And) else np.maximum.reduce(values)


def _holds(node: QueryNode, columns: dict[str, int], atom_true: Callable[[int], Any]) -> Any:
    """Boolean truth, with ``atom_true(column)`` giving each atom's (array or scalar) truth."""
    if isinstance(node, Atom):
        return atom_true(columns[node.name])
    if isinstance(node, Not):
        return np.logical_not(_holds(node.operand, columns, atom_true))
    values = [_holds(operand, columns, atom_true) for operand in node.operands]
    return np.logical_and.reduce(values) if isinstance(node, And) else np.logical_or.reduce(
        values)


def literals(query: BoundQuery) -> dict[int, int] | None:
    """Column → +1/-1 when ``query`` is a conjunction of labels and negated labels, else None."""
    root = query.query.root
    operands = root.operands if isinstance(root, And) else (root,)
    signs: dict[int, int] = {}
    for operand in operands:
        negated = isinstance(operand, Not)
        inner = operand.operand if negated else operand
        if not isinstance(inner, Atom):
            return None
        column, sign = query.columns[inner.name], -1 if negated else 1
        if signs.get(column, sign) != sign:
            return None  # A & !A: a contradiction, no direction
        signs[column] = sign
    return signs
