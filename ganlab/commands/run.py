"""``ganlab run``, ``validate`` and ``sample``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ganlab.components import build_dataset, check_components
from ganlab.errors import DataError
from ganlab.experiment import Experiment, load_experiment
from ganlab.plugins import LoadedPlugins

set_option = click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                          help="Override a key of the experiment (repeatable), e.g. "
                               "--set train.epochs=5.")


def load_for_command(state: Any, path: str, overrides: tuple[str, ...]
                     ) -> tuple[Experiment, LoadedPlugins]:
    """The validated experiment and the plugins it needs (warning about broken ones)."""
    experiment = load_experiment(path, overrides)
    loaded = state.load_and_warn(experiment.config["plugins"], experiment.base_dir)
    return experiment, loaded


@click.command()
@click.argument("experiment_file", type=click.Path(dir_okay=False))
@set_option
@click.pass_obj
def run(state: Any, experiment_file: str, overrides: tuple[str, ...]) -> None:
    """Train EXPERIMENT_FILE into its run directory (resuming if it holds a run)."""
    experiment, loaded = load_for_command(state, experiment_file, overrides)
    from ganlab.engine.runner import run_experiment  # TensorFlow loads only here

    run_experiment(experiment, loaded.registry, loaded.provenance(), echo=click.echo)


@click.command()
@click.argument("experiment_file", type=click.Path(dir_okay=False))
@set_option
@click.pass_obj
def validate(state: Any, experiment_file: str, overrides: tuple[str, ...]) -> None:
    """Check EXPERIMENT_FILE, the plugins it needs and its data, without training."""
    experiment, loaded = load_for_command(state, experiment_file, overrides)
    check_components(experiment, loaded.registry)
    dataset = build_dataset(experiment, loaded.registry)
    if dataset.is_prepared():
        data = f"TFRecords ready in {dataset.tfrecords} ({dataset.num_examples()} images)"
    elif dataset.source_available():
        data = (f"TFRecords not prepared yet; raw data found ({dataset.describe_source()}): "
                "'ganlab run' will prepare them")
    else:
        raise DataError(f"No finished TFRecords in {dataset.tfrecords} and no raw data "
                        f"({dataset.describe_source()}). Put the raw files there or use "
                        "--set dataset.params.source=PATH.")
    from ganlab.engine.runner import build_models  # TensorFlow loads only here

    generator, discriminator, latent_dim, distribution = build_models(
        experiment, loaded.registry, tuple(dataset.image_shape))
    click.echo(f"{experiment.path}: OK")
    click.echo(f"  data: {data}")
    click.echo(f"  images: {tuple(dataset.image_shape)}; latent: {latent_dim} "
               f"({distribution}); generator {generator.count_params():,} params, "
               f"discriminator {discriminator.count_params():,} params")
    click.echo(f"  run directory: {experiment.run_dir()}")


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--num", default=64, show_default=True, type=click.IntRange(1, 4096),
              help="Number of images.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output PNG.")
@click.option("--seed", type=click.IntRange(0), default=None,
              help="Draw fresh latents from this seed (default: the run's numbered bank).")
@click.option("--rows", type=click.IntRange(1), default=None, help="Grid rows.")
@click.option("--numbered", is_flag=True, help="Label each cell with its latent-bank index.")
def sample(run_dir: str, num: int, out: str, seed: int | None, rows: int | None,
           numbered: bool) -> None:
    """Draw a grid of NUM images from RUN_DIR's exported generator."""
    from ganlab.sampling import draw_grid  # TensorFlow loads only here

    path = draw_grid(Path(run_dir), num=num, out=Path(out), seed=seed, rows=rows,
                     numbered=numbered)
    click.echo(f"Wrote {num} samples to {path}")


COMMANDS: list[click.Command] = [run, validate, sample]
