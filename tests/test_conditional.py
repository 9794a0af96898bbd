"""Class-conditional GANs (``num_classes``): the class a latent names, the conditional DCGAN
(one-hot class code in G, projection discriminator), the labelled input pipeline, the checks
that refuse a GAN whose classes do not match its data, and a real conditional run that
exports its generator and resumes bit-identically after a kill."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_cli, shared_mnist_tfrecords, tiny_experiment, write_experiment
from ganlab_builtins.dcgan import DCGAN
from ganlab_builtins.mnist import MNIST
from reliability_support import output, resumed_run_matches
from reliability_support import run_cli as run_subprocess

from ganlab.contracts import class_count, latent_class
from ganlab.data.pipeline import training_images
from ganlab.engine.build import architecture_classes
from ganlab.errors import ConfigError
from ganlab.experiment import experiment_from_data
from ganlab.latents import with_class

CLASSES = 10


def conditional_dcgan(num_classes: int = CLASSES) -> DCGAN:
    return DCGAN((32, 32, 1), latent_dim=8, base_filters=4, kernel_size=4,
                 latent_distribution="normal", num_classes=num_classes)


def mnist() -> MNIST:
    dataset = MNIST(source="embedded", tfrecords=str(shared_mnist_tfrecords()), image_size=32)
    if not dataset.is_prepared():
        dataset.prepare()
    return dataset


def test_latent_class_is_the_argmax_of_the_class_entries_and_uniform() -> None:
    latents = np.random.default_rng(1).standard_normal((4000, 12)).astype(np.float32)
    classes = np.asarray(latent_class(latents, 4))
    np.testing.assert_array_equal(classes, latents[:, -4:].argmax(axis=1))
    np.testing.assert_array_equal(np.asarray(latent_class(tf.constant(latents), 4)), classes)
    counts = np.bincount(classes, minlength=4)
    assert counts.min() > 900 and counts.max() < 1100  # each class 1/4 under the prior


def test_with_class_makes_latents_name_a_class_by_swapping_two_class_entries() -> None:
    latents = np.random.default_rng(3).standard_normal((500, 8 + CLASSES)).astype(np.float32)
    sevens = with_class(latents, CLASSES, 7)
    assert (np.asarray(latent_class(sevens, CLASSES)) == 7).all()
    np.testing.assert_array_equal(sevens[:, :8], latents[:, :8])  # z untouched
    np.testing.assert_array_equal(np.sort(sevens[:, 8:], axis=1), np.sort(latents[:, 8:], axis=1))
    assert (latents[:, -CLASSES:].argmax(axis=1) != 7).any()  # the input is left as it was
    with pytest.raises(ValueError, match="not class-conditional"):
        with_class(latents, 0, 1)
    with pytest.raises(ValueError, match="class 10 is not one of the generator's classes 0-9"):
        with_class(latents, CLASSES, 10)


@pytest.mark.parametrize("value, error", [(1, ValueError), (-3, ValueError), (2.0, TypeError),
                                          (True, TypeError)])
def test_num_classes_is_zero_or_a_whole_number_from_two(value, error) -> None:
    assert class_count("num_classes", 0) == 0 and class_count("num_classes", 2) == 2
    with pytest.raises(error, match="num_classes"):
        conditional_dcgan(value)


def test_the_conditional_generator_draws_the_class_its_latent_names(tmp_path: Path) -> None:
    generator = conditional_dcgan().build_generator()
    assert generator.input_shape == (None, 8 + CLASSES)
    latents = np.random.default_rng(2).standard_normal((CLASSES, 8 + CLASSES)).astype(np.float32)
    images = generator(latents, training=False).numpy()
    same_class = latents.copy()
    same_class[:, -CLASSES:] *= 3.0  # values change, the argmax does not
    np.testing.assert_array_equal(generator(same_class, training=False).numpy(), images)
    other_class = latents.copy()
    other_class[:, -CLASSES:] = np.roll(latents[:, -CLASSES:], 1, axis=1)  # class + 1
    changed = np.abs(generator(other_class, training=False).numpy() - images).max(axis=(1, 2, 3))
    assert (changed > 1e-6).all()  # an untrained G: small, but every image changed
    generator.save(tmp_path / "generator.keras")  # the export a run writes
    loaded = keras.models.load_model(tmp_path / "generator.keras", compile=False)
    np.testing.assert_allclose(loaded(latents, training=False).numpy(), images, atol=1e-6)


def test_the_projection_discriminator_scores_each_image_for_its_label() -> None:
    discriminator = conditional_dcgan().build_discriminator()
    images = tf.random.stateless_uniform((4, 32, 32, 1), (1, 2), -1.0, 1.0)
    as_zero = discriminator([images, tf.zeros(4, tf.int32)], training=False).numpy()
    as_three = discriminator([images, tf.fill([4], 3)], training=False).numpy()
    assert as_zero.shape == (4, 1) and as_zero.dtype == np.float32
    assert (np.abs(as_zero - as_three) > 1e-6).all()
    plain = conditional_dcgan(0)
    # The unconditional networks are unchanged: same inputs, layers and latent size.
    assert len(plain.build_discriminator().inputs) == 1 and plain.latent_dim == 8
    assert "class_code" not in [layer.name for layer in plain.build_generator().layers]


def test_labelled_training_images_pair_each_image_with_its_digit() -> None:
    dataset = mnist()
    pairs = list(training_images(dataset, fixed_order=True, cache=False, labelled=True))
    records = list(dataset.load(with_metadata=True, deterministic=True))
    for (image, label), record in zip(pairs, records, strict=True):
        assert label.dtype == tf.int32 and int(label) == int(record["label"])
        np.testing.assert_array_equal(image.numpy(), record["image"].numpy())
    # The embedded sample's 4,000 training digits: 400 of each.
    assert np.bincount([int(label) for _, label in pairs]).tolist() == [400] * CLASSES


def test_classes_must_match_between_the_networks_and_the_data(tmp_path: Path) -> None:
    from author_plugin import Blobs

    config = tiny_experiment(tmp_path)
    experiment = experiment_from_data(config, path=tmp_path / "tiny.yaml")
    conditional, plain = conditional_dcgan(), conditional_dcgan(0)
    assert architecture_classes(experiment, conditional, conditional, mnist()) == CLASSES
    assert architecture_classes(experiment, plain, plain, Blobs()) == 0
    for g_arch, d_arch, dataset, message in (
            (conditional, plain, mnist(), "give both the same num_classes"),
            (conditional, conditional, Blobs(), "has no class labels"),
            (conditional_dcgan(4), conditional_dcgan(4), mnist(), "has 10 classes")):
        with pytest.raises(ConfigError, match=message):
            architecture_classes(experiment, g_arch, d_arch, dataset)


def test_validate_refuses_a_generator_and_discriminator_with_different_classes(
        tmp_path: Path) -> None:
    config = tiny_experiment(tmp_path)
    dcgan = config.pop("architecture")
    config["generator"] = {"name": "dcgan", "params": {**dcgan["params"], "num_classes": 10}}
    config["discriminator"] = dcgan
    result = run_cli(["validate", str(write_experiment(tmp_path / "mixed.yaml", config))])
    assert result.exit_code != 0
    assert "conditioned on 10 classes but the discriminator" in result.output
    assert "Traceback" not in result.output


def test_a_conditional_run_trains_exports_and_resumes_bit_identically(tmp_path: Path) -> None:
    mnist()  # prepared once, before the runs share it
    runs = {}
    for name in ("whole", "killed"):
        config = tiny_experiment(tmp_path, name=name, run_dir=str(tmp_path / "runs" / name),
                                 checkpoint={"every_n_steps": 2}, callbacks=[])
        config["architecture"]["params"]["num_classes"] = CLASSES
        config["train"]["deterministic"] = True
        runs[name] = (str(write_experiment(tmp_path / f"{name}.yaml", config)),
                      Path(config["run_dir"]))
    state = resumed_run_matches(runs["whole"], runs["killed"], fault="step:4")
    # The projection's class embedding (10 x 16 channels x 4 x 4) is part of D's state.
    assert any(array.shape == (CLASSES, 256) for key, array in state.items()
               if key.startswith("discriminator/"))
    generator = keras.models.load_model(runs["whole"][1] / "generator.keras", compile=False)
    bank = np.load(runs["whole"][1] / "latents.npy")
    assert generator.input_shape == (None, 16 + CLASSES) and bank.shape[1] == 16 + CLASSES
    assert generator(bank, training=False).shape == (len(bank), 32, 32, 1)
    assert json.loads((runs["whole"][1] / "run.json").read_text())["num_classes"] == CLASSES
    grid = tmp_path / "threes.png"
    drawn = run_subprocess("sample", str(runs["whole"][1]), "--class", "3", "--num", "4",
                           "--out", str(grid))
    assert drawn.returncode == 0 and grid.is_file(), output(drawn)
    refused = run_subprocess("sample", str(runs["whole"][1]), "--class", "12", "--num", "4",
                             "--out", str(tmp_path / "none.png"))
    assert refused.returncode != 0 and "Traceback" not in output(refused)
    assert "'12' is not one of its classes: give a name or an index 0-9" in output(refused)


def test_a_gradient_penalty_loss_trains_a_conditional_gan(tmp_path: Path) -> None:
    """WGAN-GP calls the discriminator on images alone: it gets the real labels bound."""
    config = tiny_experiment(tmp_path, loss={"name": "wasserstein_gp"}, callbacks=[])
    config["architecture"]["params"].update(num_classes=CLASSES, discriminator_norm="layer")
    result = run_cli(["run", str(write_experiment(tmp_path / "gp.yaml", config))])
    assert result.exit_code == 0, result.output
    history = (Path(config["run_dir"]) / "history.csv").read_text().splitlines()
    assert len(history) == 1 + config["train"]["epochs"]
    assert "nan" not in history[-1].lower()
