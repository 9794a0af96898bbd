"""The SN-GAN ResNet architecture (Miyato et al. 2018; Miyato & Koyama 2018): widths and
parameter counts from the papers' tables, shapes at every size, conditional batch norm's
maths, the projection discriminator, spectral norm placement, the plugin contract checks,
and real training runs through the engine (hinge loss) that resume bit-identically."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_cli, shared_mnist_tfrecords, tiny_experiment, write_experiment
from ganlab_builtins import sngan
from ganlab_builtins.layers import SpectralNormalization
from ganlab_builtins.mnist import MNIST
from ganlab_builtins.sngan import SNGAN, conditional_batch_norm
from reliability_support import output, resumed_run_matches
from reliability_support import run_cli as run_subprocess

from ganlab import Architecture
from ganlab.testing import check_architecture

SMALL = 4  # ch for tests that run the networks


def layers_of(model: keras.Model, kind: type) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def unwrapped(layer: keras.layers.Layer) -> keras.layers.Layer:
    return layer.layer if isinstance(layer, SpectralNormalization) else layer


def convs_of(model: keras.Model) -> list[keras.layers.Layer]:
    return [unwrapped(la) for la in model.layers
            if isinstance(unwrapped(la), keras.layers.Conv2D)]


# -- the papers' configurations ----------------------------------------------------------


def conv_params(k: int, cin: int, cout: int) -> int:
    return k * k * cin * cout + cout  # biases everywhere, as the Chainer code


def expected_cifar_generator(z: int, ch: int, c: int) -> int:
    """Table 4 (a): z → 4×4×256, three up blocks of 256, BN ReLU conv3 → c (ch = 64)."""
    w = 4 * ch
    bn = 4 * w  # gamma, beta, moving mean, moving variance
    block = bn + conv_params(3, w, w) + bn + conv_params(3, w, w) + conv_params(1, w, w)
    return z * 16 * w + 16 * w + 3 * block + bn + conv_params(3, w, c)


def expected_cifar_discriminator(ch: int, c: int) -> int:
    """Table 4 (b): down 128, down 128, 128, 128, ReLU, sum, linear; plus SN's u vectors."""
    w = 2 * ch
    optimized = conv_params(3, c, w) + conv_params(3, w, w) + conv_params(1, c, w) + 3 * w
    down = 2 * conv_params(3, w, w) + conv_params(1, w, w) + 3 * w
    plain = 2 * conv_params(3, w, w) + 2 * w  # identity shortcut
    return optimized + down + 2 * plain + (w + 1) + 1


def test_cifar_parameter_counts_match_the_paper_tables() -> None:
    arch = SNGAN((32, 32, 3))
    generator, discriminator = arch.build_generator(), arch.build_discriminator()
    assert expected_cifar_generator(128, 64, 3) == 4_280_323  # evaluated once by hand
    assert generator.count_params() == expected_cifar_generator(128, 64, 3)
    assert discriminator.count_params() == expected_cifar_discriminator(64, 3)
    assert [c.filters for c in convs_of(generator)] == [256] * 9 + [3]
    assert {c.filters for c in convs_of(discriminator)} == {128}


@pytest.mark.parametrize(("size", "projection", "generator_widths", "discriminator_widths"), [
    (32, 4, [4, 4, 4], [2, 2, 2, 2]),
    (64, 8, [8, 4, 2, 1], [1, 2, 4, 8, 16]),
    (128, 16, [16, 8, 4, 2, 1], [1, 2, 4, 8, 16, 16]),
])
def test_widths_follow_the_papers_tables(size, projection, generator_widths,
                                         discriminator_widths) -> None:
    arch = SNGAN((size, size, 3), base_filters=SMALL, latent_dim=8)
    generator, discriminator = arch.build_generator(), arch.build_discriminator()
    assert generator.get_layer("project_reshape").output.shape[1:] == (4, 4, projection * SMALL)
    block_outputs = [generator.get_layer(f"up{i}_add").output.shape[1:]
                     for i in range(1, len(generator_widths) + 1)]
    assert block_outputs == [(4 * 2 ** i, 4 * 2 ** i, w * SMALL)
                             for i, w in enumerate(generator_widths, start=1)]
    adds = [la for la in discriminator.layers if la.name.endswith("_add")]
    assert [la.output.shape[-1] for la in adds] == [w * SMALL for w in discriminator_widths]
    # The last block's map: 4×4 at 32 (two down blocks; 8×8 at 32 in... see Table 4), etc.
    downs = sum(1 for la in adds if la.name.startswith("down"))
    assert adds[-1].output.shape[1] == size // 2 ** downs


