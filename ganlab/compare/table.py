"""The comparison tables: one row per run, and per configuration over seeds."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ganlab.compare.collect import RunSummary, best_of, describe_protocol
from ganlab.sweep.spec import format_value

#: Override keys that name a repetition rather than a configuration.
SEED_KEYS = ("seed",)


@dataclass
class Table:
    """Columns and rows (values: numbers, strings or ``None``)."""

    columns: list[str]
    rows: list[dict[str, Any]]

    def numeric_columns(self) -> list[str]:
        """Columns holding a number in some row (and nothing but numbers or blanks)."""
        return [c for c in self.columns
                if any(isinstance(r.get(c), (int, float)) for r in self.rows)
                and all(r.get(c) is None or isinstance(r.get(c), (int, float))
                        for r in self.rows)]


def override_keys(runs: Sequence[RunSummary]) -> list[str]:
    """Every overridden key, in first-seen order."""
    return list(dict.fromkeys(k for run in runs for k in run.overrides))


def run_row(run: RunSummary, keys: Sequence[str]) -> dict[str, Any]:
    """One run's row: overrides, state, time, throughput, final losses, metrics."""
    row: dict[str, Any] = {"run": run.label}
    row.update({key: run.overrides.get(key) for key in keys})
    last = run.history[-1] if run.history else {}
    row.update({"state": run.state, "epochs": run.epochs, "wall_s": _round(run.wall_seconds),
                "train_s": _round(run.train_seconds), "images_per_s": _round(run.images_per_sec),
                "d_loss": last.get("d_loss"), "g_loss": last.get("g_loss")})
    for key, points in run.curves.items():
        row[f"{key} final"] = points[-1][1]
        best = best_of(key.rsplit("/", 1)[-1], points)
        if best is not None:
            row[f"{key} best"] = best[1]
            row[f"{key} best epoch"] = best[0]
    for record in run.evaluations:
        for score, value in record["scores"].items():
            row[f"eval {score}"] = value
        row[f"eval {record['metric']} protocol"] = describe_protocol(record.get("protocol", {}))
    return row


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def run_table(runs: Sequence[RunSummary]) -> Table:
    """The per-run table."""
    keys = override_keys(runs)
    rows = [run_row(run, keys) for run in runs]
    columns = list(dict.fromkeys(c for row in rows for c in row))
    return Table(columns, rows)


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
    numeric = [c for c in table.numeric_columns() if c not in skip
               and c not in override_keys(runs)]
    keys = [k for k in override_keys(runs) if k not in SEED_KEYS]
    rows = []
    for config, members in groups.items():
        row: dict[str, Any] = dict(config) if config else {"configuration": "(all)"}
        done = [m for m in members if m.get("state") in ("finished", "completed")]
        row["seeds"], row["finished"] = len(members), len(done)
        for column in numeric:  # over finished runs: a run still training would skew them
            values = [m[column] for m in done or members
                      if isinstance(m.get(column), (int, float))]
            if values:
                row[f"{column} median"] = statistics.median(values)
                row[f"{column} min"] = min(values)
                row[f"{column} max"] = max(values)
        rows.append(row)
    head = keys or ["configuration"]
    columns = list(dict.fromkeys([*head, "seeds", "finished",
                                  *(c for row in rows for c in row)]))
    return Table(columns, rows)


def format_cell(value: Any) -> str:
    """A value for the terminal and the report (4 significant digits)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def to_csv(table: Table) -> str:
    """The table as CSV text (full precision)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=table.columns, extrasaction="ignore")
    writer.writeheader()
    for row in table.rows:
        writer.writerow({c: ("" if row.get(c) is None else row[c]) for c in table.columns})
    return buffer.getvalue()


def terminal_columns(table: Table) -> list[str]:
    """The columns worth a terminal: no protocol text, no min/max (they are in the CSV)."""
    return [c for c in table.columns if not c.endswith("protocol")
            and not c.endswith(" min") and not c.endswith(" max")
            and not c.endswith("best epoch")]


def render_text(table: Table, columns: Sequence[str] | None = None,
                spread: bool = False) -> str:
    """An aligned text table; with ``spread``, medians shown as ``median [min–max]``."""
    columns = list(columns or terminal_columns(table))
    cells = []
    for row in table.rows:
        line = []
        for column in columns:
            text = format_cell(row.get(column))
            if spread and column.endswith(" median") and text:
                base = column[:-len(" median")]
                text += (f" [{format_cell(row.get(base + ' min'))}–"
                         f"{format_cell(row.get(base + ' max'))}]")
            line.append(text)
        cells.append(line)
    heads = [c[:-len(" median")] if spread and c.endswith(" median") else c for c in columns]
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
        for record in run.evaluations:
            text = f"{record['metric']}: {describe_protocol(record.get('protocol', {}))}"
            lines.setdefault(text, []).append(run.label)
    return [text + (f" ({', '.join(names)})" if len(lines) > 1 else "")
            for text, names in lines.items()]
