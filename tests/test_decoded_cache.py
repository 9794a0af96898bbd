"""The decoded-image cache of the training pipeline: filled once, read by every epoch
(the shards are not read again), uint8 for the core's TFRecords, in memory or in a file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from ganlab.data import ImageExample, TFRecordImageDataset
from ganlab.data.pipeline import decoded_cache_file, epoch_dataset, training_images

COUNT = 40


class Noise(TFRecordImageDataset):
    """``COUNT`` random 8x8 RGB images in two classes."""

    default_split = "train"
    num_classes = 2
    image_shape = (8, 8, 3)

    def options(self) -> Mapping[str, Any]:
        return {"noise": COUNT}

    def source_available(self) -> bool:
        return True

    def plan(self) -> Mapping[str, Sequence[Any]]:
        return {"train": range(COUNT)}

    def decode(self, item: int) -> ImageExample:
        pixels = np.random.default_rng(item).integers(0, 256, (8, 8, 3), dtype=np.uint8)
        return ImageExample(pixels, f"#{item}", label=item % 2)

    def describe_source(self) -> str:
        return f"{COUNT} noise images"


def prepared(tmp_path: Path) -> Noise:
    dataset = Noise(source=None, tfrecords=tmp_path / "tf")
    dataset.prepare(workers=1)
    return dataset


def remove_shards(dataset: Noise) -> None:
    for shard in Path(dataset.tfrecords).glob("*.tfrecord"):
        shard.unlink()


def epochs(images: Any, count: int) -> list[np.ndarray]:
    """``count`` epochs of 3 batches of 7 (the ragged rest never read, as in training)."""
    return [np.concatenate([batch.numpy() for batch in epoch_dataset(
        images, epoch=epoch, seed=1, batch_size=7, steps=3, skip=0, shuffle_buffer=100,
        deterministic=False)]) for epoch in range(count)]


def originals(dataset: Noise) -> np.ndarray:
    return np.stack([image.numpy() for image in dataset.load(deterministic=True)])


@pytest.mark.parametrize("in_file", [False, True])
def test_every_epoch_reads_the_cache_not_the_shards(tmp_path: Path, in_file: bool) -> None:
    dataset = prepared(tmp_path)
    expected = originals(dataset)
    cache_file = decoded_cache_file(dataset) if in_file else None
    images = training_images(dataset, fixed_order=False, cache=True, cache_file=cache_file)
    assert images.element_spec.dtype == tf.float32
    remove_shards(dataset)  # a cache left incomplete by the first epoch would need them again
    for epoch in epochs(images, 3):
        assert epoch.shape == (21, 8, 8, 3)
        # The same pixels, scaled exactly as the reader scales them.
        found = {row.tobytes() for row in expected}
        assert all(row.tobytes() in found for row in epoch)
    if in_file:
        assert Path(f"{cache_file}.index").exists()


def test_in_fixed_order_the_cache_is_not_filled_up_front(tmp_path: Path) -> None:
    # A multi-worker run reads in fixed order and shards the records by file after
    # this call: a cache filled before would hold every worker's shards.
    dataset = prepared(tmp_path)
    images = training_images(dataset, fixed_order=True, cache=True)
    remove_shards(dataset)
    with pytest.raises(tf.errors.NotFoundError):
        list(images)


def test_a_labelled_cache_keeps_each_label_with_its_image(tmp_path: Path) -> None:
    dataset = prepared(tmp_path)
    images = training_images(dataset, fixed_order=True, cache=True, labelled=True, fill=True)
    remove_shards(dataset)
    pairs = list(images)
    assert len(pairs) == COUNT and pairs[0][1].dtype == tf.int32
    for index, (image, label) in enumerate(pairs):
        pixels = np.random.default_rng(index).integers(0, 256, (8, 8, 3), dtype=np.uint8)
        np.testing.assert_array_equal(image.numpy(), (pixels.astype(np.float32) / np.float32(127.5)
                                                      - np.float32(1.0)))
        assert int(label) == index % 2


def test_the_cache_file_name_changes_when_the_records_are_prepared_again(
        tmp_path: Path) -> None:
    dataset = prepared(tmp_path)
    first = decoded_cache_file(dataset)
    assert first.parent == Path(dataset.tfrecords) and first.name.startswith(".ganlab-cache-")
    dataset.prepare(workers=1, overwrite=True)
    assert decoded_cache_file(dataset) != first
    assert decoded_cache_file(dataset, labelled=True) != decoded_cache_file(dataset)
