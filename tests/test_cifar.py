"""The built-in ``cifar10`` / ``cifar100`` datasets, on files written here in the official
binary-version format: exact pixels (R, G, B planes, row-major), labels (CIFAR-100 coarse and
fine), class names from the names files into the manifest, both source layouts, the Python
version refused by name, damaged files refused, and a conditional run from an experiment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, tiny_experiment, write_experiment
from ganlab_builtins.cifar import CIFAR10, CIFAR100

from ganlab.contracts import class_names_of
from ganlab.errors import DataError

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                 "ship", "truck"]
PER_BATCH = 3


def cifar_records(rng: np.random.Generator, count: int,
                  label_columns: list[np.ndarray]) -> tuple[bytes, np.ndarray]:
    """``count`` records (label bytes, then R, G, B planes) and their images ``(n, 32, 32, 3)``."""
    images = rng.integers(0, 256, size=(count, 32, 32, 3), dtype=np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(count, 3072)  # R plane, G plane, B plane
    labels = np.stack(label_columns, axis=1).astype(np.uint8)
    return np.concatenate([labels, planes], axis=1).tobytes(), images


def write_cifar10(root: Path, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``root/cifar-10-batches-bin``: 5 train batches, a test batch; split → (images, labels)."""
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    written: dict[str, list] = {"train": [[], []], "test": [[], []]}
    files = [("train", f"data_batch_{i}.bin") for i in range(1, 6)] + [("test", "test_batch.bin")]
    for split, name in files:
        labels = rng.integers(0, 10, size=PER_BATCH)
        payload, images = cifar_records(rng, PER_BATCH, [labels])
        (folder / name).write_bytes(payload)
        written[split][0].append(images)
        written[split][1].append(labels)
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR10_NAMES) + "\n\n")
    return {split: (np.concatenate(parts[0]), np.concatenate(parts[1]))
            for split, parts in written.items()}


