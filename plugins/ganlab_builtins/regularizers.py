"""Regularizers of the discriminator, each checked against its paper.

Every regularizer is a :class:`ganlab.Regularizer`: the engine adds
``weight * interval * penalty(inputs)`` to the discriminator's loss on every
``interval``-th discriminator update (lazy regularization, as StyleGAN2 does
for R1 with ``interval: 16``) and logs the term as ``reg_<name>``. Penalties
are float32 means over the replica's batch; images and logits are cast to
float32 first, so they are safe under mixed precision.

Registered names:

- ``r1``: gradient penalty on real images (Mescheder et al. 2018).
- ``r2``: the same penalty on generated images (Mescheder et al. 2018).
- ``lecam``: LeCam regularization towards running means of D's outputs
  (Tseng et al. 2021).
- ``bcr``: balanced consistency regularization under augmentation
  (Zhao et al. 2021).
"""

from __future__ import annotations

from typing import Any

from ganlab import RegularizerInputs, hookimpl, params
from ganlab.contracts import AUGMENTATIONS

# tensorflow is imported inside the functions: loading the plugin (for
# ``ganlab list-plugins``) must not pay for a TensorFlow import.


def _f32(x: Any) -> Any:
    import tensorflow as tf

    return tf.cast(x, tf.float32)


def mean_squared_gradient_norm(discriminator: Any, images: Any) -> Any:
    """``E[‖∇ₓ D(x)‖²]`` over the batch: the squared norm of D's gradient at each image.

    The gradient is taken with a tape nested in the engine's, so the
    penalty's own dependence on D's weights is differentiated (second order).
    Only D is penalised: no gradient flows back into what made ``images``.
    """
    import tensorflow as tf

    images = tf.stop_gradient(_f32(images))
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = _f32(discriminator(images, training=True))
    gradients = tape.gradient(logits, images)
    axes = tf.range(1, tf.rank(gradients))
    return tf.reduce_mean(tf.reduce_sum(tf.square(gradients), axis=axes))


class R1:
    """R1: a gradient penalty on real data, ``(γ/2) E_x[‖∇ₓ D(x)‖²]``.

    Penalising D's gradient on the real data (and nothing else) makes
    GAN training locally convergent where unregularized training is not.
    Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually
    Converge?", ICML 2018, https://arxiv.org/abs/1801.04406 (equation 9;
    γ = 10 in most of its experiments). With ``interval: 16`` it is lazy
    R1 as in StyleGAN2 (Karras et al. 2020, https://arxiv.org/abs/1912.04958,
    section 3.1): evaluated on every 16th D update and scaled by 16. A
    conditional D's gradient is taken with the real images' labels.

    Args:
        gamma: γ; the weight of the penalty is γ/2.
        interval: Evaluate it every ``interval`` D updates (scaled by it).

    Raises:
        ValueError: A negative ``gamma`` or an ``interval`` below 1.

    """

    applies_to = "discriminator"

    def __init__(self, gamma: float = 10.0, interval: int = 1) -> None:
        self.gamma = params.number("gamma", gamma, minimum=0)
        self.interval = params.positive_int("interval", interval)
        self.weight = self.gamma / 2

    def penalty(self, inputs: RegularizerInputs) -> Any:
        """``E[‖∇ₓ D(x)‖²]`` on the real images D saw."""
        return mean_squared_gradient_norm(inputs.discriminator, inputs.real_data)


class R2(R1):
    """R2: the R1 penalty on generated data, ``(γ/2) E_z[‖∇ D(G(z))‖²]``.

    Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually
    Converge?", ICML 2018, https://arxiv.org/abs/1801.04406 (equation 10).
    A conditional D's gradient is taken with the generated images' classes.

    Args:
        gamma: γ; the weight of the penalty is γ/2.
        interval: Evaluate it every ``interval`` D updates (scaled by it).

    """

    def penalty(self, inputs: RegularizerInputs) -> Any:
        """``E[‖∇ D(G(z))‖²]`` on the generated images D saw."""
        return mean_squared_gradient_norm(inputs.fake_discriminator, inputs.generated_data)


