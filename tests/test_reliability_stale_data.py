"""Stale or mixed data is never used silently: prepare, evaluate and resume notice new raw files.

Real MNIST IDX files are written by the test, prepared and trained on through
the real CLI, then replaced (same names, same sizes, even the same
modification times: only the bytes differ) or swapped for another source.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli, write_experiment
from evaluation_support import PLUGIN_SOURCE

from ganlab.data import source_fingerprint
from ganlab.evaluation.cache import CacheKey

FID = {"name": "fid", "params": {"extractor": "projection", "num_samples": 16,
                                 "batch_size": 16}}


def write_idx(folder: Path, seed: int, count: int = 32) -> None:
    """The four MNIST IDX files, ``count`` train and 8 test digits drawn from ``seed``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", count), ("t10k", 8)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(
            struct.pack(">4I", 2051, n, 28, 28) + images.tobytes(), mtime=0))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">2I", 2049, n) + labels.tobytes())


def replace_keeping_times(folder: Path, seed: int) -> None:
    """New digits in the same files: same names, same sizes, same modification times."""
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}
    write_idx(folder, seed)
    for path in folder.iterdir():
        size, mtime = before[path.name]
        os.utime(path, ns=(mtime, mtime))
        if path.name.startswith("t10k-labels") or path.name.startswith("train-labels"):
            assert path.stat().st_size == size


def experiment(root: Path, name: str = "stale", **train: Any) -> Path:
    config = {
        "name": name, "seed": 3, "run_dir": str(root / "runs" / name),
        "plugins": ["projection.py"],
        "dataset": {"name": "mnist", "params": {"source": str(root / "raw"),
                                                "tfrecords": str(root / "tfrecords"),
                                                "image_size": 32, "workers": 1}},
        "architecture": {"name": "dcgan", "params": {"latent_dim": 8, "base_filters": 4,
                                                     "kernel_size": 4}},
        "loss": {"name": "bce"},
        "train": {"epochs": 1, "batch_size": 16, "steps_per_epoch": 1, "verbose": 0,
                  "shuffle_buffer": 32, **train},
        "latents": {"bank_size": 4},
        "metrics": [FID],
    }
    (root / "projection.py").write_text(PLUGIN_SOURCE)
    return write_experiment(root / f"{name}.yaml", config)


def flat(result: Any) -> str:
    return " ".join(result.output.split())


def assert_refused(result: Any, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in flat(result), result.output


def manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / "tfrecords" / "dataset.json").read_text())


