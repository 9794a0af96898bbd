"""Paired GAN losses, in the style of TF-GAN's ``losses_impl.py``.

Every loss takes a :class:`ganlab.LossInputs` and returns a float32 scalar:
the mean over the (replica's) batch. The discriminator's outputs are
*logits* (no sigmoid); the sigmoid-based losses use
``tf.nn.sigmoid_cross_entropy_with_logits`` / softplus forms, which never
take the log of a saturated probability. Logits are cast to float32 first, so
the losses are safe under mixed precision.

Registered names:

- ``bce``: sigmoid cross-entropy with the non-saturating generator loss (the
  DCGAN study's), optional one-sided label smoothing.
- ``minimax``: the original saturating generator loss.
- ``least_squares``: LSGAN.
- ``hinge``: hinge loss (SAGAN, SN-GAN).
- ``wasserstein_gp``: WGAN with gradient penalty.
"""

from __future__ import annotations

from typing import Any

from ganlab import LossInputs, hookimpl, params

# tensorflow is imported inside the functions: loading the plugin (for
# ``ganlab list-plugins``) must not pay for a TensorFlow import.

GRADIENT_NORM_EPSILON = 1e-10  # keeps sqrt differentiable where a gradient is exactly 0


def _f32(x: Any) -> Any:
    import tensorflow as tf

    return tf.cast(x, tf.float32)


def _mean(x: Any) -> Any:
    import tensorflow as tf

    return tf.reduce_mean(_f32(x))


def _mean_sigmoid_cross_entropy(logits: Any, label: float) -> Any:
    """Mean of ``-[y log σ(l) + (1 - y) log(1 - σ(l))]`` for a constant label ``y``."""
    import tensorflow as tf

    logits = _f32(logits)
    labels = tf.fill(tf.shape(logits), tf.constant(label, tf.float32))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


class BCELoss:
    """Sigmoid cross-entropy with the non-saturating generator loss.

    The DCGAN study's loss. The discriminator minimises
    ``-log D(x) - log(1 - D(G(z)))``; the generator minimises ``-log D(G(z))``
    instead of the saturating ``log(1 - D(G(z)))``, which gives it strong
    gradients early in training, when D rejects its samples confidently.

    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014,
    https://arxiv.org/abs/1406.2661 (section 3, the non-saturating heuristic).
    One-sided label smoothing: Salimans et al., "Improved Techniques for
    Training GANs", NeurIPS 2016, https://arxiv.org/abs/1606.03498 (section 3.4).

    Args:
        real_label_smoothing: The *target* for real images in D's loss: 1.0
            (the default) is no smoothing, 0.9 is the usual one-sided smoothing.
            Fake targets stay 0 (smoothing them too would reward D for
            letting fakes through), and the generator's target stays 1.

    Raises:
        ValueError: ``real_label_smoothing`` outside (0.5, 1].

    """

    def __init__(self, real_label_smoothing: float = 1.0) -> None:
        value = params.number("real_label_smoothing", real_label_smoothing)
        if not 0.5 < value <= 1.0:
            raise ValueError(
                "real_label_smoothing is the target label for real images, in (0.5, 1] "
                f"(1.0 = none, 0.9 as in Salimans et al. 2016), got {real_label_smoothing}; "
                "it is not the amount of smoothing")
        self.real_label_smoothing = value

    def discriminator_loss(self, inputs: LossInputs) -> Any:
        """``BCE(real, smoothed 1) + BCE(fake, 0)``, each averaged over the batch."""
        return (_mean_sigmoid_cross_entropy(inputs.real_logits, self.real_label_smoothing)
                + _mean_sigmoid_cross_entropy(inputs.fake_logits, 0.0))

    def generator_loss(self, inputs: LossInputs) -> Any:
        """``BCE(fake, 1) = mean(-log σ(fake))``: the non-saturating loss."""
        return _mean_sigmoid_cross_entropy(inputs.fake_logits, 1.0)


class MinimaxLoss(BCELoss):
    """The original minimax GAN loss, with the saturating generator loss.

    The generator minimises ``log(1 - D(G(z))) = -softplus(fake_logit)``,
    exactly the negative of the fake half of D's loss (the zero-sum game).
    It saturates (vanishing gradient) when D confidently rejects the fakes;
    kept for comparison with ``bce``.

    Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014,
    https://arxiv.org/abs/1406.2661 (equation 1).

    Args:
        real_label_smoothing: As for ``bce``: the target for real images in
            D's loss (1.0 = none).

    """

    def generator_loss(self, inputs: LossInputs) -> Any:
        """``mean(log(1 - σ(fake))) = -mean(softplus(fake))``."""
        import tensorflow as tf

        return -tf.reduce_mean(tf.nn.softplus(_f32(inputs.fake_logits)))


class LeastSquaresLoss:
    """Least-squares GAN loss (LSGAN), on the discriminator's linear output.

    ``D: ½ E[(D(x) - b)²] + ½ E[(D(G(z)) - a)²]`` and
    ``G: ½ E[(D(G(z)) - c)²]``, with the paper's notation: ``a`` the fake
    label, ``b`` the real label, ``c`` the value G wants D to believe for
    fakes. The defaults 0/1/1 are the paper's "0-1 coding" (its equation 9);
    ``a=-1, b=1, c=0`` minimise the Pearson χ² divergence (its equation 8).

    Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017,
    https://arxiv.org/abs/1611.04076.

    Args:
        a: Target for fake images in D's loss.
        b: Target for real images in D's loss.
        c: Target for fake images in G's loss.

    """

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0) -> None:
        self.a = params.number("a", a)
        self.b = params.number("b", b)
        self.c = params.number("c", c)
        if self.a == self.b:
            raise ValueError(f"the fake label a and the real label b must differ, got {a} and {b}")

    def discriminator_loss(self, inputs: LossInputs) -> Any:
        """``½ mean((real - b)²) + ½ mean((fake - a)²)``."""
        import tensorflow as tf

        return 0.5 * (tf.reduce_mean(tf.square(_f32(inputs.real_logits) - self.b))
                      + tf.reduce_mean(tf.square(_f32(inputs.fake_logits) - self.a)))

    def generator_loss(self, inputs: LossInputs) -> Any:
        """``½ mean((fake - c)²)``."""
        import tensorflow as tf

        return 0.5 * tf.reduce_mean(tf.square(_f32(inputs.fake_logits) - self.c))