class LeCam:
    """LeCam regularization: D's outputs held near running means of the other side's.

    ``R = E_x[ReLU(D(x) - α_F)²] + E_z[ReLU(α_R - D(G(z)))²]`` where α_R and
    α_F are exponential moving averages of D's mean logit on real and on
    generated images. It bounds how far D's predictions on real and fake
    can drift apart, which keeps a GAN trained on little data from
    overfitting. Tseng, Jiang, Liu, Yang & Yang, "Regularizing Generative
    Adversarial Networks under Limited Data", CVPR 2021,
    https://arxiv.org/abs/2104.03310. As in the authors' code,
    the penalty is one-sided (ReLU: only predictions beyond the other side's
    anchor are penalised) and the averages are zero-debiased: each anchor is
    ``m / (1 - decay^t)`` after ``t`` updates of ``m ← decay·m +
    (1 - decay)·mean``, so the first anchors are the first means, not
    values pulled towards 0. The anchors are updated on the updates where the
    penalty is evaluated, before it is computed, with the means over every
    replica's batch (so all replicas hold the same anchors), and saved in
    checkpoints.

    Args:
        weight: λ, the penalty's weight (tuned per dataset in the paper).
        decay: Decay of the moving averages, in (0, 1) (0.99 in the paper).
        interval: Evaluate it every ``interval`` D updates (scaled by it).

    Raises:
        ValueError: A negative ``weight``, a ``decay`` outside (0, 1) or an
            ``interval`` below 1.

    """

    applies_to = "discriminator"

    def __init__(self, weight: float = 0.3, decay: float = 0.99, interval: int = 1) -> None:
        import tensorflow as tf

        self.weight = params.number("weight", weight, minimum=0)
        self.decay = params.number("decay", decay, minimum=0, maximum=1,
                                   exclusive_minimum=True, exclusive_maximum=True)
        self.interval = params.positive_int("interval", interval)

        def state(name: str) -> Any:
            # One copy per replica, assigned without a cross-replica sync (none is allowed
            # inside the step); every replica assigns the same all-reduced values.
            return tf.Variable(0.0, trainable=False, name=name,
                               synchronization=tf.VariableSynchronization.ON_READ,
                               aggregation=tf.VariableAggregation.MEAN)

        self.biased_real = state("lecam_biased_real")
        self.biased_fake = state("lecam_biased_fake")
        self.updates = state("lecam_updates")

    @property
    def variables(self) -> list[Any]:
        """The moving averages (before debiasing) and their update count: checkpointed."""
        return [self.biased_real, self.biased_fake, self.updates]

    def anchors(self) -> tuple[Any, Any]:
        """The current anchors ``(α_R, α_F)`` (zero-debiased)."""
        return self._debiased(self.biased_real, self.updates), \
            self._debiased(self.biased_fake, self.updates)

    def _debiased(self, biased: Any, updates: Any) -> Any:
        import tensorflow as tf

        return tf.math.divide_no_nan(biased, 1.0 - tf.pow(self.decay, updates))

    def penalty(self, inputs: RegularizerInputs) -> Any:
        """Update the anchors with this batch's mean logits, then the one-sided penalty."""
        import tensorflow as tf

        real, fake = _f32(inputs.real_logits), _f32(inputs.fake_logits)
        means = _global_mean(tf.stop_gradient(tf.stack([tf.reduce_mean(real),
                                                        tf.reduce_mean(fake)])))
        # The engine may evaluate a lazy penalty on updates it does not count (several
        # replicas): the anchors move on the counted ones only.
        due = tf.equal(tf.math.floormod(tf.cast(inputs.step, tf.int64), self.interval), 0)
        updates = tf.where(due, self.updates + 1.0, self.updates)
        biased_real = tf.where(due, self.decay * self.biased_real
                               + (1.0 - self.decay) * means[0], self.biased_real)
        biased_fake = tf.where(due, self.decay * self.biased_fake
                               + (1.0 - self.decay) * means[1], self.biased_fake)
        self.updates.assign(updates)
        self.biased_real.assign(biased_real)
        self.biased_fake.assign(biased_fake)
        anchor_real = self._debiased(biased_real, updates)
        anchor_fake = self._debiased(biased_fake, updates)
        return (tf.reduce_mean(tf.square(tf.nn.relu(real - anchor_fake)))
                + tf.reduce_mean(tf.square(tf.nn.relu(anchor_real - fake))))


