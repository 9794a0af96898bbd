"""The comparison as one self-contained static HTML file (images as base64 data URIs).

Built with a Jinja2 template with autoescaping on: every value that reaches
the page (run names, config values, metric names, file names, warnings) is
text, never markup, whoever wrote the run directories. The only script is
the template's own few lines that sort the runs table; nothing is loaded
from elsewhere.

The page: the runs table (metric scores first, best run per score marked by
the direction its metric declares, then the config keys that differ
between runs; the rest folded away), each metric's protocol, the per-seed
table of a sweep, the curves, and per run its last sample grid beside a
real-data grid and per-class grids when it has them, with its config's
departures from the other runs.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganlab.compare.collect import RunSummary
from ganlab.compare.files import checked_image
from ganlab.compare.real import real_grid_png, tfrecord_folder
from ganlab.compare.table import (
    RUN_COLUMNS,
    ConfigDiff,
    Table,
    config_diff,
    format_cell,
    spread_text,
)
from ganlab.sweep.spec import format_value

#: Differing config keys shown in the runs table (the rest are in the folded table).
MAX_SHOWN_CONFIG = 8
#: Shared config keys listed (a config of thousands of values lists the first ones).
MAX_SHARED = 1000
#: Per-class grids embedded per run.
MAX_CLASS_GRIDS = 20


@dataclass(frozen=True)
class Cell:
    """One table cell as the template shows it.

    Attributes:
        text: What is shown.
        sort: The key the sortable table sorts by (a number as text, or the text).
        numeric: Right-aligned, sorted as a number.
        best: The best value of its column (by the metric's direction).

    """

    text: str
    sort: str
    numeric: bool = False
    best: bool = False


@dataclass(frozen=True)
class Column:
    """A table header: its name, and which way is better (``higher``/``lower``/``""``)."""

    name: str
    better: str = ""


def data_uri(data: bytes) -> str:
    """PNG bytes as a ``data:`` URI."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _cell(value: Any, best: float | None = None, text: str | None = None) -> Cell:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    shown = format_cell(value) if text is None else text
    if numeric:
        return Cell(shown, repr(float(value)), True, best is not None and value == best)
    return Cell(shown, shown.casefold())


def table_view(table: Table, columns: Sequence[str], spread: bool = False
               ) -> tuple[list[Column], list[list[Cell]]]:
    """Headers and cells of ``columns``; with ``spread`` medians read ``median [min–max]``."""
    heads = []
    for column in columns:
        spec = table.specs.get(column)
        name = column[:-len(" median")] + " (median [min–max])" \
            if spread and column.endswith(" median") else column
        heads.append(Column(name, spec.direction if spec is not None else ""))
    best = {column: table.best(column) for column in columns}
    rows = [[_cell(row.get(c), best[c], spread_text(row, c) if spread else None)
             for c in columns] for row in table.rows]
    return heads, rows


@dataclass(frozen=True)
class Grid:
    """An image embedded in the report, with its caption."""

    caption: str
    uri: str


@dataclass(frozen=True)
class RunPanel:
    """One run's pictures and config departures.

    Attributes:
        label: The run.
        samples: Its last sample grid.
        real: A grid of real images, if it has one.
        classes: Per-class grids.
        outputs: The newest picture of each other output folder.
        notes: Short facts (EMA generator, missing grids).
        departures: ``(key, most common value, this run's value)``.

    """

    label: str
    samples: Grid | None
    real: Grid | None
    classes: list[Grid]
    outputs: list[Grid]
    notes: list[str]
    departures: list[tuple[str, str, str]]


def _grid(path: Path | None, caption: str, run: RunSummary) -> Grid | None:
    if path is None:
        return None
    data = checked_image(path, run.warn)
    return Grid(caption, data_uri(data)) if data is not None else None


def real_grid(run: RunSummary, cache: dict[Path | None, Grid | None]) -> Grid | None:
    """The run's ``samples/real.png``, else a grid read from its TFRecords (one per folder)."""
    if run.real_grid is not None:
        return _grid(run.real_grid, "real training images", run)
    folder = tfrecord_folder(run)
    if folder not in cache:
        data = real_grid_png(run) if folder is not None else None
        cache[folder] = None if data is None else Grid(
            "real training images (spread over the TFRecords' training split, as stored)",
            data_uri(data))
    return cache[folder]


def run_panel(run: RunSummary, diff: ConfigDiff,
              reals: dict[Path | None, Grid | None] | None = None) -> RunPanel:
    """What the report shows of one run below the tables."""
    samples = _grid(run.last_samples, run.last_samples.stem if run.last_samples else "", run)
    real = real_grid(run, {} if reals is None else reals)
    classes = [g for g in (_grid(p, p.stem, run) for p in run.class_grids[:MAX_CLASS_GRIDS])
               if g is not None]
    outputs = [g for g in (_grid(p, f"{p.parent.name}/{p.name}", run) for p in run.outputs)
               if g is not None]
    notes = []
    if any(key.startswith("train.ema.") for key in run.config) \
            or (run.path / "generator_ema.keras").is_file():
        notes.append("trained with a generator EMA (train.ema): scores marked [ema] are the "
                     "EMA generator's")
    if samples is not None and real is None:
        notes.append("no real-data grid: the run has no samples/real.png and its dataset's "
                     "TFRecords (dataset.params.tfrecords) were not found here")
    departures = diff.per_run.get(run.label, [])
    return RunPanel(run.label, samples, real, classes, outputs, notes, departures[:MAX_SHARED])


def metric_protocols(runs: Sequence[RunSummary], lines: Sequence[str]) -> list[str]:
    """Each metric's protocol: evaluations' records, and the training-time metric blocks."""
    found = list(lines)
    blocks: dict[str, str] = {}
    for run in runs:
        names = {k.split(".")[1]: v for k, v in run.config.items()
                 if k.startswith("metrics.") and k.endswith(".name")}
        for index, name in names.items():
            params = {k.split(".", 3)[3]: v for k, v in run.config.items()
                      if k.startswith(f"metrics.{index}.params.")}
            text = ", ".join(f"{k}={format_value(v)}" for k, v in params.items())
            blocks.setdefault(str(name), text)
    every = {run.config.get("train.metrics_every_n_epochs") for run in runs} - {None}
    period = f"every {format_value(sorted(every, key=str)[0])} epoch(s)" if len(every) == 1 \
        else "on the period in each run's config"
    for name, params in blocks.items():
        found.append(f"{name} (during training, metrics.csv, {period}): "
                     + (f"params {params}" if params else "its default params"))
    return found


def report_html(runs: Sequence[RunSummary], table: Table, by_config: Table | None,
                curves_png: Path | None, protocol_lines: Sequence[str],
                warnings: Sequence[str] = ()) -> str:
    """The report's HTML text (see the module docstring)."""
    import jinja2

    diff = config_diff(runs)
    shown_config = table.config[:MAX_SHOWN_CONFIG]
    main = ["run", *table.metrics, *shown_config, "state", "epochs"]
    more = ["run", *[c for c in RUN_COLUMNS if c in table.columns and c not in main],
            *[c for c in table.columns if c not in main and c not in RUN_COLUMNS]]
    curves = None
    if curves_png is not None:
        data = checked_image(curves_png, lambda message: None)
        curves = data_uri(data) if data is not None else None
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("ganlab.compare", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)
    page = environment.get_template("report.html.j2")
    heads, rows = table_view(table, main)
    reals: dict[Path | None, Grid | None] = {}
    return page.render(
        count=len(runs), when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        heads=heads, rows=[rows[index] for index in best_first(table)],
        more=table_view(table, more),
        common=[(k, format_value(v)) for k, v in list(diff.common.items())[:MAX_SHARED]],
        common_count=len(diff.common),
        protocols=metric_protocols(runs, protocol_lines),
        by_config=table_view(by_config, spread_columns(by_config), spread=True)
        if by_config is not None else None,
        curves=curves, panels=[run_panel(run, diff, reals) for run in runs],
        warnings=[*warnings, *(w for run in runs for w in run.warnings)])


def spread_columns(table: Table) -> list[str]:
    """The per-configuration columns shown: keys and counts, metric medians, other medians.

    Minima and maxima are shown inside the median cells (``median [min–max]``).
    """
    kept = [c for c in table.columns if not c.endswith((" min", " max"))]
    medians = [c for c in kept if c.endswith(" median")]
    head = [c for c in kept if c not in medians]
    return [*head, *[c for c in table.metrics if c in medians],
            *[c for c in medians if c not in table.metrics]]


def best_first(table: Table) -> list[int]:
    """Row order: by the first score with a direction, best first (runs without it last)."""
    ranked = next((c for c in table.metrics if table.specs.get(c) is not None
                   and table.specs[c].higher_is_better is not None), None)
    if ranked is None:
        return list(range(len(table.rows)))
    sign = -1.0 if table.specs[ranked].higher_is_better else 1.0

    def key(index: int) -> tuple[bool, float]:
        value = table.rows[index].get(ranked)
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        return (not numeric, sign * value if numeric else 0.0)

    return sorted(range(len(table.rows)), key=key)
