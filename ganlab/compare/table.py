"""The comparison tables: one row per run, and per configuration over seeds.

A column is a metric's score (``toy/fid final``, ``eval fid``), a config
key, or run bookkeeping (state, time, losses). Each score column carries
the :class:`ganlab.ScoreSpec` its metric declared, so the best run can be
marked; the config columns that differ between runs are found by
comparing the runs' resolved configs.
"""

from __future__ import annotations

import csv
import io
import json
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ganlab.compare.collect import NAMING_KEYS, RunSummary
from ganlab.compare.runfiles import Evaluation, best_of, describe_protocol
from ganlab.contracts import ScoreSpec
from ganlab.sweep.spec import format_value

#: Override keys that name a repetition rather than a configuration.
SEED_KEYS = ("seed",)
#: Most differing config keys given a column (the per-run departures list them all).
MAX_CONFIG_COLUMNS = 100
#: Bookkeeping columns of every run.
RUN_COLUMNS = ("state", "epochs", "wall_s", "train_s", "images_per_s", "d_loss", "g_loss")


@dataclass
class Table:
    """Columns and rows (values: numbers, strings or ``None``).

    Attributes:
        columns: Every column, in order.
        rows: One mapping per row.
        specs: Score column → what the score means (its direction marks the best).
        metrics: The score columns worth a first look (finals, bests, evaluations).
        config: The config columns: overrides, then other keys that differ between runs.

    """

    columns: list[str]
    rows: list[dict[str, Any]]
    specs: dict[str, ScoreSpec] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=list)
    config: list[str] = field(default_factory=list)

    def numeric_columns(self) -> list[str]:
        """Columns holding a number in some row (and nothing but numbers or blanks)."""
        return [c for c in self.columns
                if any(_is_number(r.get(c)) for r in self.rows)
                and all(r.get(c) is None or _is_number(r.get(c)) for r in self.rows)]

    def best(self, column: str) -> float | None:
        """The best value of a score column among the rows (``None``: no direction)."""
        spec = self.specs.get(column)
        values = [r[column] for r in self.rows if _is_number(r.get(column))]
        if spec is None or spec.higher_is_better is None or len(values) < 2:
            return None
        return max(values) if spec.higher_is_better else min(values)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def override_keys(runs: Sequence[RunSummary]) -> list[str]:
    """Every overridden key, in first-seen order."""
    return list(dict.fromkeys(k for run in runs for k in run.overrides))


def eval_column(evaluation: Evaluation, score: str) -> str:
    """``eval fid``; ``eval fid [ema]`` for a score of a run's EMA generator."""
    suffix = f" [{evaluation.generator}]" if evaluation.generator not in ("", "raw") else ""
    return f"eval {score}{suffix}"


def run_row(run: RunSummary, keys: Sequence[str], specs: dict[str, ScoreSpec]
            ) -> dict[str, Any]:
    """One run's row: overrides, state, time, throughput, final losses, metrics.

    ``specs`` gains the spec of every score column the row fills.
    """
    row: dict[str, Any] = {"run": run.label}
    row.update({key: _config_value(run, key) for key in keys})
    last = run.history[-1] if run.history else {}
    row.update({"state": run.state, "epochs": run.epochs, "wall_s": _round(run.wall_seconds),
                "train_s": _round(run.train_seconds), "images_per_s": _round(run.images_per_sec),
                "d_loss": last.get("d_loss"), "g_loss": last.get("g_loss")})
    for key, points in run.curves.items():
        spec = run.specs.get(key)
        row[f"{key} final"] = points[-1][1]
        best = best_of(spec, points)
        if spec is not None:
            specs.setdefault(f"{key} final", spec)
        if best is not None:
            row[f"{key} best"] = best[1]
            row[f"{key} best epoch"] = best[0]
            specs.setdefault(f"{key} best", spec)  # type: ignore[arg-type]
    for evaluation in run.evaluations:
        for score, value in evaluation.scores.items():
            column = eval_column(evaluation, score)
            row[column] = value
            if score in evaluation.specs:
                specs.setdefault(column, evaluation.specs[score])
        suffix = f" [{evaluation.generator}]" if evaluation.generator not in ("", "raw") else ""
        row[f"eval {evaluation.metric}{suffix} protocol"] = describe_protocol(evaluation.protocol)
    return row


