"""The GAN training step, and many of them per call to TensorFlow.

Three layers, each wrapping the one before (as Keras' ``Trainer`` does):

- :meth:`GANTrainer.train_step`: the GAN maths of one step on one replica's
  batch (D update, then G update), returning its losses. Nothing else.
- :meth:`GANTrainer.distributed_step`: ``strategy.run`` of that step and
  the cross-replica mean of its logs.
- :meth:`GANTrainer.execute`: up to ``steps_per_execution`` steps inside one
  ``tf.function``: the batches are pulled from the iterator on the device
  side, the log sums and a non-finite flag accumulate there, and the host
  waits once per execution instead of once per step. The loop breaks at the
  first step whose logs are not finite and says which one it was.

Keras 3 ``Model.fit`` with a custom ``train_step`` fails under
MultiWorkerMirroredStrategy (keras-team/keras#20585), so the engine drives
this itself (see :mod:`ganlab.engine.loop`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ganlab.contracts import LossInputs, conditioned, latent_class
from ganlab.engine.augment import DiffAugment
from ganlab.engine.regularize import Penalties, augmenter, regularizer_inputs

LOG_KEYS = ("d_loss", "g_loss", "d_real", "d_fake")


class GAN(keras.Model):
    """The generator and discriminator of a run, as one Keras model.

    Callbacks receive it as ``self.model``; ``run`` is the
    :class:`ganlab.RunContext` of the current run. ``generator_ema`` is the
    shadow generator of ``train.ema`` (``None`` without it): callbacks that
    draw images use :attr:`sampling_generator`, which is it when the run
    keeps one.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, run: Any = None,
                 generator_ema: keras.Model | None = None):
        super().__init__(name="gan")
        self.generator = generator
        self.discriminator = discriminator
        self.generator_ema = generator_ema
        self.run = run
        self.stop_training = False
        # Under a strategy Keras builds models symbolically first; a wrapper
        # whose parts are already built must say so or that build fails.
        self.built = True

    def call(self, latents: Any, training: bool = False) -> Any:
        """Generate images from latents."""
        return self.generator(latents, training=training)

    @property
    def sampling_generator(self) -> keras.Model:
        """The generator to draw images with: the EMA generator when the run keeps one."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    @property
    def sampling_kind(self) -> str:
        """``"ema"`` or ``"raw"``: which generator :attr:`sampling_generator` is."""
        return "ema" if self.generator_ema is not None else "raw"


@dataclass
class Execution:
    """What one call of :meth:`GANTrainer.execute` did, as host values.

    Attributes:
        finite_steps: Steps whose logs were all finite (the first ones).
        totals: The epoch's running log sums after those steps.
        last_logs: Logs of the last finite step (``None`` if there was none).
        bad_logs: Logs of the first non-finite step, if the execution hit one
            (its update was applied: the weights are no longer to be saved).

    """

    finite_steps: int
    totals: dict[str, float]
    last_logs: dict[str, float] | None
    bad_logs: dict[str, float] | None = None


@dataclass
class Carry:
    """Values an execution starts from: the epoch's log sums and the last G loss."""

    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LOG_KEYS, 0.0))
    last_g_loss: float = 0.0


