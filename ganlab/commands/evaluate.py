"""``ganlab evaluate``: score a run's generator and record it in ``metrics.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from ganlab.commands.run import set_option
from ganlab.errors import ConfigError


def parse_extractor_params(options: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` options (values parsed as YAML) → a dict.

    Raises:
        ConfigError: An option without ``=`` or with a value YAML cannot read.

    """
    params: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--extractor-param {option!r}: expected KEY=VALUE, e.g. "
                              "--extractor-param weights=/path/to/weights.h5.")
        try:
            params[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--extractor-param {option!r}: the value is not valid YAML "
                              f"({exc}).") from None
    return params


def format_table(records: list[dict[str, Any]]) -> str:
    """One row per score: metric, score, value and the protocol that matters when comparing."""
    header = ["metric", "score", "value", "fake", "real", "split", "extractor", "epoch",
              "samples"]
    rows = []
    for record in records:
        protocol = record["protocol"]
        for score, value in record["scores"].items():
            rows.append([record["metric"], score, f"{value:.6g}", str(protocol["num_fake"]),
                         str(protocol["num_real"]), protocol["real_split"] or "-",
                         protocol["extractor"] or "-", str(protocol["epoch"]),
                         protocol["samples"]])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in [header, ["-" * w for w in widths], *rows]]
    return "\n".join(lines)


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--epoch", type=click.IntRange(min=1), default=None,
              help="Evaluate the checkpoint at the end of epoch N (default: the exported "
                   "generator, else the latest checkpoint).")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="A metric to evaluate (repeatable): fid, kid, precision_recall, "
                   "classifier_score or a plugin's. Default: the experiment's metrics: "
                   "block, else fid.")
@click.option("--num-samples", type=click.IntRange(min=2), default=None,
              help="Generated samples per metric (and real ones, at most the split's size).")
@click.option("--split", default=None,
              help="Real split to compare against (default: test when the TFRecords have "
                   "one, else the training split).")
@click.option("--extractor", default=None, metavar="NAME",
              help="Feature extractor (default: the metric's, 'domain').")
@click.option("--extractor-param", "extractor_params", multiple=True, metavar="KEY=VALUE",
              help="A param of the extractor (repeatable), e.g. weights=/path/to/file.h5.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of the generated samples (default: the experiment seed + 1, as "
                   "during training).")
@click.option("--real-baseline", default=None, metavar="SPLIT",
              help="Score the real images of SPLIT (e.g. train) in place of the generator: "
                   "the best the metrics can read on this data, to set a run's scores "
                   "against.")
@set_option
@click.pass_obj
def evaluate(state: Any, run_dir: str, epoch: int | None, metrics: tuple[str, ...],
             num_samples: int | None, split: str | None, extractor: str | None,
             extractor_params: tuple[str, ...], seed: int | None, real_baseline: str | None,
             overrides: tuple[str, ...]) -> None:
    """Score RUN_DIR's generator (FID, KID, precision/recall, classifier score).

    Generated and real images are streamed batch by batch; real-data
    statistics are cached beside the TFRecords. Prints a table and writes
    RUN_DIR/metrics.json, each record with its protocol (extractor and
    weights hash, sample counts, real split, image size, seed, epoch). The
    --set option overrides keys of the run's saved config, e.g. the path of
    moved TFRecords: --set dataset.params.tfrecords=PATH.
    """
    from ganlab.evaluation.evaluate import EvaluationRequest, evaluate_run

    if real_baseline is not None and epoch is not None:
        raise ConfigError("--epoch names a generator; --real-baseline scores real images in "
                          "its place: give one or the other.")
    request = EvaluationRequest(
        run_dir=Path(run_dir), epoch=epoch, metrics=metrics, num_samples=num_samples,
        split=split, extractor=extractor,
        extractor_params=parse_extractor_params(extractor_params), seed=seed,
        overrides=overrides, real_baseline=real_baseline)
    report = evaluate_run(request, lambda local, base: state.load_and_warn(local, base),
                          echo=lambda message: click.echo(message, err=True))
    click.echo(format_table(report.records))
    click.echo(f"Wrote {report.path}.")


COMMANDS: list[click.Command] = [evaluate]