def _config_value(run: RunSummary, key: str) -> Any:
    """The run's override of ``key``, else its config's value (text unless a number)."""
    if key in run.overrides:
        return run.overrides[key]
    if key not in run.config:
        return None
    value = run.config[key]
    return value if _is_number(value) else format_value(value)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def run_table(runs: Sequence[RunSummary]) -> Table:
    """The per-run table: overrides and differing config keys, bookkeeping, scores."""
    keys = list(dict.fromkeys([*override_keys(runs),
                               *config_diff(runs).differing[:MAX_CONFIG_COLUMNS]]))
    specs: dict[str, ScoreSpec] = {}
    rows = [run_row(run, keys, specs) for run in runs]
    columns = list(dict.fromkeys(c for row in rows for c in row))
    metrics = [c for c in columns if (c.endswith(" final") or c.endswith(" best")
                                      or (c.startswith("eval ") and not c.endswith(" protocol")))]
    return Table(columns, rows, specs, metrics, keys)


def config_key(run: RunSummary) -> tuple[tuple[str, str], ...]:
    """A run's configuration: its overrides except the seed."""
    return tuple((k, format_value(v)) for k, v in run.overrides.items() if k not in SEED_KEYS)


def seed_table(runs: Sequence[RunSummary], table: Table) -> Table | None:
    """Median and min–max over seeds per configuration (``None`` without repeated seeds).

    The statistics are over the configuration's finished runs (over all of
    them while none has finished).
    """
    if not any(key in run.overrides for run in runs for key in SEED_KEYS):
        return None
    groups: dict[tuple[tuple[str, str], ...], list[dict[str, Any]]] = {}
    for run, row in zip(runs, table.rows, strict=True):
        groups.setdefault(config_key(run), []).append(row)
    if all(len(rows) < 2 for rows in groups.values()):
        return None
    skip = {"epochs"} | {c for c in table.columns if c.endswith("best epoch")}
    numeric = [c for c in table.numeric_columns() if c not in skip and c not in table.config]
    keys = [k for k in override_keys(runs) if k not in SEED_KEYS]
    rows = []
    for config, members in groups.items():
        row: dict[str, Any] = dict(config) if config else {"configuration": "(all)"}
        done = [m for m in members if m.get("state") in ("finished", "completed")]
        row["seeds"], row["finished"] = len(members), len(done)
        for column in numeric:  # over finished runs: a run still training would skew them
            values = [m[column] for m in done or members if _is_number(m.get(column))]
            if values:
                row[f"{column} median"] = statistics.median(values)
                row[f"{column} min"] = min(values)
                row[f"{column} max"] = max(values)
        rows.append(row)
    head = keys or ["configuration"]
    columns = list(dict.fromkeys([*head, "seeds", "finished",
                                  *(c for row in rows for c in row)]))
    specs = {f"{c} median": s for c, s in table.specs.items()}
    metrics = [f"{c} median" for c in table.metrics if f"{c} median" in columns]
    return Table(columns, rows, specs, metrics)


# -- configurations ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigDiff:
    """How the runs' resolved configs differ.

    Attributes:
        differing: Config keys whose value is not the same in every run.
        common: Key → value shared by every run.
        baseline: Key → the most common value of a differing key.
        per_run: Run label → ``[(key, baseline text, run's text)]`` where it departs.

    """

    differing: list[str]
    common: dict[str, Any]
    baseline: dict[str, Any]
    per_run: dict[str, list[tuple[str, str, str]]]


_MISSING = "(absent)"