def _global_mean(values: Any) -> Any:
    """``values`` averaged over the replicas of the step (as is, with one replica)."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return context.all_reduce(tf.distribute.ReduceOp.MEAN, values)


class BalancedConsistency:
    """Balanced consistency regularization (bCR): D unchanged by augmentation, real and fake.

    ``λ_real E_x[(D(x) - D(T(x)))²] + λ_fake E_z[(D(G(z)) - D(T(G(z))))²]``
    on D's logits, where ``T`` is a random semantics-preserving augmentation.
    Zhao, Singh, Lee, Zhang, Odena & Zhang, "Improved Consistency
    Regularization for GANs", AAAI 2021, https://arxiv.org/abs/2002.04724
    (section 3.1, algorithm 1; λ_real = λ_fake = 10). ``T`` is the engine's
    differentiable augmentation (DiffAugment: ``color``, ``translation``,
    ``cutout``), drawn from the run's checkpointed random generator: the
    transformations given here, or the experiment's ``train.augment``. When
    ``train.augment`` is on, ``x`` is already augmented (it is what D saw)
    and ``T`` is a second, independent draw.

    Args:
        lambda_real: λ_real, the weight of the real images' term.
        lambda_fake: λ_fake, the weight of the generated images' term.
        transforms: DiffAugment transformations for ``T``; ``null`` (the
            default): the experiment's ``train.augment`` (then it must not be
            empty).
        interval: Evaluate it every ``interval`` D updates (scaled by it).

    Raises:
        ValueError: Negative lambdas, an unknown or empty transformation
            list, or an ``interval`` below 1.

    """

    applies_to = "discriminator"
    weight = 1.0

    def __init__(self, lambda_real: float = 10.0, lambda_fake: float = 10.0,
                 transforms: list[str] | None = None, interval: int = 1) -> None:
        self.lambda_real = params.number("lambda_real", lambda_real, minimum=0)
        self.lambda_fake = params.number("lambda_fake", lambda_fake, minimum=0)
        self.interval = params.positive_int("interval", interval)
        if transforms is not None:
            if not isinstance(transforms, list) or not transforms:
                raise ValueError(f"transforms must be a non-empty list of "
                                 f"{', '.join(AUGMENTATIONS)}, got {transforms!r}")
            for name in transforms:
                params.choice("transforms", name, AUGMENTATIONS)
        self.transforms = transforms

    def penalty(self, inputs: RegularizerInputs) -> Any:
        """``λ_real·E[(D(x) - D(T(x)))²] + λ_fake·E[(D(G(z)) - D(T(G(z))))²]``."""
        import tensorflow as tf

        real_seen = _f32(inputs.discriminator(inputs.augment(inputs.real_data, self.transforms),
                                              training=True))
        fake_seen = _f32(inputs.fake_discriminator(
            inputs.augment(inputs.generated_data, self.transforms), training=True))
        real_term = tf.reduce_mean(tf.square(_f32(inputs.real_logits) - real_seen))
        fake_term = tf.reduce_mean(tf.square(_f32(inputs.fake_logits) - fake_seen))
        return self.lambda_real * real_term + self.lambda_fake * fake_term


@hookimpl
def register_regularizers(register: Any) -> None:
    """Register ``r1``, ``r2``, ``lecam`` and ``bcr``."""
    register("r1", R1,
             description="R1 gradient penalty on real images, gamma/2, lazy interval "
                         "(Mescheder et al. 2018; Karras et al. 2020)")
    register("r2", R2,
             description="R2 gradient penalty on generated images (Mescheder et al. 2018)")
    register("lecam", LeCam,
             description="LeCam regularization towards EMA anchors of D's outputs "
                         "(Tseng et al. 2021)")
    register("bcr", BalancedConsistency,
             description="Balanced consistency regularization under DiffAugment "
                         "(Zhao et al. 2021)")
