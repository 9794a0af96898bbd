"""The DCGAN paper's latent-space analysis: vector arithmetic and interpolation.

Radford, Metz & Chintala (2015), section 6 and figure 7: single latents are
unstable, so a *concept* ("man with glasses") is the mean of a few exemplar
latents (the paper used three); an expression over concepts such as
``glasses_man - man + woman`` gives a new latent, shown together with 8
neighbours, the result plus uniform noise in [-0.25, 0.25].

An *exemplar* is a latent the user picked by looking at generated images:

- ``12``: entry 12 of the run's fixed, numbered latent bank (``latents.npy``;
  ``ganlab sample RUN --numbered`` labels each image with its index);
- ``s42``: ``sample_latents(1, latent_dim, prior, seed=42)``, a latent drawn
  from a seed (``ganlab sample RUN --seed 42 --num 1`` shows it).

This plugin provides:

- the ``latent_arithmetic`` and ``latent_interpolation`` callbacks, which
  render the figures every N epochs into ``arithmetic/`` and
  ``interpolation/`` of the run (and TensorBoard);
- the ``ganlab arithmetic`` and ``ganlab interpolate`` commands, which render
  them from a run's exported generator or any of its checkpoints.

Interpolation is spherical (slerp, White 2016) by default for a normal prior,
whose samples concentrate near a sphere that straight lines cut through, and
linear (as in the DCGAN paper) for a uniform prior.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import keras
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ganlab import hookimpl
from ganlab.errors import ConfigError, GanlabError
from ganlab.images import save_gif, save_png, to_uint8
from ganlab.latents import lerp, sample_latents, slerp
from ganlab.restore import RestoredGenerator, read_run_info, restore_generator
from ganlab.sampling import generate

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Cells are scaled up by an integer factor until at least this many pixels tall.
MIN_CELL = 64
MARGIN = 8
GAP = 6
SEPARATION = 16
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)
HIGHLIGHT = (255, 200, 0)

Generate = Callable[[np.ndarray], np.ndarray]


class LatentSpecError(ValueError):
    """A concept, exemplar, expression or pair is malformed (message says how)."""


class LatentCommandError(GanlabError):
    """``ganlab arithmetic`` / ``interpolate`` was given something it cannot use."""

    exit_code = 2


# -- exemplars and concepts ------------------------------------------------------------------
@dataclass(frozen=True)
class Exemplar:
    """One latent the user picked: a bank index or a seed (exactly one is set).

    Attributes:
        index: Index into the run's latent bank.
        seed: Seed of a latent drawn with :func:`ganlab.latents.sample_latents`.

    """

    index: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        values = [v for v in (self.index, self.seed) if v is not None]
        if len(values) != 1 or values[0] < 0:
            raise LatentSpecError(f"an exemplar is one non-negative bank index or seed, got "
                                  f"index={self.index!r}, seed={self.seed!r}")

    @property
    def label(self) -> str:
        """``12`` or ``s42``: how the user writes it (and how images are labelled)."""
        return f"s{self.seed}" if self.seed is not None else str(self.index)

    def latent(self, bank: np.ndarray, latent_dim: int, distribution: str) -> np.ndarray:
        """The latent vector, ``(latent_dim,)`` float32.

        Raises:
            LatentSpecError: A bank index outside the bank.

        """
        if self.seed is not None:
            return sample_latents(1, latent_dim, distribution, self.seed)[0]
        if self.index >= len(bank):
            raise LatentSpecError(
                f"exemplar {self.index} is outside the run's latent bank, which holds "
                f"{len(bank)} latents (0-{len(bank) - 1}); pick indices from "
                "'ganlab sample RUN --numbered', or use a seed exemplar such as s42")
        return np.asarray(bank[self.index], dtype=np.float32)


def parse_exemplar(value: int | str) -> Exemplar:
    """``12``/``"12"`` → bank index 12; ``"s42"`` → seed 42.

    Raises:
        LatentSpecError: Anything else.

    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Exemplar(index=value)
    # ASCII only: isdigit() accepts '²', which int() refuses.
    text = str(value).strip() if isinstance(value, str) and str(value).isascii() else None
    if text and text.isdigit():
        return Exemplar(index=int(text))
    if text and text[0] in "sS" and text[1:].isdigit():
        return Exemplar(seed=int(text[1:]))
    raise LatentSpecError(f"bad exemplar {value!r}: expected a latent-bank index such as 12 "
                          "or a seed such as s42")


