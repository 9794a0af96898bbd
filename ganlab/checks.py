"""Contract checks: the components of an experiment are tried on one small batch.

``ganlab validate`` runs them, and the engine runs them once before the
first training step, so that a plugin that breaks its contract is named
(component, plugin, distribution) before any training instead of failing
silently or deep inside a compiled step:

- the dataset yields float32 images of its static ``image_shape`` with values
  in [-1, 1] (checked on a sample batch), and, for a class-conditional GAN,
  labels ``0 .. K-1`` with valid class names;
- the generator's output has the data's shape and dtype;
- the discriminator returns ``(batch, 1)``;
- both losses are finite scalars with gradients for their network;
- each regularizer has its contract's attributes and a finite scalar
  penalty with gradients for the network it applies to.

The checks leave no trace: every model variable (batch-norm statistics,
dropout seeds) is put back as it was, so runs stay reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganlab.contracts import (
    LossInputs,
    RegularizerInputs,
    class_names_of,
    conditioned,
    latent_class,
    load_images,
    load_labelled,
    supports_labels,
)
from ganlab.errors import GanlabError, PluginError
from ganlab.experiment import Experiment
from ganlab.registry import Component, Registry

#: Images drawn from the dataset (and generated) for the checks.
SAMPLE_BATCH = 4
#: Slack on the [-1, 1] range for float rounding of a plugin's scaling.
RANGE_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Role:
    """Which component a check is about, for messages."""

    what: str
    component: Component

    def __str__(self) -> str:
        return f"{self.what} '{self.component.name}' from {self.component.provider}"


def experiment_roles(experiment: Experiment, registry: Registry) -> dict[str, Role]:
    """The dataset, generator, discriminator and loss of ``experiment``, resolved."""
    settings = experiment.settings
    return {
        "dataset": Role("dataset", registry.resolve("dataset", settings.dataset.name)),
        "generator": Role("generator of the architecture", registry.resolve(
            "architecture", settings.generator_block.name)),
        "discriminator": Role("discriminator of the architecture", registry.resolve(
            "architecture", settings.discriminator_block.name)),
        "loss": Role("loss", registry.resolve("loss", settings.loss.name)),
    }


@contextmanager
def blamed_on(role: Role, doing: str) -> Iterator[None]:
    """Turn an exception raised by plugin code into a :class:`PluginError` naming ``role``."""
    try:
        yield
    except GanlabError:
        raise
    except Exception as exc:
        raise PluginError(f"The {role} raised {type(exc).__name__}: {exc} (in {doing}). "
                          "Fix the plugin, or choose another component; --debug shows the "
                          "traceback.") from exc


def check_experiment(experiment: Experiment, registry: Registry, dataset: Any,
                     generator: Any, discriminator: Any, loss: Any, latent_dim: int,
                     losses: bool = True, num_classes: int = 0,
                     regularizers: Sequence[Any] = ()) -> None:
    """Every contract check, in order; the first broken contract raises.

    Args:
        experiment: The validated experiment.
        registry: The plugin registry (for provenance in messages).
        dataset: The experiment's dataset, prepared; ``None`` when it is not
            prepared yet (``validate``): then the networks and the loss are
            tried on a batch of zeros of the architecture's image shape.
        generator: The built generator.
        discriminator: The built discriminator.
        loss: The paired loss.
        latent_dim: The generator's latent size.
        losses: Also try the losses (values and gradients). Off where the
            models are replicated: the losses call the networks in training
            mode, and synchronized batch norm must not run outside a step.
        num_classes: ``K`` of a class-conditional GAN: the discriminator is
            then tried on ``[images, labels]``.
        regularizers: The experiment's regularizers (``regularizers:``, in
            order), tried like the losses (when ``losses``).

    Raises:
        PluginError: A component broke its contract; the message names the
            component, its plugin and distribution, and what to fix.

    """
    roles = experiment_roles(experiment, registry)
    if dataset is not None:
        real = check_dataset_sample(dataset, roles["dataset"])
        if num_classes:
            check_dataset_labels(dataset, roles["dataset"])
    else:
        import tensorflow as tf

        real = tf.zeros((SAMPLE_BATCH, *generator.output_shape[1:]), tf.float32)
    labels = sample_labels(real, num_classes)
    with kept_state(generator, discriminator, loss, *regularizers):
        _, latents = check_generator_output(generator, latent_dim, real, roles["generator"])
        check_discriminator_output(conditioned(discriminator, labels), real,
                                   roles["discriminator"])
        if losses:
            check_loss_values(loss, generator, discriminator, real, latents, roles["loss"],
                              labels=labels)
            fake_labels = latent_class(latents, num_classes) if num_classes else None
            blocks = experiment.settings.regularizers
            for regularizer, block in zip(regularizers, blocks, strict=True):
                role = Role("regularizer", registry.resolve("regularizer", block.name))
                check_regularizer_values(regularizer, generator, discriminator, real, latents,
                                         role, labels=labels, fake_labels=fake_labels,
                                         augment=experiment.settings.train.augment)


def sample_labels(real: Any, num_classes: int) -> Any:
    """Labels ``0, 1, ...`` (mod ``num_classes``) for a sample batch; ``None`` without classes."""
    if not num_classes:
        return None
    import tensorflow as tf

    return tf.range(int(real.shape[0]), dtype=tf.int32) % num_classes


def check_dataset_sample(dataset: Any, role: Role, batch: int = SAMPLE_BATCH) -> Any:
    """A sample batch of the dataset, after checking dtype, static shape and range."""
    import tensorflow as tf

    expected = tuple(int(v) for v in dataset.image_shape)
    with blamed_on(role, "load()"):
        images = load_images(dataset)
    spec = getattr(images, "element_spec", None)
    if not isinstance(spec, tf.TensorSpec):
        raise PluginError(f"The {role} breaks the dataset contract: load() must return a "
                          "tf.data.Dataset of bare images (tensors), but its elements are "
                          f"{spec!r}.")
    if spec.dtype != tf.float32:
        raise PluginError(f"The {role} yields {spec.dtype.name} images; the contract is "
                          "float32 in [-1, 1]. Convert in load() (or decode()), e.g. "
                          "tf.cast(image, tf.float32) / 127.5 - 1 for uint8 pixels.")
    static = tuple(spec.shape.as_list()) if spec.shape.rank is not None else "unknown"
    if static != expected:
        raise PluginError(f"The {role} yields images of static shape {static}, "
                          f"but its image_shape is {expected}: every element must have "
                          "exactly that static shape (tf.ensure_shape or a reshape to "
                          "image_shape in load()).")
    with blamed_on(role, "load() while reading a sample batch"):
        sample = [image for image in images.take(batch)]
    if not sample:
        raise PluginError(f"The {role} yields no images from load().")
    values = tf.stack(sample)
    low, high = float(tf.reduce_min(values)), float(tf.reduce_max(values))
    if not np.isfinite([low, high]).all() or low < -1 - RANGE_TOLERANCE \
            or high > 1 + RANGE_TOLERANCE:
        raise PluginError(f"The {role} yields values in [{low:.4g}, {high:.4g}] in a sample "
                          "batch; the contract is [-1, 1] (scale pixels p in [0, 255] with "
                          "p / 127.5 - 1).")
    return values


def check_dataset_labels(dataset: Any, role: Role, batch: int = SAMPLE_BATCH) -> list[str]:
    """The dataset's class names, after checking them and a sample of its labels.

    A dataset with ``num_classes = K`` must have valid ``class_names`` (or
    none), and ``load(split, with_labels=True)`` must yield ``(image,
    label)`` pairs with int32 scalar labels in ``0 .. K-1``.

    Raises:
        PluginError: Any of that is broken.

    """
    import tensorflow as tf

    try:
        names = class_names_of(dataset)
    except (TypeError, ValueError) as exc:
        raise PluginError(f"The {role} has an invalid num_classes or class_names: {exc}.") \
            from None
    if not names:
        return names
    if not supports_labels(dataset):
        raise PluginError(f"The {role} says num_classes = {len(names)} but its load() takes "
                          "no with_labels: load(split, with_labels=True) must yield (image, "
                          "label) pairs (InMemoryDataset and TFRecordImageDataset do).")
    with blamed_on(role, "load(with_labels=True)"):
        pairs = list(load_labelled(dataset).take(batch))
    spec = tuple(tf.TensorSpec.from_tensor(part) for part in pairs[0]) if pairs else ()
    if len(spec) != 2 or spec[1].shape.rank != 0 or spec[1].dtype != tf.int32:
        raise PluginError(f"The {role}: load(with_labels=True) must yield (image, label) "
                          f"pairs with an int32 scalar label, got {spec!r}.")
    labels = [int(label) for _, label in pairs]
    if any(not 0 <= label < len(names) for label in labels):
        raise PluginError(f"The {role} yields labels {labels} in a sample, but num_classes is "
                          f"{len(names)}: labels must be 0..{len(names) - 1}.")
    return names


def check_generator_output(generator: Any, latent_dim: int, real: Any, role: Role
                           ) -> tuple[Any, Any]:
    """Generated images for a few latents, after checking their shape and dtype."""
    import tensorflow as tf

    rng = np.random.default_rng(0)  # the checks never touch the run's random state
    latents = tf.constant(rng.standard_normal((int(real.shape[0]), latent_dim)), tf.float32)
    with blamed_on(role, "the generator's forward pass"):
        fake = generator(latents, training=False)
    if tuple(fake.shape) != tuple(real.shape):
        raise PluginError(f"The {role} returns shape {tuple(fake.shape)} for a batch of "
                          f"{latents.shape[0]} latents, but the data's batches are "
                          f"{tuple(real.shape)}: set the architecture's params to the "
                          "dataset's image size and channels.")
    if fake.dtype != real.dtype:
        raise PluginError(f"The {role} returns {fake.dtype.name} images but the data is "
                          f"{real.dtype.name}: make the output layer float32 (under mixed "
                          "precision: dtype='float32' on the last layer).")
    return fake, latents


def check_discriminator_output(discriminator: Any, real: Any, role: Role) -> None:
    """The discriminator returns one logit per image: ``(batch, 1)``."""
    with blamed_on(role, "the discriminator's forward pass"):
        logits = discriminator(real, training=False)
    batch = int(real.shape[0])
    if tuple(logits.shape) != (batch, 1):
        raise PluginError(f"The {role} returns shape {tuple(logits.shape)} for a batch of "
                          f"{batch} images; the contract is ({batch}, 1): one logit per "
                          "image (end with Dense(1), no sigmoid).")


def check_loss_values(loss: Any, generator: Any, discriminator: Any, real: Any, latents: Any,
                      role: Role, gradients: bool = True, labels: Any = None) -> None:
    """Both losses are finite scalars with gradients for the network each one trains.

    ``labels`` go with every image a conditional ``discriminator`` sees.
    """
    import tensorflow as tf

    critic = conditioned(discriminator, labels)

    def d_loss() -> Any:
        fake = generator(latents, training=True)
        inputs = LossInputs(real, fake, _logits(critic, real), _logits(critic, fake), critic,
                            latents)
        return loss.discriminator_loss(inputs)

    def g_loss() -> Any:
        fake = generator(latents, training=True)
        real_logits = tf.stop_gradient(_logits(critic, real))
        inputs = LossInputs(real, fake, real_logits, _logits(critic, fake), critic, latents)
        return loss.generator_loss(inputs)

    for name, compute, network in (("discriminator_loss", d_loss, discriminator),
                                   ("generator_loss", g_loss, generator)):
        _check_one_loss(role, name, compute, network, gradients)


def check_regularizer_values(regularizer: Any, generator: Any, discriminator: Any, real: Any,
                             latents: Any, role: Role, *, labels: Any = None,
                             fake_labels: Any = None, augment: Sequence[str] = ()) -> Any:
    """A regularizer keeps its contract: attributes, a finite scalar penalty with gradients.

    The penalty is tried as in the step's update of the network it applies
    to (its ``step`` 0), with an augmentation whose randomness is not the run's.

    Returns:
        The penalty's value.

    """
    import tensorflow as tf

    from ganlab.components import regularizer_contract_problem
    from ganlab.engine.regularize import augmenter

    problem = regularizer_contract_problem(regularizer)
    if problem:
        raise PluginError(f"The {role} breaks the regularizer contract: {problem}.")
    network = generator if regularizer.applies_to == "generator" else discriminator
    critic = conditioned(discriminator, labels)
    fake_critic = conditioned(discriminator, fake_labels)
    with blamed_on(role, "penalty()"), tf.GradientTape() as tape:
        fake = generator(latents, training=True)
        inputs = RegularizerInputs(
            real, fake, _logits(critic, real), _logits(fake_critic, fake), critic, latents,
            fake_discriminator=fake_critic, step=tf.constant(0, tf.int64),
            augment=augmenter(augment, tf.random.Generator.from_seed(0)))
        value = regularizer.penalty(inputs)
    _check_finite_scalar(role, "penalty", value, "a sample batch")
    grads = tape.gradient(value, network.trainable_variables)
    if all(g is None for g in grads):
        raise PluginError(f"The {role}: penalty() has no gradient with respect to the "
                          f"{regularizer.applies_to}'s weights, so it would not regularize "
                          "it. Compute it from the discriminator's outputs in the inputs, "
                          "without tf.stop_gradient or numpy conversions.")
    return value


def _check_finite_scalar(role: Role, name: str, value: Any, sample: str) -> None:
    """Refuse what ``name()`` returned unless it is a finite scalar (a loss or penalty).

    ``sample`` says what it was computed on, for the message about a non-finite value.
    """
    import tensorflow as tf

    if value is None or not hasattr(value, "shape") or tuple(value.shape) != ():
        shape = tuple(value.shape) if hasattr(value, "shape") else type(value).__name__
        raise PluginError(f"The {role}: {name}() returned {shape}, not a scalar. Return the "
                          "mean over the batch (tf.reduce_mean).")
    number = float(tf.cast(value, tf.float32))
    if not np.isfinite(number):
        raise PluginError(f"The {role}: {name}() returned {number} on {sample}; it must be "
                          "finite.")


def _logits(discriminator: Any, images: Any) -> Any:
    import tensorflow as tf

    return tf.cast(discriminator(images, training=True), tf.float32)


def _check_one_loss(role: Role, name: str, compute: Callable[[], Any], network: Any,
                    gradients: bool) -> None:
    import tensorflow as tf

    with blamed_on(role, f"{name}()"), tf.GradientTape() as tape:
        value = compute()
    _check_finite_scalar(role, name, value, "a sample batch of real data and an untrained network")
    if not gradients:
        return
    grads = tape.gradient(value, network.trainable_variables)
    if not network.trainable_variables or all(g is None for g in grads):
        trained = "discriminator" if name.startswith("discriminator") else "generator"
        raise PluginError(f"The {role}: {name}() has no gradient with respect to the "
                          f"{trained}'s weights, so training would not change the {trained}. "
                          "Compute it from the logits in LossInputs without tf.stop_gradient "
                          "or numpy conversions.")


@contextmanager
def kept_state(*components: Any) -> Iterator[None]:
    """Put every variable of ``components`` back as it was (batch-norm statistics, seeds).

    Models give their ``variables``; other objects (a loss with a call counter
    or an adaptive weight) the ``tf.Variable`` attributes they hold, so the
    checks leave no trace in the run that follows them.
    """
    saved = [(variable, variable.numpy()) for component in components
             for variable in _variables_of(component)]
    try:
        yield
    finally:
        for variable, value in saved:
            variable.assign(value)


def _variables_of(component: Any) -> list[Any]:
    """``component.variables`` for models, else its ``tf.Variable`` attributes."""
    import tensorflow as tf

    if isinstance(getattr(component, "variables", None), (list, tuple)):
        return list(component.variables)
    return [value for value in vars(component).values() if isinstance(value, tf.Variable)] \
        if hasattr(component, "__dict__") else []
