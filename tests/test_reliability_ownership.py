"""ganlab deletes or replaces only what it wrote: user files beside TFRecords survive.

Every case runs the real CLI (click's runner on ``ganlab.cli``) on a real
prepared TFRecord folder, then checks the exit code, the message and that
every file under the case's folder is still there byte for byte.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from reliability_support import (
    assert_clean_failure,
    invoke,
    prepare_tiny_data,
    tiny_config,
    write_experiment,
)


def tree(root: Path) -> dict[str, object]:
    """Every entry under ``root``: file bytes, ``<dir>``, or the link target."""
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = ("link", os.readlink(path))
        elif path.is_dir():
            found[key] = "<dir>"
        else:
            found[key] = path.read_bytes()
    return found


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    """A tiny finished TFRecord folder at ``tmp_path/tfrecords``."""
    prepare_tiny_data(tmp_path)
    return tmp_path


def experiment(root: Path, **sections: object) -> str:
    return str(write_experiment(root / "exp.yaml", tiny_config(root, "own", **sections)))


def add_user_files(folder: Path, count: int = 1) -> None:
    for index in range(count):
        (folder / f"notes-{index}.txt").write_text(f"my notes {index}\n")
    (folder / "mine").mkdir()
    (folder / "mine" / "analysis.ipynb").write_bytes(b"{\"cells\": []}")


def test_overwrite_refuses_a_finished_folder_holding_user_files(prepared: Path) -> None:
    add_user_files(prepared / "tfrecords")
    path = experiment(prepared)
    before = tree(prepared)
    result = invoke(["prepare", path, "--overwrite", "--set", "dataset.params.tag=v2"])
    assert_clean_failure(result, 4, "holds finished ganlab TFRecords and files ganlab did not "
                                    "write", "'mine', 'notes-0.txt'", "move those files")
    assert tree(prepared) == before


def test_the_refusal_names_a_few_and_counts_them_all(prepared: Path) -> None:
    add_user_files(prepared / "tfrecords", count=9)
    path = experiment(prepared)
    before = tree(prepared)
    result = invoke(["prepare", path, "--overwrite", "--set", "dataset.params.tag=v2"])
    assert_clean_failure(result, 4, "'mine', 'notes-0.txt', 'notes-1.txt', 'notes-2.txt', "
                                    "'notes-3.txt' and 5 more (10 in all)")
    assert tree(prepared) == before


def test_a_damaged_manifest_beside_user_files_is_not_replaced(prepared: Path) -> None:
    folder = prepared / "tfrecords"
    (folder / "dataset.json").write_text("{ not json")
    add_user_files(folder)
    path = experiment(prepared)
    before = tree(prepared)
    result = invoke(["prepare", path, "--overwrite"])
    assert_clean_failure(result, 4, "files ganlab did not write", "'notes-0.txt'")
    assert tree(prepared) == before


def test_a_folder_without_manifest_holding_user_files_is_refused(tmp_path: Path) -> None:
    prepare_tiny_data(tmp_path)
    folder = tmp_path / "tfrecords"
    (folder / "dataset.json").unlink()
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    path = experiment(tmp_path)
    before = tree(tmp_path)
    result = invoke(["prepare", path, "--overwrite"])
    assert_clean_failure(result, 4, "holds files ganlab did not write: '.DS_Store'")
    assert tree(tmp_path) == before


def test_overwrite_of_a_folder_of_its_own_files_works(prepared: Path) -> None:
    folder = prepared / "tfrecords"
    (folder / ".ganlab-cache").mkdir()
    (folder / ".ganlab-cache" / "stats.npz").write_bytes(b"cache")
    old = (folder / "dataset.json").read_text()
    result = invoke(["prepare", experiment(prepared), "--overwrite",
                     "--set", "dataset.params.tag=v2"])
    assert result.exit_code == 0, result.output
    assert (folder / "dataset.json").read_text() != old
    assert '"tag": "v2"' in (folder / "dataset.json").read_text()
    assert not [p for p in prepared.iterdir() if ".old-" in p.name or ".partial-" in p.name]


def test_reuse_leaves_user_files_alone(prepared: Path) -> None:
    add_user_files(prepared / "tfrecords")
    path = experiment(prepared)
    before = tree(prepared)
    result = invoke(["prepare", path])
    assert result.exit_code == 0, result.output
    assert "reused" in result.output
    assert tree(prepared) == before


def test_a_stale_partial_folder_keeps_what_ganlab_did_not_write(prepared: Path) -> None:
    stale = prepared / "tfrecords.partial-999999"  # a pid that does not run
    stale.mkdir()
    (stale / "train-00000-of-00001.tfrecord").write_bytes(b"half")
    (stale / "keep.txt").write_text("the user's")
    result = invoke(["prepare", experiment(prepared)])
    assert result.exit_code == 0, result.output
    assert not (stale / "train-00000-of-00001.tfrecord").exists()
    assert (stale / "keep.txt").read_text() == "the user's"


@pytest.mark.parametrize("command", ["prepare", "validate", "run"])
@pytest.mark.parametrize("layout", ["same", "run-inside-data", "data-inside-run",
                                    "symlink-to-data"])
def test_run_directory_and_tfrecords_never_share_a_folder(prepared: Path, command: str,
                                                          layout: str) -> None:
    data = prepared / "tfrecords"
    run_dir = {"same": data, "run-inside-data": data / "run",
               "data-inside-run": prepared, "symlink-to-data": prepared / "link"}[layout]
    if layout == "symlink-to-data":
        run_dir.symlink_to(data, target_is_directory=True)
    path = experiment(prepared, run_dir=str(run_dir))
    before = tree(prepared)
    result = invoke([command, path, *(["--overwrite"] if command == "prepare" else [])])
    relation = "are the same folder" if layout in ("same", "symlink-to-data") else "nest"
    assert_clean_failure(result, 2, "The run directory", relation, "must be separate folders",
                         "`run_dir`")
    assert tree(prepared) == before