def parse_exemplars(values: str | int | Sequence[int | str]) -> tuple[Exemplar, ...]:
    """A comma-separated string or a list of exemplars → at least one :class:`Exemplar`."""
    if isinstance(values, str):
        items: Sequence[int | str] = [v for v in values.split(",") if v.strip()]
    elif isinstance(values, int) and not isinstance(values, bool):
        items = [values]
    elif isinstance(values, Sequence):
        items = values
    else:
        raise LatentSpecError(f"expected a list of exemplars, got {values!r}")
    if not items:
        raise LatentSpecError("a concept needs at least one exemplar (the paper used three)")
    return tuple(parse_exemplar(item) for item in items)


def check_concept_name(name: Any) -> str:
    """``name`` if it is a valid concept name, else :class:`LatentSpecError`."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise LatentSpecError(f"bad concept name {name!r}: use letters, digits and _, not "
                              "starting with a digit (e.g. glasses_man)")
    return name


def parse_concepts(concepts: Mapping[str, Any]) -> dict[str, tuple[Exemplar, ...]]:
    """A mapping ``name → exemplars`` (lists or ``"12,40,s7"`` strings), validated."""
    if not isinstance(concepts, Mapping) or not concepts:
        raise LatentSpecError("concepts must be a non-empty mapping of concept name to a list "
                              "of exemplars, e.g. {man: [3, 8, 21], woman: [5, 33, 60]}")
    parsed = {}
    for name, values in concepts.items():
        try:
            parsed[check_concept_name(name)] = parse_exemplars(values)
        except LatentSpecError as exc:
            raise LatentSpecError(f"concept {name!r}: {exc}") from None
    return parsed


def parse_concept_option(option: str) -> tuple[str, tuple[Exemplar, ...]]:
    """``"glasses_man=12,40,s57"`` (the ``--concept`` syntax) → name and exemplars."""
    name, sep, values = option.partition("=")
    if not sep:
        raise LatentSpecError(f"--concept {option!r}: expected NAME=E1,E2,... such as "
                              "glasses_man=12,40,57")
    try:
        return check_concept_name(name.strip()), parse_exemplars(values)
    except LatentSpecError as exc:
        raise LatentSpecError(f"--concept {option!r}: {exc}") from None


def parse_pair(pair: Any) -> tuple[Exemplar, Exemplar]:
    """``[from, to]`` → two exemplars."""
    if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise LatentSpecError(f"bad pair {pair!r}: expected [from, to], e.g. [3, 17] or "
                              "[s1, s2]")
    return parse_exemplar(pair[0]), parse_exemplar(pair[1])


def exemplar_latents(exemplars: Sequence[Exemplar], bank: np.ndarray, latent_dim: int,
                     distribution: str) -> np.ndarray:
    """The latents of ``exemplars``, ``(k, latent_dim)`` float32."""
    return np.stack([e.latent(bank, latent_dim, distribution) for e in exemplars])


# -- expressions -----------------------------------------------------------------------------
_TOKEN = re.compile(r"(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*])|(?P<space>\s+)")


@dataclass(frozen=True)
class Token:
    """One token of an expression: ``kind`` is number, name or op."""

    kind: str
    text: str
    position: int


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


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens (spaces dropped).

    Raises:
        LatentSpecError: A character that belongs to no token.

    """
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise LatentSpecError(_at(text, position, f"unexpected character "
                                                      f"{text[position]!r}"))
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup, match.group(), position))
        position = match.end()
    return tokens


