"""The one on-disk format: writer, manifest, reader and verify, on a small synthetic dataset."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from ganlab.data import ImageExample, SkipExample, TFRecordImageDataset
from ganlab.data.manifest import FORMAT_VERSION, options_fingerprint, shard_name
from ganlab.data.reader import read_error, verify
from ganlab.data.writer import shard_count
from ganlab.errors import DataError


def pixels(index: int, shape: tuple[int, int, int]) -> np.ndarray:
    """A deterministic noisy image per index (noise makes lossy storage visible)."""
    return np.random.default_rng(index).integers(0, 256, size=shape, dtype=np.uint8)


class Synthetic(TFRecordImageDataset):
    """Images generated from their index; knobs to make decode misbehave."""

    default_split = "train"

    def __init__(self, tfrecords: Path, *, counts: Mapping[str, int] | None = None,
                 shape: tuple[int, int, int] = (8, 8, 3), variant: str = "a",
                 skip: Sequence[int] = (), interrupt_at: int | None = None,
                 interrupt: type[BaseException] = KeyboardInterrupt, on_error: str = "skip"):
        super().__init__(source=None, tfrecords=tfrecords, on_error=on_error)
        self.counts = dict(counts or {"train": 12, "test": 5})
        self.image_shape = shape
        self.variant = variant
        self.skip = set(skip)
        self.interrupt_at = interrupt_at
        self.interrupt = interrupt
        self.odd = 0

    def options(self) -> Mapping[str, Any]:
        return {"variant": self.variant, "shape": list(self.image_shape)}

    def source_available(self) -> bool:
        return True

    def plan(self) -> Mapping[str, Sequence[Any]]:
        offsets = {"train": 0, "test": 1000}
        return {split: [(f"{split}/{i:04d}.png", offsets[split] + i) for i in range(n)]
                for split, n in self.counts.items()}

    def decode(self, item: tuple[str, int]) -> ImageExample:
        name, index = item
        if index == self.interrupt_at:
            raise self.interrupt(28, "No space left on device") if self.interrupt is OSError \
                else self.interrupt()
        if index in self.skip:
            raise SkipExample("cannot identify image file")
        self.odd += index % 2
        return ImageExample(image=pixels(index, self.image_shape), filename=name,
                            label=index % 10, attributes=(index % 2, -1, 1),
                            partition=0 if index < 1000 else 2)

    def describe_source(self) -> str:
        return f"synthetic images {self.counts}"

    def prepare_notes(self) -> dict[str, Any]:
        return {"odd_images": self.odd}


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.iterdir())}


def siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(folder.name + "."))


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "tfrecords"


@pytest.fixture
def prepared(out: Path) -> Synthetic:
    dataset = Synthetic(out)
    report = dataset.prepare(workers=1)
    assert not report.reused
    return dataset


def test_prepare_writes_shards_and_manifest(prepared: Synthetic, out: Path) -> None:
    manifest = json.loads((out / "dataset.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == [
        "dataset.json", "test-00000-of-00001.tfrecord", "train-00000-of-00001.tfrecord"]
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["ganlab_version"]
    assert manifest["created"]
    assert manifest["fingerprint"] == options_fingerprint(prepared.options())
    assert manifest["options"] == {"variant": "a", "shape": [8, 8, 3]}
    assert manifest["image_shape"] == [8, 8, 3]
    assert manifest["source"] == "synthetic images {'train': 12, 'test': 5}"
    assert manifest["attributes_length"] == 3
    assert {s: i["count"] for s, i in manifest["splits"].items()} == {"train": 12, "test": 5}
    for info in manifest["splits"].values():
        for shard in info["shards"]:
            assert (out / shard["file"]).stat().st_size == shard["bytes"]
    assert manifest["notes"] == {"odd_images": 6 + 2}
    assert prepared.is_prepared()
    assert prepared.num_examples() == 12 and prepared.num_examples("all") == 17


def test_images_are_lossless_with_static_shape_and_metadata(prepared: Synthetic) -> None:
    images = prepared.load("test", with_metadata=True, deterministic=True)
    assert images.element_spec["image"].shape == (8, 8, 3)
    assert images.element_spec["image"].dtype == tf.float32
    for position, example in enumerate(images):
        index = 1000 + position
        image = example["image"].numpy()
        assert -1.0 <= image.min() and image.max() <= 1.0
        restored = np.round((image + 1.0) * 127.5).astype(np.uint8)
        np.testing.assert_array_equal(restored, pixels(index, (8, 8, 3)))
        assert example["label"].numpy() == index % 10
        assert list(example["attributes"].numpy()) == [index % 2, -1, 1]
        assert example["filename"].numpy().decode() == f"test/{position:04d}.png"
        assert example["partition"].numpy() == 2
    assert position == 4
    bare = prepared.load()
    assert bare.element_spec.shape == (8, 8, 3)
    assert sum(1 for _ in bare) == 12
    assert sum(1 for _ in prepared.load("all")) == 17


def test_records_use_the_tf_slim_feature_names(prepared: Synthetic, out: Path) -> None:
    record = next(iter(tf.data.TFRecordDataset(str(out / "train-00000-of-00001.tfrecord"))))
    example = tf.train.Example.FromString(record.numpy()).features.feature
    assert example["image/format"].bytes_list.value == [b"png"]
    assert example["image/height"].int64_list.value == [8]
    assert example["image/width"].int64_list.value == [8]
    assert example["image/channels"].int64_list.value == [3]
    assert example["image/class/label"].int64_list.value == [0]
    assert example["image/attributes"].int64_list.value == [0, -1, 1]
    assert example["image/partition"].int64_list.value == [0]
    assert example["image/filename"].bytes_list.value == [b"train/0000.png"]
    decoded = tf.io.decode_png(example["image/encoded"].bytes_list.value[0]).numpy()
    np.testing.assert_array_equal(decoded, pixels(0, (8, 8, 3)))


def test_second_prepare_reuses_without_rewriting(prepared: Synthetic, out: Path) -> None:
    before = snapshot(out)
    report = Synthetic(out).prepare(workers=1)
    assert report.reused
    assert report.counts == {"train": 12, "test": 5}
    assert snapshot(out) == before


def test_other_options_are_refused_then_overwritten(prepared: Synthetic, out: Path) -> None:
    other = Synthetic(out, variant="b", counts={"train": 3})
    with pytest.raises(DataError, match="--overwrite") as caught:
        other.prepare(workers=1)
    assert "variant: 'a' → 'b'" in str(caught.value)
    assert prepared.is_prepared()
    with pytest.raises(DataError, match="other options"):
        other.load()
    report = other.prepare(workers=1, overwrite=True)
    assert report.counts == {"train": 3} and not report.reused
    assert other.is_prepared() and not prepared.is_prepared()
    assert sorted(p.name for p in out.iterdir()) == ["dataset.json",
                                                     "train-00000-of-00001.tfrecord"]
    assert siblings(out) == []


def test_interrupted_prepare_leaves_no_manifest(out: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        Synthetic(out, interrupt_at=1002).prepare(workers=1)
    assert not (out / "dataset.json").exists()
    assert not Synthetic(out).is_prepared()
    assert siblings(out) == []
    with pytest.raises(DataError, match="ganlab prepare"):
        Synthetic(out).load()


def test_failed_overwrite_keeps_the_finished_data(prepared: Synthetic, out: Path) -> None:
    before = snapshot(out)
    failing = Synthetic(out, variant="b", interrupt_at=7, interrupt=OSError)
    with pytest.raises(DataError, match="No space left on device") as caught:
        failing.prepare(workers=1, overwrite=True)
    assert "train-00000-of-00001.tfrecord" in str(caught.value)
    assert snapshot(out) == before
    assert prepared.is_prepared()
    assert siblings(out) == []
    with pytest.raises(KeyboardInterrupt):
        Synthetic(out, variant="c", interrupt_at=3).prepare(workers=1, overwrite=True)
    assert snapshot(out) == before


def test_skipped_images_are_recorded_or_fail(out: Path) -> None:
    report = Synthetic(out, skip=[3, 1001]).prepare(workers=1)
    assert report.counts == {"train": 11, "test": 4}
    assert report.skipped == [("train/0003.png", "cannot identify image file"),
                              ("test/0001.png", "cannot identify image file")]
    manifest = json.loads((out / "dataset.json").read_text())
    assert manifest["skipped_count"] == 2
    strict = Synthetic(out.parent / "strict", skip=[3], on_error="fail")
    with pytest.raises(DataError, match=r"train/0003\.png.*on_error"):
        strict.prepare(workers=1)
    assert not strict.tfrecords.exists() and siblings(strict.tfrecords) == []


def test_nothing_readable_is_an_error(out: Path) -> None:
    with pytest.raises(DataError, match="all 2 were skipped"):
        Synthetic(out, counts={"train": 2}, skip=[0, 1]).prepare(workers=1)
    assert not out.exists()


def test_unknown_split_lists_the_available_ones(prepared: Synthetic) -> None:
    with pytest.raises(DataError, match="no split 'val'.*train, test"):
        prepared.load("val")
    with pytest.raises(DataError, match="train, test"):
        prepared.num_examples("val")


def test_verify_names_a_corrupted_shard_and_record(prepared: Synthetic, out: Path) -> None:
    report = verify(out)
    assert (report.records, report.shards) == (17, 2)
    shard = out / "train-00000-of-00001.tfrecord"
    data = bytearray(shard.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4] = bytes(b ^ 0xFF for b in data[middle:middle + 4])
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"train-00000-of-00001\.tfrecord record \d+") as caught:
        verify(out)
    assert "test-00000" not in str(caught.value)
    with pytest.raises(tf.errors.DataLossError) as failure:  # what training would hit
        for _ in prepared.load():
            pass
    assert "train-00000-of-00001.tfrecord" in str(read_error(out, failure.value))


def test_truncated_or_missing_shards_are_named(prepared: Synthetic, out: Path) -> None:
    shard = out / "test-00000-of-00001.tfrecord"
    shard.write_bytes(shard.read_bytes()[:-10])
    assert not prepared.is_prepared()
    with pytest.raises(DataError, match=r"test-00000-of-00001\.tfrecord has .*truncated"):
        prepared.load()
    with pytest.raises(DataError, match=r"test-00000-of-00001\.tfrecord record 4"):
        verify(out)
    with pytest.raises(DataError, match="damaged.*--overwrite"):
        prepared.prepare(workers=1)
    shard.unlink()
    with pytest.raises(DataError, match="test-00000-of-00001.tfrecord is missing"):
        verify(out)
    assert prepared.prepare(workers=1, overwrite=True).counts["test"] == 5
    assert prepared.is_prepared()


def test_manifest_that_does_not_match_the_shards(prepared: Synthetic, out: Path) -> None:
    manifest = json.loads((out / "dataset.json").read_text())
    manifest["splits"]["train"]["shards"][0]["count"] = 13
    (out / "dataset.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="holds 12 records, the manifest records 13"):
        verify(out)
    (out / "dataset.json").write_text("{not json")
    assert not prepared.is_prepared()
    with pytest.raises(DataError, match="not valid JSON"):
        prepared.load()


def test_a_folder_ganlab_did_not_make_is_never_replaced(out: Path) -> None:
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(DataError, match="did not make"):
            Synthetic(out).prepare(workers=1, overwrite=overwrite)
    assert (out / "thesis.tex").read_text() == "precious"


def test_leftovers_of_killed_prepares_are_cleaned_up(prepared: Synthetic, out: Path) -> None:
    dead = 2**22 + 12345  # above the default pid_max: no such process
    partial = out.with_name(f"{out.name}.partial-{dead}")
    partial.mkdir()
    (partial / shard_name("train", 0, 1)).write_bytes(b"half")
    old = out.with_name(f"{out.name}.old-{dead}")
    os.rename(out, old)  # a kill between the two renames of an overwrite
    report = Synthetic(out).prepare(workers=1)
    assert report.reused
    assert siblings(out) == []


def test_shard_count_targets_size_and_workers() -> None:
    assert shard_count(10, (64, 64, 3), workers=8) == 1
    assert shard_count(60_000, (64, 64, 1), workers=1) == 4
    assert shard_count(60_000, (64, 64, 1), workers=16) == 16
    assert shard_count(5_000, (28, 28, 1), workers=16) == 5
    assert shard_count(202_599, (64, 64, 3), workers=2) == 38
