"""``ganlab sweep``: one experiment over a grid (and random draws) of overrides."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ganlab.experiment import Experiment
from ganlab.sweep import launch
from ganlab.sweep.driver import SweepPlan, run_sweep
from ganlab.sweep.launch import RunLaunch, visible_gpus
from ganlab.sweep.local import SweepEvents, run_local
from ganlab.sweep.spec import make_axes
from ganlab.sweep.state import RunRecord, SweepState


def global_options(state: Any) -> list[str]:
    """The ``ganlab`` options of this invocation that every run must get too."""
    options = [arg for plugin in state.plugins for arg in ("-p", plugin)]
    options += [arg for name in state.disabled for arg in ("--disable-plugin", name)]
    return options + (["--strict-plugins"] if state.strict_plugins else [])


@click.command()
@click.argument("experiment_file", type=click.Path(dir_okay=False))
@click.option("--grid", multiple=True, metavar="KEY=V1,V2,...",
              help="A grid axis: every value is crossed with every other axis. Repeatable, "
                   "e.g. --grid loss.name=bce,hinge --grid seed=1,2,3.")
@click.option("--random", "random_count", type=click.IntRange(0), default=0,
              help="Draw N values of the --range axes (seeded by --random-seed), each crossed "
                   "with the grid.")
@click.option("--range", "ranges", multiple=True, metavar="KEY=LOW:HIGH[:SCALE]",
              help="A range for --random, SCALE linear (default), log or int, e.g. "
                   "--range optimizers.generator.learning_rate=1e-5:1e-3:log.")
@click.option("--random-seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the random draws.")
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a key for every run (repeatable), e.g. --set train.epochs=5.")
@click.option("--name", default=None,
              help="The sweep's name: runs go to RUNS_DIR/NAME/<run> (default: the "
                   "experiment's name).")
@click.option("--runs-dir", type=click.Path(file_okay=False), default="runs",
              show_default=True, help="Folder the sweep directory goes in.")
@click.option("--parallel", type=click.IntRange(1), default=1, show_default=True,
              help="Runs at once (local backend).")
@click.option("--threads-per-run", type=click.IntRange(1), default=None,
              help="CPU threads per run, at most the usable cores (default: the cores split "
                   "between parallel runs; ray: --cpus-per-run).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local",
              show_default=True, help="Where runs train: processes on this machine, or Ray.")
@click.option("--address", default=None,
              help="ray: the cluster to join (e.g. auto, or ray://HEAD:10001); default: a "
                   "local Ray.")
@click.option("--cpus-per-run", type=click.FloatRange(0, min_open=True), default=1.0,
              show_default=True, help="ray: CPUs each run reserves.")
@click.option("--gpus-per-run", type=click.FloatRange(0), default=0.0, show_default=True,
              help="ray: GPUs each run reserves.")
@click.option("--max-retries", type=click.IntRange(0), default=3, show_default=True,
              help="ray: attempts after the first for a crashed or lost run (each resumes "
                   "from its checkpoint).")
@click.option("--dry-run", is_flag=True, help="List the runs and their overrides; train nothing.")
@click.pass_obj
def sweep(state: Any, experiment_file: str, grid: tuple[str, ...], random_count: int,
          ranges: tuple[str, ...], random_seed: int, overrides: tuple[str, ...],
          name: str | None, runs_dir: str, parallel: int, threads_per_run: int | None,
          backend: str, address: str | None, cpus_per_run: float, gpus_per_run: float,
          max_retries: int, dry_run: bool) -> None:
    """Train EXPERIMENT_FILE once per combination of the sweep's axes.

    Each run is an ordinary run directory RUNS_DIR/SWEEP/<run> trained by
    'ganlab run' with the run's --set overrides; RUNS_DIR/SWEEP/sweep.json
    lists the runs, their overrides and states. Run the same command again to
    continue: finished runs are skipped and the others resume from their
    checkpoints; a sweep whose runs changed is refused.
    """
    plan = SweepPlan(Path(experiment_file), make_axes(grid, ranges, random_count, random_seed),
                     overrides, name, Path(runs_dir), parallel, threads_per_run,
                     global_options(state))
    launch.check_threads(threads_per_run, remote=backend == "ray" and address is not None)
    if dry_run:
        for run in plan.runs():
            click.echo(f"{run.name}: {' '.join(run.set_options())}")
        return

    def check(experiment: Experiment) -> None:
        from ganlab.components import check_components

        loaded = state.load_and_warn(experiment.settings.plugins, experiment.base_dir)
        check_components(experiment, loaded.registry)

    if backend == "ray":
        threads = threads_per_run or max(1, int(cpus_per_run))
        run = ray_runner(address, cpus_per_run, gpus_per_run, max_retries)
    else:
        threads = threads_per_run or launch.threads_per_run(parallel)
        gpus = visible_gpus()
        if gpus:
            click.echo(f"GPUs: {', '.join(gpus)} (one per run, CUDA_VISIBLE_DEVICES)")

        def run(jobs: Sequence[tuple[RunRecord, RunLaunch]], events: SweepEvents) -> bool:
            return run_local(jobs, parallel, gpus, events)

    click.echo(f"Backend: {backend}; {threads} CPU thread(s) per run"
               + (f", {parallel} at once" if backend == "local" else ""))
    run_sweep(plan, check, run, click.echo, concurrent=backend == "ray" or parallel > 1,
              threads=threads, on_update=write_hparams_config)


def ray_runner(address: str | None, cpus_per_run: float, gpus_per_run: float,
               max_retries: int) -> Any:
    """The ray backend with the command's resources."""
    def run(jobs: Sequence[tuple[RunRecord, RunLaunch]], events: SweepEvents) -> bool:
        from ganlab.sweep.ray_backend import run_ray

        return run_ray(jobs, events, address=address, cpus_per_run=cpus_per_run,
                       gpus_per_run=gpus_per_run, max_retries=max_retries)

    return run


def write_hparams_config(sweep_state: SweepState) -> None:
    """TensorBoard's HParams experiment for the sweep (the swept keys and their values)."""
    from ganlab.hparams import write_sweep_config  # TensorBoard loads only here

    write_sweep_config(sweep_state)


COMMANDS: list[click.Command] = [sweep]