def parse_expression(text: str, known: Sequence[str] | None = None) -> Expression:
    """Parse ``[-] [c*]NAME ((+|-) [c*]NAME)*``, e.g. ``glasses_man - man + woman``.

    Args:
        text: The expression.
        known: Defined concept names; when given, unknown names are errors.

    Raises:
        LatentSpecError: A syntax error (with its position) or an unknown concept.

    """
    if not isinstance(text, str) or not text.strip():
        raise LatentSpecError("the expression is empty: write e.g. 'glasses_man - man + woman'")
    tokens = tokenize(text)
    terms, index, sign = [], 0, 1.0
    if tokens[0].kind == "op" and tokens[0].text in "+-":
        sign, index = (-1.0 if tokens[0].text == "-" else 1.0), 1
    while True:
        coefficient, name, index = _parse_term(text, tokens, index)
        terms.append(Term(sign * coefficient, name))
        if index == len(tokens):
            break
        operator = tokens[index]
        if operator.kind != "op" or operator.text not in "+-":
            raise LatentSpecError(_at(text, operator.position,
                                      f"expected + or - before {operator.text!r}"))
        sign, index = (-1.0 if operator.text == "-" else 1.0), index + 1
    expression = Expression(text.strip(), tuple(terms))
    if known is not None:
        expression.check_names(known)
    return expression


def _parse_term(text: str, tokens: list[Token], index: int) -> tuple[float, str, int]:
    """``NAME`` or ``NUMBER * NAME`` starting at ``tokens[index]``."""
    if index == len(tokens):
        raise LatentSpecError(_at(text, len(text), "the expression ends where a concept "
                                                   "name was expected"))
    token = tokens[index]
    if token.kind == "name":
        return 1.0, token.text, index + 1
    if token.kind == "number":
        following = tokens[index + 1:index + 3]
        if len(following) == 2 and following[0].text == "*" and following[1].kind == "name":
            return float(token.text), following[1].text, index + 3
        raise LatentSpecError(_at(text, token.position, f"a coefficient must be written "
                                                        f"{token.text}*NAME"))
    raise LatentSpecError(_at(text, token.position,
                              f"expected a concept name, got {token.text!r}"))


def _at(text: str, position: int, problem: str) -> str:
    return f"bad expression {text!r}: {problem} at character {position + 1}"


# -- the vector arithmetic -------------------------------------------------------------------
@dataclass(frozen=True)
class ArithmeticLatents:
    """Every latent of one arithmetic figure.

    Attributes:
        expression: The expression.
        exemplars: Concept name → its exemplar latents ``(k, d)``.
        means: Concept name → the mean of its exemplars ``(d,)``.
        result: The expression evaluated on the means ``(d,)``.
        neighbours: ``result`` plus uniform jitter ``(n, d)``.

    """

    expression: Expression
    exemplars: dict[str, np.ndarray]
    means: dict[str, np.ndarray]
    result: np.ndarray
    neighbours: np.ndarray

    def batch(self) -> np.ndarray:
        """All latents in one batch, in the order :meth:`split` expects.

        Per concept its exemplars then its mean; then the result; then the neighbours.
        """
        parts = []
        for name in self.expression.names:
            parts += [self.exemplars[name], self.means[name][None]]
        parts += [self.result[None], self.neighbours]
        return np.concatenate(parts).astype(np.float32)

    def split(self, images: np.ndarray) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                                 np.ndarray, np.ndarray]:
        """Images of :meth:`batch` → ``({name: (exemplars, mean)}, result, neighbours)``."""
        per_concept, start = {}, 0
        for name in self.expression.names:
            count = len(self.exemplars[name])
            per_concept[name] = (images[start:start + count], images[start + count])
            start += count + 1
        return per_concept, images[start], images[start + 1:]


