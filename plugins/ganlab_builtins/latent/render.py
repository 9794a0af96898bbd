"""Drawing the arithmetic and interpolation figures (numpy + Pillow)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from ganlab.images import to_uint8

from .arithmetic import ArithmeticLatents
from .layout import (
    GAP,
    MARGIN,
    MIN_CELL,
    SEPARATION,
    ArithmeticLayout,
    InterpolationLayout,
    auto_scale,
    centre_index,
    font,
)

BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)
HIGHLIGHT = (255, 200, 0)

Generate = Callable[[np.ndarray], np.ndarray]


def cell_image(image: np.ndarray, scale: int) -> Image.Image:
    """One generated image as an RGB Pillow image, scaled up without smoothing."""
    array = to_uint8(image)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    picture = Image.fromarray(np.ascontiguousarray(array))
    if scale == 1:
        return picture
    return picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)


@dataclass(frozen=True)
class FigureRow:
    """One concept row of the arithmetic figure."""

    label: str
    exemplars: np.ndarray
    exemplar_labels: Sequence[str]
    mean: np.ndarray


class Canvas:
    """An RGB canvas that cells and labels are pasted onto."""

    def __init__(self, width: int, height: int):
        self.image = Image.new("RGB", (width, height), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)

    def text(self, xy: tuple[int, int], text: str, fill: tuple[int, int, int] = TEXT) -> None:
        """Draw ``text`` with its top-left corner at ``xy``."""
        self.draw.text(xy, text, fill=fill, font=font())

    def cell(self, xy: tuple[int, int], image: np.ndarray, scale: int, label: str = "",
             highlight: bool = False) -> None:
        """Paste one image, optionally with a corner label and a highlight frame."""
        picture = cell_image(image, scale)
        x, y = xy
        self.image.paste(picture, (x, y))
        if highlight:
            # In the gap around the cell, so the image itself stays untouched.
            self.draw.rectangle((x - 2, y - 2, x + picture.width + 1, y + picture.height + 1),
                                outline=HIGHLIGHT, width=2)
        if label:
            box = self.draw.textbbox((x + 1, y), label, font=font())
            self.draw.rectangle(box, fill=(0, 0, 0))
            self.text((x + 1, y), label, fill=HIGHLIGHT)


def render_arithmetic(rows: Sequence[FigureRow], result: np.ndarray, neighbours: np.ndarray, *,
                      result_label: str = "= result", caption: str = "", title: str = "",
                      scale: int | None = None) -> Image.Image:
    """The figure-7 layout: one row per concept, then the result and its neighbours.

    ::

        title
                        exemplars              mean
        glasses_man    [12] [40] [57]          [##]
        - man          [3]  [8]  [21]          [##]
        + woman        [5]  [33] [60]          [##]
                        caption (one or more lines)
        = result       [n] [n] [n]
                       [n] [R] [n]      R: the result, framed
                       [n] [n] [n]

    Args:
        rows: The concept rows, in expression order.
        result: The result image ``(h, w, c)``.
        neighbours: The neighbours' images ``(n, h, w, c)``.
        result_label: Text left of the result grid.
        caption: Text above the result grid (a newline separates lines).
        title: Text on top of the figure.
        scale: Integer up-scaling of every image (default: :func:`~.layout.auto_scale`).

    Returns:
        An RGB image (1-channel images are drawn as gray).

    Raises:
        ValueError: The figure would be too large to draw.

    """
    layout = ArithmeticLayout.plan(
        row_labels=[r.label for r in rows], columns=max(len(r.exemplars) for r in rows),
        neighbours=len(neighbours), image_size=result.shape[:2], caption=caption, title=title,
        result_label=result_label, scale=scale)
    (cell_h, cell_w), line, scale = layout.cell, layout.line, layout.scale
    canvas = Canvas(layout.width, layout.height)
    if title:
        canvas.text((MARGIN, MARGIN), title)
    left = MARGIN + layout.label_width
    top = MARGIN + (line + GAP if title else 0)
    mean_x = left + layout.columns * (cell_w + GAP) + SEPARATION - GAP
    canvas.text((left, top), "exemplars")
    canvas.text((mean_x, top), "mean")
    top += line + GAP
    for row in rows:
        canvas.text((MARGIN, top + (cell_h - line) // 2), row.label, fill=HIGHLIGHT)
        for col, (image, label) in enumerate(zip(row.exemplars, row.exemplar_labels,
                                                 strict=True)):
            canvas.cell((left + col * (cell_w + GAP), top), image, scale, label)
        canvas.cell((mean_x, top), row.mean, scale, highlight=True)
        top += cell_h + GAP
    top += SEPARATION - GAP
    for text in layout.caption_lines:
        canvas.text((left, top), text)
        top += line + GAP
    grid_rows, grid_cols = layout.grid
    _draw_result_grid(canvas, (left, top), result, neighbours, scale, grid_cols)
    centre_row = centre_index(1 + len(neighbours), grid_rows, grid_cols) // grid_cols
    canvas.text((MARGIN, top + centre_row * (cell_h + GAP) + (cell_h - line) // 2),
                result_label, fill=HIGHLIGHT)
    return canvas.image


def _draw_result_grid(canvas: Canvas, origin: tuple[int, int], result: np.ndarray,
                      neighbours: np.ndarray, scale: int, cols: int) -> None:
    count = 1 + len(neighbours)
    rows = math.ceil(count / cols)
    centre = centre_index(count, rows, cols)
    others = iter(neighbours)
    cell_h, cell_w = result.shape[0] * scale, result.shape[1] * scale
    for position in range(count):
        row, col = divmod(position, cols)
        xy = (origin[0] + col * (cell_w + GAP), origin[1] + row * (cell_h + GAP))
        if position == centre:
            canvas.cell(xy, result, scale, highlight=True)
        else:
            canvas.cell(xy, next(others), scale)


def render_interpolation(rows: Sequence[tuple[str, np.ndarray]], *, title: str = "",
                         scale: int | None = None) -> Image.Image:
    """One row per path: its label, then its images from start to end.

    Args:
        rows: ``(label, images (steps, h, w, c))`` per path.
        title: Text on top of the figure.
        scale: Integer up-scaling (default: :func:`~.layout.auto_scale`).

    """
    steps, height, width = rows[0][1].shape[:3]
    layout = InterpolationLayout.plan(labels=[label for label, _ in rows], steps=steps,
                                      image_size=(height, width), title=title, scale=scale)
    (cell_h, cell_w), line = layout.cell, layout.line
    canvas = Canvas(layout.width, layout.height)
    if title:
        canvas.text((MARGIN, MARGIN), title)
    top = MARGIN + (line + GAP if title else 0)
    for label, images in rows:
        canvas.text((MARGIN, top + (cell_h - line) // 2), label, fill=HIGHLIGHT)
        for col, image in enumerate(images):
            canvas.cell((MARGIN + layout.label_width + col * (cell_w + GAP), top), image,
                        layout.scale)
        top += cell_h + GAP
    return canvas.image


def back_and_forth(images: np.ndarray, scale: int | None = None) -> list[Image.Image]:
    """GIF frames: the path forward, then back, without repeating the endpoints."""
    scale = scale or auto_scale(*images.shape[1:3], minimum=2 * MIN_CELL)
    frames = [cell_image(image, scale) for image in images]
    return frames + frames[-2:0:-1]


# -- figures from latents --------------------------------------------------------------------
@dataclass(frozen=True)
class ArithmeticImages:
    """The generated images of one arithmetic figure.

    Attributes:
        per_concept: Concept name → ``(exemplar images, image of the mean)``.
        result: The result's image.
        neighbours: The neighbours' images.

    """

    per_concept: dict[str, tuple[np.ndarray, np.ndarray]]
    result: np.ndarray
    neighbours: np.ndarray


def generate_arithmetic(generate: Generate, latents: ArithmeticLatents) -> ArithmeticImages:
    """Every image of ``latents``, generated in one batch."""
    return ArithmeticImages(*latents.split(generate(latents.batch())))


def draw_arithmetic(images: ArithmeticImages, latents: ArithmeticLatents,
                    labels: Mapping[str, Sequence[str]], *, jitter: float, title: str = "",
                    notes: Sequence[str] = (),
                    row_notes: Mapping[str, str] | None = None) -> Image.Image:
    """Lay out the figure of generated ``images``.

    Args:
        images: From :func:`generate_arithmetic`.
        latents: The latents they were generated from.
        labels: Concept name → its exemplars' labels (``12``, ``s42``).
        jitter: The neighbours' jitter, for the caption.
        title: Text on top.
        notes: More caption lines (e.g. the classifier's verdict on the result).
        row_notes: Concept name → text after its row label (e.g. its query).

    """
    expression, row_notes = latents.expression, row_notes or {}
    rows = []
    for i, term in enumerate(expression.terms):
        note = f"  [{row_notes[term.name]}]" if term.name in row_notes else ""
        exemplars, mean = images.per_concept[term.name]
        rows.append(FigureRow(expression.term_label(i) + note, exemplars, labels[term.name],
                              mean))
    neighbours = images.neighbours
    caption = (f"result (framed) + {len(neighbours)} neighbours, jitter +/-{jitter:g}"
               if len(neighbours) else "result")
    return render_arithmetic(rows, images.result, neighbours,
                             caption="\n".join([caption, *notes]), title=title)


def arithmetic_figure(generate: Generate, latents: ArithmeticLatents,
                      labels: Mapping[str, Sequence[str]], *, jitter: float,
                      title: str = "") -> Image.Image:
    """Generate every image of ``latents`` in one batch and lay out the figure.

    Args:
        generate: Latents ``(n, d)`` → images ``(n, h, w, c)`` in [-1, 1].
        latents: From :func:`~.arithmetic.latent_arithmetic`.
        labels: Concept name → its exemplars' labels (``12``, ``s42``).
        jitter: The neighbours' jitter, for the caption.
        title: Text on top.

    """
    return draw_arithmetic(generate_arithmetic(generate, latents), latents, labels,
                           jitter=jitter, title=title)


def interpolation_figure(generate: Generate, paths: Sequence[tuple[str, np.ndarray]], *,
                         title: str = "") -> tuple[Image.Image, np.ndarray]:
    """Generate every path in one batch (all of equal length).

    Returns:
        The figure and the images, ``(paths, steps, h, w, c)``.

    """
    images = generate(np.concatenate([path for _, path in paths]))
    images = images.reshape(len(paths), -1, *images.shape[1:])
    rows = [(label, row) for (label, _), row in zip(paths, images, strict=True)]
    return render_interpolation(rows, title=title), images