def stored_and_raw_first_image(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first training image in the TFRecords, and decoded afresh from the raw files."""
    from ganlab_builtins.mnist import MNIST

    dataset = MNIST(source=str(root / "raw"), tfrecords=str(root / "tfrecords"),
                    image_size=32)
    image = next(iter(dataset.load("train", deterministic=True)))
    stored = np.rint((image.numpy() + 1.0) * 127.5).astype(np.uint8)
    return stored, dataset.decode(("train", 0)).image


# -- the helper ------------------------------------------------------------------------------------
def test_source_fingerprint_covers_names_sizes_times_or_content(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"aaaa")
    (folder / "sub" / "b.bin").write_bytes(b"bb")
    (folder / ".hidden").write_bytes(b"ignored")
    (folder / "tf").mkdir()
    (folder / "tf" / "dataset.json").write_text("{}")  # TFRecords inside the source: left out
    first = source_fingerprint([folder], root=folder)
    assert first.startswith("2 files, 6 bytes, sha256 ")
    assert source_fingerprint([folder], root=folder, hash_content=True) != first
    moved = tmp_path / "moved"
    os.rename(folder, moved)
    assert source_fingerprint([moved], root=moved) == first  # names are relative to root
    os.utime(moved / "a.bin", ns=(1, 1))
    assert source_fingerprint([moved], root=moved) != first  # a time is enough without hashing
    hashed = source_fingerprint([moved], root=moved, hash_content=True)
    os.utime(moved / "a.bin", ns=(2, 2))
    assert source_fingerprint([moved], root=moved, hash_content=True) == hashed
    (moved / "a.bin").write_bytes(b"aaab")
    assert source_fingerprint([moved], root=moved, hash_content=True) != hashed


def test_the_cache_key_changes_with_the_raw_files() -> None:
    key = CacheKey("options", "test", 16, "projection", "w", "none", (28, 28, 1), False, "A")
    other = CacheKey("options", "test", 16, "projection", "w", "none", (28, 28, 1), False, "B")
    assert key.file_name() != other.file_name() and key.as_json() != other.as_json()


# -- prepare -------------------------------------------------------------------------------------
def test_prepare_notices_replaced_idx_files_and_overwrite_really_rewrites(tmp_path: Path) -> None:
    write_idx(tmp_path / "raw", seed=1)
    path = str(experiment(tmp_path))
    assert run_cli(["prepare", path]).exit_code == 0
    recorded = manifest(tmp_path)["source_fingerprint"]
    assert recorded.startswith("4 files, ")
    stored, raw = stored_and_raw_first_image(tmp_path)
    assert np.array_equal(stored, raw)

    replace_keeping_times(tmp_path / "raw", seed=2)
    assert_refused(run_cli(["prepare", path, "--verify"]), 4,
                   "The raw data changed since the TFRecords", recorded, "--overwrite")
    assert_refused(run_cli(["validate", path]), 4, "The raw data changed")

    result = run_cli(["prepare", path, "--overwrite", "--verify"])
    assert result.exit_code == 0, result.output
    assert "Prepared 40 images" in result.output and "reused" not in result.output
    assert "source: the raw files are those the TFRecords were written from" in flat(result)
    assert manifest(tmp_path)["source_fingerprint"] != recorded
    new_stored, new_raw = stored_and_raw_first_image(tmp_path)
    assert np.array_equal(new_stored, new_raw) and not np.array_equal(new_stored, stored)

    again = run_cli(["prepare", path])
    assert "reused (40 images)" in again.output, again.output


def test_a_manifest_without_a_source_fingerprint_is_reused_and_verify_says_so(
        tmp_path: Path) -> None:
    write_idx(tmp_path / "raw", seed=1)
    path = str(experiment(tmp_path))
    assert run_cli(["prepare", path]).exit_code == 0
    old = manifest(tmp_path)
    del old["source_fingerprint"]  # as an older ganlab wrote it
    (tmp_path / "tfrecords" / "dataset.json").write_text(json.dumps(old))
    result = run_cli(["prepare", path, "--verify"])
    assert result.exit_code == 0, result.output
    assert "reused" in result.output
    assert "records no fingerprint of the raw files" in flat(result)


# -- a run and its evaluation ----------------------------------------------------------------------
@pytest.fixture()
def trained(tmp_path: Path) -> dict[str, Any]:
    write_idx(tmp_path / "raw", seed=1)
    path = str(experiment(tmp_path))
    result = run_cli(["run", path])
    assert result.exit_code == 0, result.output
    return {"root": tmp_path, "path": path, "run_dir": tmp_path / "runs" / "stale"}


def test_resume_on_other_data_is_refused_until_accepted(trained: dict[str, Any]) -> None:
    root, path, run_dir = trained["root"], trained["path"], trained["run_dir"]
    recorded = json.loads((run_dir / "run.json").read_text())["data"]
    assert recorded["source"].startswith("4 files, ") and recorded["options"]
    write_idx(root / "other", seed=5)
    other = ["--set", f"dataset.params.source={root / 'other'}",
             "--set", f"dataset.params.tfrecords={root / 'tf-other'}",
             "--set", "train.epochs=2"]
    result = run_cli(["run", path, *other])
    assert_refused(result, 5, "trained on other data", recorded["source"],
                   "--set name=NEW_NAME", "--accept-data-change")
    assert json.loads((run_dir / "run.json").read_text())["epochs_completed"] == 1

    accepted = run_cli(["run", path, *other, "--accept-data-change"])
    assert accepted.exit_code == 0, accepted.output
    assert "as --accept-data-change asks" in flat(accepted)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["epochs_completed"] == 2 and info["data"]["source"] != recorded["source"]


def test_resume_after_the_raw_files_changed_is_refused(trained: dict[str, Any]) -> None:
    root, path = trained["root"], trained["path"]
    replace_keeping_times(root / "raw", seed=2)
    more = ["--set", "train.epochs=2"]
    assert_refused(run_cli(["run", path, *more]), 4, "The raw data changed", "--overwrite")
    assert run_cli(["prepare", path, "--overwrite"]).exit_code == 0
    assert_refused(run_cli(["run", path, *more]), 5, "trained on other data",
                   "--accept-data-change")


def test_evaluate_warns_about_changed_raw_files_and_never_reuses_old_statistics(
        trained: dict[str, Any]) -> None:
    root, path, run_dir = trained["root"], trained["path"], trained["run_dir"]
    first = run_cli(["evaluate", str(run_dir), "--metric", "fid"])
    assert first.exit_code == 0, first.output
    assert "Reusing cached real statistics" in first.output  # cached while training
    replace_keeping_times(root / "raw", seed=2)
    stale = run_cli(["evaluate", str(run_dir), "--metric", "fid"])
    assert stale.exit_code == 0, stale.output
    assert "warning: the raw data changed since the TFRecords" in flat(stale)
    assert run_cli(["prepare", path, "--overwrite"]).exit_code == 0
    fresh = run_cli(["evaluate", str(run_dir), "--metric", "fid"])
    assert fresh.exit_code == 0, fresh.output
    assert "Computing real statistics" in fresh.output
    assert "Reusing" not in fresh.output and "warning: the raw data" not in fresh.output
