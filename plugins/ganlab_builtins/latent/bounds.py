"""The limits on every size a user can give the latent plugin, and their checks.

A figure's size grows with what the user types (terms, exemplars,
neighbours, steps), and a figure is drawn in memory: without limits, an
expression of a few thousand terms asks for a picture of hundreds of
thousands of pixels a side. Every size is checked before any image is
generated, with a message that names the limit.
"""

from __future__ import annotations

import math
from typing import Any

#: Characters in an arithmetic expression.
MAX_EXPRESSION_CHARS = 1000
#: Terms of an expression: each is one row of the figure.
MAX_TERMS = 32
#: Concepts defined (exemplar lists and queries together).
MAX_CONCEPTS = 32
#: Exemplars per concept: each is one column of the figure.
MAX_EXEMPLARS = 16
#: Characters in one label query.
MAX_QUERY_CHARS = 200
#: Jittered neighbours of the result (64 + the result: a 9x8 grid at most).
MAX_NEIGHBOURS = 64
#: Largest coefficient magnitude in an expression, and the largest jitter.
MAX_COEFFICIENT = 1000.0
MAX_JITTER = 10.0
#: Images per interpolation path, and paths per figure.
MAX_STEPS = 256
MAX_PAIRS = 32
#: Latents drawn, generated and classified to find query exemplars.
MAX_POOL_SIZE = 100_000
#: Seeds are 32-bit, like every other seed in ganlab.
SEED_LIMIT = 2**32
#: A figure larger than this (per side, and in total) is refused before drawing.
MAX_FIGURE_SIDE = 16_384
MAX_FIGURE_PIXELS = 64 * 2**20
#: Milliseconds per GIF frame.
MAX_GIF_MS = 60_000


def check_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` if it is an integer in ``[minimum, maximum]``, else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
            maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return value


def check_seed(name: str, value: Any) -> int | None:
    """A seed (``0 <= seed < 2**32``) or ``None``."""
    if value is None:
        return None
    return check_int(name, value, minimum=0, maximum=SEED_LIMIT - 1)


def check_number(name: str, value: Any, minimum: float, maximum: float) -> float:
    """A finite real number in ``[minimum, maximum]`` as a float, else ``ValueError``."""
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or not minimum <= value <= maximum):
        raise ValueError(f"{name} must be a number from {minimum:g} to {maximum:g}, "
                         f"got {value!r}")
    return float(value)


def check_figure_size(width: int, height: int, what: str) -> None:
    """Refuse a figure too large to draw (``ValueError`` saying what made it large)."""
    if width > MAX_FIGURE_SIDE or height > MAX_FIGURE_SIDE or (
            width * height > MAX_FIGURE_PIXELS):
        raise ValueError(
            f"the {what} figure would be {width} x {height} pixels, more than ganlab draws "
            f"(at most {MAX_FIGURE_SIDE} pixels a side and {MAX_FIGURE_PIXELS // 2**20} "
            "megapixels): use fewer terms, exemplars, neighbours or steps")
