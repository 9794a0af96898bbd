"""What ``ganlab compare`` reads from run directories (and sweeps' ``sweep.json``).

Per run: its overrides, state, epochs, wall and training time, throughput
and final losses (``history.csv``), the training-time metric curves
(``metrics.csv``: ``epoch,metric,score,value``), the offline evaluations
with their protocol (``metrics.json``, written by ``ganlab evaluate``) and the
last sample grid.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganlab.errors import ConfigError
from ganlab.sweep.spec import parse_value
from ganlab.sweep.state import SweepState

#: Score names where lower is better / higher is better (for the "best" columns).
LOWER_IS_BETTER = ("fid", "kid_mean")
HIGHER_IS_BETTER = ("precision", "recall", "classifier_score", "confident_share")


@dataclass
class RunSummary:
    """One run as ``ganlab compare`` sees it.

    Attributes:
        name: The run's name (its folder).
        path: The run directory.
        sweep: The sweep it belongs to ("" for a run started by hand).
        overrides: Key path → value the run was started with.
        state: Sweep state, else ``run.json``'s status.
        epochs: Epochs completed.
        wall_seconds: The sweep's wall time of the run's last attempt (``None`` outside sweeps).
        train_seconds: Sum of the epochs' training time (``history.csv``).
        images_per_sec: Median training throughput over the epochs.
        history: ``history.csv`` rows (numbers).
        curves: ``metric/score`` → ``[(epoch, value), ...]`` from ``metrics.csv``.
        evaluations: ``metrics.json`` records, the newest per metric.
        last_samples: The last epoch's sample grid, if any.

    """

    name: str
    path: Path
    sweep: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    state: str = ""
    epochs: int = 0
    wall_seconds: float | None = None
    train_seconds: float | None = None
    images_per_sec: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    last_samples: Path | None = None

    @property
    def label(self) -> str:
        """``sweep/run`` (or the run's name)."""
        return f"{self.sweep}/{self.name}" if self.sweep else self.name


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a ganlab run."""
    return (path / "config.yaml").is_file() or (path / "run.json").is_file()


def find_runs(paths: list[Path]) -> list[RunSummary]:
    """Every run named by ``paths``: run directories, sweep directories, or folders of runs.

    Raises:
        ConfigError: A path that does not exist or holds no run.

    """
    runs: list[RunSummary] = []
    for path in paths:
        if not path.is_dir():
            raise ConfigError(f"{path} is not a directory: give run directories or sweep "
                              "directories (runs/<sweep>).")
        sweep = SweepState.load(path)
        if sweep is not None:
            runs += [read_run(sweep.run_dir(r), sweep.name, r.overrides, r.state, r.seconds)
                     for r in sweep.runs]
        elif is_run_dir(path):
            runs.append(read_run(path))
        else:
            found = sorted(p for p in path.iterdir() if p.is_dir() and is_run_dir(p))
            if not found:
                raise ConfigError(f"{path} holds no ganlab run (no config.yaml or run.json, "
                                  "no sweep.json, no run folders).")
            runs += [read_run(p) for p in found]
    return runs


def read_run(path: Path, sweep: str = "", overrides: dict[str, Any] | None = None,
             state: str | None = None, wall_seconds: float | None = None) -> RunSummary:
    """Everything ``compare`` shows of the run in ``path`` (missing files: empty fields)."""
    meta = read_json(path / "run.json")
    run = RunSummary(path.name, path, sweep,
                     overrides if overrides is not None else config_overrides(path),
                     state or str(meta.get("status", "")), int(meta.get("epochs_completed", 0)),
                     wall_seconds)
    run.history = read_history(path / "history.csv")
    if run.history:
        run.epochs = max(run.epochs, int(run.history[-1].get("epoch", 0)))
        run.train_seconds = sum(row.get("seconds", 0.0) for row in run.history)
        speeds = [row["images_per_sec"] for row in run.history if "images_per_sec" in row]
        run.images_per_sec = statistics.median(speeds) if speeds else None
    run.curves = read_curves(path / "metrics.csv")
    run.evaluations = newest_records(read_json(path / "metrics.json").get("records", []))
    grids = sorted((path / "samples").glob("epoch_*.png"))
    run.last_samples = grids[-1] if grids else None
    return run


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file (empty when missing or unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def config_overrides(path: Path) -> dict[str, Any]:
    """The ``--set`` overrides a hand-started run recorded in its ``config.yaml`` header."""
    try:
        with (path / "config.yaml").open(encoding="utf-8") as stream:
            header = stream.readline()
    except OSError:
        return {}
    _, found, sets = header.partition(" with --set ")
    if not found:
        return {}
    overrides = {}
    for option in re.split(r" --set ", sets.strip()):
        key, _, value = option.partition("=")
        if key not in ("name", "run_dir"):
            overrides[key] = parse_value(value)
    return overrides


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def read_history(path: Path) -> list[dict[str, float]]:
    """``history.csv`` rows with their numeric fields."""
    try:
        with path.open(newline="") as stream:
            rows = list(csv.DictReader(stream))
    except (OSError, csv.Error):
        return []
    history = []
    for row in rows:
        numbers = {k: v for k, v in ((k, _number(v)) for k, v in row.items()) if v is not None}
        if "epoch" in numbers:
            history.append(numbers)
    return history


def read_curves(path: Path) -> dict[str, list[tuple[int, float]]]:
    """``metrics.csv`` as ``metric/score`` → ``[(epoch, value), ...]`` in epoch order."""
    curves: dict[str, list[tuple[int, float]]] = {}
    try:
        with path.open(newline="") as stream:
            for row in csv.DictReader(stream):
                value, epoch = _number(row.get("value")), _number(row.get("epoch"))
                if value is not None and epoch is not None:
                    key = f"{row['metric']}/{row['score']}"
                    curves.setdefault(key, []).append((int(epoch), value))
    except (OSError, csv.Error, KeyError):
        return {}
    return {key: sorted(points) for key, points in curves.items()}


def newest_records(records: list[Any]) -> list[dict[str, Any]]:
    """One ``metrics.json`` record per metric: the latest epoch, then the latest evaluation."""
    newest: dict[str, dict[str, Any]] = {}
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("scores"), dict):
            continue
        key = str(record.get("metric"))
        rank = (record.get("protocol", {}).get("epoch") or 0, record.get("evaluated_at", ""))
        held = newest.get(key)
        if held is None or rank >= (held.get("protocol", {}).get("epoch") or 0,
                                    held.get("evaluated_at", "")):
            newest[key] = record
    return list(newest.values())


def best_of(score: str, points: list[tuple[int, float]]) -> tuple[int, float] | None:
    """The best ``(epoch, value)`` of a curve, for scores with a known direction."""
    if not points:
        return None
    if score in LOWER_IS_BETTER:
        return min(points, key=lambda p: p[1])
    if score in HIGHER_IS_BETTER:
        return max(points, key=lambda p: p[1])
    return None


def describe_protocol(protocol: dict[str, Any]) -> str:
    """A record's protocol in one line (extractor, samples, split, size, seed, epoch)."""
    if not protocol:
        return ""
    size = "x".join(str(s) for s in protocol.get("image_size", []))
    weights = str(protocol.get("weights_sha256", ""))[:8]
    return (f"{protocol.get('extractor', '?')}"
            + (f" ({weights})" if weights else "")
            + f", {protocol.get('num_fake', '?')} fake vs {protocol.get('num_real', '?')} "
            f"{protocol.get('real_split', '?')}, {size}, resize {protocol.get('resize', '?')}, "
            f"seed {protocol.get('seed', '?')}, epoch {protocol.get('epoch', '?')}")
