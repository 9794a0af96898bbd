"""Spectral normalization (Miyato et al. 2018): σ against numpy's SVD, state, gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from ganlab_builtins.layers import SpectralNormalization


def wrapped(layer: keras.layers.Layer, inputs: np.ndarray, **kwargs) -> SpectralNormalization:
    sn = SpectralNormalization(layer, **kwargs)
    sn(inputs)
    return sn


CASES = {
    "dense": (lambda: keras.layers.Dense(7), np.ones((4, 5), "float32")),
    "conv2d": (lambda: keras.layers.Conv2D(6, 3), np.ones((2, 8, 8, 3), "float32")),
    "conv2d_transpose": (lambda: keras.layers.Conv2DTranspose(6, 3, strides=2),
                         np.ones((2, 8, 8, 3), "float32")),
    "embedding": (lambda: keras.layers.Embedding(10, 6), np.array([1, 2, 3])),
}


def paper_matrix(name: str, weight: np.ndarray) -> np.ndarray:
    """The weight as the paper reshapes it: (d_out, rest), output units first."""
    if name == "conv2d":  # (kh, kw, in, out) -> (out, in·kh·kw)
        return np.transpose(weight, (3, 2, 0, 1)).reshape(weight.shape[-1], -1)
    if name == "conv2d_transpose":  # (kh, kw, out, in): the output axis is -2
        return np.transpose(weight, (2, 3, 0, 1)).reshape(weight.shape[-2], -1)
    return weight.T


@pytest.mark.parametrize("name", sorted(CASES))
def test_sigma_estimate_matches_numpy_svd(name: str) -> None:
    keras.utils.set_random_seed(1)
    make, inputs = CASES[name]
    sn = wrapped(make(), inputs)
    weight = sn.weight.numpy()
    expected = np.linalg.svd(paper_matrix(name, weight), compute_uv=False)[0]
    initial = float(sn.spectral_norm())
    for _ in range(60):  # one power iteration per training call, u carried over
        sn(inputs, training=True)
    assert initial < expected * 0.999  # a random u starts below σ: the iteration did the work
    assert float(sn.spectral_norm()) == pytest.approx(expected, rel=1e-4)
    np.testing.assert_array_equal(sn.weight.numpy(), weight)  # W itself is never written


def test_dense_output_uses_a_unit_spectral_norm_weight() -> None:
    keras.utils.set_random_seed(2)
    sn = wrapped(keras.layers.Dense(7, use_bias=False), np.ones((1, 5), "float32"),
                 power_iterations=50)
    sn(np.ones((1, 5), "float32"), training=True)
    effective = sn(np.eye(5, dtype="float32")).numpy()  # rows of W / σ
    assert np.linalg.svd(effective, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-4)
    np.testing.assert_allclose(effective, sn.weight.numpy() / float(sn.spectral_norm()),
                               rtol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_trainable_variable_gets_a_gradient(name: str) -> None:
    make, inputs = CASES[name]
    sn = wrapped(make(), inputs)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(sn(inputs, training=True)))
    gradients = tape.gradient(loss, sn.trainable_variables)
    assert sn.trainable_variables and all(g is not None for g in gradients)
    assert all(float(tf.reduce_sum(tf.abs(g))) > 0 for g in gradients)
    assert all(v is not sn.u for v in sn.trainable_variables)


def test_gradient_flows_through_sigma() -> None:
    """d(W/σ)/dW includes σ's term: the gradient differs from treating σ as a constant."""
    keras.utils.set_random_seed(3)
    sn = wrapped(keras.layers.Dense(3, use_bias=False), np.ones((1, 4), "float32"))
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(sn(x))
    gradient = tape.gradient(loss, sn.weight).numpy()
    sigma = float(sn.spectral_norm())
    constant_sigma = np.tile(x.sum(axis=0)[:, None], (1, 3)) / sigma
    assert not np.allclose(gradient, constant_sigma, atol=1e-4)
    # Finite differences on one entry of W confirm the analytic gradient.
    kernel = sn.weight.numpy()
    step = 1e-2
    losses = []
    for sign in (1, -1):
        moved = kernel.copy()
        moved[1, 2] += sign * step
        sn.weight.assign(moved)
        losses.append(float(tf.reduce_sum(sn(x))))
    sn.weight.assign(kernel)
    assert (losses[0] - losses[1]) / (2 * step) == pytest.approx(gradient[1, 2], rel=1e-2)


