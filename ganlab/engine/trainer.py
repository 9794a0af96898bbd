"""The GAN training loop: one custom loop for every tf.distribute strategy.

Keras 3 ``Model.fit`` with a custom ``train_step`` fails under
MultiWorkerMirroredStrategy (keras-team/keras#20585), so the engine runs
``strategy.run`` inside a ``tf.function`` over a distributed dataset and
drives ordinary Keras callbacks (``keras.callbacks.CallbackList``, with the
Keras progress bar) itself. Plugin callbacks are plain Keras callbacks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ganlab.contracts import LossInputs

LOG_KEYS = ("d_loss", "g_loss", "d_real", "d_fake")
#: The step's agreed stop wish, taken out of its logs.
STOP_KEY = "_stop"


class GAN(keras.Model):
    """The generator and discriminator of a run, as one Keras model.

    Callbacks receive it as ``self.model``; ``run`` is the
    :class:`ganlab.RunContext` of the current run.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, run: Any = None):
        super().__init__(name="gan")
        self.generator = generator
        self.discriminator = discriminator
        self.run = run
        self.stop_training = False
        # Under a strategy Keras builds models symbolically first; a wrapper
        # whose parts are already built must say so or that build fails.
        self.built = True

    def call(self, latents: Any, training: bool = False) -> Any:
        """Generate images from latents."""
        return self.generator(latents, training=training)


class NonFiniteLoss(Exception):
    """A loss became NaN or Inf (the runner turns this into a user message)."""

    def __init__(self, epoch: int, step: int, logs: dict[str, float],
                 last_finite: dict[str, float] | None):
        super().__init__(f"non-finite loss at epoch {epoch + 1}, step {step}")
        self.epoch, self.step, self.logs, self.last_finite = epoch, step, logs, last_finite


class StopRequested(Exception):
    """Training stopped at a step boundary on request (SIGINT/SIGTERM)."""

    def __init__(self, epoch: int, step: int):
        super().__init__(f"stopped at epoch {epoch + 1}, step {step}")
        self.epoch, self.step = epoch, step


@dataclass
class LoopState:
    """Counters the loop advances; saved in every checkpoint.

    Attributes:
        epoch: Completed epochs.
        step_in_epoch: Steps done in the current epoch.
        global_step: Steps done in the whole run.
        stop_requested: Set by the signal handler; the loop stops at the next
            step boundary.
        last_finite: Logs of the last step whose losses were all finite.
        epoch_totals: Running sums of the current epoch's logs (so that an
            epoch resumed mid-way reports the same means).
        epoch_counted: Steps summed in ``epoch_totals``.
        extra: Room for more state.

    """

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    stop_requested: bool = False
    last_finite: dict[str, float] | None = None
    epoch_totals: dict[str, float] = field(default_factory=dict)
    epoch_counted: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def next_epoch(self) -> None:
        """Move to the start of the next epoch."""
        self.epoch += 1
        self.step_in_epoch = 0
        self.epoch_totals = {}
        self.epoch_counted = 0