def jitter_neighbours(center: np.ndarray, count: int, jitter: float, seed: int) -> np.ndarray:
    """``count`` points ``center + U(-jitter, jitter)`` per coordinate, reproducible."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-jitter, jitter, size=(count, center.shape[-1]))
    return (center[None, :] + noise).astype(np.float32)


def latent_arithmetic(expression: Expression, concepts: Mapping[str, np.ndarray], *,
                      neighbours: int = 8, jitter: float = 0.25,
                      seed: int = 0) -> ArithmeticLatents:
    """Concept means, the expression's result and its jittered neighbours.

    Args:
        expression: The parsed expression.
        concepts: Concept name → exemplar latents ``(k, d)``.
        neighbours: How many jittered neighbours of the result.
        jitter: Half-width of the uniform noise (0.25 in the paper).
        seed: Seed of the noise.

    """
    expression.check_names(list(concepts))
    exemplars = {name: np.asarray(concepts[name], np.float32) for name in expression.names}
    means = {name: latents.mean(axis=0) for name, latents in exemplars.items()}
    result = expression.evaluate(means)
    return ArithmeticLatents(expression, exemplars, means, result,
                             jitter_neighbours(result, neighbours, jitter, seed))


def interpolation_path(start: np.ndarray, end: np.ndarray, steps: int,
                       spherical: bool) -> np.ndarray:
    """``steps`` latents from ``start`` to ``end`` (both included)."""
    return (slerp if spherical else lerp)(start, end, steps)


def default_slerp(distribution: str) -> bool:
    """Spherical for a normal prior, linear (the paper's) for a uniform one."""
    return distribution == "normal"


# -- drawing ---------------------------------------------------------------------------------
@functools.cache
def _font() -> Any:
    """Pillow's built-in font: no font file to ship or find."""
    return ImageFont.load_default()


def text_size(text: str) -> tuple[int, int]:
    """Width and line height of ``text`` in the default font."""
    ascent, descent = _font().getmetrics()
    return int(math.ceil(_font().getlength(text))), ascent + descent


def auto_scale(height: int, width: int, minimum: int = MIN_CELL) -> int:
    """Smallest integer factor making a cell at least ``minimum`` pixels (MNIST's 28 → 3)."""
    return max(1, math.ceil(minimum / max(1, min(height, width))))


def cell_image(image: np.ndarray, scale: int) -> Image.Image:
    """One generated image as an RGB Pillow image, scaled up without smoothing."""
    array = to_uint8(image)
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    picture = Image.fromarray(np.ascontiguousarray(array))
    if scale == 1:
        return picture
    return picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)