def test_resblocks_match_the_papers_figure() -> None:
    generator = SNGAN((32, 32, 1), base_filters=SMALL).build_generator()
    names = [la.name for la in generator.layers if la.name.startswith("up1_")]
    # BN → ReLU → up-sample → conv → BN → ReLU → conv, shortcut: up-sample → 1×1 conv.
    for earlier, later in (("up1_bn1", "up1_relu1"), ("up1_relu1", "up1_upsample"),
                           ("up1_upsample", "up1_conv1"), ("up1_conv1", "up1_bn2"),
                           ("up1_bn2", "up1_relu2"), ("up1_relu2", "up1_conv2")):
        assert names.index(earlier) < names.index(later)
    assert generator.get_layer("up1_shortcut").kernel_size == (1, 1)
    assert isinstance(generator.get_layer("up1_upsample"), keras.layers.UpSampling2D)
    assert generator.get_layer("output").activation is keras.activations.tanh
    discriminator = SNGAN((32, 32, 1), base_filters=SMALL).build_discriminator()
    pools = layers_of(discriminator, keras.layers.AveragePooling2D)
    assert len(pools) == 4  # two down blocks, residual and shortcut each
    assert not layers_of(discriminator, keras.layers.BatchNormalization)  # SN-GAN's D: none


# -- shapes -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, 5])
def test_output_shapes(size: int, channels: int, num_classes: int) -> None:
    arch = SNGAN((size, size, channels), base_filters=SMALL, latent_dim=8,
                 num_classes=num_classes)
    generator, discriminator = arch.build_generator(), arch.build_discriminator()
    assert arch.latent_dim == 8 + num_classes
    latents = np.random.default_rng(0).standard_normal((2, arch.latent_dim)).astype("float32")
    images = generator(latents, training=True)
    assert tuple(images.shape) == (2, size, size, channels) and images.dtype == "float32"
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    inputs = [images, tf.constant([0, 4])] if num_classes else images
    logits = discriminator(inputs, training=True)
    assert tuple(logits.shape) == (2, 1) and logits.dtype == "float32"


# -- conditional batch norm ---------------------------------------------------------------


def test_conditional_batch_norm_applies_each_class_gamma_and_beta_to_its_rows() -> None:
    channels, classes_count = 3, 4
    features = keras.Input((2, 2, channels))
    classes = keras.Input((), dtype="int32")
    model = keras.Model([features, classes], conditional_batch_norm(
        features, classes, classes_count, "cbn", momentum=0.5, epsilon=1e-3))
    rng = np.random.default_rng(4)
    gamma = rng.uniform(0.5, 2.0, (classes_count, channels)).astype("float32")
    beta = rng.normal(size=(classes_count, channels)).astype("float32")
    model.get_layer("cbn_gamma").embeddings.assign(gamma)
    model.get_layer("cbn_beta").embeddings.assign(beta)
    x = rng.normal(2.0, 3.0, (6, 2, 2, channels)).astype("float32")
    labels = np.array([3, 0, 3, 1, 2, 0], "int32")
    out = model([x, labels], training=True).numpy()
    # Batch statistics over the whole batch (all classes), per channel.
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    normalized = (x - mean) / np.sqrt(var + 1e-3)
    expected = gamma[labels][:, None, None, :] * normalized + beta[labels][:, None, None, :]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # The moving statistics are the batch's, shared by every class (decay 0.5 from 0 / 1).
    bn = model.get_layer("cbn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.5 * mean, rtol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.5 + 0.5 * var, rtol=1e-3)
    # Inference uses the moving statistics with the same per-class affine.
    at_rest = model([x, labels], training=False).numpy()
    moving = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-3)
    np.testing.assert_allclose(at_rest, gamma[labels][:, None, None, :] * moving
                               + beta[labels][:, None, None, :], rtol=1e-4, atol=1e-4)


def test_conditional_batch_norm_starts_as_plain_batch_norm() -> None:
    arch = SNGAN((32, 32, 1), base_filters=SMALL, latent_dim=8, num_classes=3)
    generator = arch.build_generator()
    gammas = [la for la in generator.layers if la.name.endswith("_gamma")]
    betas = [la for la in generator.layers if la.name.endswith("_beta")]
    assert len(gammas) == len(betas) == 7  # two per up block, one before the output
    assert all(np.all(la.embeddings.numpy() == 1.0) for la in gammas)
    assert all(np.all(la.embeddings.numpy() == 0.0) for la in betas)
    assert all(la.embeddings.shape[0] == 3 for la in gammas)
    bns = layers_of(generator, keras.layers.BatchNormalization)
    assert bns and not any(bn.scale or bn.center for bn in bns)