class GANTrainer:
    """Builds the distributed train steps and runs epochs.

    Args:
        strategy: The ``tf.distribute.Strategy`` (the default one included).
        gan: The :class:`GAN` (built in ``strategy.scope()``).
        loss: A :class:`ganlab.GANLoss`.
        g_optimizer: Generator optimizer (wrapped for loss scaling if needed).
        d_optimizer: Discriminator optimizer.
        latent_dim: Latent size.
        latent_distribution: ``normal`` or ``uniform``.
        seed: Seeds the training latent generator.
        jit_compile: XLA-compile the per-replica step.
        d_steps: Discriminator updates per generator update.
        multi_worker: Other processes train with this one (they must all
            stop at the same step).

    """

    def __init__(self, strategy: Any, gan: GAN, loss: Any, g_optimizer: Any, d_optimizer: Any,
                 *, latent_dim: int, latent_distribution: str, seed: int,
                 jit_compile: bool = False, d_steps: int = 1, multi_worker: bool = False):
        self.strategy = strategy
        self.multi_worker = multi_worker
        self.gan = gan
        self.loss = loss
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.latent_dim = latent_dim
        self.latent_distribution = latent_distribution
        self.d_steps = d_steps
        with strategy.scope():
            # Its state is checkpointed, so latent draws resume exactly.
            self.rng = tf.random.Generator.from_seed(seed)
        replica_fn = tf.function(self._replica_step, jit_compile=jit_compile)
        self._steps = {
            train_g: tf.function(self._distributed_step(replica_fn, train_g))
            for train_g in (False, True)
        }

    # -- one step ----------------------------------------------------------------------------
    def _sample(self, count: Any) -> Any:
        shape = tf.stack([count, self.latent_dim])
        if self.latent_distribution == "uniform":
            return self.rng.uniform(shape, minval=-1.0, maxval=1.0)
        return self.rng.normal(shape)

    def _scaled(self, optimizer: Any, loss: Any) -> Any:
        """The loss to differentiate (computed inside the tape, or it has no gradient)."""
        # Gradients are sum-reduced across replicas, so each replica's loss is
        # divided by the replica count.
        scaled = loss / self.strategy.num_replicas_in_sync
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            scaled = optimizer.scale_loss(scaled)
        return scaled

    @staticmethod
    def _apply(optimizer: Any, tape: Any, scaled_loss: Any, variables: list[Any]) -> None:
        optimizer.apply(tape.gradient(scaled_loss, variables), variables)

    def _replica_step(self, real: Any, train_g: bool) -> dict[str, Any]:
        generator, discriminator = self.gan.generator, self.gan.discriminator
        count = tf.shape(real)[0]
        latents = self._sample(count)
        with tf.GradientTape() as tape:
            fake = generator(latents, training=True)
            real_logits = tf.cast(discriminator(real, training=True), tf.float32)
            fake_logits = tf.cast(discriminator(fake, training=True), tf.float32)
            inputs = LossInputs(real, fake, real_logits, fake_logits, discriminator, latents)
            d_loss = tf.cast(self.loss.discriminator_loss(inputs), tf.float32)
            scaled = self._scaled(self.d_optimizer, d_loss)
        self._apply(self.d_optimizer, tape, scaled, discriminator.trainable_variables)
        logs = {"d_loss": d_loss, "d_real": tf.reduce_mean(tf.sigmoid(real_logits)),
                "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits))}
        if train_g:
            latents = self._sample(count)
            with tf.GradientTape() as tape:
                fake = generator(latents, training=True)
                fake_logits = tf.cast(discriminator(fake, training=True), tf.float32)
                inputs = LossInputs(real, fake, tf.stop_gradient(real_logits), fake_logits,
                                    discriminator, latents)
                g_loss = tf.cast(self.loss.generator_loss(inputs), tf.float32)
                scaled = self._scaled(self.g_optimizer, g_loss)
            self._apply(self.g_optimizer, tape, scaled, generator.trainable_variables)
            logs["g_loss"] = g_loss
        return logs

    def _distributed_step(self, replica_fn: Callable[..., Any], train_g: bool
                          ) -> Callable[[Any, Any], dict[str, Any]]:
        def step(batch: Any, stop: Any) -> dict[str, Any]:
            per_replica = self.strategy.run(replica_fn, args=(batch, train_g))
            logs = {key: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                    for key, value in per_replica.items()}
            # Workers of a cluster must leave the loop at the same step, so a
            # stop asked for on any of them travels with the step's own
            # reductions (no extra round trip).
            wishes = self.strategy.run(tf.identity, args=(stop,))
            logs[STOP_KEY] = self.strategy.reduce(tf.distribute.ReduceOp.SUM, wishes, axis=None)
            return logs
        return step

    def train_step(self, batch: Any, global_step: int, stop: bool = False
                   ) -> tuple[dict[str, float], bool]:
        """Run one step on a distributed batch.

        Args:
            batch: The distributed batch.
            global_step: Steps done so far (picks whether G trains).
            stop: Whether this process wants to stop (a signal arrived).

        Returns:
            The float logs, and whether any worker wanted to stop when the
            step began (the same answer on every worker).

        """
        train_g = (global_step + 1) % self.d_steps == 0
        logs = self._steps[train_g](batch, tf.constant(float(stop)))
        wished = float(logs.pop(STOP_KEY)) > 0
        return {key: float(value) for key, value in logs.items()}, wished

    # -- learning rates -------------------------------------------------------------------------
    def learning_rates(self) -> dict[str, float]:
        """Current learning rates of both optimizers."""
        return {"lr_g": _as_float(self.g_optimizer.learning_rate),
                "lr_d": _as_float(self.d_optimizer.learning_rate)}

    # -- epochs ---------------------------------------------------------------------------------
    def run_epoch(self, dataset: Any, state: LoopState, callbacks: keras.callbacks.CallbackList,
                  steps_per_epoch: int, batch_size: int,
                  after_step: Callable[[LoopState], None] | None = None) -> dict[str, float]:
        """Train one epoch (from ``state.step_in_epoch``) and return its mean logs.

        Args:
            dataset: The epoch's batches (already skipping the trained ones).
            state: The loop state, advanced step by step.
            callbacks: The Keras callbacks to drive.
            steps_per_epoch: Steps in a whole epoch.
            batch_size: Global batch size (for throughput).
            after_step: Called after every finite step, at a step boundary
                (the runner writes step checkpoints there).

        Raises:
            NonFiniteLoss: A loss became NaN/Inf (nothing is saved for that step).
            StopRequested: ``state.stop_requested`` was set; the state is at a
                step boundary, ready to be checkpointed.

        """
        totals = {key: state.epoch_totals.get(key, 0.0) for key in LOG_KEYS}
        last_g = state.last_finite.get("g_loss", 0.0) if state.last_finite else 0.0
        learning_rates = self.learning_rates()  # the rates this epoch trains with
        started = time.perf_counter()
        trained = 0
        for batch in self.strategy.experimental_distribute_dataset(dataset):
            callbacks.on_train_batch_begin(state.step_in_epoch)
            logs, stop_wished = self.train_step(batch, state.global_step, state.stop_requested)
            logs.setdefault("g_loss", last_g)
            last_g = logs["g_loss"]
            if not all(math.isfinite(v) for v in logs.values()):
                raise NonFiniteLoss(state.epoch, state.step_in_epoch, logs, state.last_finite)
            state.last_finite = logs
            state.step_in_epoch += 1
            state.global_step += 1
            for key in LOG_KEYS:
                totals[key] += logs[key]
            state.epoch_totals = dict(totals)
            state.epoch_counted += 1
            trained += 1
            callbacks.on_train_batch_end(state.step_in_epoch - 1, logs)
            if after_step is not None:
                after_step(state)
            if self._stop_now(state, stop_wished) and state.step_in_epoch < steps_per_epoch:
                raise StopRequested(state.epoch, state.step_in_epoch)
        seconds = time.perf_counter() - started
        epoch_logs = {key: totals[key] / max(state.epoch_counted, 1) for key in LOG_KEYS}
        epoch_logs.update(learning_rates)
        epoch_logs["seconds"] = seconds
        epoch_logs["images_per_sec"] = trained * batch_size / seconds if seconds > 0 else 0.0
        return epoch_logs

    def _stop_now(self, state: LoopState, wished: bool) -> bool:
        """Whether to stop after this step.

        One process stops as soon as it is asked. Workers of a cluster stop
        on what every worker wanted when the step began (a signal reaching
        one of them mid-step counts one step later), so all stop together.
        """
        if not self.multi_worker:
            return state.stop_requested
        if wished:
            state.stop_requested = True  # the checkpoint on stopping is due on every worker
        return wished


def _as_float(value: Any) -> float:
    """A learning rate (Keras variable, or a schedule's tensor) as a float."""
    # keras.ops.convert_to_numpy warns under numpy 2 for Keras variables.
    return float(np.asarray(getattr(value, "value", value)))


def epoch_dataset(base: Any, *, epoch: int, seed: int, batch_size: int, steps: int,
                  skip: int, shuffle_buffer: int, deterministic: bool) -> Any:
    """The batches of one epoch: shuffled with a per-epoch seed, ragged tail dropped.

    The per-epoch seed makes the order of every epoch reproducible, so a run
    resumed mid-epoch can skip exactly the batches it already trained on.
    """
    dataset = base
    if shuffle_buffer > 1:
        dataset = dataset.shuffle(shuffle_buffer, seed=_epoch_seed(seed, epoch),
                                  reshuffle_each_iteration=False)
    # A ragged last batch would recompile under XLA and skew per-replica sizes.
    dataset = dataset.batch(batch_size, drop_remainder=True).take(steps)
    if skip:
        dataset = dataset.skip(skip)
    options = tf.data.Options()
    options.deterministic = deterministic
    # Multi-worker: every worker reads the same records and keeps its share of
    # each global batch. The default (FILE) sharding would hand out whole
    # TFRecord files, and starves or fails with fewer files than workers.
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.uint32((seed * 1_000_003 + epoch * 7_919 + 17) % (2**31 - 1)))
