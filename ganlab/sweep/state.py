"""``sweep.json``: a sweep's runs, their overrides and states, written atomically.

The file is the sweep's memory between invocations: running the same sweep
again reads it, skips finished runs, resumes the others (each run directory
resumes by itself) and refuses a sweep whose runs changed, listing the
differences.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ganlab.errors import ConfigError, RunDirectoryError
from ganlab.experiment import RESUMABLE_CHANGES
from ganlab.rundir import write_json_atomic
from ganlab.sweep.spec import RunSpec, SweepAxes, format_value

SWEEP_FILE = "sweep.json"
FORMAT = 1
#: A run's states. ``interrupted``: stopped by a signal after saving a checkpoint.
STATES = ("pending", "running", "finished", "failed", "interrupted")


def now() -> str:
    """The current UTC time, ISO 8601."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class RunRecord:
    """One run in ``sweep.json``.

    Attributes:
        name: Folder name under the sweep directory.
        overrides: Key path → value the run sets.
        state: One of :data:`STATES`.
        exit_code: The last ``ganlab run``'s exit status (``None`` before it ends).
        attempts: How many times the run was started.
        started_at: When the last attempt started (UTC).
        finished_at: When the last attempt ended (UTC).
        seconds: Wall time of the last attempt, process start to exit.

    """

    name: str
    overrides: dict[str, Any]
    state: str = "pending"
    exit_code: int | None = None
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    _start: float | None = field(default=None, init=False, repr=False, compare=False)

    def spec(self) -> RunSpec:
        """The run as a :class:`RunSpec`."""
        return RunSpec(self.name, dict(self.overrides))

    def mark_running(self) -> None:
        """Record the start of an attempt."""
        self.state, self.exit_code = "running", None
        self.attempts += 1
        self.started_at, self.finished_at, self.seconds = now(), None, None
        self._start = time.monotonic()

    def mark_ended(self, exit_code: int, interrupted: bool = False) -> None:
        """Record the end of an attempt with its exit status."""
        self.exit_code = exit_code
        if exit_code == 0:
            self.state = "finished"
        elif interrupted or exit_code == INTERRUPTED_EXIT:
            self.state = "interrupted"
        else:
            self.state = "failed"
        self.finished_at = now()
        if self._start is not None:
            self.seconds = round(time.monotonic() - self._start, 1)

    def to_json(self) -> dict[str, Any]:
        """The record as written to ``sweep.json``."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


#: ``ganlab run``'s exit status after SIGINT/SIGTERM (checkpoint saved).
INTERRUPTED_EXIT = 130


@dataclass
class SweepState:
    """The whole ``sweep.json``.

    Attributes:
        root: The sweep directory (``runs/<sweep>``).
        name: The sweep's name.
        experiment: The experiment file (absolute path).
        base_overrides: ``--set`` options given to the sweep, applied to every run.
        axes: The grid and random axes (as in :meth:`SweepAxes.to_json`).
        runs: One record per run, in expansion order.
        created_at: When the sweep was first started.

    """

    root: Path
    name: str
    experiment: str
    base_overrides: list[str]
    axes: dict[str, Any]
    runs: list[RunRecord] = field(default_factory=list)
    created_at: str = field(default_factory=now)

    @property
    def path(self) -> Path:
        """The ``sweep.json`` file."""
        return self.root / SWEEP_FILE

    def run_dir(self, record: RunRecord) -> Path:
        """The run directory of ``record``."""
        return self.root / record.name

    def save(self) -> None:
        """Write ``sweep.json`` atomically."""
        write_json_atomic(self.path, {
            "format": FORMAT, "name": self.name, "experiment": self.experiment,
            "base_overrides": self.base_overrides, "axes": self.axes,
            "created_at": self.created_at, "updated_at": now(),
            "counts": {state: sum(r.state == state for r in self.runs) for state in STATES},
            "runs": [r.to_json() for r in self.runs]})

    @classmethod
    def load(cls, root: Path) -> SweepState | None:
        """The sweep recorded in ``root`` (``None`` when there is none).

        Raises:
            RunDirectoryError: ``sweep.json`` is unreadable or damaged.

        """
        path = root / SWEEP_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise RunDirectoryError(f"Cannot read {path}: {exc}.") from None
        try:
            runs = [RunRecord(**{k: v for k, v in run.items() if k in RunRecord.__annotations__})
                    for run in data["runs"]]
            return cls(root, data["name"], data["experiment"], list(data["base_overrides"]),
                       data["axes"], runs, data.get("created_at", now()))
        except (KeyError, TypeError) as exc:
            raise RunDirectoryError(f"{path} is damaged ({type(exc).__name__}: {exc}); move it "
                                    "aside to start the sweep's record anew (the run "
                                    "directories resume by themselves).") from None


def new_state(root: Path, name: str, experiment: Path, base_overrides: Sequence[str],
              axes: SweepAxes, runs: Sequence[RunSpec]) -> SweepState:
    """A fresh sweep record with every run pending."""
    return SweepState(root, name, str(experiment.resolve()), list(base_overrides),
                      axes.to_json(), [RunRecord(r.name, dict(r.overrides)) for r in runs])


# -- compatibility -----------------------------------------------------------------------------
def _overrides_dict(options: Sequence[str]) -> dict[str, str]:
    return {o.partition("=")[0].strip(): o.partition("=")[2].strip() for o in options}


def _resumable(key: str) -> bool:
    return any(key == allowed or key.startswith(allowed + ".") for allowed in RESUMABLE_CHANGES)


def _shown(overrides: dict[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in overrides.items()) or "no overrides"


def differences(saved: SweepState, experiment: Path, base_overrides: Sequence[str],
                runs: Sequence[RunSpec]) -> list[str]:
    """Why a sweep may not continue ``saved`` (empty when it may).

    New runs (a longer grid axis, more random draws) may be added; every run
    already recorded must still be there with the same overrides, from the
    same experiment file, and the ``--set`` options may only change keys a
    run directory may change on resume (``train.epochs``, callbacks, ...).
    """
    found = []
    if saved.experiment != str(experiment.resolve()):
        found.append(f"experiment file: {saved.experiment} → {experiment.resolve()}")
    old, new = _overrides_dict(saved.base_overrides), _overrides_dict(base_overrides)
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key) and not _resumable(key):
            found.append(f"--set {key}: {old.get(key, '<absent>')} → {new.get(key, '<absent>')}")
    wanted = {run.name: run for run in runs}
    for record in saved.runs:
        run = wanted.get(record.name)
        if run is None:
            found.append(f"run {record.name} ({_shown(record.overrides)}) is no longer in the "
                         "sweep")
        elif _normalised(run.overrides) != _normalised(record.overrides):
            found.append(f"run {record.name}: {_shown(record.overrides)} → "
                         f"{_shown(run.overrides)}")
    return found


def _normalised(overrides: dict[str, Any]) -> dict[str, str]:
    return {k: format_value(v) for k, v in overrides.items()}


def continue_state(saved: SweepState, experiment: Path, base_overrides: Sequence[str],
                   axes: SweepAxes, runs: Sequence[RunSpec]) -> SweepState:
    """``saved`` extended with the new runs, ready to go on.

    Raises:
        ConfigError: The sweep changed incompatibly (the message lists how).

    """
    found = differences(saved, experiment, base_overrides, runs)
    if found:
        raise ConfigError(
            f"The sweep in {saved.root} was started with other settings, so its runs cannot be "
            f"continued: {'; '.join(found)}. Run it with the settings recorded in "
            f"{saved.path}, or give this sweep another --name.")
    if _overrides_dict(saved.base_overrides) != _overrides_dict(base_overrides):
        # e.g. more epochs: finished runs go on too (each resumes from its checkpoint).
        for record in saved.runs:
            if record.state == "finished":
                record.state = "pending"
    known = {record.name for record in saved.runs}
    saved.runs.extend(RunRecord(r.name, dict(r.overrides)) for r in runs if r.name not in known)
    saved.base_overrides, saved.axes = list(base_overrides), axes.to_json()
    return saved
