"""Running a sweep: check every run's experiment, record the sweep, hand the runs to a backend."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ganlab.errors import ConfigError, GanlabError, RunDirectoryError, TrainingError
from ganlab.experiment import Experiment, load_experiment
from ganlab.rundir import RunDirectory, locked
from ganlab.sweep.launch import RunLaunch, run_arguments, thread_env
from ganlab.sweep.local import SweepEvents
from ganlab.sweep.spec import RunSpec, SweepAxes, expand
from ganlab.sweep.state import RunRecord, SweepState, continue_state, new_state

Echo = Callable[[str], None]
#: Exit status of a sweep stopped by SIGINT/SIGTERM.
STOPPED_EXIT = 130


class SweepStopped(GanlabError):
    """The sweep was stopped by a signal (runs that had one resume from their checkpoint)."""

    exit_code = STOPPED_EXIT


@dataclass
class SweepPlan:
    """A sweep as the command line gives it.

    Attributes:
        experiment: The experiment file.
        axes: The grid and random axes.
        base_overrides: ``--set`` options applied to every run.
        name: The sweep's name (its folder under ``runs_dir``).
        runs_dir: Where sweeps live (``runs``).
        parallel: Runs at once (local backend).
        threads: CPU threads per run (``None``: the cores split between parallel runs).
        global_options: ``ganlab`` options every run gets (``-p``, ``--disable-plugin``).

    """

    experiment: Path
    axes: SweepAxes
    base_overrides: tuple[str, ...] = ()
    name: str | None = None
    runs_dir: Path = Path("runs")
    parallel: int = 1
    threads: int | None = None
    global_options: list[str] = field(default_factory=list)

    def runs(self) -> list[RunSpec]:
        """Every run of the sweep."""
        return expand(self.axes)

    def root(self, experiment: Experiment) -> Path:
        """The sweep directory.

        Raises:
            ConfigError: ``--name`` is not a plain folder name.

        """
        name = self.name or experiment.name
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            raise ConfigError(f"--name {name!r}: a sweep's name is a folder name: letters, "
                              "digits, '_', '.', '-'.")
        return self.runs_dir / name


def check_runs(plan: SweepPlan, runs: Sequence[RunSpec], check: Callable[[Experiment], None]
               ) -> Experiment:
    """Load every run's experiment (types, values, component names) before training any.

    Returns:
        The first run's experiment.

    Raises:
        ConfigError: A run's experiment is invalid; the message names the run.

    """
    first = None
    for run in runs:
        try:
            experiment = load_experiment(plan.experiment, (*plan.base_overrides,
                                                           *run.set_options()))
            check(experiment)
        except GanlabError as exc:
            raise type(exc)(f"Sweep run {run.name}: {exc}") from None
        first = first or experiment
    if first is None:
        raise ConfigError("The sweep has no runs.")
    return first


def prepare_data_once(plan: SweepPlan, runs: Sequence[RunSpec], echo: Echo) -> None:
    """Prepare each distinct dataset once, before concurrent runs could race to do it.

    ``ganlab prepare`` reuses finished TFRecords with the same options, so a
    prepared dataset costs one quick process start.
    """
    seen: set[str] = set()
    for run in runs:
        sets = [*plan.base_overrides, *run.set_options()]
        experiment = load_experiment(plan.experiment, sets)
        key = repr(experiment.config["dataset"])
        if key in seen:
            continue
        seen.add(key)
        args = [sys.executable, "-m", "ganlab", *plan.global_options, "prepare",
                str(plan.experiment), *(a for s in sets for a in ("--set", s))]
        result = subprocess.run(args, capture_output=True, text=True)
        if result.returncode:
            raise TrainingError(f"Preparing the data of sweep run {run.name} failed: "
                                f"{result.stderr.strip() or result.stdout.strip()}")
        said = result.stdout.strip().splitlines()
        echo(f"Data: {said[-1] if said else 'ready'}")


def make_launch(plan: SweepPlan, state: SweepState, record: RunRecord, threads: int | None
                ) -> RunLaunch:
    """The ``ganlab run`` of one record (absolute paths, so any node resolves them)."""
    run_dir = state.run_dir(record).resolve()
    logs = state.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    args = run_arguments(plan.global_options, plan.experiment.resolve(), plan.base_overrides,
                         record.spec(), run_dir)
    return RunLaunch(record.name, args, os.getcwd(), str(run_dir),
                     str((logs / f"{record.name}.log").resolve()), thread_env(threads))


def open_state(plan: SweepPlan, root: Path, runs: Sequence[RunSpec]) -> SweepState:
    """The sweep's record: continued from ``sweep.json`` when there is one, else new."""
    saved = SweepState.load(root)
    if saved is None:
        return new_state(root, root.name, plan.experiment, plan.base_overrides, plan.axes, runs)
    return continue_state(saved, plan.experiment, plan.base_overrides, plan.axes, runs)


