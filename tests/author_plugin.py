"""A plugin as an author writes it from docs/plugins.md, with switches for typical mistakes.

Loaded in tests with ``-p tests/author_plugin.py`` (or an experiment's ``plugins:``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganlab import hookimpl
from ganlab.data import InMemoryDataset

SIZE = 8


def _pattern(count: int, seed: int) -> np.ndarray:
    """Smooth random 8x8 gray images in [-1, 1]."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(-1, 1, size=(count, 2, 2, 1))
    return np.clip(np.repeat(np.repeat(base, SIZE // 2, 1), SIZE // 2, 2), -1, 1)


class ContractOnly:
    """Exactly the five members the docs list; no base class, no files (source is None)."""

    image_shape = (SIZE, SIZE, 1)

    def __init__(self, count: int = 64, mistake: str = "none"):
        self.count = count
        self.mistake = mistake

    def prepare(self, *, workers: int | None = None, overwrite: bool = False) -> None:
        return None

    def is_prepared(self) -> bool:
        return True

    def num_examples(self, split: str | None = None) -> int:
        return self.count

    def load(self, split: str | None = None) -> Any:
        import tensorflow as tf

        images = _pattern(self.count, seed=1).astype(np.float32)
        if self.mistake == "range":  # forgot to scale [0, 255] to [-1, 1]
            images = (images + 1.0) * 127.5
        if self.mistake == "uint8":
            images = ((images + 1.0) * 127.5).astype(np.uint8)
        if self.mistake == "raise":
            raise RuntimeError("cannot open the synthetic source")
        dataset = tf.data.Dataset.from_tensor_slices(images)
        if self.mistake == "shape":  # loses the static shape
            dataset = dataset.map(lambda x: tf.numpy_function(np.copy, [x], tf.float32))
        return dataset


class Blobs(InMemoryDataset):
    """The documented base class for in-memory data: uint8 arrays, scaled by the core."""

    image_shape = (SIZE, SIZE, 1)

    def __init__(self, count: int = 64):
        self.count = count

    def images(self, split: str) -> np.ndarray:
        return ((_pattern(self.count, seed=2) + 1.0) * 127.5).astype(np.uint8)


class Tiny:
    """A small dense generator/discriminator pair for 8x8 gray images."""

    latent_distribution = "normal"

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int = 4,
                 d_outputs: int = 1, mistake: str = "none"):
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.d_outputs = d_outputs
        self.mistake = mistake

    def build_generator(self) -> Any:
        import keras

        if self.mistake == "raise":
            raise KeyError("generator_width")
        pixels = int(np.prod(self.image_shape))
        shape = self.image_shape if self.mistake != "shape" else (pixels // 2, 2, 1)
        return keras.Sequential([keras.Input((self.latent_dim,)),
                                 keras.layers.Dense(pixels, activation="tanh"),
                                 keras.layers.Reshape(shape)])

    def build_discriminator(self) -> Any:
        import keras

        return keras.Sequential([keras.Input(self.image_shape), keras.layers.Flatten(),
                                 keras.layers.Dense(self.d_outputs)])


class PlainLoss:
    """Non-saturating loss, optionally with a typical mistake."""

    def __init__(self, mistake: str = "none"):
        self.mistake = mistake

    def discriminator_loss(self, inputs: Any) -> Any:
        import tensorflow as tf

        if self.mistake == "vector":  # forgot the mean over the batch
            return tf.nn.softplus(-inputs.real_logits) + tf.nn.softplus(inputs.fake_logits)
        if self.mistake == "nan":
            return tf.reduce_mean(inputs.real_logits) * float("nan")
        if self.mistake == "raise":
            raise ZeroDivisionError("gamma is zero")
        return tf.reduce_mean(tf.nn.softplus(-inputs.real_logits)
                              + tf.nn.softplus(inputs.fake_logits))

    def generator_loss(self, inputs: Any) -> Any:
        import tensorflow as tf

        if self.mistake == "detached":  # no gradient reaches the generator
            return tf.reduce_mean(tf.nn.softplus(-tf.stop_gradient(inputs.fake_logits)))
        return tf.reduce_mean(tf.nn.softplus(-inputs.fake_logits))


def epoch_probe(path: str) -> Any:
    """A callback appending 'initial_epoch=N' at train begin and each epoch number (1-based)."""
    import keras

    class EpochProbe(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            with open(path, "a") as handle:
                handle.write(f"initial_epoch={self.model.run.initial_epoch}\n")

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            with open(path, "a") as handle:
                handle.write(f"epoch {epoch + 1}\n")

    return EpochProbe()


class BrokenMetric:
    """A metric with a bug in compute()."""

    name = "broken"

    def compute(self, generate: Any, dataset: Any) -> dict[str, float]:
        return {"score": float(np.mean(generate(4))) / 0}


@hookimpl
def register_callbacks(register: Any) -> None:
    register("epoch_probe", epoch_probe)


@hookimpl
def register_metrics(register: Any) -> None:
    register("broken_metric", BrokenMetric)


@hookimpl
def register_datasets(register: Any) -> None:
    register("contract_only", ContractOnly)
    register("blobs", Blobs)


@hookimpl
def register_architectures(register: Any) -> None:
    register("tiny", Tiny)


@hookimpl
def register_losses(register: Any) -> None:
    register("plain", PlainLoss)


def experiment(tmp_path: Any, plugin: str, **blocks: Any) -> dict[str, Any]:
    """A tiny experiment using this plugin (``blocks`` replace top-level keys)."""
    config: dict[str, Any] = {
        "name": "author",
        "seed": 3,
        "run_dir": str(tmp_path / "runs" / "author"),
        "plugins": [plugin],
        "dataset": {"name": "contract_only", "params": {}},
        "architecture": {"name": "tiny", "params": {}},
        "loss": {"name": "plain", "params": {}},
        "train": {"epochs": 1, "batch_size": 8, "steps_per_epoch": 2, "verbose": 0,
                  "shuffle_buffer": 16},
        "latents": {"bank_size": 8},
    }
    config.update(blocks)
    return config
