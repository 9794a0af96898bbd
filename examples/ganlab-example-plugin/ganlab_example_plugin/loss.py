"""The non-saturating GAN loss with an optional R1 penalty (Mescheder et al. 2018)."""

import tensorflow as tf

from ganlab import LossInputs, params


class NonSaturatingR1:
    """softplus losses on the logits, plus gamma/2 * E||grad D(x_real)||^2 for D.

    Args:
        gamma: Weight of the R1 penalty (0 turns it off).

    """

    def __init__(self, gamma: float = 0.0):
        self.gamma = params.number("gamma", gamma, minimum=0.0)

    def discriminator_loss(self, inputs: LossInputs):
        """Mean over the batch: a scalar."""
        loss = tf.reduce_mean(tf.nn.softplus(-inputs.real_logits)
                              + tf.nn.softplus(inputs.fake_logits))
        if self.gamma:
            with tf.GradientTape() as tape:
                tape.watch(inputs.real_data)
                logits = inputs.discriminator(inputs.real_data, training=True)
            gradients = tape.gradient(logits, inputs.real_data)
            penalty = tf.reduce_mean(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]))
            loss += 0.5 * self.gamma * penalty
        return loss

    def generator_loss(self, inputs: LossInputs):
        """Mean over the batch: a scalar."""
        return tf.reduce_mean(tf.nn.softplus(-inputs.fake_logits))