def test_u_changes_only_when_training() -> None:
    sn = wrapped(keras.layers.Dense(4), np.ones((2, 3), "float32"))
    before = sn.u.numpy().copy()
    for training in (False, None):
        sn(np.ones((2, 3), "float32"), training=training)
        np.testing.assert_array_equal(sn.u.numpy(), before)
    sn(np.ones((2, 3), "float32"), training=True)
    assert not np.array_equal(sn.u.numpy(), before)


def test_u_is_a_saved_non_trainable_weight_that_round_trips_a_checkpoint(tmp_path) -> None:
    inputs = keras.Input((5,))
    model = keras.Model(inputs, SpectralNormalization(keras.layers.Dense(3), name="sn")(inputs))
    sn = model.get_layer("sn")
    assert any(w is sn.u for w in model.non_trainable_weights)
    assert sn.u.aggregation == "only_first_replica"
    model(np.ones((2, 5), "float32"), training=True)
    saved = sn.u.numpy().copy()
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    model(np.ones((2, 5), "float32"), training=True)
    assert not np.array_equal(sn.u.numpy(), saved)
    tf.train.Checkpoint(model=model).read(path).assert_consumed()
    np.testing.assert_array_equal(sn.u.numpy(), saved)


def test_keras_file_round_trip(tmp_path) -> None:
    images = keras.Input((8, 8, 1))
    x = SpectralNormalization(keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same"),
                              power_iterations=2, epsilon=1e-8, name="up")(images)
    model = keras.Model(images, x)
    model(np.ones((1, 8, 8, 1), "float32"), training=True)
    model.save(tmp_path / "g.keras")
    loaded = keras.models.load_model(tmp_path / "g.keras")
    layer = loaded.get_layer("up")
    assert (layer.power_iterations, layer.epsilon) == (2, 1e-8)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"power_iterations": 0}, "power_iterations"),
    ({"power_iterations": True}, "power_iterations"),
    ({"epsilon": 0.0}, "epsilon"),
])
def test_bad_arguments(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        SpectralNormalization(keras.layers.Dense(2), **kwargs)


def test_a_layer_without_a_kernel_is_refused() -> None:
    with pytest.raises(ValueError, match="kernel"):
        wrapped(keras.layers.Flatten(), np.ones((1, 2, 2), "float32"))



def test_mixed_precision_estimates_sigma_from_the_float32_weight() -> None:
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        inputs = keras.Input((6,))
        sn = SpectralNormalization(keras.layers.Dense(5), name="sn")
        model = keras.Model(inputs, sn(inputs))
    finally:
        keras.config.set_dtype_policy(previous)
    x = np.random.default_rng(5).normal(size=(4, 6)).astype("float32")
    for _ in range(80):
        model(x, training=True)
    assert model(x).dtype == "float16" and sn.u.dtype == "float32"
    expected = np.linalg.svd(sn.weight.numpy(), compute_uv=False)[0]
    # float16-rounded weights would be off by ~1e-3.
    assert float(sn.spectral_norm()) == pytest.approx(expected, rel=1e-5)

# -- dcgan's spectral_norm parameter --------------------------------------------------------


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers with a kernel or embeddings, each as the model holds it (wrapped or not)."""
    return [layer for layer in model.layers
            if isinstance(layer, (SpectralNormalization, keras.layers.Dense, keras.layers.Conv2D,
                                  keras.layers.Embedding))]


@pytest.mark.parametrize("num_classes", [0, 3])
def test_dcgan_spectral_norm_modes(num_classes: int) -> None:
    from ganlab_builtins.dcgan import DCGAN

    def build(mode: str) -> tuple[keras.Model, keras.Model]:
        arch = DCGAN((32, 32, 1), base_filters=4, latent_dim=8, num_classes=num_classes,
                     spectral_norm=mode)
        return arch.build_generator(), arch.build_discriminator()

    for mode, g_wrapped in (("none", False), ("discriminator", False), ("both", True)):
        generator, discriminator = build(mode)
        d_layers, g_layers = weighted_layers(discriminator), weighted_layers(generator)
        assert len(d_layers) == 4 + (num_classes > 0)  # 3 convs, the logit, the embedding
        assert all(isinstance(layer, SpectralNormalization) == (mode != "none")
                   for layer in d_layers), mode
        assert all(isinstance(layer, SpectralNormalization) == g_wrapped for layer in g_layers)
        # SN-DCGAN: no batch norm in D; G keeps its batch norm in every mode.
        d_bn = [la for la in discriminator.layers
                if isinstance(la, keras.layers.BatchNormalization)]
        assert bool(d_bn) == (mode == "none")
        assert [la for la in generator.layers if isinstance(la, keras.layers.BatchNormalization)]
        z = np.random.default_rng(0).uniform(-1, 1, (2, 8 + num_classes)).astype("float32")
        images = generator(z, training=True)
        inputs = [images, tf.constant([0, 1])] if num_classes else images
        assert tuple(discriminator(inputs, training=True).shape) == (2, 1)


def test_dcgan_spectral_norm_keeps_an_explicit_discriminator_norm() -> None:
    from ganlab_builtins.dcgan import DCGAN

    arch = DCGAN((32, 32, 1), base_filters=4, spectral_norm="discriminator",
                 discriminator_norm="layer")
    assert arch.discriminator_norm == "layer"
    assert DCGAN((32, 32, 1)).discriminator_norm == "batch"
    assert DCGAN((32, 32, 1), spectral_norm="both").discriminator_norm == "none"


@pytest.mark.parametrize("value", ["generator", "yes", True, None])
def test_dcgan_bad_spectral_norm_refused(value) -> None:
    from ganlab_builtins.dcgan import DCGAN

    with pytest.raises(ValueError, match="spectral_norm"):
        DCGAN((32, 32, 1), spectral_norm=value)


MIRRORED_SCRIPT = """
import numpy as np, keras, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from ganlab_builtins.layers import SpectralNormalization
keras.utils.set_random_seed(0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    images, labels = keras.Input((8, 8, 3)), keras.Input((), dtype="int32")
    x = SpectralNormalization(keras.layers.Conv2D(4, 3, strides=2), name="conv")(images)
    features = keras.layers.Flatten()(x)
    logit = SpectralNormalization(keras.layers.Dense(1), name="dense")(features)
    embedded = SpectralNormalization(keras.layers.Embedding(3, 36), name="embed")(labels)
    out = keras.layers.Add()([logit, keras.layers.Dot(axes=1)([embedded, features])])
    model = keras.Model([images, labels], out)
    optimizer = keras.optimizers.Adam(1e-2)
    optimizer.build(model.trainable_variables)
data = (np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype("float32"),
        np.arange(8, dtype="int32") % 3)
batches = iter(strategy.experimental_distribute_dataset(
    tf.data.Dataset.from_tensor_slices(data).batch(8).repeat()))

@tf.function
def step(batch):
    def replica(images, labels):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model([images, labels], training=True) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        assert all(g is not None for g in grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
    strategy.run(replica, args=batch)

start = [layer.u.numpy().copy() for layer in model.layers
         if isinstance(layer, SpectralNormalization)]
for _ in range(3):
    step(next(batches))
for layer, first in zip([la for la in model.layers if isinstance(la, SpectralNormalization)],
                        start):
    copies = [v.numpy() for v in layer.u.value.values]
    assert len(copies) == 2 and all(np.array_equal(c, copies[0]) for c in copies), layer.name
    assert not np.array_equal(copies[0], first), layer.name
    assert abs(np.linalg.norm(copies[0]) - 1) < 1e-5
print("OK")
"""


def test_u_stays_identical_on_every_replica_under_mirrored_strategy() -> None:
    """Two logical CPUs in a fresh process: the power iteration runs on each replica and
    every copy of u agrees after training steps (aggregation only_first_replica)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    completed = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], env=env,
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0 and "OK" in completed.stdout, (
        completed.stdout + completed.stderr)
