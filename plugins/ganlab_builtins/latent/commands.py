"""``ganlab arithmetic`` and ``ganlab interpolate``: the figures from a finished run.

Parsing and every bound are checked before the generator is loaded; the
generator (Keras) and the classifier are imported only when a command runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ganlab.errors import GanlabError
from ganlab.generators import generator_option, truncation_option

from .bounds import (
    MAX_EXEMPLARS,
    MAX_GIF_MS,
    MAX_JITTER,
    MAX_NEIGHBOURS,
    MAX_POOL_SIZE,
    MAX_STEPS,
    SEED_LIMIT,
)
from .exemplars import LatentSpecError, parse_concept_option, parse_exemplar
from .spec import DEFAULT_EXEMPLARS, DEFAULT_POOL_SIZE, ArithmeticSpec, parse_query_option


class LatentCommandError(GanlabError):
    """``ganlab arithmetic`` / ``interpolate`` was given something it cannot use."""

    exit_code = 2


def user_error(error: Exception, exit_code: int = 2) -> LatentCommandError:
    """A one-paragraph :class:`LatentCommandError` from a parsing or bounds error."""
    text = str(error).rstrip(".")
    command_error = LatentCommandError(text[:1].upper() + text[1:] + ".")
    command_error.exit_code = exit_code
    return command_error


epoch_option = click.option(
    "--epoch", type=click.IntRange(1, SEED_LIMIT - 1), default=None, metavar="N",
    help="Use the checkpoint written at the end of epoch N (default: the exported "
         "generator.keras, else the latest checkpoint).")


def _restore(run_dir: str, epoch: int | None, generator: str | None) -> Any:
    """The generator to draw with, telling the user about damaged checkpoints skipped.

    ``--generator``: the EMA generator by default when the run has one.
    """
    from ganlab.restore import restore_generator

    restored = restore_generator(run_dir, epoch, generator=generator)
    for warning in restored.warnings:
        click.echo(f"warning: {warning} Using an earlier checkpoint.", err=True)
    return restored


def _check_truncation(info: Any, truncation: float | None) -> None:
    """Refuse ``--truncation`` for a run with uniform latents."""
    from ganlab.latents import check_truncation

    try:
        check_truncation(info.latent_distribution, truncation)
    except ValueError as exc:
        raise user_error(Exception(f"--truncation: {exc}")) from None


def _drawn_with(restored: Any, truncation: float | None) -> str:
    """``the exported EMA generator (...)``, with the truncation when there is one."""
    return restored.description + (f", truncation {truncation:g}" if truncation else "")


def _save(picture: Any, path: Path) -> None:
    from ganlab.images import save_png

    try:
        save_png(picture, path)
    except OSError as exc:
        raise LatentCommandError(f"Cannot write {path}: {exc.strerror or exc}. Give --out a "
                                 "path in a folder you can write to.") from None


def _spec_from_options(concepts: Sequence[str], queries: Sequence[str],
                       **settings: Any) -> ArithmeticSpec:
    """The figure from ``--concept``/``--query`` options (each name once)."""
    exemplars: dict[str, str] = {}
    parsed_queries: dict[str, str] = {}
    for option in concepts:
        name, _ = parse_concept_option(option)
        if name in exemplars:
            raise LatentSpecError(f"concept '{name}' is given twice by --concept")
        exemplars[name] = option.partition("=")[2]
    for option in queries:
        name, query = parse_query_option(option)
        if name in parsed_queries:
            raise LatentSpecError(f"concept '{name}' is given twice by --query")
        parsed_queries[name] = query.text
    if not exemplars and not parsed_queries:
        raise LatentSpecError("give the concepts with --concept NAME=E1,E2,... (exemplars) "
                              "or --query NAME=QUERY (labels)")
    return ArithmeticSpec.build(concepts=exemplars, queries=parsed_queries, **settings)


def _judge(spec: ArithmeticSpec, run_dir: str, image_shape: tuple[int, ...],
           classifier: str) -> Any:
    """The run's classifier with the spec's queries bound to its labels."""
    from ganlab.rundir import RunDirectory

    from .classifier import describe_failure, open_classifier
    from .figure import Judge

    directory = RunDirectory(Path(run_dir))
    recorded = directory.read_metadata().get("experiment_dir")
    base_dir = Path(recorded) if recorded else None
    config = directory.read_config()
    try:
        # The plugins of the command line (-p) and of the run's config, as 'ganlab run' had.
        state = click.get_current_context().obj
        registry = state.load(list(config.get("plugins") or []), base_dir).registry
        found = open_classifier(config, image_shape, name=classifier, registry=registry)
    except GanlabError as exc:
        raise user_error(Exception(describe_failure(exc)),
                         exc.exit_code) from None
    try:
        return Judge.bind(spec, found)
    except LatentSpecError as exc:
        raise user_error(exc) from None


@click.command("arithmetic", short_help="Latent vector arithmetic on a run (DCGAN fig. 7).")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--concept", "concepts", multiple=True, metavar="NAME=E1,E2,...",
              help="A concept and its exemplars: latent-bank indices (12) or seeds (s42). "
                   "Repeatable, e.g. --concept man=3,8,21.")
@click.option("--query", "queries", multiple=True, metavar="NAME=QUERY",
              help="A concept given by a label query of the dataset's classifier, e.g. "
                   "--query 'man=Male & !Eyeglasses' or --query seven=7. Repeatable.")
@click.option("--expr", "expression", required=True, metavar="EXPRESSION",
              help='Over the concept names with +, -, * and parentheses, e.g. '
                   '"glasses_man - man + woman" (coefficients: 0.5*man).')
@click.option("--expect", default=None, metavar="QUERY",
              help="The query the result should satisfy, e.g. 'Eyeglasses & !Male' "
                   "(default: derived from the queries when possible).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output PNG.")
@epoch_option
@click.option("--seed", type=click.IntRange(0, SEED_LIMIT - 1), default=None,
              help="Seed of the neighbours' jitter (default: the run's seed, as the "
                   "latent_arithmetic callback).")
@click.option("--jitter", type=click.FloatRange(0.0, MAX_JITTER), default=0.25,
              show_default=True, help="Half-width of the uniform noise added for the "
                                      "neighbours.")
@click.option("--neighbours", type=click.IntRange(0, MAX_NEIGHBOURS), default=8,
              show_default=True, help="Neighbours of the result (8: a 3x3 grid around it).")
@click.option("--exemplars", "per_query", type=click.IntRange(1, MAX_EXEMPLARS),
              default=DEFAULT_EXEMPLARS, show_default=True,
              help="Exemplars kept per query concept.")
@click.option("--pool-size", type=click.IntRange(1, MAX_POOL_SIZE), default=DEFAULT_POOL_SIZE,
              show_default=True, help="Latents generated and classified to find them.")
@click.option("--pool-seed", type=click.IntRange(0, SEED_LIMIT - 1), default=None,
              help="First seed of the pool (default: the run's seed, as the callback).")
@click.option("--classifier", default="domain", show_default=True, metavar="NAME",
              help="The feature extractor that judges queries.")
@generator_option
@truncation_option
def arithmetic_command(run_dir: str, concepts: tuple[str, ...], queries: tuple[str, ...],
                       expression: str, expect: str | None, out: str, epoch: int | None,
                       seed: int | None, jitter: float, neighbours: int, per_query: int,
                       pool_size: int, pool_seed: int | None, classifier: str,
                       generator: str | None, truncation: float | None) -> None:
    """Latent vector arithmetic on RUN_DIR's generator (DCGAN paper, figure 7).

    Each concept is the mean of its exemplars' latents: exemplars you picked
    (--concept; see 'ganlab sample RUN_DIR --numbered') or the pool latents
    the dataset's classifier finds most confidently for a label query
    (--query). The figure shows every exemplar, each mean, the result of the
    expression and its jittered neighbours; with an expected query, the
    share of them the classifier says match it, against random latents.
    """
    from ganlab.restore import read_run_info
    from ganlab.sampling import generate

    from .figure import LatentSpace, draw_figure

    try:
        spec = _spec_from_options(concepts, queries, expression=expression, expect=expect,
                                  neighbours=neighbours, jitter=jitter, seed=seed,
                                  exemplars=per_query, pool_size=pool_size, pool_seed=pool_seed)
    except ValueError as exc:  # LatentSpecError, or a bound from .bounds
        raise user_error(exc) from None
    unused = [n for n in [*spec.exemplars, *spec.queries] if n not in spec.expression.names]
    if unused:
        click.echo(f"note: concept(s) {', '.join(unused)} not used by the expression.",
                   err=True)
    info = read_run_info(run_dir)
    _check_truncation(info, truncation)
    space = LatentSpace(info.latent_bank, info.latent_dim, info.latent_distribution, info.seed,
                        truncation=truncation, num_classes=info.num_classes)
    try:
        for exemplar in spec.used_exemplars():
            exemplar.latent(space.bank, space.latent_dim, space.distribution)
        spec.check_figure(info.image_shape)
    except ValueError as exc:
        raise user_error(exc) from None
    judge = _judge(spec, run_dir, info.image_shape, classifier) if spec.needs_classifier \
        else None
    restored = _restore(run_dir, epoch, generator)
    drawn_with = _drawn_with(restored, truncation)
    figure, report = draw_figure(spec, lambda z: generate(restored.generator, z), space,
                                 judge_with=judge,
                                 title=f"{spec.expression.text}  ({drawn_with})")
    _save(figure, Path(out))
    click.echo(f"Wrote {out}: {spec.expression.text}, with {drawn_with}.")
    for name in spec.used_queries:
        click.echo(f"{name} = {spec.queries[name].text}: exemplars "
                   f"{','.join(report.labels[name])}")
    for line in report.lines():
        click.echo(line)


@click.command("interpolate", short_help="Walk between two latents of a run: grid + GIF.")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--from", "start", required=True, metavar="EXEMPLAR",
              help="Start: a latent-bank index (12) or a seed (s42).")
@click.option("--to", "end", required=True, metavar="EXEMPLAR", help="End, likewise.")
@click.option("--steps", type=click.IntRange(2, MAX_STEPS), default=10, show_default=True,
              help="Images on the path, both ends included.")
@click.option("--slerp/--lerp", "spherical", default=None,
              help="Spherical or linear interpolation (default: slerp for a normal prior, "
                   "lerp for a uniform one, as in the DCGAN paper).")
@epoch_option
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="Output PNG; the animated GIF goes next to it (same name, .gif).")
@click.option("--gif-ms", type=click.IntRange(10, MAX_GIF_MS), default=120, show_default=True,
              help="Milliseconds per GIF frame.")
@generator_option
@truncation_option
def interpolate_command(run_dir: str, start: str, end: str, steps: int,
                        spherical: bool | None, epoch: int | None, out: str,
                        gif_ms: int, generator: str | None, truncation: float | None) -> None:
    """Walk RUN_DIR's latent space from one exemplar to another: a grid and a GIF.

    The GIF plays the path forward and back. With --truncation the two ends
    are truncated (as 'ganlab sample --truncation' draws them); the path
    between them is not resampled.
    """
    from ganlab.images import save_gif
    from ganlab.latents import truncate_exemplar
    from ganlab.restore import read_run_info
    from ganlab.sampling import generate

    from .arithmetic import default_slerp, interpolation_path
    from .layout import InterpolationLayout
    from .render import back_and_forth, interpolation_figure

    png = Path(out)
    gif = png.with_suffix(".gif")
    if gif == png:
        raise LatentCommandError(f"--out {out} names the PNG; the GIF is written next to it "
                                 "with the .gif suffix. Give a .png path.")
    try:
        first, last = parse_exemplar(start), parse_exemplar(end)
        info = read_run_info(run_dir)
        _check_truncation(info, truncation)
        ends = [e.latent(info.latent_bank, info.latent_dim, info.latent_distribution)
                for e in (first, last)]
        if truncation is not None:
            ends = [truncate_exemplar(z, truncation, run_seed=info.seed, index=e.index,
                                      seed=e.seed, num_classes=info.num_classes)
                    for z, e in zip(ends, (first, last), strict=True)]
        label = f"{first.label} -> {last.label}"
        InterpolationLayout.plan(labels=[label], steps=steps,
                                 image_size=tuple(info.image_shape[:2]), title="x" * 60)
    except ValueError as exc:
        raise user_error(exc) from None
    spherical = default_slerp(info.latent_distribution) if spherical is None else spherical
    path = interpolation_path(ends[0], ends[1], steps, spherical)
    restored = _restore(run_dir, epoch, generator)
    method = "slerp" if spherical else "lerp"
    drawn_with = _drawn_with(restored, truncation)
    figure, images = interpolation_figure(
        lambda z: generate(restored.generator, z), [(label, path)],
        title=f"{method}, {steps} steps  ({drawn_with})")
    _save(figure, png)
    try:
        save_gif(back_and_forth(images[0]), gif, duration_ms=gif_ms)
    except OSError as exc:
        raise LatentCommandError(f"Cannot write {gif}: {exc.strerror or exc}.") from None
    click.echo(f"Wrote {png} and {gif}: {method} {label} in {steps} steps, with "
               f"{drawn_with}.")
