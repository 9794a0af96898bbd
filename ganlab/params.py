"""Checks for component parameters, for factories (built-in and third-party alike).

A factory receives its params from the experiment file; each check returns
the value (converted where it says so) or raises ``TypeError`` / ``ValueError``
with a message naming the parameter. ganlab turns either into a configuration
error naming the component and its plugin::

    from ganlab import params

    class MyLoss:
        def __init__(self, gamma: float = 10.0, mode: str = "r1"):
            self.gamma = params.number("gamma", gamma, minimum=0.0)
            self.mode = params.choice("mode", mode, ("r1", "r2"))

Booleans are never accepted as numbers (YAML's ``yes`` is ``True``, not 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def number(name: str, value: Any, *, minimum: float | None = None,
           maximum: float | None = None, exclusive_minimum: bool = False,
           exclusive_maximum: bool = False) -> float:
    """A number (int or float) within the given bounds, as ``float``.

    Raises:
        TypeError: Not a number.
        ValueError: Out of bounds (the message states the allowed range).

    """
    if not _is_number(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    too_low = minimum is not None and (value <= minimum if exclusive_minimum else value < minimum)
    too_high = maximum is not None and (value >= maximum if exclusive_maximum
                                        else value > maximum)
    if too_low or too_high:
        allowed = _range(minimum, maximum, exclusive_minimum, exclusive_maximum)
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return float(value)


def _range(minimum: float | None, maximum: float | None, exclusive_minimum: bool,
           exclusive_maximum: bool) -> str:
    if minimum is not None and maximum is not None:
        left = "(" if exclusive_minimum else "["
        right = ")" if exclusive_maximum else "]"
        return f"in {left}{minimum:g}, {maximum:g}{right}"
    if minimum is not None:
        return f"> {minimum:g}" if exclusive_minimum else f">= {minimum:g}"
    return f"< {maximum:g}" if exclusive_maximum else f"<= {maximum:g}"


def positive_int(name: str, value: Any) -> int:
    """An integer >= 1.

    Raises:
        TypeError: Not an integer.
        ValueError: Smaller than 1.

    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


def positive_number(name: str, value: Any) -> float:
    """A number > 0, as ``float``."""
    if not _is_number(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return float(value)


def fraction(name: str, value: Any) -> float:
    """A number in [0, 1), as ``float``."""
    return number(name, value, minimum=0.0, maximum=1.0, exclusive_maximum=True)


def choice(name: str, value: T, allowed: Sequence[T]) -> T:
    """One of ``allowed`` (``True``/``False`` never match ``1``/``0``).

    Raises:
        ValueError: Not one of them (the message lists them).

    """
    if isinstance(value, bool) != any(isinstance(a, bool) for a in allowed) \
            or value not in allowed:
        options = ", ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def boolean(name: str, value: Any) -> bool:
    """``true`` or ``false``.

    Raises:
        ValueError: Anything else (``"yes"``, ``1``).

    """
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value
