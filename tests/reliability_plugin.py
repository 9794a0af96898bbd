"""A local ganlab plugin for the reliability tests (listed under an experiment's ``plugins:``).

Tiny, fast components so that a real ``ganlab run`` takes seconds:

- dataset ``tiny_images``: ``uint8`` images from an ``.npy`` file, written to
  real TFRecords by the core writer (a :class:`TFRecordImageDataset`);
- architecture ``tiny_dense``: Dense generator (with batch norm) and
  discriminator (with dropout, so a random-seed state must be checkpointed);
- loss ``tiny_bce``: the non-saturating GAN loss; ``poison_after`` makes the
  discriminator loss (``mode: loss``) or only the generator's gradients
  (``mode: gradient``) NaN after that many steps;
- callback ``pace``: writes the number of batches trained to a file and can
  hold at a batch until released, so a test can signal a run at a known point;
- callback ``torn_sample``: at the end of epoch N writes half a sample file
  under a temporary name and SIGKILLs the process, as a kill in the middle
  of writing a sample grid would.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ganlab import hookimpl
from ganlab.data import ImageExample, TFRecordImageDataset
from ganlab.errors import DataError


class TinyImages(TFRecordImageDataset):
    """Images from an ``.npy`` file of shape ``(n, h, w, c)``, ``uint8``."""

    default_split = "train"

    def __init__(self, *, source: str, tfrecords: str, size: int = 8, channels: int = 1,
                 tag: str = ""):
        super().__init__(source=source, tfrecords=tfrecords)
        self.image_shape = (size, size, channels)
        self.tag = tag  # only changes the fingerprint (a "different options" prepare)
        self._array: np.ndarray | None = None

    def options(self) -> Mapping[str, Any]:
        return {"size": self.image_shape[0], "channels": self.image_shape[2], "tag": self.tag}

    def source_available(self) -> bool:
        return self.source is not None and self.source.is_file()

    def describe_source(self) -> str:
        return f"tiny images {self.source}"

    def _images(self) -> np.ndarray:
        if self._array is None:
            if not self.source_available():
                raise DataError(f"{self.source} does not exist.")
            self._array = np.load(self.source, allow_pickle=False)
        return self._array

    def plan(self) -> Mapping[str, Sequence[Any]]:
        return {"train": [(str(self.source), i) for i in range(len(self._images()))]}

    def decode(self, item: tuple[str, int]) -> ImageExample:
        return ImageExample(image=self._images()[item[1]], filename=f"{item[0]}#{item[1]}")


def write_tiny_source(path: Path, count: int = 64, size: int = 8) -> Path:
    """Deterministic smooth blobs as an ``.npy`` source for :class:`TinyImages`."""
    rng = np.random.RandomState(0)
    grid = np.mgrid[0:size, 0:size].astype(np.float32)
    centres = rng.uniform(1, size - 2, size=(count, 2, 1, 1)).astype(np.float32)
    distance = ((grid[None] - centres) ** 2).sum(axis=1)
    images = (255 * np.exp(-distance / 4.0)).astype(np.uint8)[..., None]
    np.save(path, images)
    return path


class TinyDense:
    """Dense G and D for any small image shape."""

    latent_distribution = "normal"

    def __init__(self, *, image_shape: tuple[int, int, int], latent_dim: int = 8,
                 hidden: int = 16, dropout: float = 0.25):
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.dropout = dropout

    def build_generator(self) -> keras.Model:
        size = int(np.prod(self.image_shape))
        return keras.Sequential([
            keras.Input((self.latent_dim,)),
            keras.layers.Dense(self.hidden),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Dense(size, activation="tanh"),
            keras.layers.Reshape(self.image_shape),
        ], name="tiny_generator")

    def build_discriminator(self) -> keras.Model:
        return keras.Sequential([
            keras.Input(self.image_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(self.hidden),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Dropout(self.dropout),
            keras.layers.Dense(1),
        ], name="tiny_discriminator")


class TinyBCE:
    """Non-saturating GAN loss, optionally poisoned after ``poison_after`` D updates."""

    def __init__(self, poison_after: int | None = None, mode: str = "loss"):
        if mode not in ("loss", "gradient"):
            raise ValueError("mode must be 'loss' or 'gradient'")
        self.poison_after = poison_after
        self.mode = mode
        self.calls = tf.Variable(0, dtype=tf.int64, trainable=False)

    def _poison(self, loss: Any) -> Any:
        if self.poison_after is None:
            return loss
        poisoned = self.calls > self.poison_after
        nan = tf.constant(float("nan"))
        if self.mode == "loss":
            return tf.where(poisoned, nan, loss)
        factor = tf.where(poisoned, nan, 1.0)

        @tf.custom_gradient
        def nan_gradient(x: Any) -> Any:
            return tf.identity(x), lambda dy: dy * factor

        return nan_gradient(loss)

    def discriminator_loss(self, inputs: Any) -> Any:
        self.calls.assign_add(1)
        loss = tf.reduce_mean(tf.nn.softplus(-inputs.real_logits)
                              + tf.nn.softplus(inputs.fake_logits))
        return self._poison(loss) if self.mode == "loss" else loss

    def generator_loss(self, inputs: Any) -> Any:
        loss = tf.reduce_mean(tf.nn.softplus(-inputs.fake_logits))
        # The generator updates last in a step: NaN gradients there leave every
        # loss of the step finite and only the weights poisoned.
        return self._poison(loss) if self.mode == "gradient" else loss


class Pace(keras.callbacks.Callback):
    """Report progress per batch; optionally hold at a batch until released.

    Args:
        progress: File receiving the number of batches this process trained.
        hold_at: After this many batches, wait (up to two minutes) until the
            file ``release`` exists.
        release: See ``hold_at``.

    """

    def __init__(self, progress: str, hold_at: int | None = None, release: str | None = None):
        super().__init__()
        self.progress = Path(progress)
        self.hold_at = hold_at
        self.release = Path(release) if release else None
        self.done = 0

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.done += 1
        self.progress.write_text(str(self.done))
        if self.done == self.hold_at and self.release is not None:
            deadline = time.monotonic() + 120
            while not self.release.exists() and time.monotonic() < deadline:
                time.sleep(0.02)


class TornSample(keras.callbacks.Callback):
    """At the end of epoch ``epoch`` (1-based), die while "writing" a sample grid.

    Only once: the file ``once`` is created just before dying, and its
    presence disarms the callback.
    """

    def __init__(self, epoch: int, once: str):
        super().__init__()
        self.epoch = epoch
        self.once = Path(once)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch + 1 != self.epoch or self.once.exists():
            return
        folder = Path(self.model.run.samples_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.once.write_text("fired")
        with open(folder / f".epoch_{epoch + 1:04d}.png.torn.tmp", "wb") as stream:
            stream.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)  # the start of a PNG
            stream.flush()
            os.kill(os.getpid(), signal.SIGKILL)


@hookimpl
def register_datasets(register: Any) -> None:
    register("tiny_images", TinyImages, description="tiny test images from an .npy file")


@hookimpl
def register_architectures(register: Any) -> None:
    register("tiny_dense", TinyDense, description="tiny Dense G/D for tests")


@hookimpl
def register_losses(register: Any) -> None:
    register("tiny_bce", TinyBCE, description="non-saturating loss, optionally poisoned")


@hookimpl
def register_callbacks(register: Any) -> None:
    register("pace", Pace, description="sleep per batch, report progress")
    register("torn_sample", TornSample, description="die while writing a sample grid")
