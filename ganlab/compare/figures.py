"""The comparison's pictures: metric curves of every run, the last sample grids side by side.

matplotlib (Agg, no display) is imported here only, when a comparison is drawn.
Every text drawn (metric, run and file names) is hostile input and is drawn
as plain text: mathtext (``$...$``) and TeX are switched off.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ganlab.atomic import atomic_write
from ganlab.compare.collect import RunSummary
from ganlab.compare.files import checked_image
from ganlab.compare.table import config_key

#: ``history.csv`` columns drawn as curves.
HISTORY_CURVES = ("d_loss", "g_loss", "d_real", "d_fake")
#: Runs of one configuration (seeds) share a colour and differ in line style.
LINE_STYLES = ("-", "--", ":", "-.")
#: Most curve panels drawn (the rest are in compare.csv), and most runs in the legend.
MAX_PANELS = 24
MAX_LEGEND = 40
#: Longest title or legend text drawn, in characters.
MAX_TEXT = 80


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plain_text(draw: Callable[..., Path | None]) -> Callable[..., Path | None]:
    """Run ``draw`` (figure made and saved) with mathtext and TeX off: names are data."""
    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> Path | None:
        with _pyplot().rc_context({"text.parse_math": False, "text.usetex": False}):
            return draw(*args, **kwargs)

    return drawn


def plain(text: str) -> str:
    """``text`` cut to :data:`MAX_TEXT` characters, control characters replaced."""
    text = "".join(c if c.isprintable() else "?" for c in str(text))
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def curves(runs: Sequence[RunSummary]) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Curve name → run label → ``[(epoch, value)]``: losses and ``metrics.csv`` scores."""
    found: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for run in runs:
        for name in HISTORY_CURVES:
            points = [(int(r["epoch"]), r[name]) for r in run.history if name in r]
            if points:
                found.setdefault(name, {})[run.label] = points
        for name, points in run.curves.items():
            found.setdefault(name, {})[run.label] = points
    return found


def save_figure(figure: object, path: Path) -> Path:
    """Save a matplotlib figure as PNG atomically."""
    with atomic_write(path) as stream:
        figure.savefig(stream, format="png", dpi=100, bbox_inches="tight")  # type: ignore[attr-defined]
    return path


@plain_text
def draw_curves(runs: Sequence[RunSummary], path: Path) -> Path | None:
    """One panel per curve, one line per run; runs of one configuration share a colour.

    At most :data:`MAX_PANELS` panels (losses first, then the metrics in order).
    """
    found = dict(list(curves(runs).items())[:MAX_PANELS])
    if not found:
        return None
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    colours: dict[tuple, str] = {}
    styles: dict[str, str] = {}
    for run in runs:
        colours.setdefault(config_key(run), f"C{len(colours) % 10}")
        siblings = sum(config_key(other) == config_key(run) for other in runs[:runs.index(run)])
        styles[run.label] = LINE_STYLES[siblings % len(LINE_STYLES)]
    columns = min(3, len(found))
    rows = math.ceil(len(found) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.4 * rows), squeeze=False)
    by_label = {run.label: run for run in runs}
    for axis, (name, series) in zip(axes.flat, found.items(), strict=False):
        for label, points in series.items():
            epochs, values = zip(*points, strict=True)
            axis.plot(epochs, values, marker="o", markersize=3, linewidth=1.2,
                      color=colours[config_key(by_label[label])], linestyle=styles[label],
                      label=plain(label))
        axis.set_title(plain(name))
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(found):]:
        axis.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    handles, labels = handles[:MAX_LEGEND], labels[:MAX_LEGEND]
    figure.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8,
                  bbox_to_anchor=(0.5, -0.02 - 0.025 * math.ceil(len(labels) / 4)))
    figure.tight_layout()
    try:
        return save_figure(figure, path)
    finally:
        plt.close(figure)


@plain_text
def draw_samples(runs: Sequence[RunSummary], path: Path, columns: int = 5) -> Path | None:
    """The last sample grid of every run that has one, side by side, titled by run."""
    import io

    from PIL import Image

    grids = [(run, checked_image(run.last_samples, run.warn)) for run in runs
             if run.last_samples is not None]
    with_grids = [(run, data) for run, data in grids if data is not None]
    if not with_grids:
        return None
    plt = _pyplot()
    columns = min(columns, len(with_grids))
    rows = math.ceil(len(with_grids) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.5 * rows),
                                squeeze=False)
    for axis, (run, data) in zip(axes.flat, with_grids, strict=False):
        with Image.open(io.BytesIO(data)) as image:
            axis.imshow(image.convert("RGB"))
        axis.set_title(f"{plain(run.label)}\n{plain(run.last_samples.stem)}",  # type: ignore[union-attr]
                       fontsize=8)
        axis.axis("off")
    for axis in list(axes.flat)[len(with_grids):]:
        axis.set_visible(False)
    figure.tight_layout()
    try:
        return save_figure(figure, path)
    finally:
        plt.close(figure)
