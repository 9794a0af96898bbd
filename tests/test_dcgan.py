"""The DCGAN architecture plugin: structure, parameter counts, shapes, init, I/O."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from ganlab_builtins import dcgan
from ganlab_builtins.dcgan import DCGAN

from ganlab import Architecture

SMALL = 8  # base filters for tests that run the networks: fast on CPU


@pytest.fixture(scope="module")
def paper_64() -> tuple[DCGAN, keras.Model, keras.Model]:
    """The paper's 64×64×3 configuration, base_filters 64, built once."""
    arch = DCGAN((64, 64, 3), base_filters=64)
    return arch, arch.build_generator(), arch.build_discriminator()


def layers_of(model: keras.Model, kind: type) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, kind)]


# -- parameter counts from the paper's formulas --------------------------------------------


def bn_params(channels: int) -> int:
    """gamma, beta (trainable) + moving mean, moving variance."""
    return 4 * channels


def expected_generator_params(z: int, b: int, k: int, c: int) -> int:
    # Dense z → 4·4·8b (no bias: BN follows), BN(8b); then 8b→4b→2b→b transposed
    # convs k·k·in·out, each with BN; output b→c, k·k·b·c, no bias (released code).
    widths = [8 * b, 4 * b, 2 * b, b]
    total = z * 4 * 4 * widths[0] + bn_params(widths[0])
    for cin, cout in zip(widths, widths[1:], strict=False):
        total += k * k * cin * cout + bn_params(cout)
    return total + k * k * b * c


def expected_discriminator_params(b: int, k: int, c: int) -> int:
    # c→b (no BN on the input layer), b→2b→4b→8b with BN, Dense 4·4·8b → 1 (no bias).
    widths = [b, 2 * b, 4 * b, 8 * b]
    total = k * k * c * widths[0]
    for cin, cout in zip(widths, widths[1:], strict=False):
        total += k * k * cin * cout + bn_params(cout)
    return total + 4 * 4 * widths[-1]


def test_generator_parameter_count_matches_paper_formula(paper_64):
    _, generator, _ = paper_64
    expected = expected_generator_params(z=100, b=64, k=5, c=3)
    assert expected == 5_128_640  # the formula, evaluated once by hand as a cross-check
    assert generator.count_params() == expected
    non_trainable = sum(2 * w for w in (512, 256, 128, 64))  # moving mean + variance
    assert sum(int(np.prod(v.shape)) for v in generator.non_trainable_weights) == non_trainable


def test_discriminator_parameter_count_matches_paper_formula(paper_64):
    _, _, discriminator = paper_64
    expected = expected_discriminator_params(b=64, k=5, c=3)
    assert expected == 4_317_376
    assert discriminator.count_params() == expected


def test_parameter_counts_with_kernel_4_and_separate_filters():
    arch = DCGAN((64, 64, 1), generator_filters=16, discriminator_filters=8, kernel_size=4,
                 latent_dim=32)
    assert arch.build_generator().count_params() == expected_generator_params(32, 16, 4, 1)
    assert arch.build_discriminator().count_params() == expected_discriminator_params(8, 4, 1)


# -- structure ----------------------------------------------------------------------------


def test_generator_layer_sequence(paper_64):
    _, generator, _ = paper_64
    kinds = [type(layer).__name__ for layer in generator.layers]
    assert kinds == (["InputLayer", "Dense", "Reshape", "BatchNormalization", "ReLU"]
                     + ["Conv2DTranspose", "BatchNormalization", "ReLU"] * 3
                     + ["Conv2DTranspose"])
    assert generator.get_layer("project_reshape").output.shape[1:] == (4, 4, 512)
    deconvs = layers_of(generator, keras.layers.Conv2DTranspose)
    assert [d.filters for d in deconvs] == [256, 128, 64, 3]
    assert all(d.strides == (2, 2) and d.kernel_size == (5, 5) for d in deconvs)


def test_discriminator_layer_sequence(paper_64):
    _, _, discriminator = paper_64
    kinds = [type(layer).__name__ for layer in discriminator.layers]
    assert kinds == (["InputLayer", "Conv2D", "LeakyReLU"]
                     + ["Conv2D", "BatchNormalization", "LeakyReLU"] * 3
                     + ["Flatten", "Dense"])
    convs = layers_of(discriminator, keras.layers.Conv2D)
    assert [c.filters for c in convs] == [64, 128, 256, 512]
    assert all(c.strides == (2, 2) for c in convs)
    assert discriminator.get_layer("flatten").output.shape[1:] == (4 * 4 * 512,)


