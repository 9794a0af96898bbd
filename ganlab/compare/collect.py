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

import csv
import io
import math
import re
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganlab.compare.files import (
    MAX_SMALL_FILE,
    MAX_TABLE_FILE,
    read_json_object,
    read_text,
    regular_file,
)
from ganlab.contracts import ScoreSpec
from ganlab.errors import ConfigError, GanlabError
from ganlab.evaluation.scores import SCORE_SPECS_JSON, spec_from_json

#: Most ``metric/score`` curves (``metrics.csv``) and evaluated scores kept per run.
MAX_SCORES_PER_RUN = 100
#: Most ``history.csv`` rows read (epochs).
MAX_HISTORY_ROWS = 100_000
#: Longest metric, score or config text kept (characters).
MAX_NAME = 200
#: Config keys that name a run rather than configure it.
NAMING_KEYS = ("name", "run_dir")
#: Where a run keeps grids ``compare`` shows beside its samples.
REAL_GRID = "samples/real.png"
CLASS_GRIDS = "samples/classes"

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Evaluation:
    """One ``metrics.json`` record, checked.

    Attributes:
        metric: The metric's name.
        scores: Score name → finite value.
        protocol: How the scores were measured (plain JSON data).
        specs: Score name → what it means (direction, range), when recorded.
        generator: ``ema`` or ``raw`` when the record says which generator it scored.

    """

    metric: str
    scores: dict[str, float]
    protocol: dict[str, Any]
    specs: dict[str, ScoreSpec] = field(default_factory=dict)
    generator: str = ""


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
        seconds = _finite(entry.seconds)
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


# -- history.csv, metrics.csv, score_specs.json, metrics.json ----------------------------------
def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _number(text: Any) -> float | None:
    """A CSV cell as a number (``nan`` and ``inf`` included); ``None`` when it is not one."""
    if not isinstance(text, str) or not text.strip() or len(text) > 64:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _csv_rows(path: Path, warn: Warn) -> list[dict[Any, Any]] | None:
    text = read_text(path, MAX_TABLE_FILE, warn)
    if text is None:
        return None
    try:
        return list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        warn(f"{path} is not a readable CSV file ({exc}); skipped it.")
        return None


def read_history(path: Path, warn: Warn) -> list[dict[str, float]]:
    """``history.csv`` rows with their numeric fields, in epoch order.

    A row without a whole, positive epoch, or with more fields than the
    header, is skipped (with a warning); non-numeric cells are left out of
    their row. A diverged loss (``nan``) stays: it is what happened.
    """
    rows = _csv_rows(path, warn)
    if rows is None:
        return []
    history, skipped = [], 0
    for row in rows[:MAX_HISTORY_ROWS]:
        epoch = _number(row.get("epoch"))
        if None in row or epoch is None or not math.isfinite(epoch) or epoch < 0 \
                or epoch != int(epoch) or epoch >= 10**9:
            skipped += 1
            continue
        numbers = {str(k)[:MAX_NAME]: n for k, n in ((k, _number(v)) for k, v in row.items())
                   if n is not None}
        history.append(numbers)
    if skipped:
        warn(f"{path}: skipped {skipped} row(s) without a whole epoch number or with more "
             "fields than the header.")
    if len(rows) > MAX_HISTORY_ROWS:
        warn(f"{path}: read the first {MAX_HISTORY_ROWS:,} of its {len(rows):,} rows.")
    return sorted(history, key=lambda row: row["epoch"])


def read_curves(path: Path, warn: Warn) -> dict[str, list[tuple[int, float]]]:
    """``metrics.csv`` as ``metric/score`` → ``[(epoch, value), ...]`` in epoch order.

    Rows whose epoch is not whole or whose value is not a finite number are
    skipped; after :data:`MAX_SCORES_PER_RUN` distinct scores the rest are left out.
    """
    rows = _csv_rows(path, warn)
    if rows is None:
        return {}
    curves: dict[str, list[tuple[int, float]]] = {}
    skipped, dropped = 0, set()
    for row in rows:
        value, epoch = _number(row.get("value")), _number(row.get("epoch"))
        metric, score = row.get("metric"), row.get("score")
        if None in row or value is None or epoch is None or not math.isfinite(value) \
                or not math.isfinite(epoch) or epoch != int(epoch) \
                or not isinstance(metric, str) or not isinstance(score, str):
            skipped += 1
            continue
        key = f"{metric[:MAX_NAME]}/{score[:MAX_NAME]}"
        if key not in curves and len(curves) >= MAX_SCORES_PER_RUN:
            dropped.add(key)
            continue
        curves.setdefault(key, []).append((int(epoch), value))
    if skipped:
        warn(f"{path}: skipped {skipped} row(s) without a whole epoch, a finite value, a "
             "metric and a score.")
    if dropped:
        warn(f"{path}: kept the first {MAX_SCORES_PER_RUN} scores, left out {len(dropped)} "
             "more.")
    return {key: sorted(points) for key, points in curves.items()}


