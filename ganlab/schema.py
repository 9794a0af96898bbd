"""A small declarative schema for experiment files.

Validation collects *every* problem (not just the first) and reports each
with its key path, the line in the file, what was expected and what was
received.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

REQUIRED: Any = object()

#: Bounds on sizes that come from input (documented in docs/reliability.md).
#: Seeds feed NumPy and TensorFlow generators, which take 32-bit seeds.
MAX_SEED = 2**32 - 1
#: Fixed latents saved with a run (``latents.bank_size``).
MAX_BANK_SIZE = 65_536
#: Length of a generator's latent input (architecture params ``latent_dim``).
MAX_LATENT_DIM = 16_384
#: Epochs, steps and other counters of the training loop.
MAX_COUNT = 10**9

Check = Callable[[Any], "str | None"]


@dataclass(frozen=True)
class Field:
    """One key of a mapping in the schema.

    Attributes:
        types: Accepted Python types (``int`` also accepts nothing but ints;
            ``float`` accepts ints too).
        default: Value used when the key is absent; :data:`REQUIRED` if it must be given.
        doc: What the key means (shown in errors and docs).
        nullable: ``null`` is accepted.
        choices: Allowed values.
        check: Extra check returning a description of what is wrong, or ``None``.
        schema: For mappings: the schema of the nested keys.
        items: For lists: the field every item must match.
        open_mapping: For mappings: any keys accepted (component params).

    """

    types: tuple[type, ...]
    default: Any = REQUIRED
    doc: str = ""
    nullable: bool = False
    choices: tuple[Any, ...] | None = None
    check: Check | None = None
    schema: Mapping[str, Field] | None = None
    items: Field | None = None
    open_mapping: bool = False


@dataclass
class Problem:
    """One validation problem."""

    path: str
    message: str
    line: int | None = None


@dataclass
class Validation:
    """The outcome of validating a document: filled-in data and problems."""

    data: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)


def join_path(parent: str, key: str | int) -> str:
    """``a.b`` + ``c`` → ``a.b.c``; ``a`` + ``0`` → ``a[0]``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def describe_type(types: tuple[type, ...], nullable: bool = False) -> str:
    """Human words for the accepted types."""
    words = {bool: "true/false", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a mapping"}
    parts = [words.get(t, t.__name__) for t in types]
    if nullable:
        parts.append("null")
    return " or ".join(parts)


def describe_value(value: Any) -> str:
    """A short description of a received value, e.g. ``'abc' (a string)``."""
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a mapping", type(None): "null"}
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({names.get(type(value), type(value).__name__)})"


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def validate_value(value: Any, spec: Field, path: str, out: list[Problem]) -> Any:
    """Validate one value against ``spec``; return it with defaults filled in."""
    if value is None and spec.nullable:
        return None
    if not _type_ok(value, spec.types):
        out.append(Problem(path, f"expected {describe_type(spec.types, spec.nullable)}, "
                                 f"received {describe_value(value)}"))
        return value
    if float in spec.types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if spec.choices is not None and value not in spec.choices:
        allowed = ", ".join(repr(c) for c in spec.choices)
        out.append(Problem(path, f"expected one of {allowed}, received {describe_value(value)}"))
        return value
    if spec.check is not None:
        wrong = spec.check(value)
        if wrong:
            out.append(Problem(path, f"{wrong}, received {describe_value(value)}"))
            return value
    if isinstance(value, dict) and spec.schema is not None:
        return validate_mapping(value, spec.schema, path, out)
    if isinstance(value, list) and spec.items is not None:
        return [validate_value(item, spec.items, join_path(path, i), out)
                for i, item in enumerate(value)]
    return value


def validate_mapping(data: Mapping[str, Any], schema: Mapping[str, Field], path: str,
                     out: list[Problem]) -> dict[str, Any]:
    """Validate a mapping: unknown keys, missing required keys, each value."""
    result: dict[str, Any] = {}
    for key in data:
        if key not in schema:
            known = ", ".join(schema)
            out.append(Problem(join_path(path, str(key)),
                               f"unknown key '{key}'{_suggest(str(key), schema)}; "
                               f"expected one of: {known}"))
    for key, spec in schema.items():
        child = join_path(path, key)
        if key in data:
            result[key] = validate_value(data[key], spec, child, out)
        elif spec.default is REQUIRED:
            what = f" ({spec.doc})" if spec.doc else ""
            out.append(Problem(child, f"missing required key '{key}'{what}; expected "
                                      f"{describe_type(spec.types, spec.nullable)}"))
        else:
            result[key] = _fill_default(spec)
    return result


def _fill_default(spec: Field) -> Any:
    if isinstance(spec.default, dict) and spec.schema is not None:
        return validate_mapping(spec.default, spec.schema, "", [])
    if isinstance(spec.default, (dict, list)):
        return type(spec.default)(spec.default)
    return spec.default


def _suggest(key: str, schema: Mapping[str, Field]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(schema), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


# -- reusable checks -----------------------------------------------------------
def at_least(minimum: float) -> Check:
    """Check ``value >= minimum``."""
    return lambda v: None if v >= minimum else f"expected a value >= {minimum}"


def between(minimum: float, maximum: float) -> Check:
    """Check ``minimum <= value <= maximum`` (a bound on an input-derived size)."""
    return lambda v: (None if minimum <= v <= maximum
                      else f"expected a value from {minimum} to {maximum:,}")


def greater_than(minimum: float) -> Check:
    """Check ``value > minimum``."""
    return lambda v: None if v > minimum else f"expected a value > {minimum}"


def in_unit_interval(v: float) -> str | None:
    """Check ``0 <= value < 1`` (Adam's betas)."""
    return None if 0.0 <= v < 1.0 else "expected a value in [0, 1)"


def in_open_unit_interval(v: float) -> str | None:
    """Check ``0 < value < 1`` (an EMA decay)."""
    return None if 0.0 < v < 1.0 else "expected a value in (0, 1)"


def matches(pattern: str, what: str) -> Check:
    """Check a string against a regular expression."""
    compiled = re.compile(pattern)
    return lambda v: None if compiled.fullmatch(v) else f"expected {what}"
