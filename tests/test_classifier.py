"""The domain classifier: `ganlab train-classifier` on real-format MNIST and CelebA trees,
its saved protocol and hash, the `domain` feature extractor, and the refusals."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import keras
import numpy as np
import pytest
from celeba_fixtures import ATTRIBUTE_NAMES, build_celeba
from conftest import run_cli, write_experiment
from ganlab_builtins.classifier import classifier_score, load_domain_classifier
from ganlab_builtins.classifier.calibration import expected_calibration_error, softmax
from ganlab_builtins.classifier.protocol import file_sha256, model_path, protocol_path
from ganlab_builtins.classifier.training import DEFAULT_SEED

from ganlab.data.manifest import read_manifest
from ganlab.data.reader import read_tfrecords
from ganlab.errors import DataError
from ganlab.plugins import load_plugins

SIZE = 28
PER_CLASS = {"train": 24, "test": 8}


def pattern_digits(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images a small CNN can learn in a few epochs: class k is a bright bar at row 2 + 2k."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
    images = rng.integers(0, 60, size=(len(labels), 28, 28), dtype=np.uint8)
    for index, label in enumerate(labels):
        row = 2 + 2 * int(label)
        start = int(rng.integers(2, 10))
        images[index, row:row + 2, start:start + 16] = 255
    order = rng.permutation(len(labels))
    return images[order], labels[order]


def write_idx_tree(folder: Path) -> None:
    """The four MNIST IDX files (big-endian header, then uint8), as published."""
    folder.mkdir(parents=True)
    names = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    for seed, (split, per_class) in enumerate(PER_CLASS.items()):
        images, labels = pattern_digits(per_class, seed)
        for name, array, magic in ((names[split][0], images, 2051),
                                   (names[split][1], labels, 2049)):
            header = struct.pack(f">{1 + array.ndim}I", magic, *array.shape)
            (folder / name).write_bytes(header + array.tobytes())


def mnist_experiment(tmp_path: Path) -> tuple[Path, Path]:
    """An experiment on a small IDX tree and where its TFRecords go."""
    write_idx_tree(tmp_path / "raw")
    tfrecords = tmp_path / "tfrecords"
    config = {
        "name": "clf", "seed": 3,
        "dataset": {"name": "mnist", "params": {"source": str(tmp_path / "raw"),
                                                "tfrecords": str(tfrecords),
                                                "image_size": SIZE}},
        "architecture": {"name": "dcgan", "params": {"latent_dim": 8, "base_filters": 4}},
        "loss": {"name": "bce"},
        "train": {"epochs": 1, "batch_size": 8},
    }
    return write_experiment(tmp_path / "clf.yaml", config), tfrecords


def held_out_images(tfrecords: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = list(read_tfrecords(tfrecords, "test", with_metadata=True, deterministic=True))
    return (np.stack([row["image"].numpy() for row in rows]),
            np.array([int(row["label"].numpy()) for row in rows]))


@pytest.fixture(scope="module")
def trained_mnist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A classifier trained once by the CLI on the small tree: (experiment, tfrecords, output)."""
    tmp_path = tmp_path_factory.mktemp("mnist_classifier")
    experiment, tfrecords = mnist_experiment(tmp_path)
    result = run_cli(["train-classifier", str(experiment), "--epochs", "4", "--batch-size",
                      "16", "--quiet"])
    assert result.exit_code == 0, result.output
    return experiment, tfrecords, result.output


def test_train_classifier_reports_and_saves_protocol(trained_mnist) -> None:
    _, tfrecords, output = trained_mnist
    protocol = json.loads(protocol_path(tfrecords).read_text())
    manifest = read_manifest(tfrecords)
    assert protocol["label_kind"] == "class"
    assert protocol["label_names"] == [str(k) for k in range(10)]
    assert protocol["image_shape"] == [SIZE, SIZE, 1]
    assert protocol["dataset_fingerprint"] == manifest["fingerprint"]
    assert protocol["counts"] == {"train": 240, "test": 80}
    assert protocol["splits"] == {"train": "train", "test": "test"}
    # The default seed is the data folder's (2015), not the experiment's (3).
    assert protocol["epochs"] == 4 and protocol["seed"] == DEFAULT_SEED
    assert protocol["weights_sha256"] == file_sha256(model_path(tfrecords))
    assert protocol["accuracy"] >= 0.8  # the bars are easy; chance is 0.1
    assert protocol["baseline_accuracy"] == pytest.approx(0.1)
    assert sorted(protocol["per_label_accuracy"]) == [str(k) for k in range(10)]
    # The accuracies are printed: overall, then one line per class.
    assert f"{protocol['accuracy']:.2%}" in output
    for name, accuracy in protocol["per_label_accuracy"].items():
        assert f"  {name}  {accuracy:.2%}" in output
    assert str(model_path(tfrecords)) in output