def config_diff(runs: Sequence[RunSummary], most_departures: int = 1000) -> ConfigDiff:
    """The keys that differ between the runs' configs, and each run's departures.

    Values are compared by their JSON text (fast, exact for YAML data) and
    written as ``--set`` would (YAML) only for what is shown: each run's
    first ``most_departures`` departures.
    """
    keys = list(dict.fromkeys(k for run in runs for k in run.config if k not in NAMING_KEYS))
    identity = {run.label: {k: _identity(run.config, k) for k in keys} for run in runs}
    differing, common, baseline = [], {}, {}
    for key in keys:
        values = [identity[run.label][key] for run in runs]
        if len(set(values)) == 1:
            common[key] = runs[0].config.get(key)
        else:
            differing.append(key)
            baseline[key] = Counter(values).most_common(1)[0][0]
    per_run: dict[str, list[tuple[str, str, str]]] = {}
    for run in runs:
        departed = [k for k in differing if identity[run.label][k] != baseline[k]]
        per_run[run.label] = [(k, _shown(baseline[k]), _config_text(run.config, k))
                              for k in departed[:most_departures]]
    return ConfigDiff(differing, common, {k: _shown(v) for k, v in baseline.items()}, per_run)


def _identity(config: dict[str, Any], key: str) -> str:
    if key not in config:
        return _MISSING
    return json.dumps(config[key], sort_keys=True, default=str)


def _shown(identity: str) -> str:
    return identity if identity == _MISSING else format_value(json.loads(identity))


def _config_text(config: dict[str, Any], key: str) -> str:
    return format_value(config[key]) if key in config else _MISSING


# -- text and CSV --------------------------------------------------------------------------------
def format_cell(value: Any) -> str:
    """A value for the terminal and the report (4 significant digits)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
#: First characters a spreadsheet reads as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell no spreadsheet evaluates: text that starts like a formula gets a ``'``.

    Numbers stay numbers (``-0.5`` is a number, not a formula); any other
    text that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return is prefixed with a single quote, which spreadsheets show as text.
    """
    if value is None:
        return ""
    if _is_number(value) or isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def to_csv(table: Table) -> str:
    """The table as CSV text (full precision; formula-like text neutralised)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([spreadsheet_safe(c) for c in table.columns])
    for row in table.rows:
        writer.writerow([spreadsheet_safe(row.get(c)) for c in table.columns])
    return buffer.getvalue()


def terminal_text(text: str) -> str:
    """``text`` without control characters (a hostile name could drive the terminal)."""
    return "".join(c if unicodedata.category(c)[0] != "C" else "?" for c in text)


def terminal_columns(table: Table) -> list[str]:
    """The columns worth a terminal: no protocol text, no min/max (they are in the CSV)."""
    return [c for c in table.columns if not c.endswith("protocol")
            and not c.endswith(" min") and not c.endswith(" max")
            and not c.endswith("best epoch")]


def spread_text(row: dict[str, Any], column: str) -> str:
    """A median cell as ``median [min–max]``."""
    text = format_cell(row.get(column))
    if column.endswith(" median") and text:
        base = column[:-len(" median")]
        text += (f" [{format_cell(row.get(base + ' min'))}–"
                 f"{format_cell(row.get(base + ' max'))}]")
    return text


def render_text(table: Table, columns: Sequence[str] | None = None,
                spread: bool = False) -> str:
    """An aligned text table; with ``spread``, medians shown as ``median [min–max]``."""
    columns = list(columns or terminal_columns(table))
    cells = [[terminal_text(spread_text(row, c) if spread else format_cell(row.get(c)))
              for c in columns] for row in table.rows]
    heads = [terminal_text(c[:-len(" median")] if spread and c.endswith(" median") else c)
             for c in columns]
    widths = [max([len(h)] + [len(line[i]) for line in cells]) for i, h in enumerate(heads)]
    out = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(t.ljust(w) for t, w in zip(line, widths, strict=True)).rstrip()
            for line in cells]
    return "\n".join(out)


def protocols(runs: Sequence[RunSummary]) -> list[str]:
    """One line per evaluated metric and distinct protocol."""
    lines: dict[str, list[str]] = {}
    for run in runs:
        for evaluation in run.evaluations:
            text = f"{evaluation.metric}: {describe_protocol(evaluation.protocol)}"
            lines.setdefault(text, []).append(run.label)
    return [text + (f" ({', '.join(names)})" if len(lines) > 1 else "")
            for text, names in lines.items()]