def test_no_pooling_and_no_hidden_dense(paper_64):
    _, generator, discriminator = paper_64
    for model in (generator, discriminator):
        names = [type(layer).__name__ for layer in model.layers]
        assert not [n for n in names if "Pooling" in n]
        assert len(layers_of(model, keras.layers.Dense)) == 1  # projection / logit only


def test_batchnorm_placement(paper_64):
    _, generator, discriminator = paper_64
    # G: BN right after the projection and every hidden deconv, none after the output.
    layers = generator.layers
    for i, layer in enumerate(layers):
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2DTranspose)):
            following = layers[i + 1] if i + 1 < len(layers) else None
            if layer.name == "output":
                assert following is None
            else:
                nxt = layers[i + 2] if isinstance(following, keras.layers.Reshape) else following
                assert isinstance(nxt, keras.layers.BatchNormalization), layer.name
    # D: the input layer's conv goes straight to the activation; the others through BN.
    convs = [i for i, layer in enumerate(discriminator.layers)
             if isinstance(layer, keras.layers.Conv2D)]
    assert isinstance(discriminator.layers[convs[0] + 1], keras.layers.LeakyReLU)
    for i in convs[1:]:
        assert isinstance(discriminator.layers[i + 1], keras.layers.BatchNormalization)


def test_activations(paper_64):
    _, generator, discriminator = paper_64
    assert len(layers_of(generator, keras.layers.ReLU)) == 4
    assert generator.get_layer("output").activation is keras.activations.tanh
    lrelus = layers_of(discriminator, keras.layers.LeakyReLU)
    assert len(lrelus) == 4
    assert all(layer.negative_slope == pytest.approx(0.2) for layer in lrelus)
    assert discriminator.get_layer("logits").activation is keras.activations.linear  # logits


def test_no_biases_anywhere(paper_64):
    _, generator, discriminator = paper_64
    for model in (generator, discriminator):
        for layer in model.layers:
            if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
                assert layer.bias is None, layer.name


# -- initialization -----------------------------------------------------------------------


def test_weight_init_normal_0_02(paper_64):
    _, generator, discriminator = paper_64
    for layer in (generator.get_layer("up1_deconv"), generator.get_layer("project"),
                  discriminator.get_layer("down4_conv"), discriminator.get_layer("logits")):
        kernel = keras.ops.convert_to_numpy(layer.kernel)
        assert abs(kernel.mean()) < 2e-3, layer.name
        assert kernel.std() == pytest.approx(0.02, rel=0.05), layer.name


def test_batchnorm_gamma_init_normal_1_0_02(paper_64):
    _, generator, _ = paper_64
    bn = generator.get_layer("project_bn")
    gamma = keras.ops.convert_to_numpy(bn.gamma)
    beta = keras.ops.convert_to_numpy(bn.beta)
    assert gamma.mean() == pytest.approx(1.0, abs=5e-3)
    assert gamma.std() == pytest.approx(0.02, rel=0.2)
    assert not beta.any()
    assert bn.momentum == pytest.approx(0.9) and bn.epsilon == pytest.approx(1e-5)


# -- shapes, sizes, channels --------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shapes(size, channels):
    arch = DCGAN((size, size, channels), base_filters=SMALL, latent_dim=16)
    generator, discriminator = arch.build_generator(), arch.build_discriminator()
    z = np.random.default_rng(0).uniform(-1, 1, (2, 16)).astype("float32")
    images = generator(z, training=False)
    assert tuple(images.shape) == (2, size, size, channels)
    values = keras.ops.convert_to_numpy(images)
    assert values.min() >= -1.0 and values.max() <= 1.0
    logits = discriminator(images, training=False)
    assert tuple(logits.shape) == (2, 1)
    assert logits.dtype == "float32"


