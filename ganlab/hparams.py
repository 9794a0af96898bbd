"""Hyperparameters and metrics for TensorBoard's HParams dashboard.

Every run writes its hyperparameters (a standard set plus every ``--set``
override it was started with) into its ``tensorboard/`` folder as an HParams
session, beside the ``epoch/...`` scalars TensorBoard's HParams plugin reads
as the run's metrics (their last value is the final one). A sweep also writes
the HParams experiment, the swept keys with their values and the metric tags,
into ``runs/<sweep>/hparams/``, so ``tensorboard --logdir runs/<sweep>`` lists
every run of the sweep in one table.

This module imports neither TensorFlow nor Keras at import time: the sweep
writes its experiment with TensorBoard's protobufs and record writer alone;
:class:`HParamsCallback` (used inside a run) builds its Keras class on demand.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ganlab.rundir import flatten

#: Hyperparameters every run reports, swept or not.
STANDARD_KEYS = ("loss.name", "seed", "train.batch_size", "train.epochs",
                 "optimizers.generator.learning_rate", "optimizers.discriminator.learning_rate",
                 "architecture.name")
#: Per-epoch scalars every run writes (``epoch/<key>``), shown as HParams metrics.
LOSS_METRICS = ("d_loss", "g_loss", "d_real", "d_fake", "images_per_sec")
#: Scores of the built-in metric plugins, by metric name (``epoch/<metric>/<score>``).
KNOWN_SCORES = {"fid": ("fid",), "kid": ("kid_mean", "kid_std"),
                "precision_recall": ("precision", "recall"),
                "classifier_score": ("classifier_score", "confident_share")}
#: The sweep's HParams experiment goes in this folder of the sweep directory.
HPARAMS_DIR = "hparams"
NOT_HPARAMS = ("name", "run_dir", "description")

Scalar = bool | int | float | str


def scalar(value: Any) -> Scalar:
    """A config value as an HParams value (lists and mappings as their YAML text)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    from ganlab.sweep.spec import format_value

    return format_value(value)


def run_hparams(config: Mapping[str, Any], overrides: Sequence[str] = ()) -> dict[str, Scalar]:
    """A run's hyperparameters: :data:`STANDARD_KEYS` and every overridden key."""
    flat = flatten(config)
    keys = list(STANDARD_KEYS)
    for override in overrides:
        key = override.partition("=")[0].strip()
        if key and key not in keys and key not in NOT_HPARAMS:
            keys.append(key)
    return {key: scalar(flat[key]) for key in keys if key in flat and flat[key] is not None}


def metric_tags(metric_blocks: Iterable[Mapping[str, Any]], run_dirs: Iterable[Path] = ()
                ) -> list[str]:
    """The scalar tags shown as HParams metrics: losses and every metric's scores.

    Scores come from the built-in metrics' known names and from the
    ``metrics.csv`` of runs that already scored.
    """
    tags = [f"epoch/{key}" for key in LOSS_METRICS]
    for block in metric_blocks:
        tags += [f"epoch/{block['name']}/{s}" for s in KNOWN_SCORES.get(block["name"], ())]
    for run_dir in run_dirs:
        tags += [f"epoch/{metric}/{score}" for metric, score in scored(run_dir / "metrics.csv")]
    return list(dict.fromkeys(tags))


def scored(path: Path) -> list[tuple[str, str]]:
    """``(metric, score)`` pairs found in a ``metrics.csv``."""
    import csv

    try:
        with path.open(newline="") as stream:
            return list(dict.fromkeys((row["metric"], row["score"])
                                      for row in csv.DictReader(stream)
                                      if row.get("metric") and row.get("score")))
    except (OSError, KeyError, csv.Error):
        return []


# -- the sweep's experiment (no TensorFlow) ----------------------------------------------------
def experiment_summary(values: Mapping[str, Sequence[Scalar]], tags: Sequence[str]) -> Any:
    """The HParams experiment as a ``Summary`` protobuf: discrete domains of the values seen."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    infos = []
    for name, seen in values.items():
        # differs: the dashboard shows the hyperparameters that vary first.
        info = api_pb2.HParamInfo(name=name, display_name=name,
                                  differs=len({str(v) for v in seen}) > 1)
        kinds = {type(v) for v in seen}
        if kinds <= {int, float} and bool not in kinds:
            info.type = api_pb2.DATA_TYPE_FLOAT64
            info.domain_discrete.extend(sorted({float(v) for v in seen}))
        elif kinds == {bool}:
            info.type = api_pb2.DATA_TYPE_BOOL
            info.domain_discrete.extend(sorted(set(seen)))
        else:
            info.type = api_pb2.DATA_TYPE_STRING
            info.domain_discrete.extend(sorted({str(v) for v in seen}))
        infos.append(info)
    experiment = api_pb2.Experiment(
        hparam_infos=infos, time_created_secs=time.time(),
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag), display_name=tag)
                      for tag in tags])
    summary = summary_pb2.Summary()
    summary.value.add(tag=metadata.EXPERIMENT_TAG, tensor=metadata.NULL_TENSOR,
                      metadata=metadata.create_summary_metadata(
                          plugin_data_pb2.HParamsPluginData(experiment=experiment)))
    return summary


def write_summary_file(folder: Path, summary: Any) -> Path:
    """Replace the event file in ``folder`` with one holding ``summary`` (atomically)."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    from ganlab.atomic import atomic_write

    folder.mkdir(parents=True, exist_ok=True)
    name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.v2"
    target = folder / name
    with atomic_write(target) as stream:
        writer = RecordWriter(stream)
        writer.write(event_pb2.Event(wall_time=time.time(),
                                     file_version="brain.Event:2").SerializeToString())
        writer.write(event_pb2.Event(wall_time=time.time(), step=0,
                                     summary=summary).SerializeToString())
    for old in folder.glob("events.out.tfevents.*"):
        if old != target:
            old.unlink(missing_ok=True)
    return target


def write_sweep_config(state: Any) -> Path:
    """Write the HParams experiment of a sweep (its runs' hyperparameters and metric tags).

    Args:
        state: The sweep's :class:`~ganlab.sweep.state.SweepState`.

    Returns:
        The event file written in ``<sweep>/hparams/``.

    """
    from ganlab.experiment import load_experiment

    values: dict[str, list[Scalar]] = {}
    blocks: list[Mapping[str, Any]] = []
    for record in state.runs:
        overrides = [*state.base_overrides, *record.spec().set_options()]
        config = load_experiment(state.experiment, overrides).config
        blocks += config["metrics"]
        for key, value in run_hparams(config, overrides).items():
            values.setdefault(key, []).append(value)
    tags = metric_tags(blocks, (state.run_dir(r) for r in state.runs))
    return write_summary_file(state.root / HPARAMS_DIR, experiment_summary(values, tags))


# -- inside a run ------------------------------------------------------------------------------
def HParamsCallback(writer: Any, experiment: Any) -> Any:  # noqa: N802 - used as a class
    """A Keras callback writing the run's HParams session into its TensorBoard folder.

    Args:
        writer: The run's ``tf.summary`` file writer (its ``tensorboard/`` folder).
        experiment: The run's :class:`~ganlab.experiment.Experiment`.

    """
    import keras
    from tensorboard.plugins.hparams import api as hp

    hparams = run_hparams(experiment.config, experiment.overrides)

    class _HParams(keras.callbacks.Callback):
        """Writes ``hp.hparams`` once, when training begins (a resumed run too)."""

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            with writer.as_default():
                hp.hparams(hparams, trial_id=experiment.name)
            writer.flush()

    return _HParams()
