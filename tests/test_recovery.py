"""Recovery through the real CLI (in-process): NaN losses and poisoned weights, damaged
checkpoints, the keep policy, a full disk while checkpointing, and branching a run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from reliability_support import (
    assert_clean_failure,
    checkpoint_names,
    invoke,
    prepare_tiny_data,
    tiny_experiment_file,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recovery")
    prepare_tiny_data(folder)
    return folder


def experiment(root: Path, name: str, **sections) -> tuple[str, Path]:
    """An in-process-friendly tiny experiment (no op determinism in the test process)."""
    sections["train"] = {"deterministic": False, **sections.get("train", {})}
    return tiny_experiment_file(root, name, **sections)


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_nan_loss_stops_with_step_last_values_and_checkpoint(root: Path) -> None:
    path, run_dir = experiment(root, "nan", loss={"name": "tiny_bce",
                                                  "params": {"poison_after": 10}},
                               checkpoint={"every_n_steps": 4})
    result = invoke(["run", path])
    good = run_dir / "checkpoints" / "ckpt-e0001-s000000.npz"
    text = assert_clean_failure(
        result, 6, "A loss became non-finite at epoch 2, step 3 (global step 11; d_loss=nan",
        "Last finite values: d_loss=", f"the last good checkpoint is {good} (end of epoch 1)",
        "Nothing was saved from the poisoned step")
    assert "g_loss=nan" not in text.split("Last finite values:")[1]
    assert checkpoint_names(run_dir) == ["ckpt-e0001-s000000.npz"]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"


def test_poisoned_weights_are_never_checkpointed(root: Path) -> None:
    """NaN gradients with finite losses: the step checkpoint after them is refused."""
    path, run_dir = experiment(root, "poisoned",
                               loss={"name": "tiny_bce",
                                     "params": {"poison_after": 10, "mode": "gradient"}},
                               checkpoint={"every_n_steps": 1})
    result = invoke(["run", path])
    last_good = run_dir / "checkpoints" / "ckpt-e0001-s000002.npz"
    assert_clean_failure(result, 6, "The weights became non-finite",
                         "by the epoch 2, after step 3", "the poisoned state was not saved",
                         f"the last good checkpoint is {last_good}")
    assert checkpoint_names(run_dir)[-1] == last_good.name
    with np.load(last_good, allow_pickle=False) as archive:
        assert all(np.isfinite(archive[k]).all() for k in archive.files
                   if archive[k].dtype.kind == "f")


def test_keep_policy_and_fallback_past_a_damaged_checkpoint(root: Path) -> None:
    path, run_dir = experiment(root, "keep", train={"epochs": 4},
                               checkpoint={"every_n_steps": None, "keep_last": 2,
                                           "keep_every_n_epochs": 2})
    assert invoke(["run", path]).exit_code == 0
    assert checkpoint_names(run_dir) == ["ckpt-e0002-s000000.npz", "ckpt-e0003-s000000.npz",
                                         "ckpt-e0004-s000000.npz"]
    newest = run_dir / "checkpoints" / "ckpt-e0004-s000000.npz"
    newest.write_bytes(newest.read_bytes()[:5000])  # a partial file
    result = invoke(["run", path, "--set", "train.epochs=5"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"warning: Checkpoint {newest} is damaged: it is truncated or corrupt" in text
    assert "It was moved aside to ckpt-e0004-s000000.npz.damaged" in text
    assert "falling back to ckpt-e0003-s000000.npz (end of epoch 3)" in text
    assert "Done: 5 epochs" in text
    assert checkpoint_names(run_dir) == ["ckpt-e0002-s000000.npz", "ckpt-e0004-s000000.npz",
                                         "ckpt-e0005-s000000.npz"]
    assert (run_dir / "checkpoints" / "ckpt-e0004-s000000.npz.damaged").exists()
    history = (run_dir / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history] == ["epoch", "1", "2", "3", "4", "5"]


def test_disk_full_while_checkpointing_keeps_the_last_checkpoint(root: Path) -> None:
    path, run_dir = experiment(root, "enospc", checkpoint={"every_n_steps": None})
    result = invoke(["run", path], env={"GANLAB_FAULT": "checkpoint-write:2:enospc"})
    first = run_dir / "checkpoints" / "ckpt-e0001-s000000.npz"
    assert_clean_failure(result, 5, "Could not write the checkpoint for the end of epoch 2",
                         "the disk is full", f"The previous checkpoint {first}",
                         "is intact", "run the same command again to resume")
    assert checkpoint_names(run_dir) == [first.name]
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]
    resumed = invoke(["run", path])
    assert resumed.exit_code == 0 and "(end of epoch 1)" in resumed.output, resumed.output


@pytest.fixture(scope="module")
def source_run(root: Path) -> tuple[str, Path]:
    path, run_dir = experiment(root, "source", checkpoint={"keep_every_n_epochs": 1})
    result = invoke(["run", path])
    assert result.exit_code == 0, result.output
    return path, run_dir


def test_branch_from_an_old_epoch_leaves_the_original_untouched(
        root: Path, source_run: tuple[str, Path]) -> None:
    path, source = source_run
    before = tree_digest(source)
    branch = root / "runs" / "branch"
    result = invoke(["run", path, "--from-checkpoint", "epoch=1", "--set", "name=branch",
                     "--set", f"run_dir={branch}",
                     "--set", "optimizers.generator.learning_rate=1.0e-4"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"Branching a new run in {branch} from the end of epoch 1 of {source}" in text
    assert "changed: optimizers.generator.learning_rate: 0.0002 → 0.0001" in text
    assert "Resuming from" in text and "(end of epoch 1)" in text and "Done: 3 epochs" in text
    assert tree_digest(source) == before, "the original run was modified"
    meta = json.loads((branch / "run.json").read_text())
    assert meta["branched_from"]["checkpoint"] == "ckpt-e0001-s000000.npz"
    with np.load(branch / "checkpoints" / "ckpt-e0003-s000000.npz", allow_pickle=False) as archive:
        assert archive["g_optimizer/0001"] == np.float32(1e-4)  # the new learning rate
    with np.load(source / "checkpoints" / "ckpt-e0001-s000000.npz") as original, \
            np.load(branch / "checkpoints" / "ckpt-e0001-s000000.npz") as copied:  # no pickle
        assert all(np.array_equal(original[k], copied[k]) for k in original.files)
    assert [r.split(",")[0] for r in (branch / "history.csv").read_text().splitlines()] == [
        "epoch", "1", "2", "3"]


@pytest.mark.parametrize("extra, code, fragments", [
    ([], 5, ["its run directory is the original one", "--set name=NEW_NAME"]),
    (["--set", "run_dir=OTHER", "--from-checkpoint", "epoch=7"], 5,
     ["has no checkpoint for the end of epoch 7", "End-of-epoch checkpoints available: 1, 2, 3"]),
    (["--set", "run_dir=OTHER", "--from-checkpoint", "epoch=one"], 2,
     ["--from-checkpoint 'epoch=one': expected epoch=N"]),
    (["--set", "run_dir=OTHER", "--from-checkpoint", "epoch=1", "--from-run", "NOWHERE"], 5,
     ["NOWHERE holds no run", "--from-run RUN_DIR"]),
    (["--from-run", "NOWHERE"], 2, ["--from-run is only used with --from-checkpoint"]),
])
def test_branch_errors(root: Path, source_run: tuple[str, Path], extra: list[str], code: int,
                       fragments: list[str]) -> None:
    path, _ = source_run
    places = {"OTHER": str(root / "runs" / "other"), "NOWHERE": str(root / "nowhere")}
    extra = [arg.replace("OTHER", places["OTHER"]).replace("NOWHERE", places["NOWHERE"])
             for arg in extra]
    fragments = [f.replace("NOWHERE", places["NOWHERE"]) for f in fragments]
    args = ["run", path, *extra] if extra else ["run", path, "--from-checkpoint", "epoch=1"]
    assert_clean_failure(invoke(args), code, *fragments)
    assert not (root / "runs" / "other" / "checkpoints").exists()


def test_branch_into_an_existing_run_is_refused(root: Path,
                                                source_run: tuple[str, Path]) -> None:
    path, _ = source_run
    _, other = experiment(root, "occupied")
    assert invoke(["run", str(root / "occupied.yaml")]).exit_code == 0
    result = invoke(["run", path, "--from-checkpoint", "epoch=1", "--set", "name=occupied",
                     "--set", f"run_dir={other}"])
    assert_clean_failure(result, 5, f"--from-checkpoint: {other} already holds a run")


def test_history_rows_torn_by_a_kill_are_dropped_on_resume(tmp_path: Path) -> None:
    from ganlab.engine.callbacks import HistoryCSV

    path = tmp_path / "history.csv"
    path.write_text("epoch,d_loss,g_loss\n1,0.5,0.7\n2,0.4,0.8\n3,0.3,0.9\n\x00\x00garb\n4,0.")
    HistoryCSV(path, resumed_epoch=2)
    assert [row.split(",")[0] for row in path.read_text().splitlines()] == ["epoch", "1", "2"]
