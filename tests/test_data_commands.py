"""``ganlab prepare`` and ``ganlab inspect`` through the real CLI group."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner, Result
from PIL import Image

from ganlab import cli as cli_module


@pytest.fixture(scope="module", autouse=True)
def commands() -> None:
    cli_module._register_core_commands()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli_module.cli, list(args), catch_exceptions=False)


def write_experiment(folder: Path, **params: object) -> Path:
    path = folder / "experiment.yaml"
    path.write_text(yaml.safe_dump({
        "name": "digits",
        "dataset": {"name": "mnist", "params": {"tfrecords": str(folder / "tfrecords"),
                                                "image_size": 28, **params}},
        "architecture": {"name": "dcgan"},
        "loss": {"name": "bce"},
        "train": {"epochs": 1, "batch_size": 4},
    }))
    return path


def write_idx(folder: Path, train: int = 6, test: int = 2) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, count in (("train", train), ("t10k", test)):
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        labels = np.arange(count, dtype=np.uint8) % 10
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(
            struct.pack(">4I", 2051, count, 28, 28) + images.tobytes()))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">2I", 2049, count) + labels.tobytes())


def assert_clean_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.output.lstrip().startswith("Error:") or "\nError:" in result.output
    flat = " ".join(result.output.split())
    for fragment in fragments:
        assert fragment in flat, flat


def test_prepare_then_reuse_then_verify(tmp_path: Path) -> None:
    write_idx(tmp_path / "raw")
    experiment = write_experiment(tmp_path, source=str(tmp_path / "raw"))
    first = invoke("prepare", str(experiment), "--workers", "1")
    assert first.exit_code == 0, first.output
    assert f"Prepared 8 images into {tmp_path / 'tfrecords'}" in first.output
    assert "train: 6 images" in first.output and "test: 2 images" in first.output
    again = invoke("prepare", str(experiment), "--verify")
    assert again.exit_code == 0, again.output
    assert "already prepared with these options: reused (8 images)" in again.output
    assert "Verified 8 records in 2 shards" in again.output


def test_prepare_refuses_other_options_until_overwrite(tmp_path: Path) -> None:
    write_idx(tmp_path / "raw")
    experiment = write_experiment(tmp_path, source=str(tmp_path / "raw"))
    assert invoke("prepare", str(experiment), "--workers", "1").exit_code == 0
    bigger = ("--set", "dataset.params.image_size=32")
    assert_clean_error(invoke("prepare", str(experiment), *bigger), 4,
                       "image_size: 28 → 32", "--overwrite")
    result = invoke("prepare", str(experiment), *bigger, "--overwrite", "--workers", "1")
    assert result.exit_code == 0, result.output


def test_inspect_prints_the_manifest_and_writes_a_grid(tmp_path: Path) -> None:
    write_idx(tmp_path / "raw")
    experiment = write_experiment(tmp_path, source=str(tmp_path / "raw"), partition="all")
    assert invoke("prepare", str(experiment), "--workers", "1").exit_code == 0
    grid = tmp_path / "grid.png"
    result = invoke("inspect", str(experiment), "--num", "4", "--out", str(grid))
    assert result.exit_code == 0, result.output
    assert "image shape: 28x28x1 (png)" in result.output
    assert "(matches the experiment)" in result.output
    assert "train: 6 images in 1 shard" in result.output
    assert "Wrote a grid of 4 'all' images" in result.output
    with Image.open(grid) as picture:
        assert picture.size == (2 + 2 * 30, 2 + 2 * 30)  # 2x2 cells of 28 px, 2 px padding
        assert picture.mode == "L"
    result = invoke("inspect", str(experiment), "--split", "test", "--num", "9",
                    "--out", str(grid))
    assert "Wrote a grid of 2 'test' images" in result.output
    assert "labels in the grid: 0: 1, 1: 1" in result.output


def test_inspect_before_prepare_and_unknown_split(tmp_path: Path) -> None:
    write_idx(tmp_path / "raw")
    experiment = write_experiment(tmp_path, source=str(tmp_path / "raw"))
    assert_clean_error(invoke("inspect", str(experiment)), 4, "ganlab prepare")
    assert invoke("prepare", str(experiment), "--workers", "1").exit_code == 0
    assert_clean_error(invoke("inspect", str(experiment), "--split", "val"), 4,
                       "no split 'val'", "train, test")


def test_prepare_verify_names_a_corrupted_shard(tmp_path: Path) -> None:
    write_idx(tmp_path / "raw")
    experiment = write_experiment(tmp_path, source=str(tmp_path / "raw"))
    assert invoke("prepare", str(experiment), "--workers", "1").exit_code == 0
    shard = tmp_path / "tfrecords" / "train-00000-of-00001.tfrecord"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    assert_clean_error(invoke("prepare", str(experiment), "--verify"), 4,
                       "train-00000-of-00001.tfrecord record", "--overwrite")


@pytest.mark.parametrize(("setup", "fragments"), [
    ("missing", ["does not exist"]),
    ("empty", ["holds no MNIST IDX files"]),
    ("bad magic", ["t10k-labels-idx1-ubyte is not an MNIST labels IDX file",
                   "magic number is 7"]),
])
def test_bad_sources_get_one_paragraph(tmp_path: Path, setup: str, fragments: list[str]) -> None:
    raw = tmp_path / "raw"
    if setup == "empty":
        raw.mkdir()
    elif setup == "bad magic":
        write_idx(raw)
        labels = raw / "t10k-labels-idx1-ubyte"
        labels.write_bytes(struct.pack(">I", 7) + labels.read_bytes()[4:])
    experiment = write_experiment(tmp_path, source=str(raw))
    assert_clean_error(invoke("prepare", str(experiment)), 4, *fragments)
    assert not (tmp_path / "tfrecords").exists()


def test_bad_dataset_params_are_config_errors(tmp_path: Path) -> None:
    experiment = write_experiment(tmp_path)
    assert_clean_error(invoke("prepare", str(experiment), "--set", "dataset.params.sorce=x"), 2,
                       "dataset.params.sorce", "did you mean 'source'")
    assert_clean_error(invoke("prepare", str(experiment), "--set",
                              "dataset.params.image_size=48"), 2, "image_size must be one of")
