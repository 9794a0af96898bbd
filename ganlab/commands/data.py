"""``ganlab prepare`` and ``ganlab inspect`` (dataset commands)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from ganlab.components import build_dataset
from ganlab.contracts import class_names_of, describe_dataset, supports_labels
from ganlab.data import TFRecordImageDataset
from ganlab.errors import DataError
from ganlab.experiment import Experiment, check_params, load_experiment, raise_if_problems
from ganlab.settings import thaw

#: Skipped files listed on the terminal; the manifest has them all.
SHOWN_SKIPPED = 20

_experiment_argument = click.argument("experiment_file", type=click.Path(dir_okay=False))
_set_option = click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                           help="Override a key of the experiment (repeatable), e.g. "
                                "--set dataset.params.source=/data/mnist.")


def experiment_dataset(state: Any, path: str, overrides: tuple[str, ...]
                       ) -> tuple[Experiment, Any]:
    """The validated experiment and its dataset object.

    Only the dataset block is resolved, so that preparing data does not need
    the architecture's plugin.

    Raises:
        ConfigError: The experiment or the dataset params are invalid.
        PluginError: The dataset name is unknown.

    """
    experiment = load_experiment(path, overrides)
    loaded = state.load_for_experiment(experiment)
    block = experiment.settings.dataset
    component = loaded.registry.resolve("dataset", block.name)
    raise_if_problems(experiment, check_params(component.factory, thaw(block.params),
                                               "dataset.params"))
    dataset = build_dataset(experiment, loaded.registry)
    check_data_apart_from_run(experiment, dataset)
    return experiment, dataset


def check_data_apart_from_run(experiment: Experiment, dataset: Any) -> None:
    """Refuse a run_dir that cannot be one, or a TFRecord folder nested with it."""
    from ganlab.rundir import check_apart, check_run_dir_path

    check_run_dir_path(experiment.run_dir())
    tfrecords = getattr(dataset, "tfrecords", None)
    if tfrecords is not None:
        check_apart(experiment.run_dir(), tfrecords)


# -- prepare ------------------------------------------------------------------------------------
@click.command()
@_experiment_argument
@_set_option
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Writer processes (default: the dataset's `workers` param, else up to one "
                   "per core for large datasets). 1 writes in-process.")
@click.option("--overwrite", is_flag=True,
              help="Replace finished TFRecords prepared with other options (the old ones "
                   "stay until the new ones are complete).")
@click.option("--verify", is_flag=True,
              help="Afterwards, read every record (CRC) and decode every image.")
@click.option("--shards", type=click.IntRange(min=1), default=None,
              help="Write at least this many shards per split, e.g. one per worker of a "
                   "multi-worker cluster (each worker then reads only its own shards).")
@click.pass_obj
def prepare(state: Any, experiment_file: str, overrides: tuple[str, ...], workers: int | None,
            overwrite: bool, verify: bool, shards: int | None) -> None:
    """Turn the raw files of EXPERIMENT_FILE's dataset into sharded TFRecords."""
    _, dataset = experiment_dataset(state, experiment_file, overrides)
    report = _run_prepare(dataset, workers, overwrite, shards)
    _echo_report(dataset, report)
    if verify and getattr(dataset, "tfrecords", None) is not None:
        from ganlab.data.reader import verify as verify_folder  # TensorFlow loads only here

        checked = verify_folder(dataset.tfrecords)
        click.echo(f"Verified {checked.records} records in {checked.shards} shards (CRC and PNG "
                   f"decode of every record, counts against the manifest): OK "
                   f"({checked.seconds:.1f} s).")
        click.echo(f"  source: {_source_verdict(dataset)}")


def _source_verdict(dataset: Any) -> str:
    """Whether the raw files are still those the TFRecords were written from."""
    recorded = dataset.manifest().get("source_fingerprint")
    current = dataset.source_fingerprint()  # read again: not the value the prepare started from
    if recorded is None:
        return ("the manifest records no fingerprint of the raw files (prepared by an older "
                "ganlab, or the dataset gives none): a change to them cannot be detected; "
                "--overwrite writes the TFRecords and the fingerprint again")
    if current is None:
        return f"written from {recorded}; the raw files are not there to compare"
    if current != recorded:  # another process changed them since this prepare
        return (f"MISMATCH: written from {recorded}, the raw files now hold {current}; "
                "prepare again with --overwrite")
    return f"the raw files are those the TFRecords were written from ({current})"


def _run_prepare(dataset: Any, workers: int | None, overwrite: bool,
                 shards: int | None = None) -> Any:
    """``dataset.prepare``, with per-shard progress when ganlab's writer does the work."""
    from ganlab.data import TFRecordImageDataset

    if not isinstance(dataset, TFRecordImageDataset):
        return dataset.prepare(workers=workers, overwrite=overwrite)
    from ganlab.data.writer import prepare as write

    def progress(result: Any, done: int, total: int) -> None:
        if total > 1:
            click.echo(f"  [{done}/{total}] {result.file}: {result.count} images", err=True)

    if not dataset.is_prepared():
        click.echo(f"Preparing TFRecords in {dataset.tfrecords} from "
                   f"{dataset.describe_source()} ...", err=True)
    return write(dataset, workers=workers, overwrite=overwrite, progress=progress,
                 shards=shards)


