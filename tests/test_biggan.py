"""The BigGAN-style architecture plugin: the paper's tables and parameter counts, shapes,
the hierarchical latent, self-attention and conditional batch norm against numpy,
orthogonal initialization, spectral norm placement, export, and real training steps."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, tiny_experiment, write_experiment
from ganlab_builtins import biggan
from ganlab_builtins.biggan import BigGAN
from ganlab_builtins.biggan.layers import ConditionalBatchNorm, SelfAttention
from reliability_support import output, resumed_run_matches
from reliability_support import run_cli as run_subprocess

from ganlab import Architecture
from ganlab.contracts import latent_class
from ganlab.testing import check_architecture

SMALL = 2  # channel multiplier for networks the tests run: fast on CPU
CLASSES = 10


def small(size: int = 32, channels: int = 3, **params) -> BigGAN:
    settings = {"base_filters": SMALL, "latent_dim": 20, "shared_dim": 8,
                "spectral_norm": "none", **params}
    return BigGAN((size, size, channels), **settings)


def layers_of(model: keras.Model, kind: type) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def trainable_count(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# -- parameter counts from the paper's architecture tables -----------------------------------

# Brock et al. 2019, appendix B (and BigGAN-PyTorch's arch tables), in multiples of ch.
GENERATOR_WIDTHS = {32: [4, 4, 4, 4], 64: [16, 16, 8, 4, 2], 128: [16, 16, 8, 4, 2, 1]}
DISCRIMINATOR_BLOCKS = {  # (out multiple, down-samples)
    32: [(4, True), (4, True), (4, False), (4, False)],
    64: [(1, True), (2, True), (4, True), (8, True), (16, False)],
    128: [(1, True), (2, True), (4, True), (8, True), (16, True), (16, False)],
}


def attention_params(c: int) -> int:
    # query, key (C -> C/8), value (C -> C/2), output (C/2 -> C), no biases; gamma.
    return 2 * c * (c // 8) + 2 * c * (c // 2) + 1


def expected_generator_params(size: int, ch: int, z: int, classes: int, shared: int,
                              channels: int, attention: int) -> int:
    widths = [ch * w for w in GENERATOR_WIDTHS[size]]
    chunks = len(widths)  # one for the projection, one per block
    chunk = z // chunks
    condition = chunk + (shared if classes else 0)
    total = classes * shared + chunk * 16 * widths[0] + 16 * widths[0]  # embedding, linear
    resolution = 4
    for cin, cout in zip(widths, widths[1:], strict=False):
        total += 2 * condition * cin + 9 * cin * cout + cout  # CBN 1 (gain, bias), conv 1
        total += 2 * condition * cout + 9 * cout * cout + cout  # CBN 2, conv 2
        total += cin * cout + cout  # 1x1 shortcut
        resolution *= 2
        total += attention_params(cout) if resolution == attention else 0
    return total + 2 * widths[-1] + 9 * widths[-1] * channels + channels  # BN, conv


def expected_discriminator_params(size: int, ch: int, classes: int, channels: int,
                                  attention: int) -> int:
    total, cin, resolution, attended = 0, channels, size, False
    for multiple, down in DISCRIMINATOR_BLOCKS[size]:
        cout = ch * multiple
        total += 9 * cin * cout + cout + 9 * cout * cout + cout
        total += cin * cout + cout if down or cin != cout else 0
        resolution //= 2 if down else 1
        if resolution == attention and not attended:
            total, attended = total + attention_params(cout), True
        cin = cout
    return total + cin + 1 + classes * cin  # linear logit, projection embedding


def test_the_formula_gives_the_papers_parameter_counts_at_128() -> None:
    # Table 1 of the paper: G 70.4M and D 88.0M at 128 px, ch 96, 1,000 classes.
    generator = expected_generator_params(128, 96, 120, 1000, 128, 3, 64)
    discriminator = expected_discriminator_params(128, 96, 1000, 3, 64)
    assert round(generator / 1e5) == 704 and round(discriminator / 1e5) == 880


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("classes", [0, CLASSES])
def test_parameter_counts_follow_the_tables(size: int, classes: int) -> None:
    ch = 8  # the smallest ch whose attention keeps C/8 whole
    arch = BigGAN((size, size, 3), base_filters=ch, latent_dim=60, shared_dim=8,
                  num_classes=classes, spectral_norm="none")
    attention = arch.attention_resolution
    assert trainable_count(arch.build_generator()) == expected_generator_params(
        size, ch, 60, classes, 8, 3, attention)
    assert trainable_count(arch.build_discriminator()) == expected_discriminator_params(
        size, ch, classes, 3, attention)


# -- shapes and structure -----------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("classes", [0, CLASSES])
def test_output_shapes(size: int, classes: int) -> None:
    arch = small(size, channels=1 if size == 32 else 3, num_classes=classes)
    generator, discriminator = arch.build_generator(), arch.build_discriminator()
    latents = np.random.default_rng(0).standard_normal((2, arch.latent_dim)).astype("float32")
    images = generator(latents, training=True)
    assert tuple(images.shape) == (2, *arch.image_shape)
    values = keras.ops.convert_to_numpy(images)
    assert values.min() >= -1.0 and values.max() <= 1.0
    inputs = [images, latent_class(latents, classes)] if classes else images
    logits = discriminator(inputs, training=True)
    assert tuple(logits.shape) == (2, 1) and logits.dtype == "float32"
    assert generator.get_layer("output").activation is keras.activations.tanh


@pytest.mark.parametrize(("size", "attention"), [(32, 16), (64, 32), (128, 64)])
def test_attention_goes_after_the_blocks_that_reach_its_resolution(size: int,
                                                                   attention: int) -> None:
    arch = small(size)
    assert arch.attention_resolution == attention  # the default: 64, or half the image
    generator, discriminator = arch.build_generator(), arch.build_discriminator()
    for model in (generator, discriminator):
        layer = model.get_layer("attention")
        assert layer.input.shape[1] == attention
    assert not layers_of(small(size, attention_resolution=0).build_generator(), SelfAttention)


def test_the_generator_blocks_are_residual_with_up_sampling() -> None:
    generator = small(64).build_generator()
    assert generator.get_layer("project_reshape").output.shape[1:] == (4, 4, 16 * SMALL)
    resolutions = [generator.get_layer(f"up{i}_add").output.shape[1] for i in range(1, 5)]
    assert resolutions == [8, 16, 32, 64]
    assert len(layers_of(generator, ConditionalBatchNorm)) == 2 * 4  # two per block
    assert isinstance(generator.get_layer("output_bn"), keras.layers.BatchNormalization)


# -- the latent: hierarchical split and class entries ----------------------------------------


@pytest.mark.parametrize(("size", "latent_dim", "chunks"), [
    (128, 120, [20] * 6), (64, 120, [24] * 5), (32, 120, [30] * 4), (32, 22, [6, 6, 5, 5]),
])
def test_latent_chunks_are_as_even_as_possible(size: int, latent_dim: int,
                                               chunks: list[int]) -> None:
    assert small(size, latent_dim=latent_dim).latent_chunks() == chunks


@pytest.mark.parametrize("classes", [0, CLASSES])
def test_each_block_is_conditioned_on_its_own_chunk_and_the_shared_embedding(
        classes: int) -> None:
    arch = small(32, latent_dim=22, num_classes=classes)
    generator = arch.build_generator()
    assert generator.input_shape == (None, 22 + classes)
    conditions = [generator.get_layer(f"up{i}_bn{j}").input[1] for i in (1, 2, 3) for j in (1, 2)]
    probe = keras.Model(generator.input, [generator.get_layer("project").input, *conditions])
    latents = np.random.default_rng(4).standard_normal((5, arch.latent_dim)).astype("float32")
    projected, *seen = (keras.ops.convert_to_numpy(t) for t in probe(latents))
    np.testing.assert_array_equal(projected, latents[:, 0:6])  # the first chunk
    bounds = [(6, 12), (12, 17), (17, 22)]  # the docstring's split: 6, 6, 5, 5
    for index, condition in enumerate(seen):
        start, stop = bounds[index // 2]
        np.testing.assert_array_equal(condition[:, -(stop - start):], latents[:, start:stop])
        if classes:  # the shared class embedding, then the chunk
            table = keras.ops.convert_to_numpy(
                generator.get_layer("shared_embedding").embeddings)
            classes_drawn = latents[:, -classes:].argmax(axis=1)
            np.testing.assert_array_equal(condition[:, :8], table[classes_drawn])
        else:
            assert condition.shape[1] == stop - start


def test_the_class_entries_choose_the_class_and_nothing_else() -> None:
    arch = small(32, num_classes=CLASSES)
    generator = arch.build_generator()
    latents = np.random.default_rng(2).standard_normal((4, arch.latent_dim)).astype("float32")
    images = keras.ops.convert_to_numpy(generator(latents, training=False))
    same_class = latents.copy()
    same_class[:, -CLASSES:] *= 3.0  # values change, the argmax does not
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(generator(same_class, training=False)), images)
    other = latents.copy()
    other[:, -CLASSES:] = np.roll(latents[:, -CLASSES:], 1, axis=1)
    changed = np.abs(keras.ops.convert_to_numpy(generator(other, training=False)) - images)
    assert (changed.max(axis=(1, 2, 3)) > 1e-6).all()


# -- self-attention and conditional batch norm against numpy ---------------------------------


def test_self_attention_is_the_identity_at_initialization() -> None:
    layer = SelfAttention(16)
    x = tf.random.stateless_normal((2, 8, 8, 16), (1, 2))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x.numpy())
    assert float(layer.gamma) == 0.0
    generator = small(32).build_generator()
    attention = generator.get_layer("attention")
    probe = keras.Model(generator.input, [attention.input, attention.output])
    before, after = probe(np.ones((2, 20), "float32"), training=False)
    np.testing.assert_array_equal(after.numpy(), before.numpy())


def numpy_attention(x: np.ndarray, query: np.ndarray, key: np.ndarray, value: np.ndarray,
                    attended: np.ndarray, gamma: float) -> np.ndarray:
    """SAGAN's attention with BigGAN's 2x2 max-pooled keys and values, per example."""
    batch, height, width, channels = x.shape

    def pooled(maps: np.ndarray) -> np.ndarray:
        c = maps.shape[-1]
        return maps.reshape(batch, height // 2, 2, width // 2, 2, c).max(axis=(2, 4))

    out = np.empty_like(x)
    for n in range(batch):
        f = (x[n] @ query).reshape(-1, query.shape[1])
        g = pooled(x @ key)[n].reshape(-1, key.shape[1])
        h = pooled(x @ value)[n].reshape(-1, value.shape[1])
        scores = f @ g.T
        beta = np.exp(scores - scores.max(axis=1, keepdims=True))
        beta /= beta.sum(axis=1, keepdims=True)
        o = (beta @ h) @ attended
        out[n] = x[n] + gamma * o.reshape(height, width, channels)
    return out


def test_self_attention_matches_a_numpy_reference() -> None:
    layer = SelfAttention(16)
    x = tf.random.stateless_normal((2, 4, 6, 16), (3, 4))
    layer(x)
    layer.gamma.assign(0.7)
    kernels = [keras.ops.convert_to_numpy(conv.kernel)[0, 0]
               for conv in (layer.query, layer.key, layer.value, layer.attended)]
    assert [k.shape for k in kernels] == [(16, 2), (16, 2), (16, 8), (8, 16)]
    expected = numpy_attention(x.numpy(), *kernels, gamma=0.7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected,
                               rtol=1e-5, atol=1e-5)


def test_conditional_batch_norm_matches_a_numpy_reference() -> None:
    layer = ConditionalBatchNorm(3, epsilon=1e-5)
    x = tf.random.stateless_normal((4, 2, 2, 3), (5, 6)) * 3.0 + 1.0
    condition = tf.random.stateless_normal((4, 5), (7, 8))
    out = keras.ops.convert_to_numpy(layer([x, condition], training=True))
    xs, cs = x.numpy(), condition.numpy()
    mean, variance = xs.mean(axis=(0, 1, 2)), xs.var(axis=(0, 1, 2))
    normalized = (xs - mean) / np.sqrt(variance + 1e-5)
    gain = 1.0 + cs @ keras.ops.convert_to_numpy(layer.gain.kernel)
    bias = cs @ keras.ops.convert_to_numpy(layer.bias.kernel)
    np.testing.assert_allclose(out, normalized * gain[:, None, None] + bias[:, None, None],
                               rtol=1e-4, atol=1e-4)
    # Each example gets its own gain: two examples with the same x differ by condition.
    assert not np.allclose(gain[0], gain[1])


# -- initialization -----------------------------------------------------------------------


def is_orthogonal(matrix: np.ndarray) -> bool:
    rows, cols = matrix.shape
    product = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    return np.allclose(product, np.eye(min(rows, cols)), atol=1e-4)


def test_every_weight_matrix_starts_orthogonal() -> None:
    arch = small(32, num_classes=CLASSES, base_filters=8)
    matrices = 0
    for model in (arch.build_generator(), arch.build_discriminator()):
        for weight in model.trainable_weights:
            if weight.path.endswith(("kernel", "embeddings")):
                values = keras.ops.convert_to_numpy(weight)
                assert is_orthogonal(values.reshape(-1, values.shape[-1])), weight.path
                matrices += 1
    assert matrices > 30
    assert not is_orthogonal(np.random.default_rng(0).standard_normal((16, 8)))


# -- spectral normalization ---------------------------------------------------------------


def normalized_and_plain(model: keras.Model) -> tuple[set[str], set[str]]:
    """Layers (as weight paths, ``up1_bn1/gain``) with a normalized weight matrix, and the rest."""
    normalized, plain = set(), set()
    for weight in model.weights:
        *outer, layer, kind = weight.path.split("/")
        if kind in ("kernel", "embeddings"):
            wrapped = bool(outer) and outer[-1] == f"{layer}_sn"
            key = "/".join([*outer[:-1], layer] if wrapped else [*outer, layer])
            (normalized if wrapped else plain).add(key)
    return normalized, plain


@pytest.mark.parametrize(("mode", "in_generator", "in_discriminator"), [
    ("none", False, False), ("discriminator", False, True), ("both", True, True)])
def test_spectral_norm_wraps_every_weight_matrix_it_should(mode: str, in_generator: bool,
                                                           in_discriminator: bool) -> None:
    arch = small(32, num_classes=CLASSES, spectral_norm=mode)
    g_normalized, g_plain = normalized_and_plain(arch.build_generator())
    d_normalized, d_plain = normalized_and_plain(arch.build_discriminator())
    # BigGAN normalizes every G weight but the shared class embedding (as its code does).
    assert g_plain == ({"shared_embedding"} if in_generator else g_normalized | g_plain)
    # The embedding, the linear, 7 per block (2 CBN x gain/bias, 2 convs, shortcut), the
    # attention's 4 convolutions, the output conv.
    assert len(g_normalized | g_plain) == 1 + 1 + 3 * 7 + 4 + 1
    assert {"up3_bn2/gain", "attention/value", "output"} <= g_normalized | g_plain
    assert not (d_plain if in_discriminator else d_normalized)
    assert len(d_normalized | d_plain) == 4 * 2 + 2 + 4 + 2  # convs, shortcuts, attn, logit
    assert {"label_embedding", "logits", "attention/query", "down2_shortcut"} <= (
        d_normalized | d_plain)


def test_every_weight_gets_a_gradient_with_spectral_norm() -> None:
    arch = small(32, num_classes=CLASSES, spectral_norm="both")
    generator, discriminator = arch.build_generator(), arch.build_discriminator()
    latents = tf.random.stateless_normal((4, arch.latent_dim), (9, 9))
    labels = latent_class(latents, CLASSES)
    with tf.GradientTape(persistent=True) as tape:
        # The mean logit (hinge's generator loss): its gradient reaches every weight, where
        # the discriminator's hinge terms vanish whenever every logit is past the margin.
        loss = tf.reduce_mean(
            discriminator([generator(latents, training=True), labels], training=True))
    for model in (generator, discriminator):
        gradients = tape.gradient(loss, model.trainable_weights)
        for weight, gradient in zip(model.trainable_weights, gradients, strict=True):
            assert gradient is not None, weight.path
            # With gamma 0 the attention's convolutions are cut off from the output at first.
            if "attention/" not in weight.path or weight.path.endswith("gamma"):
                assert np.abs(tf.convert_to_tensor(gradient).numpy()).max() > 0, weight.path


# -- parameters ---------------------------------------------------------------------------


def test_defaults_and_contract() -> None:
    arch = BigGAN((128, 128, 3))
    assert isinstance(arch, Architecture)
    assert (arch.latent_dim, arch.noise_dim, arch.num_classes) == (120, 120, 0)
    assert arch.latent_chunks() == [20] * 6  # the paper's split at 128 px
    assert (arch.latent_distribution, arch.spectral_norm) == ("normal", "both")
    assert (arch.base_filters, arch.shared_dim, arch.attention_resolution) == (64, 128, 64)
    conditional = BigGAN((32, 32, 1), latent_dim=16, num_classes=CLASSES)
    assert conditional.latent_dim == 16 + CLASSES


@pytest.mark.parametrize(("params", "error", "message"), [
    ({"latent_dim": 3}, ValueError, "at least 4"),
    ({"latent_dim": "120"}, TypeError, "latent_dim"),
    ({"num_classes": 1}, ValueError, "num_classes"),
    ({"attention_resolution": 32}, ValueError, "one of 8, 16 at 32 px"),
    ({"attention_resolution": 4}, ValueError, "attention_resolution"),
    ({"attention_resolution": True}, TypeError, "attention_resolution"),
    ({"spectral_norm": "generator"}, ValueError, "spectral_norm"),
    ({"latent_distribution": "gaussian"}, ValueError, "latent_distribution"),
    ({"base_filters": 0}, ValueError, "base_filters"),
    ({"shared_dim": 1.5}, TypeError, "shared_dim"),
    ({"batchnorm_momentum": 1.0}, ValueError, "batchnorm_momentum"),
    ({"synchronized_bn": "yes"}, ValueError, "synchronized_bn"),
])
def test_bad_params_refused(params, error, message) -> None:
    with pytest.raises(error, match=message):
        BigGAN((32, 32, 3), **params)


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (64, 32, 3), (64, 64, 4), (256, 256, 3),
                                         "64x64"])
def test_bad_image_shape_refused(image_shape) -> None:
    with pytest.raises(ValueError, match="BigGAN"):
        BigGAN(image_shape)


def test_mixed_precision_outputs_are_float32() -> None:
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        arch = small(32, num_classes=CLASSES)
        generator, discriminator = arch.build_generator(), arch.build_discriminator()
    finally:
        keras.config.set_dtype_policy(previous)
    latents = np.zeros((2, arch.latent_dim), "float32")
    images = generator(latents, training=False)
    assert images.dtype == "float32"
    assert discriminator([images, tf.zeros(2, tf.int32)], training=False).dtype == "float32"


def test_docs_list_every_parameter_with_its_default() -> None:
    section = (REPO / "docs" / "models.md").read_text().split("## `biggan`", 1)[1]
    section = section.split("\n## ", 1)[0]
    documented = dict(re.findall(r"^\| `(\w+)` \| `?([^`|]+)`? \|", section, flags=re.M))
    signature = inspect.signature(BigGAN.__init__).parameters
    names = [name for name in signature if name not in ("self", "image_shape")]
    assert sorted(documented) == sorted(names)
    for name in names:
        default = signature[name].default
        if isinstance(default, bool):
            assert documented[name] == str(default).lower(), name
        elif isinstance(default, (int, str)):
            assert documented[name] == str(default), name


# -- the plugin, export and training ------------------------------------------------------


def test_registers_biggan_and_passes_the_architecture_checks() -> None:
    registered = {}
    biggan.register_architectures(lambda name, factory, *, description=None:
                                  registered.update({name: (factory, description)}))
    assert registered["biggan"][0] is BigGAN and "Brock" in registered["biggan"][1]
    for classes in (0, CLASSES):
        generator, discriminator = check_architecture(
            "biggan", image_shape=(32, 32, 1), latent_dim=8, base_filters=SMALL,
            shared_dim=4, num_classes=classes)
        assert generator.output_shape == (None, 32, 32, 1)
        assert len(discriminator.inputs) == (2 if classes else 1)


def test_generator_save_load_round_trip(tmp_path: Path) -> None:
    arch = small(32, num_classes=CLASSES)
    generator = arch.build_generator()
    path = tmp_path / "generator.keras"
    generator.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    latents = np.random.default_rng(1).standard_normal((3, arch.latent_dim)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(latents, training=False)),
                               keras.ops.convert_to_numpy(generator(latents, training=False)),
                               atol=1e-6)


def test_a_conditional_biggan_trains_exports_and_resumes_bit_identically(
        tmp_path: Path) -> None:
    """Hinge loss, spectral norm in both networks: the power iterations' u resume too."""
    runs = {}
    for name in ("whole", "killed"):
        config = tiny_experiment(tmp_path, name=name, run_dir=str(tmp_path / "runs" / name),
                                 loss={"name": "hinge"}, checkpoint={"every_n_steps": 2},
                                 callbacks=[])
        config["architecture"] = {"name": "biggan", "params": {
            "latent_dim": 16, "base_filters": SMALL, "shared_dim": 4, "num_classes": CLASSES}}
        config["train"]["deterministic"] = True
        runs[name] = (str(write_experiment(tmp_path / f"{name}.yaml", config)),
                      Path(config["run_dir"]))
    state = resumed_run_matches(runs["whole"], runs["killed"], fault="step:4", timeout=400)
    run_dir = runs["whole"][1]
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 3 and "nan" not in history[-1].lower()
    generator = keras.saving.load_model(run_dir / "generator.keras", compile=False)
    # Every generator weight was compared, spectral norm's power-iteration vectors included.
    assert sum(key.startswith("generator/") for key in state) == len(generator.weights)
    assert any(weight.path.endswith("sn_u") for weight in generator.weights)
    assert generator.input_shape == (None, 16 + CLASSES)
    assert generator.output_shape == (None, 32, 32, 1)
    grid = tmp_path / "sevens.png"  # a fresh process loads the custom layers on its own
    drawn = run_subprocess("sample", str(run_dir), "--class", "7", "--num", "4",
                           "--out", str(grid), timeout=400)
    assert drawn.returncode == 0 and grid.is_file(), output(drawn)


def test_biggan_trains_under_the_mirrored_strategy(tmp_path: Path) -> None:
    """Two logical CPUs, cross-replica (synchronized) conditional BN, spectral norm in both."""
    config = tiny_experiment(tmp_path, loss={"name": "hinge"}, callbacks=[])
    config["architecture"] = {"name": "biggan", "params": {
        "latent_dim": 16, "base_filters": SMALL, "shared_dim": 4, "num_classes": CLASSES,
        "synchronized_bn": True}}
    config["train"].update(strategy="mirrored", devices=["/cpu:0", "/cpu:1"], epochs=1)
    trained = run_subprocess("run", str(write_experiment(tmp_path / "mirrored.yaml", config)),
                             timeout=400)
    assert trained.returncode == 0, output(trained)
    history = (Path(config["run_dir"]) / "history.csv").read_text().splitlines()
    assert len(history) == 2 and "nan" not in history[-1].lower()