def grid_shape(count: int) -> tuple[int, int]:
    """``(rows, cols)`` of a near-square grid for ``count`` cells (3×3 for 9)."""
    cols = max(1, math.ceil(math.sqrt(count)))
    return math.ceil(count / cols), cols


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
        self.draw.text(xy, text, fill=fill, font=_font())

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
            box = self.draw.textbbox((x + 1, y), label, font=_font())
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
                        caption
        = result       [n] [n] [n]
                       [n] [R] [n]      R: the result, framed
                       [n] [n] [n]

    Args:
        rows: The concept rows, in expression order.
        result: The result image ``(h, w, c)``.
        neighbours: The neighbours' images ``(n, h, w, c)``.
        result_label: Text left of the result grid.
        caption: Text above the result grid.
        title: Text on top of the figure.
        scale: Integer up-scaling of every image (default: :func:`auto_scale`).

    Returns:
        An RGB image (1-channel images are drawn as gray).

    """
    height, width = result.shape[:2]
    scale = scale or auto_scale(height, width)
    cell_h, cell_w = height * scale, width * scale
    line = text_size("Ag")[1]
    label_w = max(text_size(t)[0] for t in [r.label for r in rows] + [result_label]) + 2 * GAP
    columns = max(len(r.exemplars) for r in rows)
    grid_rows, grid_cols = grid_shape(1 + len(neighbours))
    concepts_w = columns * (cell_w + GAP) + SEPARATION + cell_w
    result_w = grid_cols * (cell_w + GAP) - GAP
    body_w = max(concepts_w, result_w, text_size(caption)[0])
    title_h = line + GAP if title else 0
    canvas = Canvas(
        max(MARGIN + label_w + body_w + MARGIN, MARGIN + text_size(title)[0] + MARGIN),
        MARGIN + title_h + (line + GAP) + len(rows) * (cell_h + GAP) + SEPARATION
        + (line + GAP) + grid_rows * (cell_h + GAP) - GAP + MARGIN)
    if title:
        canvas.text((MARGIN, MARGIN), title)
    left, top = MARGIN + label_w, MARGIN + title_h
    mean_x = left + columns * (cell_w + GAP) + SEPARATION - GAP
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
    canvas.text((left, top), caption)
    top += line + GAP
    _draw_result_grid(canvas, (left, top), result, neighbours, scale, grid_cols)
    centre_row = _centre_index(1 + len(neighbours), grid_rows, grid_cols) // grid_cols
    canvas.text((MARGIN, top + centre_row * (cell_h + GAP) + (cell_h - line) // 2),
                result_label, fill=HIGHLIGHT)
    return canvas.image


def _centre_index(count: int, rows: int, cols: int) -> int:
    """Where the result goes: the centre of a full odd grid (3×3), else first."""
    full_odd = count == rows * cols and rows % 2 == 1 and cols % 2 == 1
    return (rows // 2) * cols + cols // 2 if full_odd else 0


def _draw_result_grid(canvas: Canvas, origin: tuple[int, int], result: np.ndarray,
                      neighbours: np.ndarray, scale: int, cols: int) -> None:
    count = 1 + len(neighbours)
    rows = math.ceil(count / cols)
    centre = _centre_index(count, rows, cols)
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
        scale: Integer up-scaling (default: :func:`auto_scale`).

    """
    steps, height, width = rows[0][1].shape[:3]
    scale = scale or auto_scale(height, width)
    cell_h, cell_w = height * scale, width * scale
    line = text_size("Ag")[1]
    label_w = max(text_size(label)[0] for label, _ in rows) + 2 * GAP
    title_h = line + GAP if title else 0
    body_w = steps * (cell_w + GAP) - GAP
    canvas = Canvas(max(MARGIN + label_w + body_w, MARGIN + text_size(title)[0]) + MARGIN,
                    MARGIN + title_h + len(rows) * (cell_h + GAP) - GAP + MARGIN)
    if title:
        canvas.text((MARGIN, MARGIN), title)
    top = MARGIN + title_h
    for label, images in rows:
        canvas.text((MARGIN, top + (cell_h - line) // 2), label, fill=HIGHLIGHT)
        for col, image in enumerate(images):
            canvas.cell((MARGIN + label_w + col * (cell_w + GAP), top), image, scale)
        top += cell_h + GAP
    return canvas.image


def back_and_forth(images: np.ndarray, scale: int | None = None) -> list[Image.Image]:
    """GIF frames: the path forward, then back, without repeating the endpoints."""
    scale = scale or auto_scale(*images.shape[1:3], minimum=2 * MIN_CELL)
    frames = [cell_image(image, scale) for image in images]
    return frames + frames[-2:0:-1]


# -- figures from latents --------------------------------------------------------------------
def arithmetic_figure(generate: Generate, latents: ArithmeticLatents,
                      labels: Mapping[str, Sequence[str]], *, jitter: float,
                      title: str = "") -> Image.Image:
    """Generate every image of ``latents`` in one batch and lay out the figure.

    Args:
        generate: Latents ``(n, d)`` → images ``(n, h, w, c)`` in [-1, 1].
        latents: From :func:`latent_arithmetic`.
        labels: Concept name → its exemplars' labels (``12``, ``s42``).
        jitter: The neighbours' jitter, for the caption.
        title: Text on top.

    """
    per_concept, result, neighbours = latents.split(generate(latents.batch()))
    expression = latents.expression
    rows = [FigureRow(expression.term_label(i), per_concept[term.name][0], labels[term.name],
                      per_concept[term.name][1])
            for i, term in enumerate(expression.terms)]
    caption = (f"result (framed) + {len(neighbours)} neighbours, jitter +/-{jitter:g}"
               if len(neighbours) else "result")
    return render_arithmetic(rows, result, neighbours, caption=caption, title=title)


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


# -- callbacks -------------------------------------------------------------------------------
def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _seed(value: Any) -> int | None:
    if value is None:
        return None
    return _positive_int("seed", value, minimum=0)


def _check_bank(name: str, exemplars: Sequence[Exemplar], bank_size: int) -> None:
    """Raise a :class:`ConfigError` before training if an index is outside the bank."""
    outside = sorted({e.index for e in exemplars if e.index is not None and e.index >= bank_size})
    if outside:
        raise ConfigError(
            f"The {name} callback uses latent-bank indices {', '.join(map(str, outside))} but "
            f"the run's bank holds {bank_size} latents (0-{bank_size - 1}): raise "
            "latents.bank_size (a new run) or pick smaller indices or seed exemplars (s42).")


class LatentArithmetic(keras.callbacks.Callback):
    """Every N epochs, the paper's latent vector arithmetic figure.

    Writes ``arithmetic/epoch_XXXX.png`` and a TensorBoard image
    (``latent_arithmetic``), so one watches the arithmetic become meaningful
    as training goes on. The exemplars, means, result and the neighbours'
    jitter are fixed for the whole run; only the generator changes.

    Args:
        concepts: Concept name → exemplars: bank indices (``12``) or seeds
            (``"s42"``), e.g. ``{glasses_man: [12, 40, 57], man: [3, 8, 21]}``.
        expression: Over the concept names, e.g. ``glasses_man - man + woman``;
            ``+``, ``-`` and coefficients such as ``0.5*man``.
        every_n_epochs: Period in epochs.
        jitter: Half-width of the uniform noise added for the neighbours.
        neighbours: How many neighbours of the result (8 gives a 3×3 grid).
        seed: Seed of the jitter (default: the experiment's seed).

    """

    def __init__(self, concepts: Mapping[str, Any], expression: str, every_n_epochs: int = 1,
                 jitter: float = 0.25, neighbours: int = 8, seed: int | None = None):
        super().__init__()
        self.concepts = parse_concepts(concepts)
        self.expression = parse_expression(expression, known=list(self.concepts))
        self.every_n_epochs = _positive_int("every_n_epochs", every_n_epochs)
        if isinstance(jitter, bool) or not isinstance(jitter, int | float) or jitter < 0:
            raise ValueError(f"jitter must be a number >= 0, got {jitter!r}")
        self.jitter = float(jitter)
        self.neighbours = _positive_int("neighbours", neighbours, minimum=0)
        self.seed = _seed(seed)
        self.latents: ArithmeticLatents | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Check bank indices and fix every latent of the figure for the run."""
        run = self.model.run
        used = [e for name in self.expression.names for e in self.concepts[name]]
        _check_bank("latent_arithmetic", used, len(run.latent_bank))
        concept_latents = {
            name: exemplar_latents(self.concepts[name], run.latent_bank, run.latent_dim,
                                   run.latent_distribution)
            for name in self.expression.names}
        self.latents = latent_arithmetic(
            self.expression, concept_latents, neighbours=self.neighbours, jitter=self.jitter,
            seed=run.seed if self.seed is None else self.seed)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Render the figure for epochs that fall on the period."""
        if (epoch + 1) % self.every_n_epochs or self.latents is None:
            return
        labels = {name: [e.label for e in exemplars]
                  for name, exemplars in self.concepts.items()}
        figure = arithmetic_figure(lambda z: generate(self.model.generator, z),
                                   self.latents, labels, jitter=self.jitter,
                                   title=f"{self.expression.text}  (epoch {epoch + 1})")
        save_png(figure, self.model.run.arithmetic_dir / f"epoch_{epoch + 1:04d}.png")
        _summary_image(self.model.run.summary_writer, "latent_arithmetic", figure, epoch + 1)


class LatentInterpolation(keras.callbacks.Callback):
    """Every N epochs, interpolation paths between pairs of exemplars.

    Writes ``interpolation/epoch_XXXX.png`` (one row per pair) and a
    TensorBoard image (``latent_interpolation``).

    Args:
        pairs: ``[from, to]`` exemplars, e.g. ``[[3, 17], [5, "s42"]]``.
        steps: Images per path, both ends included.
        slerp: Spherical interpolation; ``None`` (default) chooses by prior:
            spherical for ``normal``, linear (as in the paper) for ``uniform``.
        every_n_epochs: Period in epochs.

    """

    def __init__(self, pairs: Sequence[Any], steps: int = 10, slerp: bool | None = None,
                 every_n_epochs: int = 1):
        super().__init__()
        if isinstance(pairs, str) or not isinstance(pairs, Sequence) or not pairs:
            raise ValueError("pairs must be a non-empty list of [from, to] exemplars, e.g. "
                             "[[3, 17], [5, s42]]")
        self.pairs = [parse_pair(pair) for pair in pairs]
        self.steps = _positive_int("steps", steps, minimum=2)
        if slerp is not None and not isinstance(slerp, bool):
            raise ValueError(f"slerp must be true, false or null (by prior), got {slerp!r}")
        self.slerp = slerp
        self.every_n_epochs = _positive_int("every_n_epochs", every_n_epochs)
        self.paths: list[tuple[str, np.ndarray]] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Check bank indices and fix the paths for the run."""
        run = self.model.run
        _check_bank("latent_interpolation", [e for pair in self.pairs for e in pair],
                    len(run.latent_bank))
        spherical = default_slerp(run.latent_distribution) if self.slerp is None else self.slerp
        self.paths = [
            (f"{start.label} -> {end.label}", interpolation_path(
                start.latent(run.latent_bank, run.latent_dim, run.latent_distribution),
                end.latent(run.latent_bank, run.latent_dim, run.latent_distribution),
                self.steps, spherical))
            for start, end in self.pairs]
        self.method = "slerp" if spherical else "lerp"

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Render the paths for epochs that fall on the period."""
        if (epoch + 1) % self.every_n_epochs or not self.paths:
            return
        figure, _ = interpolation_figure(lambda z: generate(self.model.generator, z),
                                         self.paths, title=f"{self.method}, {self.steps} steps "
                                                           f"(epoch {epoch + 1})")
        save_png(figure, self.model.run.interpolation_dir / f"epoch_{epoch + 1:04d}.png")
        _summary_image(self.model.run.summary_writer, "latent_interpolation", figure, epoch + 1)


def _summary_image(writer: Any, tag: str, figure: Image.Image, step: int) -> None:
    if writer is None:
        return
    import tensorflow as tf

    with writer.as_default(step=step):
        tf.summary.image(tag, np.asarray(figure)[None, ...], max_outputs=1)


@hookimpl
def register_callbacks(register: Any) -> None:
    """``latent_arithmetic`` and ``latent_interpolation``."""
    register("latent_arithmetic", LatentArithmetic,
             description="DCGAN latent vector arithmetic figure every N epochs (PNG, "
                         "TensorBoard)")
    register("latent_interpolation", LatentInterpolation,
             description="Latent interpolation paths between exemplars every N epochs")


# -- commands --------------------------------------------------------------------------------
epoch_option = click.option(
    "--epoch", type=click.IntRange(1), default=None, metavar="N",
    help="Use the checkpoint written at the end of epoch N (default: the exported "
         "generator.keras, else the latest checkpoint).")


def _user_error(error: LatentSpecError) -> LatentCommandError:
    return LatentCommandError(str(error)[0].upper() + str(error)[1:] + ".")


def _restore(run_dir: str, epoch: int | None) -> RestoredGenerator:
    """The generator to draw with, telling the user about damaged checkpoints skipped."""
    restored = restore_generator(run_dir, epoch)
    for warning in restored.warnings:
        click.echo(f"warning: {warning} Using an earlier checkpoint.", err=True)
    return restored


def _cli_concepts(options: Sequence[str]) -> dict[str, tuple[Exemplar, ...]]:
    concepts: dict[str, tuple[Exemplar, ...]] = {}
    for option in options:
        name, exemplars = parse_concept_option(option)
        if name in concepts:
            raise LatentSpecError(f"concept '{name}' is given twice by --concept")
        concepts[name] = exemplars
    return concepts


@click.command("arithmetic", short_help="Latent vector arithmetic on a run (DCGAN fig. 7).")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--concept", "concepts", multiple=True, required=True, metavar="NAME=E1,E2,...",
              help="A concept and its exemplars: latent-bank indices (12) or seeds (s42). "
                   "Repeatable, e.g. --concept man=3,8,21.")
@click.option("--expr", "expression", required=True, metavar="EXPRESSION",
              help='Over the concept names with + and -, e.g. "glasses_man - man + woman" '
                   "(coefficients: 0.5*man).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output PNG.")
@epoch_option
@click.option("--seed", type=click.IntRange(0), default=None,
              help="Seed of the neighbours' jitter (default: the run's seed, as the "
                   "latent_arithmetic callback).")
@click.option("--jitter", type=click.FloatRange(0.0), default=0.25, show_default=True,
              help="Half-width of the uniform noise added for the neighbours.")
@click.option("--neighbours", type=click.IntRange(0, 64), default=8, show_default=True,
              help="Neighbours of the result (8: a 3x3 grid around it).")
def arithmetic_command(run_dir: str, concepts: tuple[str, ...], expression: str, out: str,
                       epoch: int | None, seed: int | None, jitter: float,
                       neighbours: int) -> None:
    """Latent vector arithmetic on RUN_DIR's generator (DCGAN paper, figure 7).

    Each concept is the mean of its exemplars' latents; the figure shows every
    exemplar, each mean, the result of the expression and its jittered
    neighbours. Pick exemplars with 'ganlab sample RUN_DIR --numbered'.
    """
    try:
        parsed_concepts = _cli_concepts(concepts)
        parsed = parse_expression(expression, known=list(parsed_concepts))
    except LatentSpecError as exc:
        raise _user_error(exc) from None
    unused = [name for name in parsed_concepts if name not in parsed.names]
    if unused:
        click.echo(f"note: concept(s) {', '.join(unused)} not used by the expression.",
                   err=True)
    info = read_run_info(run_dir)
    try:
        concept_latents = {
            name: exemplar_latents(parsed_concepts[name], info.latent_bank, info.latent_dim,
                                   info.latent_distribution) for name in parsed.names}
    except LatentSpecError as exc:
        raise _user_error(exc) from None
    restored = _restore(run_dir, epoch)
    latents = latent_arithmetic(parsed, concept_latents, neighbours=neighbours, jitter=jitter,
                                seed=info.seed if seed is None else seed)
    labels = {name: [e.label for e in exemplars] for name, exemplars in parsed_concepts.items()}
    figure = arithmetic_figure(lambda z: generate(restored.generator, z), latents, labels,
                               jitter=jitter, title=f"{parsed.text}  ({restored.description})")
    save_png(figure, out)
    click.echo(f"Wrote {out}: {parsed.text}, with {restored.description}.")


@click.command("interpolate", short_help="Walk between two latents of a run: grid + GIF.")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--from", "start", required=True, metavar="EXEMPLAR",
              help="Start: a latent-bank index (12) or a seed (s42).")