def test_the_conditional_generator_draws_the_class_its_latent_names(tmp_path: Path) -> None:
    arch = SNGAN((32, 32, 1), base_filters=SMALL, latent_dim=8, num_classes=3)
    generator = arch.build_generator()
    for index, layer in enumerate(la for la in generator.layers if la.name.endswith("_gamma")):
        # Trained per-class scales: make the classes differ.
        layer.embeddings.assign(np.linspace(0.5, 1.5, 3 * layer.embeddings.shape[1])
                                .reshape(3, -1).astype("float32") + index)
    latents = np.random.default_rng(2).standard_normal((6, 11)).astype("float32")
    images = generator(latents, training=False).numpy()
    scaled = latents.copy()
    scaled[:, -3:] *= 2.0  # the argmax is the same
    np.testing.assert_array_equal(generator(scaled, training=False).numpy(), images)
    rolled = latents.copy()
    rolled[:, -3:] = np.roll(latents[:, -3:], 1, axis=1)
    changed = np.abs(generator(rolled, training=False).numpy() - images).max(axis=(1, 2, 3))
    assert (changed > 1e-6).all()
    generator.save(tmp_path / "generator.keras")  # stock layers only: loads without ganlab
    loaded = keras.saving.load_model(tmp_path / "generator.keras", compile=False)
    np.testing.assert_allclose(loaded(latents, training=False).numpy(), images, atol=1e-6)


def test_the_projection_discriminator_adds_the_label_embedding_term() -> None:
    arch = SNGAN((32, 32, 1), base_filters=SMALL, num_classes=3)
    discriminator = arch.build_discriminator()
    images = tf.random.stateless_uniform((3, 32, 32, 1), (1, 2), -1.0, 1.0)
    labels = tf.constant([0, 1, 2])
    logits = discriminator([images, labels], training=False).numpy()
    features_model = keras.Model(discriminator.inputs,
                                 discriminator.get_layer("logits_sn").input)
    features = features_model([images, labels], training=False).numpy()
    embedding = discriminator.get_layer("label_embedding_sn")
    sigma = float(embedding.spectral_norm())
    rows = embedding.weight.numpy()[[0, 1, 2]] / sigma
    linear = discriminator.get_layer("logits_sn")
    w = linear.weight.numpy() / float(linear.spectral_norm())
    expected = features @ w + linear.layer.bias.numpy() + (rows * features).sum(axis=1,
                                                                                keepdims=True)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


# -- spectral norm placement ----------------------------------------------------------------


def weighted(model: keras.Model) -> list[keras.layers.Layer]:
    return [la for la in model.layers if isinstance(unwrapped(la), (
        keras.layers.Dense, keras.layers.Conv2D, keras.layers.Embedding))
        and not la.name.endswith(("_gamma", "_beta"))]


@pytest.mark.parametrize(("mode", "in_generator", "in_discriminator"), [
    ("discriminator", False, True), ("both", True, True), ("none", False, False)])
def test_spectral_norm_modes(mode: str, in_generator: bool, in_discriminator: bool) -> None:
    arch = SNGAN((32, 32, 3), base_filters=SMALL, num_classes=2, spectral_norm=mode)
    generator, discriminator = arch.build_generator(), arch.build_discriminator()
    assert all(isinstance(la, SpectralNormalization) == in_generator
               for la in weighted(generator))
    assert all(isinstance(la, SpectralNormalization) == in_discriminator
               for la in weighted(discriminator))
    assert len(weighted(discriminator)) == 3 + 3 + 2 + 2 + 1 + 1  # 4 blocks, logit, embedding
    assert layers_of(generator, keras.layers.BatchNormalization)  # G keeps BN in every mode


def test_defaults_and_contract() -> None:
    arch = SNGAN((64, 64, 3))
    assert isinstance(arch, Architecture)
    assert (arch.latent_dim, arch.latent_distribution, arch.spectral_norm) == (
        128, "normal", "discriminator")
    assert arch.generator_filters == arch.discriminator_filters == 64
    assert (arch.batchnorm_momentum, arch.batchnorm_epsilon) == (0.9, 2e-5)


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (48, 48, 3), (64, 32, 3), (64, 64, 4),
                                         "64x64"])
def test_bad_image_shape_refused(image_shape) -> None:
    with pytest.raises(ValueError, match="SNGAN"):
        SNGAN(image_shape)


