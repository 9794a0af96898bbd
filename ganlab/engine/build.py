"""Building a run: TensorFlow set-up, the strategy's cluster, data, models, optimizers.

Everything :func:`build_session` makes, before the first step, lives in a
:class:`Session`; the runner (:mod:`ganlab.engine.runner`) trains it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ganlab.components import (
    build_architectures,
    build_dataset,
    build_loss,
    build_network,
    build_networks,
    build_regularizers,
)
from ganlab.contracts import class_names_of, dataset_location, num_classes_of, supports_labels
from ganlab.data.pipeline import ensure_prepared, worker_shares
from ganlab.engine.checkpoint import CheckpointStore
from ganlab.engine.checkpointer import Checkpointer
from ganlab.engine.cluster import Cluster
from ganlab.engine.ema import GeneratorEMA
from ganlab.engine.strategy import make_strategy
from ganlab.engine.trainer import GAN, GANTrainer
from ganlab.errors import ConfigError, DataError, PluginError
from ganlab.experiment import Experiment
from ganlab.latents import check_distribution
from ganlab.registry import Registry
from ganlab.rundir import RunDirectory, load_or_create_latent_bank
from ganlab.settings import AdamSettings, ExperimentSettings, ScheduleSettings, TrainSettings

Echo = Callable[[str], None]


@dataclass
class Session:
    """Everything built for one run."""

    experiment: Experiment
    run_dir: RunDirectory
    strategy: Any
    dataset: Any
    gan: GAN
    trainer: GANTrainer
    checkpoints: Checkpointer
    bank: np.ndarray
    steps_per_epoch: int
    global_batch: int
    cluster: Cluster
    file_sharded: bool = False
    registry: Registry | None = None


# -- models and optimizers ----------------------------------------------------------------------
def make_optimizer(adam: AdamSettings, schedule: ScheduleSettings | None,
                   steps_per_epoch: int, precision: str) -> keras.optimizers.Optimizer:
    """Adam with an optional piecewise-constant schedule given in epochs."""
    learning_rate: Any = adam.learning_rate
    if schedule:
        # Keras evaluates the schedule at the optimizer's iteration count before
        # each update, and PiecewiseConstantDecay switches *after* a boundary:
        # so the first step of epoch b+1 (iteration b*steps) gets the new rate.
        boundaries = [b * steps_per_epoch - 1 for b in schedule.boundaries_epochs]
        values = [learning_rate * f for f in schedule.factors]
        learning_rate = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=adam.beta_1,
                                      beta_2=adam.beta_2, epsilon=adam.epsilon)
    if precision == "mixed_float16":
        # Keras only wraps compile(optimizer=...) automatically; with two
        # optimizers each needs its own loss scale.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


@dataclass(frozen=True)
class Networks:
    """The built generator and discriminator, with their latent prior and classes."""

    generator: keras.Model
    discriminator: keras.Model
    latent_dim: int
    latent_distribution: str
    num_classes: int = 0
    generator_architecture: Any = None


def build_models(experiment: Experiment, registry: Registry, dataset: Any) -> Networks:
    """Generator, discriminator, latent size, prior and classes; shapes and classes checked."""
    image_shape = tuple(dataset.image_shape)
    g_arch, d_arch = build_architectures(experiment, registry, image_shape)
    num_classes = architecture_classes(experiment, g_arch, d_arch, dataset)
    generator, discriminator = build_networks(experiment, registry, g_arch, d_arch)
    produced = tuple(generator.output_shape[1:])
    if produced != image_shape:
        name = experiment.settings.generator_block.name
        provider = registry.resolve("architecture", name).provider
        raise ConfigError(
            f"The generator of '{name}' from {provider} "
            "produces images of "
            f"shape {produced} but the dataset's images are {image_shape}: set the "
            "architecture's params to match the dataset (image size and channels).")
    return Networks(generator, discriminator, int(g_arch.latent_dim),
                    check_distribution(g_arch.latent_distribution), num_classes, g_arch)


def architecture_classes(experiment: Experiment, g_arch: Any, d_arch: Any, dataset: Any) -> int:
    """The class count of a conditional GAN (``0``: unconditional), checked against the data.

    Raises:
        ConfigError: The generator and discriminator disagree, or the dataset
            has no class labels or another number of classes.

    """
    settings = experiment.settings
    try:
        g_classes, d_classes = num_classes_of(g_arch), num_classes_of(d_arch)
        data_classes = len(class_names_of(dataset))
    except (TypeError, ValueError) as exc:  # a plugin's attribute, not the experiment's
        raise PluginError(f"The experiment's dataset or architecture has an invalid "
                          f"num_classes or class_names attribute: {exc}.") from None
    if g_classes != d_classes:
        raise ConfigError(
            f"The generator ('{settings.generator_block.name}') is conditioned on {g_classes} "
            f"classes but the discriminator ('{settings.discriminator_block.name}') on "
            f"{d_classes}: give both the same num_classes (0 for an unconditional GAN).")
    if g_classes and g_classes != data_classes:
        remedy = (f"has {data_classes} classes: set the architecture's num_classes to "
                  f"{data_classes}." if data_classes else
                  "has no class labels (it does not say num_classes): train it "
                  "unconditionally (num_classes: 0), or on a dataset with class labels.")
        raise ConfigError(
            f"The architecture is class-conditional with num_classes {g_classes}, but the "
            f"dataset '{settings.dataset.name}' {remedy}")
    if g_classes and not supports_labels(dataset):
        raise ConfigError(
            f"The architecture is class-conditional, but the dataset "
            f"'{settings.dataset.name}' cannot give its labels (its load() takes no "
            "with_labels): set the architecture's num_classes to 0.")
    return g_classes


def build_trainer(experiment: Experiment, registry: Registry, strategy: Any, dataset: Any,
                  steps_per_epoch: int) -> GANTrainer:
    """Models, optimizers (built, so their state exists for checkpoints) and the trainer."""
    train, optimizers = experiment.settings.train, experiment.settings.optimizers
    with strategy.scope():
        networks = build_models(experiment, registry, dataset)
        generator, discriminator = networks.generator, networks.discriminator
        g_steps_per_epoch = max(steps_per_epoch // train.d_steps, 1)
        g_opt = make_optimizer(optimizers.generator, optimizers.schedule, g_steps_per_epoch,
                               train.precision)
        d_opt = make_optimizer(optimizers.discriminator, optimizers.schedule, steps_per_epoch,
                               train.precision)
        g_opt.build(generator.trainable_variables)
        d_opt.build(discriminator.trainable_variables)
        # After G and D: building the shadow draws no initial weights they use.
        ema = build_ema(experiment, registry, networks) if train.ema else None
        gan = GAN(generator, discriminator, generator_ema=ema.shadow if ema else None)
        # In the scope: a regularizer's state variables are mirrored like the weights.
        regularizers = list(zip([block.name for block in experiment.settings.regularizers],
                                build_regularizers(experiment, registry), strict=True))
    return GANTrainer(strategy, gan, build_loss(experiment, registry), g_opt, d_opt,
                      latent_dim=networks.latent_dim,
                      latent_distribution=networks.latent_distribution,
                      seed=experiment.settings.seed, jit_compile=train.jit_compile,
                      d_steps=train.d_steps, augment=train.augment,
                      num_classes=networks.num_classes, ema=ema, regularizers=regularizers)


def build_ema(experiment: Experiment, registry: Registry, networks: Networks) -> GeneratorEMA:
    """The generator EMA of ``train.ema``: a second generator of the architecture, G's copy.

    Built in the strategy's scope (the caller's), so its variables are
    mirrored like G's.

    Raises:
        PluginError: The architecture's ``build_generator()`` fails or does not
            build a second, identical network.

    """
    settings = experiment.settings.train.ema
    assert settings is not None
    block = experiment.settings.generator_block
    shadow = build_network(registry, networks.generator_architecture, "generator", block.name,
                           "building the EMA generator of train.ema")
    try:
        return GeneratorEMA(shadow, networks.generator, decay=settings.decay,
                            start_step=settings.start_step)
    except PluginError as exc:
        component = registry.resolve("architecture", block.name)
        raise PluginError(f"The architecture '{component.name}' from {component.provider}: "
                          f"{exc}") from None


# -- TensorFlow, the cluster, the data ------------------------------------------------------------
def configure_tensorflow(settings: ExperimentSettings) -> None:
    """Seeds, determinism and the precision policy, before any model is built."""
    keras.utils.set_random_seed(settings.seed)
    if settings.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(settings.train.precision)


def join_cluster(experiment: Experiment) -> Cluster:
    """The experiment's strategy, and this process's place in its cluster.

    It comes first: splitting a CPU into logical devices, and joining a
    multi-worker cluster, must happen before anything starts TensorFlow.
    """
    train = experiment.settings.train
    return Cluster.of(make_strategy(train.strategy, train.devices))


def prepared_dataset(experiment: Experiment, registry: Registry, cluster: Cluster,
                     echo: Echo) -> Any:
    """The dataset, its TFRecords prepared (by the chief alone in a cluster)."""
    dataset = build_dataset(experiment, registry)
    cluster.chief_first(lambda: ensure_prepared(dataset, echo), "preparing the data")
    if not cluster.is_chief and not dataset.is_prepared():
        raise DataError(
            f"The chief prepared {dataset_location(dataset)}, but {cluster.label()} "
            "cannot see them there: multi-worker training needs the data and the run "
            "directory on a filesystem every worker mounts at the same path.")
    return dataset


def steps_and_batch(train: TrainSettings, count: int, replicas: int) -> tuple[int, int]:
    """Steps per epoch and the global batch size (``train.batch_size``)."""
    global_batch = train.batch_size
    if global_batch % replicas:
        # Each replica's loss is a mean over its share; unequal shares would
        # weigh some images more than others in the averaged gradient.
        raise ConfigError(f"train.batch_size is the global batch, split evenly over the "
                          f"{replicas} replicas of train.strategy {train.strategy!r}: make "
                          f"it a multiple of {replicas} (it is {global_batch}).")
    steps_per_epoch = count // global_batch
    if steps_per_epoch == 0:
        raise ConfigError(f"train.batch_size is {global_batch} but the training split has only "
                          f"{count} images: lower the batch size.")
    if train.steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, train.steps_per_epoch)
    return steps_per_epoch, global_batch


def build_session(experiment: Experiment, registry: Registry, echo: Echo,
                  cluster: Cluster | None = None) -> Session:
    """Dataset, strategy, models, optimizers and trainer for ``experiment``.

    Args:
        experiment: The validated experiment.
        registry: The plugin registry.
        echo: Where messages go.
        cluster: The strategy's cluster (see :func:`join_cluster`); made here
            when not given.

    """
    settings = experiment.settings
    cluster = cluster or join_cluster(experiment)
    strategy = cluster.strategy
    configure_tensorflow(settings)
    dataset = prepared_dataset(experiment, registry, cluster, echo)
    images, file_sharded = images_per_epoch(dataset, cluster, echo)
    steps_per_epoch, global_batch = steps_and_batch(settings.train, images,
                                                    strategy.num_replicas_in_sync)
    trainer = build_trainer(experiment, registry, strategy, dataset, steps_per_epoch)
    run_dir = RunDirectory(experiment.run_dir())
    store = CheckpointStore(run_dir.checkpoints, settings.checkpoint.keep_last,
                            settings.checkpoint.keep_every_n_epochs)
    bank = load_or_create_latent_bank(run_dir, settings.latents.bank_size,
                                      trainer.latent_dim, trainer.latent_distribution,
                                      seed=settings.seed, save=cluster.is_chief)
    checkpoints = Checkpointer(store, trainer, bank, cluster, run_dir)
    return Session(experiment, run_dir, strategy, dataset, trainer.gan, trainer, checkpoints,
                   bank, steps_per_epoch, global_batch, cluster, file_sharded,
                   registry=registry)


def images_per_epoch(dataset: Any, cluster: Cluster, echo: Echo) -> tuple[int, bool]:
    """The images an epoch can cover, and whether each worker reads its own shards.

    In a cluster with at least as many TFRecord shards as workers, each
    worker reads only its shards (FILE sharding) and an epoch lasts as long
    as the smallest share allows; with fewer shards every worker reads all
    the data and keeps its part of each batch (DATA sharding), with a warning.
    """
    count = dataset.num_examples()
    if not cluster.distributed:
        return count, False
    shares = worker_shares(dataset, cluster.num_workers)
    if shares is None:
        echo(f"warning: the training data has fewer TFRecord shards than the "
             f"{cluster.num_workers} workers, so every worker reads and decodes all of it and "
             "keeps its share of each batch. Prepare it with `ganlab prepare EXPERIMENT.yaml "
             f"--shards {cluster.num_workers}` (or more) so that each worker reads only its "
             "own shards.")
        return count, False
    return min(shares) * cluster.num_workers, True
