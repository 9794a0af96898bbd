"""``ganlab evaluate``: score a run's generator and record it in ``metrics.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ganlab.commands.run import set_option
from ganlab.config_yaml import parse_command_line_value
from ganlab.errors import ConfigError
from ganlab.evaluation.bounds import MAX_SAMPLES
from ganlab.generators import generator_option, truncation_option


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
            params[key.strip()] = parse_command_line_value(value, f"--extractor-param "
                                                                  f"{option!r}")
        except ConfigError as exc:
            raise ConfigError(f"--extractor-param {option!r}: the value is not valid YAML "
                              f"({exc}).") from None
    return params


def format_table(records: list[dict[str, Any]]) -> str:
    """One row per score: metric, score, value and the protocol that matters when comparing."""
    header = ["metric", "score", "value", "better", "fake", "real", "split", "extractor",
              "epoch", "samples", "generator"]
    rows = []
    for record in records:
        protocol = record["protocol"]
        specs = record.get("score_specs", {})
        for score, value in record["scores"].items():
            better = {True: "higher", False: "lower"}.get(
                specs.get(score, {}).get("higher_is_better"), "-")
            # 0 samples: a metric of the first contract, which does not report its counts.
            rows.append([record["metric"], score, f"{value:.6g}", better,
                         str(protocol["num_fake"] or "-"), str(protocol["num_real"] or "-"),
                         protocol["real_split"] or "-",
                         protocol["extractor"] or "-", str(protocol["epoch"]),
                         protocol["samples"], _generator_cell(protocol)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             .rstrip() for row in [header, ["-" * w for w in widths], *rows]]
    return "\n".join(lines)


def _generator_cell(protocol: dict[str, Any]) -> str:
    """``ema``, ``raw``, ``ema T=0.5`` (truncated), or ``-`` for a real baseline."""
    kind = protocol.get("generator") or "-"
    truncation = protocol.get("truncation")
    return kind if truncation is None else f"{kind} T={truncation:g}"


@click.command("evaluate")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--epoch", type=click.IntRange(min=1), default=None,
              help="Evaluate the checkpoint at the end of epoch N (default: the exported "
                   "generator, else the latest checkpoint).")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="A metric to evaluate (repeatable): fid, kid, precision_recall, "
                   "classifier_score, inception_score or a plugin's. Default: the "
                   "experiment's metrics: "
                   "block, else fid.")
@click.option("--num-samples", type=click.IntRange(min=2, max=MAX_SAMPLES), default=None,
              help=f"Generated samples per metric (and real ones, at most the split's size; "
                   f"with inception_2015 the real side stays the whole training split); "
                   f"at most {MAX_SAMPLES:,}.")
@click.option("--split", default=None,
              help="Real split to compare against (default: test when the TFRecords have "
                   "one, else the training split).")
@click.option("--extractor", default=None, metavar="NAME",
              help="Feature extractor (default: the metric's, 'domain'); inception_2015 "
                   "for paper-comparable FID and IS.")
@click.option("--extractor-param", "extractor_params", multiple=True, metavar="KEY=VALUE",
              help="A param of the extractor (repeatable), e.g. weights=/path/to/file.h5, "
                   "or graph=/path/to/classify_image_graph_def.pb for inception_2015.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of the generated samples (default: the experiment seed + 1, as "
                   "during training).")
@click.option("--real-baseline", default=None, metavar="SPLIT",
              help="Score the real images of SPLIT (e.g. train) in place of the generator: "
                   "the best the metrics can read on this data, to set a run's scores "
                   "against.")
@generator_option
@truncation_option
@set_option
@click.pass_obj
def evaluate(state: Any, run_dir: str, epoch: int | None, metrics: tuple[str, ...],
             num_samples: int | None, split: str | None, extractor: str | None,
             extractor_params: tuple[str, ...], seed: int | None, real_baseline: str | None,
             generator: str | None, truncation: float | None,
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

    for given, option in ((epoch, "--epoch"), (generator, "--generator"),
                          (truncation, "--truncation")):
        if real_baseline is not None and given is not None:
            raise ConfigError(f"{option} is about the generator; --real-baseline scores real "
                              "images in its place: give one or the other.")
    request = EvaluationRequest(
        run_dir=Path(run_dir), epoch=epoch, metrics=metrics, num_samples=num_samples,
        split=split, extractor=extractor,
        extractor_params=parse_extractor_params(extractor_params), seed=seed,
        overrides=overrides, real_baseline=real_baseline, generator=generator,
        truncation=truncation)
    report = evaluate_run(request, lambda local, base: state.load_and_warn(local, base),
                          echo=lambda message: click.echo(message, err=True))
    click.echo(format_table(report.records))
    click.echo(f"Wrote {report.path}.")


COMMANDS: list[click.Command] = [evaluate]