def _echo_report(dataset: Any, report: Any) -> None:
    if report is None:
        click.echo(f"Prepared {describe_dataset(dataset)}: {dataset.num_examples()} images.")
        return
    total = sum(report.counts.values())
    if report.reused:
        click.echo(f"TFRecords in {dataset.tfrecords} are already prepared with these options: "
                   f"reused ({total} images).")
    else:
        click.echo(f"Prepared {total} images into {dataset.tfrecords} in "
                   f"{report.seconds:.1f} s.")
    for split, count in report.counts.items():
        click.echo(f"  {split}: {count} images")
    if report.skipped:
        click.echo(f"  skipped: {len(report.skipped)} source files")
        for name, reason in report.skipped[:SHOWN_SKIPPED]:
            click.echo(f"    {name}: {reason}")
        if len(report.skipped) > SHOWN_SKIPPED:
            click.echo(f"    ... and {len(report.skipped) - SHOWN_SKIPPED} more, all listed in "
                       f"{Path(dataset.tfrecords) / 'dataset.json'}")
    for key, value in report.notes.items():
        click.echo(f"  {key}: {terse(value)}")


def terse(value: Any, shown: int = 5) -> str:
    """A note for the terminal: long lists as their length and first items (all in the manifest)."""
    if isinstance(value, (list, tuple)) and len(value) > shown:
        return f"{len(value)} ({', '.join(map(str, value[:shown]))}, ...)"
    return str(value)


# -- inspect ------------------------------------------------------------------------------------
@click.command()
@_experiment_argument
@_set_option
@click.option("--split", default=None,
              help="Split to show (default: the one training uses; 'all' for every split).")
@click.option("--num", default=64, show_default=True, type=click.IntRange(1, 1024),
              help="Number of images in the grid.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Grid PNG to write (default: inspect-<experiment>-<split>.png).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0),
              help="Seed of the shuffle that picks the images.")
@click.pass_obj
def inspect(state: Any, experiment_file: str, overrides: tuple[str, ...], split: str | None,
            num: int, out: str | None, seed: int) -> None:
    """Show the manifest of EXPERIMENT_FILE's TFRecords and a grid of real images."""
    experiment, dataset = experiment_dataset(state, experiment_file, overrides)
    if isinstance(dataset, TFRecordImageDataset):
        _echo_manifest(dataset, dataset.manifest())
    else:
        click.echo(f"Dataset: {describe_dataset(dataset)}")
    split = split or getattr(dataset, "default_split", None) or "train"
    started = time.monotonic()
    images, labels = _sample(dataset, split, num, seed)
    from ganlab.images import save_png, tile

    path = save_png(tile(images), out or f"inspect-{experiment.name}-{split}.png")
    height, width, channels = images.shape[1:]
    click.echo(f"Wrote a grid of {len(images)} '{split}' images to {path}, as the model sees "
               f"them: {height}x{width}x{channels} float32 in [{images.min():.2f}, "
               f"{images.max():.2f}] ({time.monotonic() - started:.1f} s).")
    if any(label >= 0 for label in labels):
        counts = Counter(int(label) for label in labels)
        names = class_names_of(dataset)
        click.echo("  labels in the grid: " + ", ".join(
            f"{names[label] if 0 <= label < len(names) else label}: {counts[label]}"
            for label in sorted(counts)))


def _echo_manifest(dataset: Any, manifest: Mapping[str, Any]) -> None:
    from ganlab.data.manifest import manifest_classes, matches, options_fingerprint

    same = matches(manifest, options_fingerprint(dataset.options()))
    click.echo(f"TFRecords: {dataset.tfrecords}")
    click.echo(f"  source: {manifest.get('source')}")
    click.echo(f"  created: {manifest.get('created')} by ganlab {manifest.get('ganlab_version')} "
               f"(format {manifest.get('format_version')})")
    height, width, channels = manifest["image_shape"]
    click.echo(f"  image shape: {height}x{width}x{channels} ({manifest.get('image_format')})")
    click.echo("  options: " + ", ".join(f"{k}={v}" for k, v in manifest["options"].items()))
    click.echo(f"  fingerprint: {str(manifest.get('fingerprint'))[:16]} "
               + ("(matches the experiment)" if same
                  else "(DIFFERS from the experiment's options: prepare again with --overwrite)"))
    for name, info in manifest["splits"].items():
        shards = len(info["shards"])
        click.echo(f"  {name}: {info['count']} images in {shards} shard{'s' * (shards != 1)}")
    click.echo(f"  skipped: {manifest.get('skipped_count', 0)}")
    names = manifest_classes(manifest)
    if names:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        click.echo(f"  classes: {len(names)} ({shown})")
    for key, value in (manifest.get("notes") or {}).items():
        click.echo(f"  {key}: {terse(value)}")


def _sample(dataset: Any, split: str, num: int, seed: int) -> tuple[Any, list[int]]:
    """``num`` images (float32, [-1, 1]) and labels of ``split``, picked by a seeded shuffle."""
    import numpy as np

    if not isinstance(dataset, TFRecordImageDataset):
        labelled = bool(class_names_of(dataset)) and supports_labels(dataset)
        data = dataset.load(split, with_labels=True) if labelled else dataset.load(split)
        picked = data.shuffle(max(1, min(dataset.num_examples(split), 10_000)),
                              seed=seed).take(num)
        rows = [(row[0].numpy(), int(row[1])) if labelled else (row.numpy(), -1)
                for row in picked]
        if not rows:
            raise DataError(f"The '{split}' split of {describe_dataset(dataset)} holds no images.")
        return np.stack([image for image, _ in rows]), [label for _, label in rows]
    records = dataset.load(split, with_metadata=True, deterministic=True)
    # A shuffle, not the first images: sources are often sorted (by class, by id).
    buffer = max(1, min(dataset.num_examples(split), 10_000))
    images, labels = [], []
    for example in records.shuffle(buffer, seed=seed).take(num):
        images.append(example["image"].numpy())
        labels.append(int(example["label"].numpy()))
    if not images:
        raise DataError(f"The '{split}' split of {dataset.tfrecords} holds no images.")
    return np.stack(images), labels


COMMANDS: list[click.Command] = [prepare, inspect]