@pytest.mark.parametrize(("size", "generator_widths", "discriminator_widths"), [
    (32, [4, 2, 1], [1, 2, 4]),
    (64, [8, 4, 2, 1], [1, 2, 4, 8]),
    (128, [8, 8, 4, 2, 1], [1, 2, 4, 8, 8]),
])
def test_filter_progression(size, generator_widths, discriminator_widths):
    b = SMALL
    arch = DCGAN((size, size, 3), base_filters=b)
    generator, discriminator = arch.build_generator(), arch.build_discriminator()
    hidden = [generator.get_layer("project_reshape").output.shape[-1]]
    hidden += [d.filters for d in layers_of(generator, keras.layers.Conv2DTranspose)[:-1]]
    assert hidden == [w * b for w in generator_widths]
    assert [c.filters for c in layers_of(discriminator, keras.layers.Conv2D)] == [
        w * b for w in discriminator_widths]
    # up-samplings from 4×4: log2(size / 4) transposed convs (output layer included)
    assert len(layers_of(generator, keras.layers.Conv2DTranspose)) == int(np.log2(size // 4))


# -- attributes and parameters ------------------------------------------------------------


def test_defaults_and_contract():
    arch = DCGAN((64, 64, 3))
    assert isinstance(arch, Architecture)
    assert arch.latent_dim == 100
    assert arch.latent_distribution == "uniform"
    assert arch.kernel_size == 5
    assert arch.generator_filters == arch.discriminator_filters == 64
    normal = DCGAN([32, 32, 1], latent_dim=64, latent_distribution="normal")
    assert (normal.latent_dim, normal.latent_distribution) == (64, "normal")
    assert normal.image_shape == (32, 32, 1)


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (64, 32, 3), (64, 64, 4), (64, 64),
                                         (256, 256, 3), "64x64"])
def test_bad_image_shape_refused(image_shape):
    with pytest.raises(ValueError, match="DCGAN"):
        DCGAN(image_shape)


@pytest.mark.parametrize(("params", "error"), [
    ({"kernel_size": 3}, ValueError),
    ({"latent_distribution": "gaussian"}, ValueError),
    ({"latent_dim": 0}, ValueError),
    ({"latent_dim": "100"}, TypeError),
    ({"base_filters": 1.5}, TypeError),
    ({"batchnorm_momentum": 1.0}, ValueError),
    ({"synchronized_bn": "yes"}, TypeError),
    ({"discriminator_norm": "spectral"}, ValueError),
])
def test_bad_params_refused(params, error):
    with pytest.raises(error, match=next(iter(params))):
        DCGAN((64, 64, 3), **params)


def test_discriminator_norm_options():
    for norm, kind in (("layer", keras.layers.LayerNormalization), ("none", None)):
        discriminator = DCGAN((32, 32, 1), base_filters=SMALL,
                              discriminator_norm=norm).build_discriminator()
        assert not layers_of(discriminator, keras.layers.BatchNormalization)
        if kind is not None:
            assert len(layers_of(discriminator, kind)) == 2


def test_synchronized_batchnorm_builds_and_trains():
    arch = DCGAN((32, 32, 1), base_filters=SMALL, latent_dim=8, synchronized_bn=True)
    generator = arch.build_generator()
    bns = layers_of(generator, keras.layers.BatchNormalization)
    assert bns and all(bn.synchronized for bn in bns)
    images = generator(np.zeros((2, 8), "float32"), training=True)
    assert tuple(images.shape) == (2, 32, 32, 1)


def test_mixed_precision_outputs_are_float32():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        arch = DCGAN((32, 32, 3), base_filters=SMALL, latent_dim=8)
        generator, discriminator = arch.build_generator(), arch.build_discriminator()
    finally:
        keras.config.set_dtype_policy(previous)
    assert generator.get_layer("up1_deconv").compute_dtype == "float16"
    images = generator(np.zeros((2, 8), "float32"), training=False)
    assert images.dtype == "float32"
    assert discriminator(images, training=False).dtype == "float32"


def test_generator_save_load_round_trip(tmp_path):
    arch = DCGAN((32, 32, 3), base_filters=SMALL, latent_dim=8)
    generator = arch.build_generator()
    path = tmp_path / "generator.keras"
    generator.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects: built-in layers only
    z = np.random.default_rng(1).uniform(-1, 1, (3, 8)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(z, training=False)),
                               keras.ops.convert_to_numpy(generator(z, training=False)),
                               atol=1e-6)


def test_registers_dcgan():
    registered = {}

    def register(name, factory, *, description=None):
        registered[name] = (factory, description)

    dcgan.register_architectures(register)
    assert registered["dcgan"][0] is DCGAN
    assert "Radford" in registered["dcgan"][1]
