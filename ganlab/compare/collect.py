"""What ``ganlab compare`` reads from run directories (and sweeps' ``sweep.json``).

Per run: its config (``config.yaml``) and the overrides it was started with,
state, epochs, wall and training time, throughput and final losses
(``history.csv``), the training-time metric curves (``metrics.csv``:
``epoch,metric,score,value``) and what each score means
(``score_specs.json``), the offline evaluations with their protocol
(``metrics.json``, written by ``ganlab evaluate``), the last sample grid,
a real-data grid and per-class grids when the run has them.

Run directories are hostile input: every file is read through
:mod:`ganlab.compare.files` (regular files only, bounded, never blocking),
and a bad value is skipped with a warning naming its file, so one damaged
run never stops a comparison.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganlab.compare.files import MAX_SMALL_FILE, read_json_object, read_text, regular_file
from ganlab.compare.runfiles import (
    MAX_NAME,
    Evaluation,
    best_of,
    describe_protocol,
    finite,
    read_curves,
    read_evaluations,
    read_history,
    read_specs,
)
from ganlab.contracts import ScoreSpec
from ganlab.errors import ConfigError, GanlabError
from ganlab.evaluation.scores import SCORE_SPECS_JSON

__all__ = ["Evaluation", "RunSummary", "best_of", "describe_protocol", "find_runs", "read_run"]

#: Config keys that name a run rather than configure it.
NAMING_KEYS = ("name", "run_dir")
#: Where a run keeps grids ``compare`` shows beside its samples.
REAL_GRID = "samples/real.png"
CLASS_GRIDS = "samples/classes"

Warn = Callable[[str], None]


@dataclass
class RunSummary:
    """One run as ``ganlab compare`` sees it.

    Attributes:
        name: The run's name (its folder).
        path: The run directory.
        sweep: The sweep it belongs to ("" for a run started by hand).
        overrides: Key path → value the run was started with.
        config: The run's resolved config, flattened to ``a.b.c`` keys.
        state: Sweep state, else ``run.json``'s status.
        epochs: Epochs completed.
        wall_seconds: The sweep's wall time of the run's last attempt (``None`` outside sweeps).
        train_seconds: Sum of the epochs' training time (``history.csv``).
        images_per_sec: Median training throughput over the epochs.
        history: ``history.csv`` rows (numbers).
        curves: ``metric/score`` → ``[(epoch, value), ...]`` from ``metrics.csv``.
        specs: ``metric/score`` → what the score means (``score_specs.json``).
        evaluations: ``metrics.json`` records, the newest per metric.
        last_samples: The last epoch's sample grid, if any.
        real_grid: A grid of real training images, if the run has one.
        class_grids: Per-class sample grids (conditional runs), if any.
        outputs: The newest picture of each other output folder (arithmetic,
            interpolation, a plugin callback's).
        experiment_dir: The folder of the run's experiment file (``run.json``), for
            relative paths in its config; ``""`` when unknown.
        warnings: What was skipped in this run's files, and why.

    """

    name: str
    path: Path
    sweep: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    state: str = ""
    epochs: int = 0
    wall_seconds: float | None = None
    train_seconds: float | None = None
    images_per_sec: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    specs: dict[str, ScoreSpec] = field(default_factory=dict)
    evaluations: list[Evaluation] = field(default_factory=list)
    last_samples: Path | None = None
    real_grid: Path | None = None
    class_grids: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    experiment_dir: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``sweep/run`` (or the run's name)."""
        return f"{self.sweep}/{self.name}" if self.sweep else self.name

    def warn(self, message: str) -> None:
        """Record a skipped value (printed by the command, shown in the report)."""
        if message not in self.warnings:
            self.warnings.append(message)


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds a ganlab run."""
    return regular_file(path / "config.yaml") or regular_file(path / "run.json")


def find_runs(paths: list[Path], warn: Warn = lambda message: None) -> list[RunSummary]:
    """Every run named by ``paths``: run directories, sweep directories, or folders of runs.

    Args:
        paths: What the user named.
        warn: Where a sweep-level problem goes (a damaged ``sweep.json``);
            a run's own problems go into its ``warnings``.

    Raises:
        ConfigError: A path that does not exist or holds no run.

    """
    runs: list[RunSummary] = []
    for path in paths:
        if not path.is_dir():
            raise ConfigError(f"{path} is not a directory: give run directories or sweep "
                              "directories (runs/<sweep>).")
        sweep = _sweep_runs(path, warn)
        if sweep is not None:
            runs += sweep
        elif is_run_dir(path):
            runs.append(read_run(path))
        else:
            found = sorted(p for p in _subfolders(path) if is_run_dir(p))
            if not found:
                raise ConfigError(f"{path} holds no ganlab run (no config.yaml or run.json, "
                                  "no sweep.json, no run folders).")
            runs += [read_run(p) for p in found]
    return runs


def _subfolders(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir()]
    except OSError:
        return []


def _sweep_runs(path: Path, warn: Warn) -> list[RunSummary] | None:
    """The runs of the sweep recorded in ``path``; ``None`` when it is not a sweep.

    A damaged ``sweep.json`` is reported, and the folder is then read as a
    folder of runs (each run directory describes itself).
    """
    from ganlab.sweep.state import SWEEP_FILE, SweepState

    record = path / SWEEP_FILE
    if not record.exists() and not record.is_symlink():
        return None
    if read_text(record, MAX_SMALL_FILE, warn) is None:
        return None  # refused, with a warning: read the folder's runs instead
    try:
        sweep = SweepState.load(path)
    except GanlabError as exc:
        warn(f"{exc} Reading the folder's run directories instead.")
        return None
    if sweep is None:
        return None
    runs = []
    for entry in sweep.runs:
        name = entry.name
        if not isinstance(name, str) or not name or name in (".", "..") \
                or Path(name).name != name:
            warn(f"{record} names a run {str(name)[:MAX_NAME]!r} that is not a folder name; "
                 "left it out.")
            continue
        overrides = entry.overrides if isinstance(entry.overrides, dict) else {}
        seconds = finite(entry.seconds)
        run = read_run(sweep.run_dir(entry), str(sweep.name)[:MAX_NAME], overrides,
                       str(entry.state or "")[:MAX_NAME], seconds)
        if not isinstance(entry.overrides, dict):
            run.warn(f"{record}: the overrides of run {name} are not a mapping; ignored them.")
        runs.append(run)
    return runs


def read_run(path: Path, sweep: str = "", overrides: dict[str, Any] | None = None,
             state: str | None = None, wall_seconds: float | None = None) -> RunSummary:
    """Everything ``compare`` shows of the run in ``path`` (missing or bad files: empty fields)."""
    run = RunSummary(path.name, path, sweep, wall_seconds=wall_seconds)
    warn = run.warn
    meta = read_json_object(path / "run.json", MAX_SMALL_FILE, warn)
    run.state = state or _status(meta, path, warn)
    run.epochs = _epochs(meta, path, warn)
    folder = meta.get("experiment_dir", "")
    run.experiment_dir = folder if isinstance(folder, str) and "\0" not in folder else ""
    config, header = read_config(path / "config.yaml", warn)
    run.config = flatten(config)
    run.overrides = overrides if overrides is not None else header_overrides(header, config)
    run.history = read_history(path / "history.csv", warn)
    if run.history:
        run.epochs = max(run.epochs, int(run.history[-1]["epoch"]))
        seconds = [row["seconds"] for row in run.history if math.isfinite(row.get("seconds", 0))]
        run.train_seconds = sum(seconds) if seconds else None
        speeds = [row["images_per_sec"] for row in run.history
                  if math.isfinite(row.get("images_per_sec", math.nan))]
        run.images_per_sec = statistics.median(speeds) if speeds else None
    run.curves = read_curves(path / "metrics.csv", warn)
    run.specs = read_specs(path / SCORE_SPECS_JSON, warn)
    run.evaluations = read_evaluations(path / "metrics.json", warn)
    run.last_samples = last_grid(path / "samples")
    run.real_grid = path / REAL_GRID if regular_file(path / REAL_GRID) else None
    run.class_grids = class_grids(path / CLASS_GRIDS)
    run.outputs = other_outputs(path)
    return run


# -- run.json and config.yaml ------------------------------------------------------------------
def _status(meta: Mapping[str, Any], path: Path, warn: Warn) -> str:
    status = meta.get("status", "")
    if not isinstance(status, str):
        warn(f"{path / 'run.json'}: status {_show(status)} is not text; ignored it.")
        return ""
    return status[:MAX_NAME]


def _epochs(meta: Mapping[str, Any], path: Path, warn: Warn) -> int:
    epochs = meta.get("epochs_completed", 0)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 0 <= epochs < 10**9:
        warn(f"{path / 'run.json'}: epochs_completed {_show(epochs)} is not a count of "
             "epochs; ignored it.")
        return 0
    return epochs


def read_config(path: Path, warn: Warn) -> tuple[dict[str, Any], str]:
    """A run's ``config.yaml`` (``{}`` when missing or bad) and its header comment line."""
    from ganlab.config_yaml import load_yaml_data

    text = read_text(path, MAX_SMALL_FILE, warn)
    if text is None:
        return {}, ""
    header = text.split("\n", 1)[0]
    try:
        config = load_yaml_data(text, str(path))
    except (ConfigError, RecursionError) as exc:
        warn(f"{path} is not readable YAML ({exc}); compared the run without its config.")
        return {}, header
    if not isinstance(config, dict):
        warn(f"{path} holds a {type(config).__name__}, not a mapping; compared the run "
             "without its config.")
        return {}, header
    return config, header


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{'a': {'b': [1, {'c': 2}]}}`` → ``{'a.b.0': 1, 'a.b.1.c': 2}`` (``--set`` key paths)."""
    if isinstance(data, Mapping) and data:
        items: Any = data.items()
    elif isinstance(data, list) and data:
        items = enumerate(data)
    else:
        return {prefix: data} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def lookup(config: Any, key: str) -> tuple[bool, Any]:
    """``(found, value)`` of the ``a.b.0.c`` key path in ``config``."""
    node = config
    for part in key.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isascii() and part.isdigit() \
                and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


_SET_KEY = re.compile(r"[A-Za-z_][\w\-]*(\.[\w\-]+)*")


def header_overrides(header: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``--set`` overrides a hand-started run recorded in its ``config.yaml`` header.

    The header (``... with --set a=1 --set b=x``) is free text: a value may
    itself contain `` --set ``. So it only says which keys were set; a
    piece counts as an override when its key exists in the run's config,
    otherwise it belongs to the previous value. The values are the config's
    own (what the run really used).
    """
    _, found, sets = header.partition(" with --set ")
    if not found:
        return {}
    overrides: dict[str, Any] = {}
    for piece in sets.strip().split(" --set "):
        key = piece.partition("=")[0].strip()
        known, value = lookup(config, key) if _SET_KEY.fullmatch(key) else (False, None)
        if known and key not in NAMING_KEYS:
            overrides[key] = value
    return overrides


# -- grids -------------------------------------------------------------------------------------
def last_grid(folder: Path) -> Path | None:
    """The last ``epoch_*.png`` sample grid (by name) that is a regular file."""
    try:
        grids = sorted(p for p in folder.glob("epoch_*.png") if regular_file(p))
    except OSError:
        return None
    return grids[-1] if grids else None


def class_grids(folder: Path, most: int = 100) -> list[Path]:
    """``samples/classes/*.png``: one grid per class of a conditional run (by name)."""
    try:
        return sorted(p for p in folder.glob("*.png") if regular_file(p))[:most]
    except OSError:
        return []


#: Run folders that are not picture outputs (or are shown already).
NOT_OUTPUTS = ("samples", "checkpoints", "tensorboard", "compare", "logs")
#: Most other output folders looked at per run.
MAX_OUTPUT_FOLDERS = 8


def other_outputs(path: Path) -> list[Path]:
    """The newest PNG (by name) of each other folder of the run.

    Those are the arithmetic and interpolation grids and any plugin
    callback's pictures, at most one per folder and :data:`MAX_OUTPUT_FOLDERS` folders.
    """
    try:
        folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink()
                         and p.name not in NOT_OUTPUTS and not p.name.startswith("."))
    except OSError:
        return []
    found = []
    for folder in folders[:MAX_OUTPUT_FOLDERS]:
        try:
            pictures = sorted(p for p in folder.glob("*.png") if regular_file(p))
        except OSError:
            continue
        if pictures:
            found.append(pictures[-1])
    return found


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
