"""One-line contract checkers for plugin tests: each builds the component and tries it.

Every checker takes either a registered name (resolved among the installed
plugins, or in ``registry``) with the component's params, or an object the
test built itself, and raises :class:`ganlab.PluginError` with the same
message ``ganlab validate`` would print when the contract is broken. Each
returns what it built, for further assertions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.checks import (
    Role,
    check_dataset_labels,
    check_dataset_sample,
    check_discriminator_output,
    check_generator_output,
    check_loss_values,
    check_regularizer_values,
    kept_state,
    sample_labels,
)
from ganlab.contracts import RunContext, conditioned, num_classes_of
from ganlab.errors import PluginError
from ganlab.registry import Component, Registry

#: The image shape architectures and losses are tried with unless a test says otherwise.
DEFAULT_IMAGE_SHAPE = (16, 16, 1)
BATCH = 4


def _resolve(kind: str, what: Any, params: dict[str, Any], registry: Registry | None,
             **context: Any) -> tuple[Any, Role]:
    """The component object and its role (provenance) for messages."""
    if isinstance(what, str):
        if registry is None:
            from ganlab.plugins import load_plugins

            registry = load_plugins().registry
        component = registry.resolve(kind, what)
        return registry.create(kind, what, params, **context), Role(kind, component)
    if params:
        raise TypeError(f"params are only for a registered {kind} name, not for an object")
    name = type(what).__name__
    return what, Role(kind, Component(kind, name, type(what), None, plugin="under test"))


def check_dataset(dataset: Any, *, registry: Registry | None = None, prepare: bool = True,
                  **params: Any) -> Any:
    """Prepare (if needed) and check a dataset's sample batch: float32, static shape, [-1, 1].

    A dataset with ``num_classes`` also has its class names and a sample of
    its labels checked (``load(split, with_labels=True)``).

    Args:
        dataset: A registered dataset name, or a dataset object.
        registry: Where to resolve the name (default: the installed plugins).
        prepare: Call ``prepare()`` first when ``is_prepared()`` is false.
        **params: The dataset's params (with a name).

    Returns:
        The dataset object.

    """
    built, role = _resolve("dataset", dataset, params, registry)
    if prepare and not built.is_prepared():
        built.prepare()
    if not built.is_prepared():
        raise PluginError(f"The {role} is not prepared after prepare().")
    count = built.num_examples()
    if not isinstance(count, int) or count < 1:
        raise PluginError(f"The {role}: num_examples() returned {count!r}, not a count >= 1.")
    check_dataset_sample(built, role)
    check_dataset_labels(built, role)
    return built


def check_architecture(architecture: Any, *, image_shape: tuple[int, int, int] =
                       DEFAULT_IMAGE_SHAPE, registry: Registry | None = None,
                       **params: Any) -> tuple[Any, Any]:
    """Build both networks and check their outputs on a batch of the given image shape.

    Returns:
        ``(generator, discriminator)``.

    """
    import tensorflow as tf

    built, role = _resolve("architecture", architecture, params, registry,
                           image_shape=tuple(image_shape))
    for attribute in ("latent_dim", "latent_distribution", "build_generator",
                      "build_discriminator"):
        if not hasattr(built, attribute):
            raise PluginError(f"The {role} has no {attribute} (see the architecture contract).")
    if built.latent_distribution not in ("normal", "uniform"):
        raise PluginError(f"The {role}: latent_distribution is {built.latent_distribution!r}; "
                          "it must be 'normal' or 'uniform'.")
    try:
        num_classes = num_classes_of(built)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"The {role}: {exc}.") from None
    generator = built.build_generator()
    discriminator = built.build_discriminator()
    real = tf.zeros((BATCH, *image_shape), tf.float32)
    critic = conditioned(discriminator, sample_labels(real, num_classes))
    with kept_state(generator, discriminator):
        check_generator_output(generator, int(built.latent_dim), real,
                               Role("generator of the architecture", role.component))
        check_discriminator_output(critic, real,
                                   Role("discriminator of the architecture", role.component))
    return generator, discriminator


def small_networks(image_shape: tuple[int, int, int] = DEFAULT_IMAGE_SHAPE,
                   latent_dim: int = 4) -> tuple[Any, Any]:
    """A tiny dense generator and discriminator, for trying losses and callbacks."""
    import keras

    pixels = int(np.prod(image_shape))
    generator = keras.Sequential([keras.Input((latent_dim,)),
                                  keras.layers.Dense(pixels, activation="tanh"),
                                  keras.layers.Reshape(image_shape)])
    discriminator = keras.Sequential([keras.Input(image_shape), keras.layers.Flatten(),
                                      keras.layers.Dense(1)])
    return generator, discriminator


def check_loss(loss: Any, *, registry: Registry | None = None, **params: Any) -> Any:
    """Check both losses are finite scalars with gradients for their network.

    Returns:
        The loss object.

    """
    import tensorflow as tf

    built, role = _resolve("loss", loss, params, registry)
    generator, discriminator = small_networks()
    rng = np.random.default_rng(0)
    real = tf.constant(rng.uniform(-1, 1, (BATCH, *DEFAULT_IMAGE_SHAPE)), tf.float32)
    latents = tf.constant(rng.standard_normal((BATCH, 4)), tf.float32)
    check_loss_values(built, generator, discriminator, real, latents, role)
    return built


def check_regularizer(regularizer: Any, *, registry: Registry | None = None,
                      augment: Sequence[str] = ("translation",), **params: Any) -> Any:
    """Check a regularizer's attributes, and that its penalty is a finite scalar with gradients.

    The penalty is tried on small networks and random images as the engine
    calls it (the step's inputs, ``step`` 0), once.

    Args:
        regularizer: A registered regularizer name, or a regularizer object.
        registry: Where to resolve the name (default: the installed plugins).
        augment: The ``train.augment`` that ``inputs.augment(images)``
            stands for (a regularizer naming its own transformations ignores it).
        **params: The regularizer's params (with a name).

    Returns:
        The regularizer object (its state, if any, updated by that one call).

    """
    import tensorflow as tf

    built, role = _resolve("regularizer", regularizer, params, registry)
    generator, discriminator = small_networks()
    rng = np.random.default_rng(0)
    real = tf.constant(rng.uniform(-1, 1, (BATCH, *DEFAULT_IMAGE_SHAPE)), tf.float32)
    latents = tf.constant(rng.standard_normal((BATCH, 4)), tf.float32)
    check_regularizer_values(built, generator, discriminator, real, latents, role,
                             augment=tuple(augment))
    return built


def fake_gan(run_dir: Path, image_shape: tuple[int, int, int] = DEFAULT_IMAGE_SHAPE,
             latent_dim: int = 4) -> Any:
    """The model a callback sees as ``self.model``, with small networks and a run context."""
    from ganlab.engine.trainer import GAN

    generator, discriminator = small_networks(image_shape, latent_dim)
    bank = np.random.default_rng(0).standard_normal((64, latent_dim)).astype(np.float32)
    run = RunContext(run_dir=Path(run_dir), name="check", config={}, image_shape=image_shape,
                     latent_dim=latent_dim, latent_distribution="normal", latent_bank=bank)
    return GAN(generator, discriminator, run=run)


def check_callback(callback: Any, *, run_dir: str | Path | None = None, epochs: int = 2,
                   registry: Registry | None = None, **params: Any) -> Any:
    """Drive a callback through ``epochs`` epochs of Keras hooks on a small GAN.

    Args:
        callback: A registered callback name, or a callback object.
        run_dir: The run directory it may write (default: a new temporary one).
        epochs: Epochs to simulate (epoch numbers start at 0, as in Keras).
        registry: Where to resolve the name.
        **params: The callback's params (with a name).

    Returns:
        The callback, after ``on_train_end``.

    """
    import keras

    built, role = _resolve("callback", callback, params, registry)
    if not isinstance(built, keras.callbacks.Callback):
        raise PluginError(f"The {role} is a {type(built).__name__}, not a "
                          "keras.callbacks.Callback.")
    gan = fake_gan(Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix="ganlab-check-")))
    gan.run.run_dir.mkdir(parents=True, exist_ok=True)
    built.set_model(gan)
    logs = {"d_loss": 0.7, "g_loss": 0.7, "d_real": 0.5, "d_fake": 0.5, "lr_g": 2e-4,
            "lr_d": 2e-4}
    built.on_train_begin({})
    for epoch in range(epochs):
        built.on_epoch_begin(epoch, {})
        built.on_train_batch_end(0, dict(logs))
        built.on_epoch_end(epoch, dict(logs))
    built.on_train_end(dict(logs))
    return built


def check_metric(metric: Any, *, registry: Registry | None = None, num_images: int = 16,
                 **params: Any) -> dict[str, float]:
    """Score random images against random data; every score must be a finite float.

    The same checks as in training and ``ganlab evaluate``: a non-empty
    mapping of score names to finite real numbers, each within the range
    the metric declares in ``score_specs`` (itself a mapping of score names
    to :class:`ganlab.ScoreSpec`).

    Returns:
        The scores.

    """
    import tensorflow as tf

    built, role = _resolve("metric", metric, params, registry)
    rng = np.random.default_rng(0)

    def generate(n: int) -> np.ndarray:
        return rng.uniform(-1, 1, (n, *DEFAULT_IMAGE_SHAPE)).astype(np.float32)

    data = tf.data.Dataset.from_tensor_slices(generate(num_images))
    from ganlab.evaluation.scores import checked_scores, declared_specs

    who = f"The {role}"
    specs = declared_specs(built, who)
    return checked_scores(built.compute(generate, data), who, specs)
