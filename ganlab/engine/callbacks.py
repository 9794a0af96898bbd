"""Core callbacks, always on: ``history.csv`` and TensorBoard scalars."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from ganlab.rundir import write_text_atomic

HISTORY_FIELDS = ("epoch", "d_loss", "g_loss", "d_real", "d_fake", "lr_g", "lr_d", "seconds",
                  "images_per_sec")


class HistoryCSV(keras.callbacks.Callback):
    """One ``history.csv`` row per completed epoch.

    On resume, rows past the restored epoch (written before a crash that
    lost their checkpoint) are dropped so the file matches the weights.

    Args:
        path: The CSV file.
        resumed_epoch: Completed epochs restored from the checkpoint.

    """

    def __init__(self, path: Path, resumed_epoch: int = 0):
        super().__init__()
        self.path = path
        self._truncate(resumed_epoch)

    def _truncate(self, keep_epochs: int) -> None:
        if not self.path.exists():
            return
        with self.path.open(newline="") as stream:
            # A row torn by a kill (or garbage) has no integer epoch: dropped.
            rows = [row for row in csv.DictReader(stream)
                    if str(row.get("epoch") or "").isdigit() and int(row["epoch"]) <= keep_epochs]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(self.path, buffer.getvalue())

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Append the epoch's row (``epoch`` is 1-based in the file)."""
        new_file = not self.path.exists()
        with self.path.open("a", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=HISTORY_FIELDS, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow({"epoch": epoch + 1, **{k: f"{v:.6g}" for k, v in (logs or {}).items()
                                                    if k in HISTORY_FIELDS}})


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

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Write step scalars periodically."""
        self.global_step += 1
        if self.global_step % self.every_n_steps:
            return
        with self.writer.as_default(step=self.global_step):
            for key, value in (logs or {}).items():
                tf.summary.scalar(f"step/{key}", value)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Write the epoch's mean scalars at step ``epoch + 1``."""
        with self.writer.as_default(step=epoch + 1):
            for key, value in (logs or {}).items():
                tf.summary.scalar(f"epoch/{key}", value)
        self.writer.flush()