def test_domain_extractor_from_the_registry(trained_mnist) -> None:
    _, tfrecords, _ = trained_mnist
    registry = load_plugins().registry
    extractor = registry.create("feature_extractor", "domain", {}, data_dir=str(tfrecords),
                                image_shape=(SIZE, SIZE, 1))
    protocol = json.loads(protocol_path(tfrecords).read_text())
    assert extractor.name == "domain" and extractor.resize == "none"
    assert extractor.weights_sha256 == protocol["weights_sha256"]
    assert extractor.label_names == protocol["label_names"] and not extractor.multi_label
    images, labels = held_out_images(tfrecords)
    features = extractor.features(images)
    probabilities = extractor.probabilities(images)
    assert features.shape == (80, 128) and features.dtype == np.float32
    assert probabilities.shape == (80, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # The reloaded model answers exactly as the one that was scored before saving.
    accuracy = float((extractor.classify(images) == labels).mean())
    assert accuracy == pytest.approx(protocol["accuracy"], abs=1e-4)
    # Batching does not change the answers.
    small = load_domain_classifier(tfrecords, batch_size=7)
    np.testing.assert_allclose(small.features(images), features, rtol=1e-4, atol=1e-5)
    score = classifier_score(probabilities)
    assert 1.0 <= score.score <= 10.0 and sum(score.histogram) == 80


def test_the_classifier_is_calibrated_and_its_temperature_saved(trained_mnist) -> None:
    _, tfrecords, output = trained_mnist
    protocol = json.loads(protocol_path(tfrecords).read_text())
    calibration = protocol["calibration"]
    temperature = protocol["temperature"]
    assert 0.05 <= temperature <= 20 and temperature != 1.0
    assert calibration["ece_bins"] == 15 and calibration["ece_kind"] == "top-label"
    assert "even positions (40)" in calibration["fit_on"]
    assert "odd positions (40)" in calibration["reported_on"]
    assert calibration["nll_after"] <= calibration["nll_before"] + 0.05
    assert f"T={temperature:.3f}" in output and f"{calibration['ece_after']:.2%} after" in output
    # The loaded extractor's probabilities are softmax(logits / T), its features unchanged.
    extractor = load_domain_classifier(tfrecords)
    images, labels = held_out_images(tfrecords)
    logits = extractor.logits(images)
    np.testing.assert_allclose(extractor.probabilities(images), softmax(logits / temperature),
                               rtol=1e-5, atol=1e-6)
    assert extractor.temperature == temperature
    assert extractor.calibration.startswith(f"temperature T={temperature:.4g}")
    # The reported ECE after is the one of the odd half, recomputed from the saved model.
    odd = extractor.probabilities(images[1::2])
    assert expected_calibration_error(odd, labels[1::2], multi_label=False) == pytest.approx(
        calibration["ece_after"], abs=1e-4)


def test_a_protocol_from_before_calibration_loads_uncalibrated(tmp_path: Path,
                                                               trained_mnist) -> None:
    _, tfrecords, _ = trained_mnist
    copy = tmp_path / "tfrecords"
    shutil.copytree(tfrecords, copy)
    protocol = json.loads(protocol_path(copy).read_text())
    del protocol["temperature"], protocol["calibration"]
    protocol_path(copy).write_text(json.dumps(protocol))
    extractor = load_domain_classifier(copy)
    assert extractor.temperature == 1.0 and extractor.calibration.startswith("uncalibrated")
    images, _ = held_out_images(copy)
    np.testing.assert_allclose(extractor.probabilities(images),
                               softmax(extractor.logits(images)), rtol=1e-5, atol=1e-6)


def test_existing_classifier_is_not_replaced_without_overwrite(trained_mnist) -> None:
    experiment, tfrecords, _ = trained_mnist
    before = model_path(tfrecords).read_bytes(), protocol_path(tfrecords).read_bytes()
    result = run_cli(["train-classifier", str(experiment), "--epochs", "1", "--quiet"])
    assert result.exit_code != 0
    assert "already exists" in result.output and "--overwrite" in result.output
    assert "Traceback" not in result.output
    # A failing replacement (no such held-out split) leaves the good one as it was.
    result = run_cli(["train-classifier", str(experiment), "--overwrite", "--test-split",
                      "val", "--quiet"])
    assert result.exit_code != 0
    assert "no 'val' images" in result.output and "test 80" in result.output
    assert (model_path(tfrecords).read_bytes(), protocol_path(tfrecords).read_bytes()) == before


def test_same_seed_trains_the_same_weights(tmp_path: Path, trained_mnist) -> None:
    experiment, tfrecords, _ = trained_mnist
    first = keras.saving.load_model(model_path(tfrecords), compile=False)
    copy = tmp_path / "first.keras"
    copy.write_bytes(model_path(tfrecords).read_bytes())
    result = run_cli(["train-classifier", str(experiment), "--epochs", "4", "--batch-size",
                      "16", "--quiet", "--overwrite"])
    assert result.exit_code == 0, result.output
    second = keras.saving.load_model(model_path(tfrecords), compile=False)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_changed_model_file_is_refused(tmp_path: Path, trained_mnist) -> None:
    _, tfrecords, _ = trained_mnist
    copy = tmp_path / "tfrecords"
    copy.mkdir()
    for path in tfrecords.rglob("*"):
        target = copy / path.relative_to(tfrecords)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.write_bytes(path.read_bytes())
    damaged = bytearray(model_path(copy).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    model_path(copy).write_bytes(bytes(damaged))
    with pytest.raises(DataError, match="sha256.*changed or damaged.*--overwrite"):
        load_domain_classifier(copy)
    # A classifier trained on other data (another fingerprint) is refused too.
    model_path(copy).write_bytes(model_path(tfrecords).read_bytes())
    protocol = json.loads(protocol_path(copy).read_text())
    protocol["dataset_fingerprint"] = "0" * 64
    protocol_path(copy).write_text(json.dumps(protocol))
    with pytest.raises(DataError, match="trained on other data.*train-classifier"):
        load_domain_classifier(copy)


def test_wrong_image_shape_is_refused(trained_mnist) -> None:
    _, tfrecords, _ = trained_mnist
    with pytest.raises(DataError, match="takes \\(28, 28, 1\\) images"):
        load_domain_classifier(tfrecords, image_shape=(32, 32, 1))
    extractor = load_domain_classifier(tfrecords)
    with pytest.raises(DataError, match="shape"):
        extractor.features(np.zeros((2, 32, 32, 1), np.float32))


def test_a_missing_classifier_is_trained_as_the_command_would(tmp_path: Path, capfd) -> None:
    experiment, tfrecords = mnist_experiment(tmp_path)
    assert run_cli(["prepare", str(experiment)]).exit_code == 0
    registry = load_plugins().registry
    capfd.readouterr()
    extractor = registry.create("feature_extractor", "domain", {}, data_dir=str(tfrecords),
                                image_shape=(SIZE, SIZE, 1))
    assert "No domain classifier for" in capfd.readouterr().err
    assert extractor.protocol.seed == DEFAULT_SEED and extractor.protocol.accuracy > 0.5
    trained_by_run = keras.saving.load_model(model_path(tfrecords), compile=False)
    # Found the next time: not trained again.
    registry.create("feature_extractor", "domain", {}, data_dir=str(tfrecords),
                    image_shape=(SIZE, SIZE, 1))
    assert "No domain classifier" not in capfd.readouterr().err
    # The command with its defaults trains the very same weights.
    result = run_cli(["train-classifier", str(experiment), "--quiet", "--overwrite"])
    assert result.exit_code == 0, result.output
    by_command = keras.saving.load_model(model_path(tfrecords), compile=False)
    for a, b in zip(trained_by_run.get_weights(), by_command.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_folder_that_cannot_train_a_classifier_says_why(tmp_path: Path) -> None:
    experiment, tfrecords = mnist_experiment(tmp_path)
    assert run_cli(["prepare", str(experiment)]).exit_code == 0
    manifest = json.loads((tfrecords / "dataset.json").read_text())
    # The folder's only held-out split is renamed away: nothing to hold out for the accuracy.
    manifest["splits"]["valid"] = manifest["splits"].pop("test")
    (tfrecords / "dataset.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="no 'test' images to test the domain classifier"):
        load_domain_classifier(tfrecords)
    assert not protocol_path(tfrecords).exists()


def test_celeba_attributes_train_a_multi_label_classifier(tmp_path: Path) -> None:
    tree = build_celeba(tmp_path / "CelebA", variants=("img_align_celeba",))
    tfrecords = tmp_path / "tfrecords"
    config = {
        "name": "celeba_clf", "seed": 5,
        "dataset": {"name": "celeba", "params": {"source": str(tree.root),
                                                 "tfrecords": str(tfrecords),
                                                 "image_size": 32, "workers": 1}},
        "architecture": {"name": "dcgan", "params": {"latent_dim": 8, "base_filters": 4}},
        "loss": {"name": "bce"},
        "train": {"epochs": 1, "batch_size": 2},
    }
    experiment = write_experiment(tmp_path / "celeba.yaml", config)
    result = run_cli(["train-classifier", str(experiment), "--epochs", "2", "--batch-size", "2",
                      "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Per attribute:" in result.output
    protocol = json.loads(protocol_path(tfrecords).read_text())
    assert protocol["label_kind"] == "attributes"
    assert protocol["label_names"] == list(ATTRIBUTE_NAMES)
    assert protocol["counts"] == {"train": 2, "test": 2}
    assert protocol["image_shape"] == [32, 32, 3]
    for name in ATTRIBUTE_NAMES:
        assert f"  {name}" in result.output
    assert set(protocol["per_label_accuracy"]) == set(ATTRIBUTE_NAMES)
    assert all(value in (0.0, 0.5, 1.0) for value in protocol["per_label_accuracy"].values())
    extractor = load_domain_classifier(tfrecords, image_shape=(32, 32, 3))
    assert extractor.multi_label and extractor.label_names == list(ATTRIBUTE_NAMES)
    images = np.stack([row.numpy() for row in read_tfrecords(tfrecords, "test",
                                                             deterministic=True)])
    probabilities = extractor.probabilities(images)
    assert probabilities.shape == (2, 40)
    assert probabilities.min() >= 0.0 and probabilities.max() <= 1.0
    assert extractor.classify(images).dtype == bool
    # One temperature for all 40 sigmoids, fitted on one test image and reported on the other.
    calibration = protocol["calibration"]
    assert calibration["scope"] == "one temperature shared by all attributes"
    assert calibration["ece_kind"] == "per (image, attribute) decision"
    assert "even positions (1)" in calibration["fit_on"]
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-extractor.logits(images)
                                                             / protocol["temperature"])),
                               rtol=1e-5, atol=1e-6)


def test_registration_does_not_import_tensorflow() -> None:
    import subprocess
    import sys

    code = ("import sys; import ganlab_builtins.classifier; "
            "from ganlab_builtins.classifier import command, protocol, score; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert found.stdout.split() == ["False", "False"]


def test_a_classifier_file_replaced_by_another_model_names_the_file(
        tmp_path: Path, trained_mnist) -> None:
    _, tfrecords, _ = trained_mnist
    copy = tmp_path / "tfrecords"
    for path in sorted(tfrecords.rglob("*")):
        target = copy / path.relative_to(tfrecords)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    # Another model in its place, its hash written into the protocol (as by hand).
    other = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    other.save(model_path(copy))
    protocol = json.loads(protocol_path(copy).read_text())
    protocol["weights_sha256"] = file_sha256(model_path(copy))
    protocol_path(copy).write_text(json.dumps(protocol))
    registry = load_plugins().registry
    with pytest.raises(DataError, match=f"classifier file {model_path(copy)} holds another "
                                        "model.*train-classifier"):
        registry.create("feature_extractor", "domain", {}, data_dir=copy,
                        image_shape=(28, 28, 1))