def write_cifar100(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``root/cifar-100-binary``; split → (images, coarse, fine)."""
    folder = root / "cifar-100-binary"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    written = {}
    for split, count in (("train", 6), ("test", 4)):
        coarse, fine = rng.integers(0, 20, size=count), rng.integers(0, 100, size=count)
        payload, images = cifar_records(rng, count, [coarse, fine])
        (folder / f"{split}.bin").write_bytes(payload)
        written[split] = (images, coarse, fine)
    (folder / "fine_label_names.txt").write_text("\n".join(f"fine_{i}" for i in range(100)))
    (folder / "coarse_label_names.txt").write_text("\n".join(f"coarse_{i}" for i in range(20)))
    return written


def stored(dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The images (back to uint8) and labels of a prepared split, in record order."""
    rows = list(dataset.load(split, with_metadata=True, deterministic=True))
    images = np.stack([np.rint((row["image"].numpy() + 1.0) * 127.5) for row in rows])
    return images.astype(np.uint8), np.array([int(row["label"]) for row in rows])


@pytest.mark.parametrize("layout", ["parent", "folder"])
def test_cifar10_keeps_every_pixel_label_and_class_name(tmp_path: Path, layout: str) -> None:
    written = write_cifar10(tmp_path / "raw")
    source = tmp_path / "raw" if layout == "parent" else tmp_path / "raw" / "cifar-10-batches-bin"
    dataset = CIFAR10(source=str(source), tfrecords=str(tmp_path / "tf"), partition="all")
    report = dataset.prepare(workers=1)
    assert report.counts == {"train": 5 * PER_BATCH, "test": PER_BATCH}
    for split in ("train", "test"):
        images, labels = stored(dataset, split)
        np.testing.assert_array_equal(images, written[split][0])
        np.testing.assert_array_equal(labels, written[split][1])
    manifest = json.loads((tmp_path / "tf" / "dataset.json").read_text())
    assert manifest["class_names"] == CIFAR10_NAMES and manifest["num_classes"] == 10
    assert manifest["image_shape"] == [32, 32, 3]
    # A fresh object (the source may be gone) reads the names back from the manifest.
    again = CIFAR10(source=str(tmp_path / "gone"), tfrecords=str(tmp_path / "tf"))
    assert class_names_of(again) == CIFAR10_NAMES and again.is_prepared()
    assert again.num_examples() == 5 * PER_BATCH and again.num_examples("test") == PER_BATCH
    pairs = list(again.load("test", with_labels=True))
    assert [int(label) for _, label in pairs] == list(written["test"][1])


@pytest.mark.parametrize("labels", ["fine", "coarse"])
def test_cifar100_fine_and_coarse_labels(tmp_path: Path, labels: str) -> None:
    written = write_cifar100(tmp_path / "raw")
    dataset = CIFAR100(source=str(tmp_path / "raw"), tfrecords=str(tmp_path / "tf"),
                       labels=labels, partition="test")
    dataset.prepare(workers=1)
    images, stored_labels = stored(dataset, "test")
    np.testing.assert_array_equal(images, written["test"][0])
    expected = written["test"][2] if labels == "fine" else written["test"][1]
    np.testing.assert_array_equal(stored_labels, expected)
    count = 100 if labels == "fine" else 20
    assert dataset.num_classes == count
    assert class_names_of(dataset) == [f"{labels}_{i}" for i in range(count)]


def test_resized_to_64_and_the_options_differ(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "raw")
    small = CIFAR10(source=str(tmp_path / "raw"), tfrecords=str(tmp_path / "tf"))
    large = CIFAR10(source=str(tmp_path / "raw"), tfrecords=str(tmp_path / "tf64"),
                    image_size=64)
    large.prepare(workers=1)
    image = next(iter(large.load("test", deterministic=True)))
    assert tuple(image.shape) == (64, 64, 3) and large.image_shape == (64, 64, 3)
    assert small.options() != large.options()


def test_the_python_version_is_refused_naming_the_binary_one(tmp_path: Path) -> None:
    pickles = tmp_path / "raw" / "cifar-10-batches-py"
    pickles.mkdir(parents=True)
    (pickles / "data_batch_1").write_bytes(b"\x80\x04not really a pickle")
    for source in (tmp_path / "raw", pickles):
        dataset = CIFAR10(source=str(source), tfrecords=str(tmp_path / "tf"))
        assert not dataset.source_available()
        with pytest.raises(DataError, match="Python version.*cifar-10-binary.tar.gz"):
            dataset.prepare(workers=1)
    assert not (tmp_path / "tf").exists()


@pytest.mark.parametrize("damage, message", [
    ("truncate", "not a whole number of 3073-byte records"),
    ("missing", "lacks data_batch_3.bin"),
    ("label", "record 1 has label 12, but cifar10 has 10 classes"),
    ("names", "names 9 classes"),
])
def test_damaged_files_are_refused_with_the_file_named(tmp_path: Path, damage: str,
                                                       message: str) -> None:
    write_cifar10(tmp_path / "raw")
    folder = tmp_path / "raw" / "cifar-10-batches-bin"
    if damage == "truncate":
        data = (folder / "data_batch_2.bin").read_bytes()
        (folder / "data_batch_2.bin").write_bytes(data[:-100])
    elif damage == "missing":
        (folder / "data_batch_3.bin").unlink()
    elif damage == "label":
        data = bytearray((folder / "test_batch.bin").read_bytes())
        data[3073] = 12  # the second record's label byte
        (folder / "test_batch.bin").write_bytes(bytes(data))
    else:
        (folder / "batches.meta.txt").write_text("\n".join(CIFAR10_NAMES[:9]))
    dataset = CIFAR10(source=str(tmp_path / "raw"), tfrecords=str(tmp_path / "tf"))
    with pytest.raises(DataError, match=message):
        dataset.prepare(workers=1)


def test_a_missing_source_says_what_to_download(tmp_path: Path) -> None:
    dataset = CIFAR100(source=str(tmp_path / "nowhere"), tfrecords=str(tmp_path / "tf"))
    with pytest.raises(DataError, match="cifar-100-binary.tar.gz.*cifar-100-binary/"):
        dataset.prepare(workers=1)


def test_bad_params_are_config_errors(tmp_path: Path) -> None:
    for params, message in (({"labels": "medium"}, "labels must be fine or coarse"),
                            ({"image_size": 48}, "image_size must be one of"),
                            ({"partition": "valid"}, "partition must be one of")):
        with pytest.raises(ValueError, match=message):
            CIFAR100(source=str(tmp_path), tfrecords=str(tmp_path / "tf"), **params)


def test_a_conditional_gan_trains_on_cifar10_from_an_experiment_file(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "raw")
    config = tiny_experiment(tmp_path, callbacks=[])
    config["dataset"] = {"name": "cifar10", "params": {"source": str(tmp_path / "raw"),
                                                       "tfrecords": str(tmp_path / "tf")}}
    config["architecture"]["params"]["num_classes"] = 10
    config["train"].update(batch_size=4, steps_per_epoch=2, epochs=1)
    result = run_cli(["run", str(write_experiment(tmp_path / "cifar.yaml", config))])
    assert result.exit_code == 0, result.output
    run = json.loads((Path(config["run_dir"]) / "run.json").read_text())
    assert run["num_classes"] == 10 and run["class_names"] == CIFAR10_NAMES
    grid = tmp_path / "cats.png"
    drawn = run_cli(["sample", config["run_dir"], "--class", "cat", "--num", "4",
                     "--out", str(grid)])
    assert drawn.exit_code == 0 and grid.is_file(), drawn.output
    refused = run_cli(["sample", config["run_dir"], "--class", "kat", "--num", "4",
                       "--out", str(tmp_path / "no.png")])
    assert refused.exit_code != 0 and "did you mean 'cat'" in refused.output
