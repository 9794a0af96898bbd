"""The comparison's pictures: metric curves of every run, the last sample grids side by side.

matplotlib (Agg, no display) is imported here only, when a comparison is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ganlab.atomic import atomic_write
from ganlab.compare.collect import RunSummary
from ganlab.compare.table import config_key

#: ``history.csv`` columns drawn as curves.
HISTORY_CURVES = ("d_loss", "g_loss", "d_real", "d_fake")
#: Runs of one configuration (seeds) share a colour and differ in line style.
LINE_STYLES = ("-", "--", ":", "-.")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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


def draw_curves(runs: Sequence[RunSummary], path: Path) -> Path | None:
    """One panel per curve, one line per run; runs of one configuration share a colour."""
    found = curves(runs)
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
                      label=label)
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(found):]:
        axis.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8,
                  bbox_to_anchor=(0.5, -0.02 - 0.025 * math.ceil(len(labels) / 4)))
    figure.tight_layout()
    try:
        return save_figure(figure, path)
    finally:
        plt.close(figure)


def draw_samples(runs: Sequence[RunSummary], path: Path, columns: int = 5) -> Path | None:
    """The last sample grid of every run that has one, side by side, titled by run."""
    with_grids = [run for run in runs if run.last_samples is not None]
    if not with_grids:
        return None
    from PIL import Image

    plt = _pyplot()
    columns = min(columns, len(with_grids))
    rows = math.ceil(len(with_grids) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.5 * rows),
                                squeeze=False)
    for axis, run in zip(axes.flat, with_grids, strict=False):
        with Image.open(run.last_samples) as image:
            axis.imshow(image.convert("RGB"))
        axis.set_title(f"{run.label}\n{run.last_samples.stem}", fontsize=8)
        axis.axis("off")
    for axis in list(axes.flat)[len(with_grids):]:
        axis.set_visible(False)
    figure.tight_layout()
    try:
        return save_figure(figure, path)
    finally:
        plt.close(figure)