class GANTrainer:
    """The train step of a GAN, distributed and executed K steps at a time.

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
        augment: DiffAugment transformations of every image D sees
            (:mod:`ganlab.engine.augment`); none by default.
        num_classes: ``K`` of a class-conditional GAN (``0``: unconditional):
            batches are then ``(images, labels)`` and D sees the labels of
            real images and :func:`ganlab.contracts.latent_class` of the
            latents of generated ones.
        ema: The generator EMA (:class:`ganlab.engine.ema.GeneratorEMA`),
            updated after every G update; ``None``: none.
        regularizers: ``(name, regularizer)`` of the experiment's
            ``regularizers:`` (:mod:`ganlab.engine.regularize`), each term
            logged as ``reg_<name>``.

    """

    def __init__(self, strategy: Any, gan: GAN, loss: Any, g_optimizer: Any, d_optimizer: Any,
                 *, latent_dim: int, latent_distribution: str, seed: int,
                 jit_compile: bool = False, d_steps: int = 1, augment: Sequence[str] = (),
                 num_classes: int = 0, ema: Any = None,
                 regularizers: Sequence[tuple[str, Any]] = ()):
        self.strategy = strategy
        self.gan = gan
        self.loss = loss
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        self.latent_dim = latent_dim
        self.latent_distribution = latent_distribution
        self.d_steps = d_steps
        self.num_classes = num_classes
        self.ema = ema
        with strategy.scope():
            # Its state is checkpointed, so latent draws resume exactly.
            self.rng = tf.random.Generator.from_seed(seed)
        self.augment = DiffAugment(augment, self.rng) if augment else None
        self.penalties = Penalties(regularizers, augmenter(augment, self.rng),
                                   skip=strategy.num_replicas_in_sync == 1)
        #: What every step logs: the losses, D's outputs, then each regularizer's term.
        self.log_keys = LOG_KEYS + self.penalties.keys
        self._replica_steps = {
            train_g: tf.function(lambda batch, g=train_g: self.train_step(batch, g),
                                 jit_compile=jit_compile)
            for train_g in (False, True)}
        self._execute = tf.function(self._execute_steps)

    # -- one step: the GAN maths ---------------------------------------------------------------
    def train_step(self, batch: Any, train_g: bool = True) -> dict[str, Any]:
        """One D update, then (when ``train_g``) one G update, on one replica's batch.

        With ``augment``, D sees (and the loss receives) augmented real and
        generated images, in both updates. A conditional D sees each image with
        its label; the loss's ``discriminator`` has the real labels bound (its
        gradient penalties are taken at or near real images).

        Args:
            batch: Real images, or ``(images, labels)`` when ``num_classes``.
            train_g: Also update G.

        Returns:
            ``d_loss``, ``d_real`` and ``d_fake`` (mean sigmoid of D's logits on
            real and generated images), and ``g_loss`` when G trained.

        """
        generator, discriminator = self.gan.generator, self.gan.discriminator
        real, labels = batch if self.num_classes else (batch, None)
        critic = conditioned(discriminator, labels)
        count = tf.shape(real)[0]
        latents = self._sample(count)
        real = self._seen(real)
        with tf.GradientTape() as tape:
            fake = self._seen(generator(latents, training=True))
            real_logits = self._logits(real, labels)
            fake_logits = self._logits(fake, self._classes(latents))
            inputs = LossInputs(real, fake, real_logits, fake_logits, critic, latents)
            d_loss = tf.cast(self.loss.discriminator_loss(inputs), tf.float32)
            d_terms, d_penalties = self._penalties("discriminator", inputs, self.d_optimizer)
            scaled = self._scaled(self.d_optimizer, d_loss + d_terms)
        self._apply(self.d_optimizer, tape, scaled, discriminator.trainable_variables)
        logs = {"d_loss": d_loss, "d_real": tf.reduce_mean(tf.sigmoid(real_logits)),
                "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits)), **d_penalties}
        if train_g:
            latents = self._sample(count)
            with tf.GradientTape() as tape:
                fake = self._seen(generator(latents, training=True))
                fake_logits = self._logits(fake, self._classes(latents))
                inputs = LossInputs(real, fake, tf.stop_gradient(real_logits), fake_logits,
                                    critic, latents)
                g_loss = tf.cast(self.loss.generator_loss(inputs), tf.float32)
                g_terms, g_penalties = self._penalties("generator", inputs, self.g_optimizer)
                scaled = self._scaled(self.g_optimizer, g_loss + g_terms)
            self._apply(self.g_optimizer, tape, scaled, generator.trainable_variables)
            logs.update(g_penalties)
            if self.ema is not None:
                # Here, not in a callback: exact for any steps_per_execution.
                self.ema.update(self.g_optimizer.iterations)
            logs["g_loss"] = g_loss
        return logs

    def _penalties(self, network: str, inputs: LossInputs, optimizer: Any
                   ) -> tuple[Any, dict[str, Any]]:
        """The regularizer terms of ``network``'s update (``0.0`` and no logs without any)."""
        if not self.penalties.keys_of(network):
            return 0.0, {}
        fake_critic = conditioned(self.gan.discriminator, self._classes(inputs.latents))
        # The optimizer's iteration count: checkpointed, so lazy terms resume in step.
        extended = regularizer_inputs(inputs, fake_critic, optimizer.iterations,
                                      self.penalties.augment)
        return self.penalties.terms(network, extended)

    def _logits(self, images: Any, labels: Any) -> Any:
        """D's float32 logits on ``images`` (with their ``labels`` when conditional)."""
        critic = conditioned(self.gan.discriminator, labels)
        return tf.cast(critic(images, training=True), tf.float32)

    def _classes(self, latents: Any) -> Any:
        """The classes a conditional G draws for ``latents`` (``None`` when unconditional)."""
        return latent_class(latents, self.num_classes) if self.num_classes else None

    def _seen(self, images: Any) -> Any:
        """The images as D sees them: augmented when ``augment`` is set."""
        return self.augment(images) if self.augment is not None else images

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

    # -- distribution ------------------------------------------------------------------------
    def distributed_step(self, batch: Any, train_g: bool) -> dict[str, Any]:
        """:meth:`train_step` on every replica; logs averaged over replicas."""
        per_replica = self.strategy.run(self._replica_steps[train_g], args=(batch,))
        return {key: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                for key, value in per_replica.items()}

    # -- K steps per call --------------------------------------------------------------------
    def execute(self, iterator: Any, steps: int, global_step: int, carry: Carry) -> Execution:
        """Run up to ``steps`` steps from ``iterator`` in one call; one wait for the host.

        Args:
            iterator: The epoch's distributed iterator, holding at least
                ``steps`` more batches.
            steps: Steps to run (stops early at a non-finite step).
            global_step: Steps done in the run before these (picks the steps
                where G trains when ``d_steps > 1``).
            carry: The epoch's log sums so far and the last G loss (the G loss
                reported on steps where G does not train).

        """
        keys = self.log_keys
        totals = {key: tf.constant(carry.totals.get(key, 0.0), tf.float64) for key in keys}
        out = self._execute(iterator, tf.constant(steps, tf.int64),
                            tf.constant(global_step, tf.int64), totals,
                            tf.constant(carry.last_g_loss, tf.float32))
        done, bad, totals, last, failed = (np.asarray(v) for v in (
            out["done"], out["bad"], out["totals"], out["last"], out["failed"]))
        host_totals = {key: float(value) for key, value in zip(keys, totals, strict=True)}
        last_logs = (dict(zip(keys, map(float, last), strict=True)) if int(done) else None)
        bad_logs = dict(zip(keys, map(float, failed), strict=True)) if bool(bad) else None
        return Execution(int(done), host_totals, last_logs, bad_logs)

    def _execute_steps(self, iterator: Any, steps: Any, global_step: Any,
                       totals: dict[str, Any], last_g: Any) -> dict[str, Any]:
        keys = self.log_keys
        last = tf.zeros([len(keys)], tf.float32)
        failed = tf.zeros([len(keys)], tf.float32)
        sums = tf.stack([totals[key] for key in keys])
        done = tf.constant(0, tf.int64)
        bad = tf.constant(False)
        for _ in tf.range(steps):
            logs = self._one_step(next(iterator), global_step + done, last_g)
            row = tf.stack([logs[key] for key in keys])
            if not tf.reduce_all(tf.math.is_finite(row)):
                failed = row
                bad = tf.constant(True)
                break
            # Summed in float64 in step order: the same sums as step-by-step on the host.
            sums = sums + tf.cast(row, tf.float64)
            last = row
            last_g = logs["g_loss"]
            done += 1
        return {"done": done, "bad": bad, "totals": sums, "last": last, "failed": failed}

    def _one_step(self, batch: Any, global_step: Any, last_g: Any) -> dict[str, Any]:
        """One distributed step, with ``g_loss`` filled in on steps where G does not train."""
        if self.d_steps == 1:
            return self.distributed_step(batch, train_g=True)
        train_g = tf.equal((global_step + 1) % self.d_steps, 0)
        # Without a G update: the last G loss, and no G regularizer term.
        skipped = {"g_loss": last_g, **{key: tf.constant(0.0, tf.float32)
                                        for key in self.penalties.keys_of("generator")}}
        return tf.cond(train_g, lambda: self.distributed_step(batch, train_g=True),
                       lambda: {**self.distributed_step(batch, train_g=False), **skipped})

    # -- learning rates -------------------------------------------------------------------------
    def learning_rates(self) -> dict[str, float]:
        """Current learning rates of both optimizers."""
        return {"lr_g": _as_float(self.g_optimizer.learning_rate),
                "lr_d": _as_float(self.d_optimizer.learning_rate)}


def _as_float(value: Any) -> float:
    """A learning rate (Keras variable, or a schedule's tensor) as a float."""
    # keras.ops.convert_to_numpy warns under numpy 2 for Keras variables.
    return float(np.asarray(getattr(value, "value", value)))
