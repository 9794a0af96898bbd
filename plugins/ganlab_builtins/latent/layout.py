"""Where everything goes in the figures, computed before anything is drawn.

Sizes are known from counts alone (terms, exemplars, neighbours, steps, the
image size), so a figure too large to draw is refused before a single image
is generated (:func:`~.bounds.check_figure_size`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import ImageFont

from .bounds import check_figure_size

#: Cells are scaled up by an integer factor until at least this many pixels tall.
MIN_CELL = 64
MARGIN = 8
GAP = 6
SEPARATION = 16


@functools.cache
def font() -> Any:
    """Pillow's built-in font: no font file to ship or find."""
    return ImageFont.load_default()


def text_size(text: str) -> tuple[int, int]:
    """Width and line height of ``text`` in the default font."""
    ascent, descent = font().getmetrics()
    return int(math.ceil(font().getlength(text))), ascent + descent


def auto_scale(height: int, width: int, minimum: int = MIN_CELL) -> int:
    """Smallest integer factor making a cell at least ``minimum`` pixels (MNIST's 28 → 3)."""
    return max(1, math.ceil(minimum / max(1, min(height, width))))


def grid_shape(count: int) -> tuple[int, int]:
    """``(rows, cols)`` of a near-square grid for ``count`` cells (3×3 for 9)."""
    cols = max(1, math.ceil(math.sqrt(count)))
    return math.ceil(count / cols), cols


def centre_index(count: int, rows: int, cols: int) -> int:
    """Where the result goes: the centre of a full odd grid (3×3), else first."""
    full_odd = count == rows * cols and rows % 2 == 1 and cols % 2 == 1
    return (rows // 2) * cols + cols // 2 if full_odd else 0


@dataclass(frozen=True)
class ArithmeticLayout:
    """Sizes of the figure-7 layout (see :func:`~.render.render_arithmetic`).

    Attributes:
        scale: Integer up-scaling of every image.
        cell: ``(height, width)`` of a drawn cell.
        line: Height of a line of text.
        label_width: Width of the label column.
        columns: Exemplar columns.
        grid: ``(rows, cols)`` of the result grid.
        caption_lines: The caption, one entry per line.
        title: The title (may be empty).
        width: Figure width.
        height: Figure height.

    """

    scale: int
    cell: tuple[int, int]
    line: int
    label_width: int
    columns: int
    grid: tuple[int, int]
    caption_lines: tuple[str, ...]
    title: str
    width: int
    height: int

    @classmethod
    def plan(cls, *, row_labels: Sequence[str], columns: int, neighbours: int,
             image_size: tuple[int, int], caption: str = "", title: str = "",
             result_label: str = "= result", scale: int | None = None) -> ArithmeticLayout:
        """Lay out ``len(row_labels)`` concept rows of ``columns`` exemplars and the result.

        Raises:
            ValueError: The figure would be too large to draw.

        """
        height, width = image_size
        scale = scale or auto_scale(height, width)
        cell_h, cell_w = height * scale, width * scale
        line = text_size("Ag")[1]
        label_w = max(text_size(t)[0] for t in [*row_labels, result_label]) + 2 * GAP
        grid_rows, grid_cols = grid_shape(1 + neighbours)
        lines = tuple(caption.split("\n"))
        concepts_w = columns * (cell_w + GAP) + SEPARATION + cell_w
        result_w = grid_cols * (cell_w + GAP) - GAP
        body_w = max(concepts_w, result_w, *(text_size(t)[0] for t in lines))
        title_h = line + GAP if title else 0
        figure_w = max(MARGIN + label_w + body_w + MARGIN, MARGIN + text_size(title)[0] + MARGIN)
        figure_h = (MARGIN + title_h + (line + GAP) + len(row_labels) * (cell_h + GAP)
                    + SEPARATION + len(lines) * (line + GAP)
                    + grid_rows * (cell_h + GAP) - GAP + MARGIN)
        check_figure_size(figure_w, figure_h, "arithmetic")
        return cls(scale, (cell_h, cell_w), line, label_w, columns, (grid_rows, grid_cols),
                   lines, title, figure_w, figure_h)


@dataclass(frozen=True)
class InterpolationLayout:
    """Sizes of the interpolation figure: one labelled row of ``steps`` cells per path."""

    scale: int
    cell: tuple[int, int]
    line: int
    label_width: int
    width: int
    height: int

    @classmethod
    def plan(cls, *, labels: Sequence[str], steps: int, image_size: tuple[int, int],
             title: str = "", scale: int | None = None) -> InterpolationLayout:
        """Lay out one row per label.

        Raises:
            ValueError: The figure would be too large to draw.

        """
        height, width = image_size
        scale = scale or auto_scale(height, width)
        cell_h, cell_w = height * scale, width * scale
        line = text_size("Ag")[1]
        label_w = max(text_size(label)[0] for label in labels) + 2 * GAP
        title_h = line + GAP if title else 0
        body_w = steps * (cell_w + GAP) - GAP
        figure_w = max(MARGIN + label_w + body_w, MARGIN + text_size(title)[0]) + MARGIN
        figure_h = MARGIN + title_h + len(labels) * (cell_h + GAP) - GAP + MARGIN
        check_figure_size(figure_w, figure_h, "interpolation")
        return cls(scale, (cell_h, cell_w), line, label_w, figure_w, figure_h)
