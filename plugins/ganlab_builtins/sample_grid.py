"""The fixed-latent sample grid callback (imports Keras: loaded only when used)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ganlab.errors import ConfigError
from ganlab.images import save_gif, save_png, tile
from ganlab.latents import with_class


class SampleGrid(keras.callbacks.Callback):
    """Every N epochs, a grid from the same fixed latents (the run's bank).

    Writes ``samples/epoch_XXXX.png``, a TensorBoard image, and at the end of
    training ``samples/progress.gif`` from all the epoch grids, so one sees
    the generator learn the same faces/digits over time. The grids are drawn
    by the EMA generator when the run keeps one (``train.ema``).

    A class-conditional run also gets one row per class, kept current:
    ``samples/classes/<class name>.png``, the first ``rows`` latents of the
    bank drawn as that class (what ``ganlab sample RUN --class NAME`` draws),
    which ``ganlab compare`` shows by name.

    Args:
        every_n_epochs: Period in epochs.
        rows: Grid rows.
        num: Number of images (the first ``num`` latents of the bank;
            default ``rows * rows``).
        gif: Write ``progress.gif`` at the end of training.
        gif_ms: Milliseconds per GIF frame.
        class_grids: Write the per-class rows of a conditional run.

    """

    def __init__(self, every_n_epochs: int = 1, rows: int = 8, num: int | None = None,
                 gif: bool = True, gif_ms: int = 300, class_grids: bool = True):
        super().__init__()
        if every_n_epochs < 1 or rows < 1:
            raise ValueError("every_n_epochs and rows must be >= 1")
        self.every_n_epochs = every_n_epochs
        self.rows = rows
        self.num = num if num is not None else rows * rows
        if self.num < 1:
            raise ValueError("num must be >= 1")
        self.gif = gif
        self.gif_ms = gif_ms
        self.class_grids = class_grids

    def _latents(self) -> np.ndarray:
        bank = self.model.run.latent_bank
        if self.num > len(bank):
            raise ConfigError(f"sample_grid wants {self.num} images but latents.bank_size is "
                              f"{len(bank)}: raise latents.bank_size or lower the callback's "
                              "num/rows.")
        return bank[: self.num]

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Check the bank is large enough before the first epoch runs."""
        self._latents()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Render the grid for epochs that fall on the period."""
        if (epoch + 1) % self.every_n_epochs:
            return
        images = np.asarray(self.model.sampling_generator(self._latents(), training=False))
        grid = tile(images, rows=min(self.rows, self.num))
        save_png(grid, self.model.run.samples_dir / f"epoch_{epoch + 1:04d}.png")
        writer = self.model.run.summary_writer
        if writer is not None:
            with writer.as_default(step=epoch + 1):
                tf.summary.image("samples", grid[None, ...], max_outputs=1)
        if self.class_grids and self.model.run.num_classes:
            self._write_class_grids()

    def _write_class_grids(self) -> None:
        """``samples/classes/<name>.png``: the bank's first latents drawn as each class."""
        run = self.model.run
        latents = self._latents()[: min(self.rows, self.num)]
        names = list(run.class_names) or [str(k) for k in range(run.num_classes)]
        folder = Path(run.samples_dir) / "classes"
        for label, stem in enumerate(file_stems(names)):
            drawn = with_class(latents, run.num_classes, label)
            images = np.asarray(self.model.sampling_generator(drawn, training=False))
            save_png(tile(images, rows=1), folder / f"{stem}.png")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Assemble ``progress.gif`` from every epoch grid written so far."""
        if not self.gif:
            return
        frames = sorted(Path(self.model.run.samples_dir).glob("epoch_*.png"))
        if frames:
            from PIL import Image

            pictures = [Image.open(frame).copy() for frame in frames]
            save_gif(pictures, self.model.run.samples_dir / "progress.gif",
                     duration_ms=self.gif_ms)


def file_stems(names: list[str]) -> list[str]:
    """A safe, distinct file name for each class name (``golden retriever`` → ``golden_retriever``).

    Characters other than letters, digits, ``_``, ``-`` and ``.`` become
    ``_``; a name left empty (or hidden, with a leading dot) becomes
    ``class_<k>``, and a clash gets ``_<k>`` appended.
    """
    stems: list[str] = []
    for label, name in enumerate(names):
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:100] or f"class_{label}"
        stems.append(f"{stem}_{label}" if stem in stems else stem)
    return stems
