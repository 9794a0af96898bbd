"""The built-in ``tfds`` dataset on a TensorFlow Datasets builder defined and prepared here:
images and ClassLabel names into ganlab's TFRecords (exact pixels at the native size), split
mappings and slices, offline refusals that give the `tfds build` command, bad keys named, and a
conditional run from an experiment file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from conftest import run_cli, tiny_experiment, write_experiment
from ganlab_builtins.tfds_dataset import TFDSDataset

from ganlab.contracts import class_names_of
from ganlab.errors import DataError

NAMES = ["circle", "square", "triangle"]
COUNTS = {"train": 9, "test": 3}


def tiny_image(index: int) -> np.ndarray:
    """A 16 x 16 RGB image that differs per index."""
    rng = np.random.default_rng(index)
    return rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)


class GanlabTestShapes(tfds.core.GeneratorBasedBuilder):
    """A few 16 x 16 images of three named classes, written without any download."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(16, 16, 3)),
            "label": tfds.features.ClassLabel(names=NAMES),
            "mask": tfds.features.Image(shape=(16, 16, 1)),
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, COUNTS["train"]),
                "test": self._generate_examples(100, COUNTS["test"])}

    def _generate_examples(self, start: int, count: int):
        for index in range(start, start + count):
            yield index, {"image": tiny_image(index), "label": index % 3,
                          "mask": tiny_image(index)[..., :1]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tfds")
    GanlabTestShapes(data_dir=str(folder)).download_and_prepare()
    return folder


def stored(dataset: TFDSDataset, split: str) -> tuple[np.ndarray, list[int]]:
    rows = list(dataset.load(split, with_metadata=True, deterministic=True))
    images = np.stack([np.rint((row["image"].numpy() + 1.0) * 127.5) for row in rows])
    return images.astype(np.uint8), [int(row["label"]) for row in rows]


def in_tfds_order(data_dir: Path, split: str) -> tuple[np.ndarray, list[int]]:
    builder = tfds.builder("ganlab_test_shapes", data_dir=str(data_dir))
    rows = list(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)))
    return np.stack([row["image"] for row in rows]), [int(row["label"]) for row in rows]


def test_images_labels_and_class_names_come_through(data_dir: Path, tmp_path: Path) -> None:
    dataset = TFDSDataset(name="ganlab_test_shapes", data_dir=str(data_dir),
                          tfrecords=str(tmp_path / "tf"), image_size=16, partition="all")
    # Known before any prepare (``ganlab validate`` checks a conditional GAN against them).
    assert not dataset.is_prepared() and class_names_of(dataset) == NAMES
    report = dataset.prepare(workers=1)
    assert report.counts == COUNTS
    for split in COUNTS:
        images, labels = stored(dataset, split)
        expected_images, expected_labels = in_tfds_order(data_dir, split)
        np.testing.assert_array_equal(images, expected_images)
        assert labels == expected_labels
    manifest = json.loads((tmp_path / "tf" / "dataset.json").read_text())
    assert manifest["class_names"] == NAMES and manifest["num_classes"] == 3
    # Loading needs neither TFDS's files nor the builder: the names are in the manifest.
    again = TFDSDataset(name="ganlab_test_shapes", data_dir=str(tmp_path / "gone"),
                        tfrecords=str(tmp_path / "tf"), image_size=16)
    assert class_names_of(again) == NAMES and again.num_examples() == COUNTS["train"]


def test_split_mapping_slices_gray_and_resize(data_dir: Path, tmp_path: Path) -> None:
    dataset = TFDSDataset(name="ganlab_test_shapes", data_dir=str(data_dir),
                          tfrecords=str(tmp_path / "tf"), image_size=8, channels=1,
                          splits={"train": "train[:6]", "valid": "train[6:]"},
                          label_key="none", workers=None)
    report = dataset.prepare(workers=1)
    assert report.counts == {"train": 6, "valid": 3}
    assert dataset.num_classes == 0 and class_names_of(dataset) == []
    image = next(iter(dataset.load("valid", deterministic=True)))
    assert tuple(image.shape) == (8, 8, 1)
    _, labels = stored(dataset, "train")
    assert labels == [-1] * 6


@pytest.mark.parametrize("params, message", [
    ({"image_key": "picture"}, "has no feature 'picture' \\(its image features: image, mask\\)"),
    ({"label_key": "mask"}, "has no ClassLabel feature 'mask' \\(its class labels: label\\)"),
    ({"splits": {"train": "validation"}}, "has no split 'validation'"),
])
def test_bad_keys_and_splits_are_named(data_dir: Path, tmp_path: Path, params: dict,
                                       message: str) -> None:
    dataset = TFDSDataset(name="ganlab_test_shapes", data_dir=str(data_dir),
                          tfrecords=str(tmp_path / "tf"), image_size=16, **params)
    with pytest.raises(DataError, match=message):
        dataset.prepare(workers=1)


def test_offline_it_says_how_to_build_the_dataset(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for name, folder in (("ganlab_test_shapes", empty), ("no_such_dataset_xyz", empty),
                         ("ganlab_test_shapes", tmp_path / "missing")):
        dataset = TFDSDataset(name=name, data_dir=str(folder), tfrecords=str(tmp_path / "tf"))
        assert not dataset.source_available()
        with pytest.raises(DataError, match=f"tfds build {name} --data_dir {folder}"):
            dataset.prepare(workers=1)


def test_a_conditional_gan_trains_from_an_experiment_file(data_dir: Path,
                                                           tmp_path: Path) -> None:
    config = tiny_experiment(tmp_path, callbacks=[])
    config["dataset"] = {"name": "tfds", "params": {
        "name": "ganlab_test_shapes", "data_dir": str(data_dir),
        "tfrecords": str(tmp_path / "tf"), "image_size": 32}}
    config["architecture"]["params"]["num_classes"] = 3
    config["train"].update(batch_size=3, steps_per_epoch=2, epochs=1)
    result = run_cli(["run", str(write_experiment(tmp_path / "shapes.yaml", config))])
    assert result.exit_code == 0, result.output
    run = json.loads((Path(config["run_dir"]) / "run.json").read_text())
    assert run["class_names"] == NAMES


class GanlabTestSizes(tfds.core.GeneratorBasedBuilder):
    """Two images of different sizes (8 x 8 and 16 x 16), for the pixel limit."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3)),
        }))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        yield 0, {"image": tiny_image(0)[:8, :8]}
        yield 1, {"image": tiny_image(1)}


def test_an_image_over_the_pixel_limit_is_skipped_and_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    GanlabTestSizes(data_dir=str(tmp_path / "tfds")).download_and_prepare()
    # The one limit of ganlab.data.imagefile, lowered between the two images' sizes.
    monkeypatch.setattr("ganlab.data.imagefile.MAX_IMAGE_PIXELS", 100)
    dataset = TFDSDataset(name="ganlab_test_sizes", data_dir=str(tmp_path / "tfds"),
                          tfrecords=str(tmp_path / "tf"), image_size=8, label_key="none")
    report = dataset.prepare(workers=1)
    assert report.counts == {"train": 1}
    [(name, reason)] = report.skipped
    assert name == "ganlab_test_sizes:train#1"
    assert "16x16 = 256 pixels" in reason and "MAX_IMAGE_PIXELS" in reason
    image = next(iter(dataset.load("train", deterministic=True)))
    np.testing.assert_array_equal(np.rint((image.numpy() + 1.0) * 127.5).astype(np.uint8),
                                  tiny_image(0)[:8, :8])