def read_specs(path: Path, warn: Warn) -> dict[str, ScoreSpec]:
    """``score_specs.json`` (``{"metrics": {metric: {score: spec}}}``): ``metric/score`` → spec."""
    data = read_json_object(path, MAX_SMALL_FILE, warn)
    metrics = data.get("metrics", {})
    if not isinstance(metrics, dict):
        warn(f"{path}: 'metrics' is not a mapping; ignored it.")
        return {}
    specs = {}
    for metric, scores in list(metrics.items())[:MAX_SCORES_PER_RUN]:
        for score, raw in (scores.items() if isinstance(scores, dict) else []):
            spec = spec_from_json(raw)
            if spec is None:
                warn(f"{path}: the spec of {metric}/{score} is damaged; ignored it.")
            else:
                specs[f"{str(metric)[:MAX_NAME]}/{str(score)[:MAX_NAME]}"] = spec
    return specs


def read_evaluations(path: Path, warn: Warn) -> list[Evaluation]:
    """``metrics.json``: the newest checked record per metric (bad records skipped)."""
    data = read_json_object(path, MAX_TABLE_FILE, warn)
    if not data:
        return []
    records = data.get("records")
    if not isinstance(records, list):
        warn(f"{path}: 'records' is not a list; skipped the file.")
        return []
    checked, skipped = [], 0
    for record in records:
        evaluation = _evaluation(record)
        if evaluation is None:
            skipped += 1
        else:
            checked.append((record, evaluation))
    if skipped:
        warn(f"{path}: skipped {skipped} record(s) that are not a metric name with finite "
             "scores and a protocol mapping.")
    newest = newest_records(checked)
    kept, total = [], 0
    for evaluation in newest:
        total += len(evaluation.scores)
        if total > MAX_SCORES_PER_RUN:
            warn(f"{path}: kept the first {MAX_SCORES_PER_RUN} scores, left out the rest.")
            break
        kept.append(evaluation)
    return kept


def _evaluation(record: Any) -> Evaluation | None:
    """A ``metrics.json`` record checked field by field; ``None`` when it is not usable."""
    if not isinstance(record, dict) or not isinstance(record.get("metric"), str):
        return None
    scores, protocol = record.get("scores"), record.get("protocol", {})
    if not isinstance(scores, dict) or not isinstance(protocol, dict):
        return None
    values = {str(k)[:MAX_NAME]: v for k, v in scores.items()
              if _finite(v) is not None}
    if not values or len(values) != len(scores) or len(values) > MAX_SCORES_PER_RUN:
        return None
    raw_specs = record.get("score_specs", {})
    specs = {str(k): s for k, s in ((k, spec_from_json(v)) for k, v in
                                    (raw_specs.items() if isinstance(raw_specs, dict) else []))
             if s is not None}
    generator = record.get("generator", protocol.get("generator", ""))
    truncation = protocol.get("truncation")
    if isinstance(generator, str) and _finite(truncation) is not None:
        # Truncated samples are another measurement: their own column and record.
        generator = f"{generator or 'raw'} T={float(truncation):g}"
    return Evaluation(record["metric"][:MAX_NAME], {k: float(v) for k, v in values.items()},
                      protocol, specs, generator if isinstance(generator, str) else "")


def _rank(record: Mapping[str, Any], evaluation: Evaluation) -> tuple[int, str]:
    epoch = evaluation.protocol.get("epoch")
    at = record.get("evaluated_at", "")
    return (epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else 0,
            at if isinstance(at, str) else "")


def newest_records(records: list[tuple[dict[str, Any], Evaluation]]) -> list[Evaluation]:
    """One evaluation per metric (and generator): the latest epoch, then the latest evaluation."""
    newest: dict[tuple[str, str], tuple[tuple[int, str], Evaluation]] = {}
    for record, evaluation in records:
        key = (evaluation.metric, evaluation.generator)
        rank = _rank(record, evaluation)
        held = newest.get(key)
        if held is None or rank >= held[0]:
            newest[key] = (rank, evaluation)
    return [evaluation for _, evaluation in newest.values()]


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


# -- directions ---------------------------------------------------------------------------------
def best_of(spec: ScoreSpec | None, points: list[tuple[int, float]]) -> tuple[int, float] | None:
    """The best ``(epoch, value)`` of a curve, for scores with a known direction."""
    if not points or spec is None or spec.higher_is_better is None:
        return None
    pick = max if spec.higher_is_better else min
    return pick(points, key=lambda p: p[1])


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_protocol(protocol: Mapping[str, Any]) -> str:
    """A record's protocol in one line (extractor, samples, split, size, seed, epoch)."""
    if not protocol:
        return ""

    def field_(key: str) -> str:
        value = protocol.get(key, "?")
        return str(value)[:MAX_NAME] if value not in (None, "") else "?"

    size = protocol.get("image_size", [])
    size = "x".join(str(s) for s in size[:4]) if isinstance(size, list) else "?"
    weights = str(protocol.get("weights_sha256", "") or "")[:8]
    generator = protocol.get("generator")
    return (f"{field_('extractor')}" + (f" ({weights})" if weights else "")
            + f", {field_('num_fake')} fake vs {field_('num_real')} {field_('real_split')}, "
            f"{size}, resize {field_('resize')}, seed {field_('seed')}, epoch {field_('epoch')}"
            + (f", {str(generator)[:20]} generator" if generator else ""))
