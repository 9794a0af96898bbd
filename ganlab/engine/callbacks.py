"""Core callbacks, always on: ``history.csv`` and TensorBoard scalars."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from ganlab.rundir import write_text_atomic

HISTORY_FIELDS = ("epoch", "d_loss", "g_loss", "d_real", "d_fake", "lr_g", "lr_d", "seconds",
                  "images_per_sec")


METRICS_FIELDS = ("epoch", "metric", "score", "value")


def append_rows(path: Path, fieldnames: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """Append ``rows`` to a CSV file, writing the header when the file is new."""
    new_file = not path.exists()
    with path.open("a", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=fieldnames, extrasaction="ignore")
        if new_file:
            writer.writeheader()
        writer.writerows(rows)


def keep_epochs_up_to(path: Path, fieldnames: tuple[str, ...], keep_epochs: int) -> None:
    """Drop rows past ``keep_epochs`` (written before a crash lost their checkpoint)."""
    if not path.exists():
        return
    with path.open(newline="") as stream:
        # A row torn by a kill (or garbage) has no integer epoch: dropped.
        rows = [row for row in csv.DictReader(stream)
                if str(row.get("epoch") or "").isdigit() and int(row["epoch"]) <= keep_epochs]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fieldnames, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


class HistoryCSV(keras.callbacks.Callback):
    """One ``history.csv`` row per completed epoch.

    On resume, rows past the restored epoch (written before a crash that
    lost their checkpoint) are dropped so the file matches the weights.

    Args:
        path: The CSV file.
        resumed_epoch: Completed epochs restored from the checkpoint.
        extra_fields: More step logs to keep (the regularizers' ``reg_<name>``),
            in columns after ``d_fake``.

    """

    def __init__(self, path: Path, resumed_epoch: int = 0, extra_fields: Sequence[str] = ()):
        super().__init__()
        self.path = path
        split = HISTORY_FIELDS.index("d_fake") + 1
        self.fields = (*HISTORY_FIELDS[:split], *extra_fields, *HISTORY_FIELDS[split:])
        keep_epochs_up_to(path, self.fields, resumed_epoch)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Append the epoch's row (``epoch`` is 1-based in the file)."""
        row = {"epoch": epoch + 1, **{k: f"{v:.6g}" for k, v in (logs or {}).items()
                                      if k in self.fields}}
        append_rows(self.path, self.fields, [row])


class TensorBoardScalars(keras.callbacks.Callback):
    """Losses, D(x), D(G(z)) and learning rates to TensorBoard.

    Per-step scalars every ``every_n_steps`` steps (tag ``step/...``) and
    per-epoch means (tag ``epoch/...``).

    Args:
        writer: A ``tf.summary`` file writer.
        every_n_steps: Step scalar period.
        initial_step: Global step at start (resume).
        steps_per_epoch: To turn step-in-epoch into a global step.

    """

    def __init__(self, writer: Any, every_n_steps: int = 50, initial_step: int = 0,
                 steps_per_epoch: int = 1):
        super().__init__()
        self.writer = writer
        self.every_n_steps = every_n_steps
        self.global_step = initial_step
        self.steps_per_epoch = steps_per_epoch
        self.epoch = initial_step // max(steps_per_epoch, 1)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Remember the epoch (batch indices count from its start)."""
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Write step scalars when a multiple of ``every_n_steps`` was passed.

        With ``train.steps_per_execution`` above 1 this runs once per
        execution (``batch`` is its last step) with that step's logs.
        """
        step = self.epoch * self.steps_per_epoch + batch + 1
        passed = step // self.every_n_steps > self.global_step // self.every_n_steps
        self.global_step = step
        if not passed:
            return
        with self.writer.as_default(step=step):
            for key, value in (logs or {}).items():
                tf.summary.scalar(f"step/{key}", value)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Write the epoch's mean scalars at step ``epoch + 1``."""
        with self.writer.as_default(step=epoch + 1):
            for key, value in (logs or {}).items():
                tf.summary.scalar(f"epoch/{key}", value)
        self.writer.flush()


class MetricsCallback(keras.callbacks.Callback):
    """Scores the experiment's metric plugins every N epochs.

    Each metric's scores join the epoch logs as ``<metric>/<score>`` (so the
    TensorBoard callback after it writes them) and are appended to
    ``metrics.csv`` (``epoch,metric,score,value``). The samples come from a
    fixed seed, so scores of different epochs compare like with like. The
    generator scored is the EMA generator when the run keeps one
    (``train.ema``), else the trained one; each protocol says which.
    Metrics whose ``compute`` takes a ``context`` keyword get an
    :class:`ganlab.evaluation.EvaluationContext` (the one ``ganlab
    evaluate`` gives, so both score alike).

    Args:
        metrics: Objects with ``name`` and ``compute(generate, dataset[, context=])``.
        dataset: The unbatched image dataset the metrics compare against.
        path: The ``metrics.csv`` file.
        every_n_epochs: Period in epochs.
        seed: Seed of the latents ``generate`` draws.
        resumed_epoch: Completed epochs restored from the checkpoint.
        source: The dataset component (TFRecords, splits) for the context.
        registry: The plugin registry, for the context's feature extractors.
    """

    def __init__(self, metrics: list[Any], dataset: Any, path: Path, every_n_epochs: int = 1,
                 seed: int = 0, resumed_epoch: int = 0, source: Any = None,
                 registry: Any = None):
        super().__init__()
        self.metrics = metrics
        self.dataset = dataset
        self.path = path
        self.every_n_epochs = every_n_epochs
        self.seed = seed
        self.source = source
        self.registry = registry
        self._context: Any = None
        #: id(metric) → (its label for messages, its declared score specs).
        self._specs: dict[int, tuple[str, dict[str, Any]]] = {}
        keep_epochs_up_to(path, METRICS_FIELDS, resumed_epoch)

    def generate(self, count: int) -> Any:
        """``count`` generated images in [-1, 1] (numpy), from fixed latents."""
        from ganlab.latents import sample_latents
        from ganlab.sampling import generate

        run = self.model.run
        latents = sample_latents(count, run.latent_dim, run.latent_distribution, self.seed)
        return generate(self.model.sampling_generator, latents)

    def evaluation_context(self, epochs_completed: int) -> Any:
        """The context for this epoch (extractors and real statistics kept across epochs)."""
        from ganlab.evaluation import EvaluationContext

        if self._context is None:
            run = self.model.run
            self._context = EvaluationContext(
                generator=self.model.sampling_generator, latent_dim=run.latent_dim,
                latent_distribution=run.latent_distribution, image_shape=run.image_shape,
                dataset=self.source, registry=self.registry, seed=self.seed,
                generator_kind=self.model.sampling_kind, num_classes=run.num_classes)
        return self._context.at_epoch(self.model.sampling_generator, epochs_completed)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Build the feature extractors the metrics name, before the first step.

        A missing extractor (say, a domain classifier not trained yet) then
        stops the run before it trains instead of at the first scored epoch.
        Also writes ``score_specs.json`` beside ``metrics.csv``: which way each
        score is better, as the metrics declare (``ganlab compare`` reads it).
        """
        from ganlab.evaluation.scores import write_score_specs

        self._specs = write_score_specs(self.path.parent, self.metrics, self.registry)
        if self.registry is None or self.source is None:
            return
        context = self.evaluation_context(0)
        for metric in self.metrics:
            name = getattr(metric, "extractor", None)
            if isinstance(name, str):
                context.extractor(name, getattr(metric, "extractor_params", None))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Score every metric on the period; add the scores to ``logs``."""
        from ganlab.evaluation import compute_metric
        from ganlab.evaluation.scores import checked_scores, metric_label

        if (epoch + 1) % self.every_n_epochs:
            return
        rows = []
        context = self.evaluation_context(epoch + 1)
        for metric in self.metrics:
            result = compute_metric(metric, self.generate, self.dataset, context)
            who, specs = self._specs.get(id(metric), (metric_label(metric, self.registry), {}))
            for score, value in checked_scores(result, who, specs).items():
                key = f"{metric.name}/{score}"
                if logs is not None:
                    logs[key] = float(value)
                rows.append({"epoch": epoch + 1, "metric": metric.name, "score": score,
                             "value": f"{float(value):.6g}"})
        append_rows(self.path, METRICS_FIELDS, rows)