@pytest.mark.parametrize(("params", "error"), [
    ({"latent_dim": 0}, ValueError),
    ({"latent_dim": "128"}, TypeError),
    ({"base_filters": 2.5}, TypeError),
    ({"generator_filters": 0}, ValueError),
    ({"latent_distribution": "gaussian"}, ValueError),
    ({"spectral_norm": "generator"}, ValueError),
    ({"batchnorm_momentum": 1.0}, ValueError),
    ({"batchnorm_epsilon": 0}, ValueError),
    ({"synchronized_bn": "yes"}, ValueError),
    ({"num_classes": 1}, ValueError),
])
def test_bad_params_refused(params, error) -> None:
    with pytest.raises(error, match=next(iter(params))):
        SNGAN((32, 32, 3), **params)


@pytest.mark.parametrize("num_classes", [0, 3])
def test_check_architecture_passes(num_classes: int) -> None:
    generator, discriminator = check_architecture(
        "sngan", image_shape=(32, 32, 3), base_filters=SMALL, latent_dim=8,
        num_classes=num_classes, spectral_norm="both")
    assert generator.name == "sngan_generator" and discriminator.name == "sngan_discriminator"


def test_registers_sngan() -> None:
    registered = {}

    def register(name, factory, *, description=None):
        registered[name] = (factory, description)

    sngan.register_architectures(register)
    assert registered["sngan"][0] is SNGAN
    assert "Miyato" in registered["sngan"][1]


# -- real training through the engine ------------------------------------------------------


def sngan_experiment(tmp_path: Path, name: str, **params) -> dict:
    config = tiny_experiment(tmp_path, name=name, run_dir=str(tmp_path / "runs" / name),
                             loss={"name": "hinge"}, callbacks=[])
    config["architecture"] = {"name": "sngan", "params": {
        "latent_dim": 8, "base_filters": SMALL, **params}}
    config["optimizers"] = {"generator": {"learning_rate": 2.0e-4, "beta_1": 0.0,
                                          "beta_2": 0.9},
                            "discriminator": {"learning_rate": 2.0e-4, "beta_1": 0.0,
                                              "beta_2": 0.9}}
    return config


def test_sngan_hinge_trains_and_exports(tmp_path: Path) -> None:
    config = sngan_experiment(tmp_path, "plain", spectral_norm="both")
    result = run_cli(["run", str(write_experiment(tmp_path / "plain.yaml", config))])
    assert result.exit_code == 0, result.output
    run_dir = Path(config["run_dir"])
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 1 + config["train"]["epochs"] and "nan" not in history[-1].lower()
    generator = keras.saving.load_model(run_dir / "generator.keras", compile=False)
    assert layers_of(generator, SpectralNormalization)
    assert generator(np.zeros((2, 8), "float32"), training=False).shape == (2, 32, 32, 1)
    # G has spectral norm here: a fresh process loads the export (ganlab imports the layer).
    grid = tmp_path / "grid.png"
    drawn = run_subprocess("sample", str(run_dir), "--num", "4", "--out", str(grid))
    assert drawn.returncode == 0 and grid.is_file(), output(drawn)


def test_a_conditional_sngan_resumes_bit_identically_after_a_kill(tmp_path: Path) -> None:
    dataset = MNIST(source="embedded", tfrecords=str(shared_mnist_tfrecords()), image_size=32)
    if not dataset.is_prepared():
        dataset.prepare()
    runs = {}
    for name in ("whole", "killed"):
        config = sngan_experiment(tmp_path, name, num_classes=10)
        config["checkpoint"] = {"every_n_steps": 2}
        config["train"]["deterministic"] = True
        runs[name] = (str(write_experiment(tmp_path / f"{name}.yaml", config)),
                      Path(config["run_dir"]))
    state = resumed_run_matches(runs["whole"], runs["killed"], fault="step:4")
    # The checkpoint holds D's weights in order, the power-iteration vectors among them:
    # unit vectors after training (they start as N(0, 1) draws).
    weights = SNGAN((32, 32, 1), latent_dim=8, base_filters=SMALL,
                    num_classes=10).build_discriminator().weights
    assert sum(key.startswith("discriminator/") for key in state) == len(weights)
    u_indices = [i for i, w in enumerate(weights) if w.path.endswith("sn_u")]
    assert len(u_indices) == 3 + 3 + 2 + 2 + 1 + 1
    for index in u_indices:
        u = state[f"discriminator/{index:04d}"]
        assert u.shape == tuple(weights[index].shape)
        assert np.linalg.norm(u) == pytest.approx(1.0, abs=1e-5)