@click.option("--to", "end", required=True, metavar="EXEMPLAR", help="End, likewise.")
@click.option("--steps", type=click.IntRange(2, 256), default=10, show_default=True,
              help="Images on the path, both ends included.")
@click.option("--slerp/--lerp", "spherical", default=None,
              help="Spherical or linear interpolation (default: slerp for a normal prior, "
                   "lerp for a uniform one, as in the DCGAN paper).")
@epoch_option
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Output PNG; the animated GIF goes next to it (same name, .gif).")
@click.option("--gif-ms", type=click.IntRange(10, 60_000), default=120, show_default=True,
              help="Milliseconds per GIF frame.")
def interpolate_command(run_dir: str, start: str, end: str, steps: int,
                        spherical: bool | None, epoch: int | None, out: str,
                        gif_ms: int) -> None:
    """Walk RUN_DIR's latent space from one exemplar to another: a grid and a GIF.

    The GIF plays the path forward and back.
    """
    png = Path(out)
    gif = png.with_suffix(".gif") if png.name else png  # with_suffix refuses an empty name
    if gif == png:
        raise LatentCommandError(f"--out {out} names the PNG; the GIF is written next to it "
                                 "with the .gif suffix. Give a .png path.")
    try:
        first, last = parse_exemplar(start), parse_exemplar(end)
        info = read_run_info(run_dir)
        ends = [e.latent(info.latent_bank, info.latent_dim, info.latent_distribution)
                for e in (first, last)]
    except LatentSpecError as exc:
        raise _user_error(exc) from None
    spherical = default_slerp(info.latent_distribution) if spherical is None else spherical
    path = interpolation_path(ends[0], ends[1], steps, spherical)
    restored = _restore(run_dir, epoch)
    method = "slerp" if spherical else "lerp"
    label = f"{first.label} -> {last.label}"
    figure, images = interpolation_figure(
        lambda z: generate(restored.generator, z), [(label, path)],
        title=f"{method}, {steps} steps  ({restored.description})")
    save_png(figure, png)
    save_gif(back_and_forth(images[0]), gif, duration_ms=gif_ms)
    click.echo(f"Wrote {png} and {gif}: {method} {label} in {steps} steps, with "
               f"{restored.description}.")


@hookimpl
def register_commands(cli: Any) -> None:
    """``ganlab arithmetic`` and ``ganlab interpolate``."""
    cli.add_command(arithmetic_command)
    cli.add_command(interpolate_command)
