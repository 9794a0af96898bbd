"""``ganlab run``, ``validate`` and ``sample``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ganlab.commands.data import check_data_apart_from_run
from ganlab.components import (
    build_callbacks,
    build_dataset,
    build_loss,
    build_metrics,
    build_regularizers,
    check_components,
)
from ganlab.contracts import dataset_location, describe_dataset, source_available
from ganlab.devices import check_devices
from ganlab.errors import ConfigError, DataError
from ganlab.experiment import Experiment, load_experiment
from ganlab.generators import generator_option, truncation_option
from ganlab.plugins import LoadedPlugins

set_option = click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                          help="Override a key of the experiment (repeatable), e.g. "
                               "--set train.epochs=5.")


def load_for_command(state: Any, path: str, overrides: tuple[str, ...]
                     ) -> tuple[Experiment, LoadedPlugins]:
    """The validated experiment and the plugins it needs (warning about broken ones)."""
    experiment = load_experiment(path, overrides)
    loaded = state.load_for_experiment(experiment)
    return experiment, loaded


def parse_checkpoint_spec(spec: str) -> tuple[int, int]:
    """``epoch=N`` (or ``N``, or ``epoch=N,step=S``) → ``(epoch, step)``.

    Raises:
        ConfigError: Anything else.

    """
    fields: dict[str, str] = {}
    for part in spec.replace(" ", "").split(","):
        key, sep, value = part.partition("=")
        if not sep:
            key, value = "epoch", key
        fields[key] = value
    # isdigit() alone accepts '²', which int() refuses.
    if set(fields) - {"epoch", "step"} \
            or not all(v.isascii() and v.isdigit() for v in fields.values()) \
            or "epoch" not in fields:
        raise ConfigError(f"--from-checkpoint {spec!r}: expected epoch=N (the checkpoint "
                          "written at the end of epoch N), e.g. --from-checkpoint epoch=10.")
    return int(fields["epoch"]), int(fields.get("step", "0"))


def branch_source_dir(path: str, overrides: tuple[str, ...], from_run: str | None) -> Path:
    """The run a branch starts from: ``--from-run``, else the experiment's own run directory.

    The experiment's own directory is the one it names without the
    ``--set name=``/``--set run_dir=`` overrides that give the branch its
    new directory.
    """
    if from_run:
        return Path(from_run)
    kept = tuple(o for o in overrides
                 if o.partition("=")[0].strip() not in ("name", "run_dir"))
    return load_experiment(path, kept).run_dir()


@click.command()
@click.argument("experiment_file", type=click.Path(dir_okay=False))
@set_option
@click.option("--from-checkpoint", "from_checkpoint", metavar="epoch=N", default=None,
              help="Branch a NEW run from the checkpoint at the end of epoch N of the "
                   "experiment's run (or of --from-run); give the branch its own directory "
                   "with --set name=... or --set run_dir=.... The original run is untouched.")
@click.option("--from-run", "from_run", type=click.Path(file_okay=False), default=None,
              help="With --from-checkpoint: the run directory to branch from (default: the "
                   "experiment's run directory before --set name/run_dir).")
@click.option("--accept-data-change", is_flag=True,
              help="Resume the run although its data changed since it started (other "
                   "source or TFRecords, or raw files prepared again); refused otherwise.")
@click.pass_obj
def run(state: Any, experiment_file: str, overrides: tuple[str, ...],
        from_checkpoint: str | None, from_run: str | None, accept_data_change: bool) -> None:
    """Train EXPERIMENT_FILE into its run directory (resuming if it holds a run).

    Killed or stopped (Ctrl-C, SIGTERM) runs resume from their last complete
    checkpoint when the same command is run again.
    """
    if from_run and not from_checkpoint:
        raise ConfigError("--from-run is only used with --from-checkpoint epoch=N.")
    experiment, loaded = load_for_command(state, experiment_file, overrides)
    check_data_apart_from_run(experiment, build_dataset(experiment, loaded.registry))
    check_devices(experiment.settings.train)
    from ganlab.engine.branch import BranchSource
    from ganlab.engine.runner import run_experiment  # TensorFlow loads only here

    branch = None
    if from_checkpoint:
        from ganlab.engine.checkpoint import CheckpointId

        epoch, step = parse_checkpoint_spec(from_checkpoint)
        source = branch_source_dir(experiment_file, overrides, from_run)
        branch = BranchSource(source, CheckpointId(epoch, step))
    run_experiment(experiment, loaded.registry, loaded.provenance(), echo=click.echo,
                   branch=branch, accept_data_change=accept_data_change)


@click.command()
@click.argument("experiment_file", type=click.Path(dir_okay=False))
@set_option
@click.pass_obj
def validate(state: Any, experiment_file: str, overrides: tuple[str, ...]) -> None:
    """Check EXPERIMENT_FILE, the plugins it needs and its data, without training."""
    experiment, loaded = load_for_command(state, experiment_file, overrides)
    check_components(experiment, loaded.registry)
    check_devices(experiment.settings.train)
    dataset = build_dataset(experiment, loaded.registry)
    where = dataset_location(dataset)
    check_data_apart_from_run(experiment, dataset)
    if dataset.is_prepared():
        folder = getattr(dataset, "tfrecords", None)
        ready = (f"TFRecords ready in {folder}" if folder is not None
                 else f"ready: {describe_dataset(dataset)}")
        data = f"{ready} ({dataset.num_examples()} images)"
    elif source_available(dataset):
        from ganlab.data.writer import staleness

        stale = staleness(dataset)
        if stale:
            raise DataError(stale)
        data = (f"not prepared yet ({where}); raw data found ({describe_dataset(dataset)}): "
                "'ganlab run' will prepare it")
    else:
        raise DataError(f"No prepared data ({where}) and no raw data "
                        f"({describe_dataset(dataset)}). Put the raw files there or use "
                        "--set dataset.params.source=PATH.")
    from ganlab.checks import check_experiment  # TensorFlow loads only here
    from ganlab.engine.build import build_models

    networks = build_models(experiment, loaded.registry, dataset)
    generator, discriminator = networks.generator, networks.discriminator
    loss = build_loss(experiment, loaded.registry)  # factories run too: their errors show now
    regularizers = build_regularizers(experiment, loaded.registry)
    build_callbacks(experiment, loaded.registry)
    build_metrics(experiment, loaded.registry)
    check_experiment(experiment, loaded.registry, dataset if dataset.is_prepared() else None,
                     generator, discriminator, loss, networks.latent_dim,
                     num_classes=networks.num_classes, regularizers=regularizers)
    click.echo(f"{experiment.path}: OK")
    click.echo(f"  data: {data}")
    classes = f", {networks.num_classes} classes" if networks.num_classes else ""
    click.echo(f"  images: {tuple(dataset.image_shape)}; latent: {networks.latent_dim} "
               f"({networks.latent_distribution}{classes}); "
               f"generator {generator.count_params():,} params, "
               f"discriminator {discriminator.count_params():,} params")
    checked = "dataset sample, " if dataset.is_prepared() else ""
    regularized = ", regularizers" if regularizers else ""
    click.echo(f"  contracts: {checked}generator and discriminator outputs, losses"
               f"{regularized} and their gradients OK")
    click.echo(f"  run directory: {experiment.run_dir()}")


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--num", default=64, show_default=True, type=click.IntRange(1, 4096),
              help="Number of images.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output PNG.")
@click.option("--seed", type=click.IntRange(0), default=None,
              help="Draw fresh latents from this seed (default: the run's numbered bank).")
@click.option("--rows", type=click.IntRange(1, 4096), default=None, help="Grid rows.")
@click.option("--numbered", is_flag=True,
              help="Label each cell with its exemplar name (bank index, or sN for seed N).")
@click.option("--epoch", type=click.IntRange(1), default=None,
              help="Use the checkpoint of this epoch instead of the exported generator.")
@click.option("--class", "label", default=None, metavar="NAME|INDEX",
              help="Class-conditional runs: draw every image as this class, by name (e.g. "
                   "'cat') or index (e.g. 3).")
@generator_option
@truncation_option
def sample(run_dir: str, num: int, out: str, seed: int | None, rows: int | None,
           numbered: bool, epoch: int | None, label: str | None, generator: str | None,
           truncation: float | None) -> None:
    """Draw a grid of NUM images from RUN_DIR's generator (its EMA generator when it has one)."""
    from ganlab.sampling import draw_grid  # TensorFlow loads only here

    path, drawn_by = draw_grid(Path(run_dir), num=num, out=Path(out), seed=seed, rows=rows,
                               numbered=numbered, epoch=epoch, label=label, generator=generator,
                               truncation=truncation)
    which = "EMA" if drawn_by.kind == "ema" else "raw (trained)"
    click.echo(f"Wrote {num} samples to {path} (the {which} generator, from "
               f"{drawn_by.description}).")


COMMANDS: list[click.Command] = [run, validate, sample]