def run_sweep(plan: SweepPlan, check: Callable[[Experiment], None],
              backend: Callable[[Sequence[tuple[RunRecord, RunLaunch]], SweepEvents], bool],
              echo: Echo, concurrent: bool = True, threads: int | None = None,
              on_update: Callable[[SweepState], None] | None = None) -> SweepState:
    """Run every unfinished run of the sweep on ``backend``.

    Args:
        plan: The sweep.
        check: Checks one run's experiment (plugins, component names).
        backend: Runs the jobs, reporting through the events; returns whether
            it was stopped by a signal.
        echo: Where messages go.
        concurrent: Runs may start at the same time (prepare the data first).
        threads: CPU threads per run for the environment (``None``: no cap).
        on_update: Called with the sweep's record before the runs start and after
            they end (the HParams experiment, which lists the scores runs wrote).

    Raises:
        ConfigError: An invalid run, or a sweep changed incompatibly.
        SweepStopped: Stopped by a signal.
        TrainingError: Some runs failed (their logs are named).

    """
    runs = plan.runs()
    first = check_runs(plan, runs, check)
    root = plan.root(first)
    refuse_run_directory(root)
    with locked(RunDirectory(root)):
        state = open_state(plan, root, runs)
        todo = [r for r in state.runs if r.state != "finished"]
        skipped = len(state.runs) - len(todo)
        echo(f"Sweep {state.name}: {len(state.runs)} runs in {root}"
             + (f"; {skipped} finished already, skipped" if skipped else "") + ".")
        for record in state.runs:  # a run a killed sweep left "running" is resumed now
            if record.state == "running":
                record.state = "interrupted"
        state.save()
        if on_update is not None:
            on_update(state)
        if todo and concurrent:
            prepare_data_once(plan, [r.spec() for r in todo], echo)
        jobs = [(record, make_launch(plan, state, record, threads)) for record in todo]
        stopped = backend(jobs, sweep_events(state, echo))
        if on_update is not None:
            on_update(state)
    report(state, stopped, echo)
    return state


def refuse_run_directory(root: Path) -> None:
    """A sweep never writes into a directory that holds a run (``ganlab run`` of the same file).

    Raises:
        RunDirectoryError: ``root`` holds a run (its ``config.yaml``).

    """
    if RunDirectory(root).exists():
        raise RunDirectoryError(
            f"The sweep directory {root} holds a run (its config.yaml: `ganlab run` trained "
            "there, both default to runs/<experiment name>): a sweep never writes into a "
            "run's directory, where its runs would mix with that run's files and hide it. "
            "Give the sweep its own directory with --name NEW_NAME or --runs-dir FOLDER.")


def stopped_message(state: SweepState) -> str:
    """What a stopped sweep left: which unfinished runs have a checkpoint to resume from."""
    unfinished = [r for r in state.runs if r.state != "finished"]
    saved = [r for r in unfinished
             if any((state.run_dir(r) / "checkpoints").glob("ckpt-*.npz"))]
    if not unfinished:
        left = "every run had finished"
    elif len(saved) == len(unfinished):
        left = "its unfinished runs saved checkpoints"
    elif not saved:
        left = "none of its unfinished runs had saved a checkpoint yet (they start again)"
    else:
        left = (f"{len(saved)} of its {len(unfinished)} unfinished runs saved checkpoints "
                "(the others start again)")
    return (f"The sweep {state.name} was stopped; {left}. Run the same command again to "
            "resume it: finished runs are skipped, the others resume from their checkpoints "
            "where they have one.")


def sweep_events(state: SweepState, echo: Echo) -> SweepEvents:
    """Events that keep ``sweep.json`` current and tell the user."""
    def started(record: RunRecord) -> None:
        record.mark_running()
        state.save()
        echo(f"  started  {record.name}" + (f" (attempt {record.attempts})"
                                            if record.attempts > 1 else ""))

    def ended(record: RunRecord, exit_code: int, interrupted: bool) -> None:
        record.mark_ended(exit_code, interrupted)
        state.save()
        echo(f"  {record.state:8} {record.name} (exit {exit_code}"
             + (f", {record.seconds:.0f} s" if record.seconds is not None else "") + ")")

    return SweepEvents(started, ended, echo)


def report(state: SweepState, stopped: bool, echo: Echo) -> None:
    """Sum up; raise when the sweep stopped or runs failed."""
    counts: dict[str, int] = {}
    for record in state.runs:
        counts[record.state] = counts.get(record.state, 0) + 1
    echo(f"Sweep {state.name}: " + ", ".join(f"{n} {s}" for s, n in counts.items())
         + f". Record: {state.path}")
    if stopped:
        raise SweepStopped(stopped_message(state))
    failed = [r for r in state.runs if r.state in ("failed", "interrupted")]
    if failed:
        shown = ", ".join(f"{r.name} (exit {r.exit_code}, log {state.root / 'logs' / r.name}.log)"
                          for r in failed[:5])
        raise TrainingError(f"{len(failed)} of {len(state.runs)} sweep runs did not finish: "
                            f"{shown}{' ...' if len(failed) > 5 else ''}. Fix the cause and run "
                            "the same command again: finished runs are skipped, the others "
                            "resume from their checkpoints.")
