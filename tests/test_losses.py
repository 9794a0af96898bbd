"""The losses plugin: every loss on hand-computed values, in and out of tf.function."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from ganlab_builtins import losses
from ganlab_builtins.losses import (
    BCELoss,
    HingeLoss,
    LeastSquaresLoss,
    MinimaxLoss,
    WassersteinGPLoss,
)

from ganlab import GANLoss, LossInputs

LOG2 = math.log(2.0)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def logits(*values: float, dtype: tf.DType = tf.float32) -> tf.Tensor:
    return tf.constant([[v] for v in values], dtype)


def make_inputs(real_logits, fake_logits, *, real_data=None, generated_data=None,
                discriminator=None) -> LossInputs:
    batch = int(real_logits.shape[0])
    image = tf.zeros((batch, 4, 4, 1))
    return LossInputs(
        real_data=image if real_data is None else real_data,
        generated_data=image if generated_data is None else generated_data,
        real_logits=real_logits, fake_logits=fake_logits,
        discriminator=discriminator or (lambda x, training=False: tf.zeros((batch, 1))),
    )


def value(tensor) -> float:
    assert tensor.shape == () and tensor.dtype == tf.float32
    return float(tensor.numpy())


# -- bce / minimax ------------------------------------------------------------------------


def test_bce_at_zero_logits_is_log2():
    inputs = make_inputs(logits(0.0, 0.0), logits(0.0, 0.0))
    loss = BCELoss()
    assert value(loss.discriminator_loss(inputs)) == pytest.approx(2 * LOG2)
    assert value(loss.generator_loss(inputs)) == pytest.approx(LOG2)


def test_bce_known_values():
    # -log σ(l) = softplus(-l); -log(1 - σ(l)) = softplus(l)
    inputs = make_inputs(logits(2.0, -1.0), logits(0.5, -3.0))
    loss = BCELoss()
    d_real = (softplus(-2.0) + softplus(1.0)) / 2
    d_fake = (softplus(0.5) + softplus(-3.0)) / 2
    assert value(loss.discriminator_loss(inputs)) == pytest.approx(d_real + d_fake, rel=1e-6)
    g = (softplus(-0.5) + softplus(3.0)) / 2
    assert value(loss.generator_loss(inputs)) == pytest.approx(g, rel=1e-6)


def test_one_sided_label_smoothing():
    # With target y: y·softplus(-l) + (1 - y)·softplus(l), on real logits only.
    inputs = make_inputs(logits(3.0), logits(-2.0))
    plain, smooth = BCELoss(), BCELoss(real_label_smoothing=0.9)
    d_fake = softplus(-2.0)
    assert value(plain.discriminator_loss(inputs)) == pytest.approx(softplus(-3.0) + d_fake)
    assert value(smooth.discriminator_loss(inputs)) == pytest.approx(
        0.9 * softplus(-3.0) + 0.1 * softplus(3.0) + d_fake, rel=1e-6)
    # one-sided: the fake term and the generator's loss are unchanged
    assert value(smooth.generator_loss(inputs)) == value(plain.generator_loss(inputs))


@pytest.mark.parametrize("bad", [0.1, 0.5, 1.5, "0.9", True])
def test_label_smoothing_refuses_amounts_and_nonsense(bad):
    with pytest.raises((ValueError, TypeError), match="real_label_smoothing"):
        BCELoss(real_label_smoothing=bad)


def test_minimax_known_values():
    inputs = make_inputs(logits(2.0, -1.0), logits(0.0, 1.0))
    loss = MinimaxLoss()
    # G minimises log(1 - σ(f)) = -softplus(f): the negative of D's fake term.
    expected_g = -(softplus(0.0) + softplus(1.0)) / 2
    assert value(loss.generator_loss(inputs)) == pytest.approx(expected_g, rel=1e-6)
    assert value(loss.discriminator_loss(inputs)) == pytest.approx(
        value(BCELoss().discriminator_loss(inputs)))


def test_minimax_saturates_where_non_saturating_does_not():
    fake = tf.constant([[-10.0]])
    inputs = make_inputs(logits(0.0), fake)
    grads = {}
    for name, loss in (("minimax", MinimaxLoss()), ("bce", BCELoss())):
        with tf.GradientTape() as tape:
            tape.watch(fake)
            g = loss.generator_loss(make_inputs(inputs.real_logits, fake))
        grads[name] = float(tape.gradient(g, fake)[0, 0])
    assert abs(grads["minimax"]) < 1e-4  # -σ(-10)
    assert grads["bce"] == pytest.approx(-1.0, abs=1e-4)  # σ(-10) - 1


def test_sigmoid_losses_are_stable_for_extreme_logits():
    inputs = make_inputs(logits(-200.0, 200.0), logits(200.0, -200.0))
    for loss in (BCELoss(), BCELoss(0.9), MinimaxLoss()):
        d, g = value(loss.discriminator_loss(inputs)), value(loss.generator_loss(inputs))
        assert math.isfinite(d) and math.isfinite(g)
    assert value(BCELoss().discriminator_loss(inputs)) == pytest.approx(200.0)


# -- least squares ------------------------------------------------------------------------


def test_least_squares_default_coding():
    inputs = make_inputs(logits(1.0, 3.0), logits(0.0, 2.0))
    loss = LeastSquaresLoss()
    # ½·mean([0, 4]) + ½·mean([0, 4]) = 2;  G: ½·mean([1, 1]) = 0.5
    assert value(loss.discriminator_loss(inputs)) == pytest.approx(2.0)
    assert value(loss.generator_loss(inputs)) == pytest.approx(0.5)


def test_least_squares_custom_abc():
    inputs = make_inputs(logits(1.0, 3.0), logits(0.0, 2.0))
    loss = LeastSquaresLoss(a=-1.0, b=1.0, c=0.0)
    # ½·mean([0, 4]) + ½·mean([1, 9]) = 3.5;  G: ½·mean([0, 4]) = 1
    assert value(loss.discriminator_loss(inputs)) == pytest.approx(3.5)
    assert value(loss.generator_loss(inputs)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="must differ"):
        LeastSquaresLoss(a=1.0, b=1.0)


# -- hinge --------------------------------------------------------------------------------


def test_hinge_known_values():
    inputs = make_inputs(logits(2.0, 0.5, -1.0), logits(-2.0, 0.0, 1.0))
    loss = HingeLoss()
    # relu(1 - r) = [0, 0.5, 2] → 2.5/3;  relu(1 + f) = [0, 1, 2] → 1
    assert value(loss.discriminator_loss(inputs)) == pytest.approx(2.5 / 3 + 1.0)
    assert value(loss.generator_loss(inputs)) == pytest.approx(1.0 / 3)


# -- wasserstein-gp -----------------------------------------------------------------------


def linear_critic(w: tf.Tensor):
    """D(x) = w·x per example: ∇ₓD = w everywhere, so ‖∇D(x̂)‖ = ‖w‖ for every x̂."""

    def critic(x, training=False):
        return tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None]

    return critic


def gp_inputs(critic, batch=5, seed=0):
    rng = np.random.default_rng(seed)
    real = tf.constant(rng.normal(size=(batch, 4, 4, 1)), tf.float32)
    fake = tf.constant(rng.normal(size=(batch, 4, 4, 1)), tf.float32)
    return make_inputs(critic(real), critic(fake), real_data=real, generated_data=fake,
                       discriminator=critic)


@pytest.mark.parametrize("gp_weight", [10.0, 2.5])
def test_wgan_gp_penalty_for_linear_critic(gp_weight):
    w = tf.constant(np.random.default_rng(3).normal(size=(4, 4, 1)), tf.float32)
    norm = float(tf.norm(w))
    inputs = gp_inputs(linear_critic(w))
    loss = WassersteinGPLoss(gp_weight=gp_weight)
    assert value(loss.gradient_penalty(inputs)) == pytest.approx((norm - 1) ** 2, rel=1e-5)
    critic_gap = float(tf.reduce_mean(inputs.fake_logits) - tf.reduce_mean(inputs.real_logits))
    assert value(loss.discriminator_loss(inputs)) == pytest.approx(
        critic_gap + gp_weight * (norm - 1) ** 2, rel=1e-5)
    assert value(loss.generator_loss(inputs)) == pytest.approx(
        -float(tf.reduce_mean(inputs.fake_logits)), rel=1e-6)


def test_wgan_gp_penalty_vanishes_for_unit_norm_critic():
    w = tf.fill((4, 4, 1), 0.25)  # ‖w‖ = √(16 · 0.0625) = 1
    assert value(WassersteinGPLoss().gradient_penalty(gp_inputs(linear_critic(w)))) == (
        pytest.approx(0.0, abs=1e-6))


def test_wgan_gp_second_order_gradient_in_tf_function():
    # A Keras linear critic: the engine's outer tape must see the penalty's
    # dependence on the weights, d/dw λ(‖w‖ - 1)² = 2λ(‖w‖ - 1)·w/‖w‖.
    import keras

    critic = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                               keras.layers.Dense(1, use_bias=False)])
    w = np.random.default_rng(5).normal(size=(16, 1)).astype("float32")
    critic.layers[-1].kernel.assign(w)
    rng = np.random.default_rng(6)
    real = tf.constant(rng.normal(size=(4, 4, 4, 1)), tf.float32)
    fake = tf.constant(rng.normal(size=(4, 4, 4, 1)), tf.float32)
    loss = WassersteinGPLoss(gp_weight=10.0)

    @tf.function
    def d_step():
        with tf.GradientTape() as tape:
            inputs = LossInputs(real, fake, critic(real, training=True),
                                critic(fake, training=True), critic)
            d_loss = loss.discriminator_loss(inputs)
        return d_loss, tape.gradient(d_loss, critic.trainable_variables)[0]

    _, grad = d_step()
    norm = np.linalg.norm(w)
    mean_gap = (fake.numpy().reshape(4, 16).mean(0) - real.numpy().reshape(4, 16).mean(0))
    expected = mean_gap[:, None] + 2 * 10.0 * (norm - 1) * w / norm
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-4, atol=1e-5)


def test_wgan_gp_under_mirrored_strategy_replica_context():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    w = tf.constant(np.random.default_rng(7).normal(size=(4, 4, 1)), tf.float32)
    inputs = gp_inputs(linear_critic(w))
    loss = WassersteinGPLoss()

    @tf.function
    def step():
        return strategy.run(lambda: loss.discriminator_loss(inputs))

    result = strategy.experimental_local_results(step())[0]
    assert value(result) == pytest.approx(value(loss.discriminator_loss(inputs)), rel=1e-5)


def test_wgan_gp_refuses_negative_weight():
    with pytest.raises(ValueError, match="gp_weight"):
        WassersteinGPLoss(gp_weight=-1.0)


# -- all losses ---------------------------------------------------------------------------


def registered() -> dict[str, type]:
    found = {}
    losses.register_losses(lambda name, factory, *, description=None: found.update(
        {name: factory}))
    return found


def test_registers_every_loss_with_a_description():
    descriptions = {}
    losses.register_losses(lambda name, factory, *, description=None: descriptions.update(
        {name: description}))
    assert set(descriptions) == {"bce", "minimax", "least_squares", "hinge", "wasserstein_gp"}
    assert all(descriptions.values())


@pytest.mark.parametrize("name", sorted(registered()))
def test_every_loss_in_tf_function_returns_float32_scalar(name):
    loss = registered()[name]()
    assert isinstance(loss, GANLoss)
    assert "https://arxiv.org/abs/" in type(loss).__doc__
    w = tf.fill((4, 4, 1), 0.5)
    critic = linear_critic(w)
    inputs = gp_inputs(critic)
    # float16 logits, as a mixed-precision discriminator without a float32 head would give
    half = make_inputs(tf.cast(inputs.real_logits, tf.float16),
                       tf.cast(inputs.fake_logits, tf.float16),
                       real_data=inputs.real_data, generated_data=inputs.generated_data,
                       discriminator=critic)

    @tf.function
    def both(real, fake, real_logits, fake_logits):
        # Built inside the graph, as the engine does: a LossInputs is not a
        # tf.function argument type.
        x = make_inputs(real_logits, fake_logits, real_data=real, generated_data=fake,
                        discriminator=critic)
        return loss.discriminator_loss(x), loss.generator_loss(x)

    for case in (inputs, half):
        d, g = both(case.real_data, case.generated_data, case.real_logits, case.fake_logits)
        assert math.isfinite(value(d)) and math.isfinite(value(g))
    eager_g = value(loss.generator_loss(inputs))
    traced_g = both(inputs.real_data, inputs.generated_data, inputs.real_logits,
                    inputs.fake_logits)[1]
    assert value(traced_g) == pytest.approx(eager_g, rel=1e-6)