class HingeLoss:
    """Hinge GAN loss.

    ``D: E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]`` and ``G: -E[D(G(z))]``.

    Lim & Ye, "Geometric GAN", 2017, https://arxiv.org/abs/1705.02894;
    Miyato et al., "Spectral Normalization for Generative Adversarial
    Networks", ICLR 2018, https://arxiv.org/abs/1802.05957 (equations 16-17).
    """

    def discriminator_loss(self, inputs: LossInputs) -> Any:
        """``mean(relu(1 - real)) + mean(relu(1 + fake))``."""
        import tensorflow as tf

        return (tf.reduce_mean(tf.nn.relu(1.0 - _f32(inputs.real_logits)))
                + tf.reduce_mean(tf.nn.relu(1.0 + _f32(inputs.fake_logits))))

    def generator_loss(self, inputs: LossInputs) -> Any:
        """``-mean(fake)``."""
        return -_mean(inputs.fake_logits)


class WassersteinGPLoss:
    """Wasserstein GAN loss with gradient penalty (WGAN-GP).

    ``D: E[D(G(z))] - E[D(x)] + λ E[(‖∇D(x̂)‖₂ - 1)²]`` with
    ``x̂ = x + ε (G(z) - x)``, ``ε ~ U(0, 1)`` drawn per example, and
    ``G: -E[D(G(z))]``. The penalty's gradient is taken with a tape nested in
    the engine's, so its own dependence on D's weights is differentiated
    (second order), inside ``tf.function`` and replica contexts alike.

    Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017,
    https://arxiv.org/abs/1704.00028 (algorithm 1). The paper recommends a
    critic *without* batch norm (the penalty is per example; batch norm couples
    the examples of a batch): with the ``dcgan`` architecture set
    ``discriminator_norm: layer`` (the paper's choice) or ``none``. It trains
    with several critic steps per generator step and Adam(1e-4, β=(0, 0.9)).
    Under ``mixed_float16`` the penalty's inner gradient is not loss-scaled.

    Args:
        gp_weight: λ, the penalty weight (10 in the paper).

    Raises:
        ValueError: A negative ``gp_weight``.

    """

    def __init__(self, gp_weight: float = 10.0) -> None:
        self.gp_weight = params.number("gp_weight", gp_weight, minimum=0)

    def discriminator_loss(self, inputs: LossInputs) -> Any:
        """``mean(fake) - mean(real) + gp_weight · gradient_penalty``."""
        loss = _mean(inputs.fake_logits) - _mean(inputs.real_logits)
        if self.gp_weight:
            loss += self.gp_weight * self.gradient_penalty(inputs)
        return loss

    def generator_loss(self, inputs: LossInputs) -> Any:
        """``-mean(fake)``."""
        return -_mean(inputs.fake_logits)

    def gradient_penalty(self, inputs: LossInputs) -> Any:
        """``mean((‖∇D(x̂)‖₂ - 1)²)`` over random interpolates ``x̂`` of real and fake."""
        import tensorflow as tf

        real = _f32(inputs.real_data)
        fake = _f32(inputs.generated_data)
        # One ε per example, broadcast over the other axes (any image rank).
        shape = tf.concat([tf.shape(real)[:1], tf.ones_like(tf.shape(real)[1:])], axis=0)
        epsilon = tf.random.uniform(shape, 0.0, 1.0, dtype=tf.float32)
        # Only D's weights get gradients from the penalty: no path back into G.
        interpolates = tf.stop_gradient(real + epsilon * (fake - real))
        with tf.GradientTape() as tape:
            tape.watch(interpolates)
            logits = _f32(inputs.discriminator(interpolates, training=True))
        gradients = tape.gradient(logits, interpolates)
        axes = tf.range(1, tf.rank(gradients))
        norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=axes) + GRADIENT_NORM_EPSILON)
        return tf.reduce_mean(tf.square(norms - 1.0))


@hookimpl
def register_losses(register: Any) -> None:
    """Register ``bce``, ``minimax``, ``least_squares``, ``hinge`` and ``wasserstein_gp``."""
    register("bce", BCELoss,
             description="Sigmoid cross-entropy, non-saturating G loss (Goodfellow et al. 2014), "
                         "optional one-sided label smoothing (Salimans et al. 2016)")
    register("minimax", MinimaxLoss,
             description="Original minimax loss, saturating G loss (Goodfellow et al. 2014)")
    register("least_squares", LeastSquaresLoss,
             description="Least-squares GAN, a/b/c targets (Mao et al. 2017)")
    register("hinge", HingeLoss,
             description="Hinge loss (Lim & Ye 2017; Miyato et al. 2018)")
    register("wasserstein_gp", WassersteinGPLoss,
             description="Wasserstein loss with gradient penalty (Gulrajani et al. 2017)")