# -- docs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("heading", ["## `dcgan`", "## `sngan`"])
def test_docs_list_every_parameter_with_its_default(heading: str) -> None:
    import inspect
    import re

    from ganlab_builtins.dcgan import DCGAN

    docs = Path(__file__).resolve().parent.parent / "docs" / "models.md"
    section = docs.read_text().split(heading, 1)[1].split("\n## ", 1)[0]
    documented = dict(re.findall(r"^\| `(\w+)` \| `?([^`|]+)`? \|", section, flags=re.M))
    factory = DCGAN if "dcgan" in heading else SNGAN
    signature = inspect.signature(factory.__init__).parameters
    names = [name for name in signature if name not in ("self", "image_shape")]
    assert sorted(documented) == sorted(names)
    for name in names:
        default = signature[name].default
        if isinstance(default, bool):
            assert documented[name] == str(default).lower(), name
        elif isinstance(default, (int, float, str)):
            assert float(documented[name]) == default if isinstance(default, float) \
                else documented[name] == str(default), name


def test_every_built_in_architecture_takes_the_shared_parameter_names() -> None:
    """A sweep over architecture.name needs no renaming: the shared params build all three."""
    from ganlab.plugins import load_plugins

    shared = {"latent_dim": 8, "num_classes": 3, "base_filters": SMALL,
              "generator_filters": SMALL, "discriminator_filters": SMALL,
              "spectral_norm": "discriminator", "latent_distribution": "normal",
              "batchnorm_momentum": 0.9, "batchnorm_epsilon": 1e-5, "synchronized_bn": False}
    registry = load_plugins().registry
    for name in ("dcgan", "sngan", "biggan"):
        arch = registry.create("architecture", name, dict(shared), image_shape=(32, 32, 1))
        assert (arch.latent_dim, arch.num_classes, arch.spectral_norm) == (
            8 + 3, 3, "discriminator"), name
        discriminator = arch.build_discriminator()
        assert any(isinstance(layer, SpectralNormalization) for layer in discriminator.layers)


@pytest.mark.slow
def test_two_workers_train_a_conditional_sngan(tmp_path: Path) -> None:
    """multi_worker: spectral norm's u is updated on every replica of both workers alike,
    and the chief's checkpoint holds unit power-iteration vectors."""
    import yaml
    from test_multi_worker import (
        NO_CHECKPOINT_WRITES,
        cluster_experiment,
        explain,
        ganlab_run,
        run_workers,
    )

    path, run_dir = cluster_experiment(tmp_path, "mw-sngan")
    config = yaml.safe_load(path.read_text())
    config["architecture"] = {"name": "sngan", "params": {
        "latent_dim": 8, "base_filters": SMALL, "num_classes": 10, "spectral_norm": "both"}}
    config["loss"] = {"name": "hinge"}
    write_experiment(path, config)
    workers = run_workers(tmp_path, ganlab_run(path), faults={1: NO_CHECKPOINT_WRITES})
    assert [w.returncode for w in workers] == [0, 0], explain(workers)
    with np.load(run_dir / "checkpoints" / "ckpt-e0002-s000000.npz") as archive:
        state = {key: archive[key] for key in archive.files}
    weights = SNGAN((32, 32, 1), latent_dim=8, base_filters=SMALL, num_classes=10,
                    spectral_norm="both").build_discriminator().weights
    for index, weight in enumerate(weights):
        if weight.path.endswith("sn_u"):
            assert np.linalg.norm(state[f"discriminator/{index:04d}"]) == pytest.approx(
                1.0, abs=1e-5)


@pytest.mark.parametrize(("setting", "fragments"), [
    ("architecture.params.spectral_norm=generator",
     ["architecture 'sngan' from plugin 'sngan'", "spectral_norm must be one of none, "
      "discriminator, both, got 'generator'"]),
    ("dataset.params.image_size=28", ["SNGAN generates square images of 32, 64, 128 pixels"]),
    ("architecture.params.base_filter=3", ["did you mean 'base_filters'?"]),
])
def test_bad_input_is_a_clean_error_naming_the_plugin(tmp_path: Path, setting: str,
                                                      fragments: list[str]) -> None:
    config = sngan_experiment(tmp_path, "bad")
    result = run_cli(["validate", str(write_experiment(tmp_path / "bad.yaml", config)),
                      "--set", setting])
    assert result.exit_code == 2 and "Traceback" not in result.output
    text = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in text, text
