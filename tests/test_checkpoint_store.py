"""CheckpointStore: atomic writes, keep policy, damage diagnosis and fallback (no TensorFlow)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest

from ganlab.engine import faults
from ganlab.engine.checkpoint import CheckpointId, CheckpointStore
from ganlab.errors import RunDirectoryError


def arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"generator/0000": rng.normal(size=(4, 3)).astype(np.float32),
            "generator/0001": rng.normal(size=(3,)).astype(np.float32),
            "discriminator/0000": rng.normal(size=(3, 1)).astype(np.float32),
            "rng_state": np.array([seed, 1, 2], dtype=np.int64),
            "latent_bank": rng.normal(size=(16, 4)).astype(np.float32)}


def save(store: CheckpointStore, epoch: int, step: int = 0, seed: int | None = None) -> Path:
    meta = {"epoch": epoch, "step": step, "global_step": epoch * 10 + step}
    return store.save(CheckpointId(epoch, step), arrays(epoch * 100 + step if seed is None
                                                        else seed), meta)


def names(store: CheckpointStore) -> list[str]:
    return [c.filename for c in store.list()]


def test_save_is_visible_complete_and_readable(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "checkpoints")
    path = save(store, 1)
    loaded, meta = store.open(CheckpointId(1))
    assert meta["epoch"] == 1 and meta["global_step"] == 10
    assert all(np.array_equal(loaded[k], v) for k, v in arrays(100).items())
    assert json.loads(store.latest_pointer.read_text())["file"] == path.name
    assert [p.name for p in store.folder.iterdir() if p.name.startswith(".")] == []
    assert stat.S_IMODE(path.stat().st_mode) & 0o044, "checkpoint should follow the umask"


def test_keep_last_and_keep_every_n_epochs(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep_last=2, keep_every_n_epochs=3)
    for epoch in range(1, 8):
        save(store, epoch)
    assert [c.epoch for c in store.list()] == [3, 6, 7]


def test_mid_epoch_checkpoints_are_recovery_points_only(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep_last=2)
    for epoch in (1, 2):
        save(store, epoch)
    for step in (3, 6, 9):
        save(store, 2, step)
    # the newest mid-epoch one is kept, and it does not push out epoch checkpoints
    assert names(store) == ["ckpt-e0001-s000000.npz", "ckpt-e0002-s000000.npz",
                            "ckpt-e0002-s000009.npz"]
    save(store, 3)
    assert names(store) == ["ckpt-e0002-s000000.npz", "ckpt-e0003-s000000.npz"]


def test_the_checkpoint_just_written_is_never_pruned(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep_last=1)
    save(store, 5)
    save(store, 2)  # an older id written later (a branch, a resume after fallback)
    assert CheckpointId(2) in store.list()


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_byte_in(path: Path, needle: bytes) -> None:
    data = bytearray(path.read_bytes())
    offset = data.find(needle)
    assert offset >= 0
    data[offset + len(needle) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, expected", [
    (truncate, "truncated or corrupt"),
    (lambda p: flip_byte_in(p, arrays(300)["latent_bank"].tobytes()), "CRC"),
    (lambda p: p.write_bytes(b""), "truncated or corrupt"),
    (lambda p: p.write_text("not a zip at all"), "truncated or corrupt"),
])
def test_damaged_newest_checkpoint_is_diagnosed_and_skipped(tmp_path: Path, damage,
                                                            expected: str) -> None:
    store = CheckpointStore(tmp_path / "checkpoints")
    for epoch in (1, 2, 3):
        save(store, epoch)
    newest = store.path(CheckpointId(3))
    damage(newest)
    checkpoint, loaded, meta, problems = store.load_latest_good(quarantine=True)
    assert checkpoint == CheckpointId(2) and meta["epoch"] == 2
    assert len(problems) == 1
    assert str(newest) in problems[0] and expected in problems[0]
    assert "moved aside to ckpt-e0003-s000000.npz.damaged" in problems[0]
    assert not newest.exists() and newest.with_name(newest.name + ".damaged").exists()
    assert store.list() == [CheckpointId(1), CheckpointId(2)]


def test_non_finite_and_mislabelled_checkpoints_are_damaged(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    save(store, 1)
    poisoned = arrays(7)
    poisoned["generator/0001"][0] = np.nan
    store.save(CheckpointId(2), poisoned, {"epoch": 2, "step": 0, "global_step": 20})
    good = store.path(CheckpointId(1)).read_bytes()
    store.path(CheckpointId(3)).write_bytes(good)  # epoch-1 content under an epoch-3 name
    checkpoint, _, _, problems = store.load_latest_good()
    assert checkpoint == CheckpointId(1)
    assert "does not match its file name" in problems[0]
    assert "NaN or Inf" in problems[1] and "generator/0001" in problems[1]


def test_every_checkpoint_damaged_is_an_error(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    save(store, 1)
    truncate(store.path(CheckpointId(1)))
    with pytest.raises(RunDirectoryError, match="Every checkpoint in .* is damaged"):
        store.load_latest_good()


def test_missing_latest_pointer_target_is_reported(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    save(store, 1)
    save(store, 2)
    store.path(CheckpointId(2)).unlink()
    checkpoint, _, _, problems = store.load_latest_good()
    assert checkpoint == CheckpointId(1)
    assert problems == [f"{store.latest_pointer} names ckpt-e0002-s000000.npz, which is missing."]


def test_temporaries_of_a_killed_writer_are_invisible_and_removed(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    save(store, 1)
    (tmp_path / ".ckpt-abc123.tmp").write_bytes(b"PK\x03\x04half")
    assert store.list() == [CheckpointId(1)]
    assert [p.name for p in store.remove_temporaries()] == [".ckpt-abc123.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-e0001-s000000.npz",
                                                           "latest.json"]


def test_disk_full_while_checkpointing_keeps_the_previous_one(tmp_path: Path,
                                                              monkeypatch) -> None:
    store = CheckpointStore(tmp_path)
    first = save(store, 1)
    before = first.read_bytes(), store.latest_pointer.read_text()
    monkeypatch.setenv(faults.ENV_VAR, "checkpoint-write:1:enospc")
    with pytest.raises(RunDirectoryError) as caught:
        save(store, 2)
    message = str(caught.value)
    assert "the disk is full" in message and str(first) in message and "intact" in message
    assert (first.read_bytes(), store.latest_pointer.read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, "latest.json"]


@pytest.mark.parametrize("spec", ["step", "step:x", "nowhere:1", "step:1:explode"])
def test_fault_specs_are_checked(spec: str, monkeypatch) -> None:
    monkeypatch.setenv(faults.ENV_VAR, spec)
    with pytest.raises(ValueError, match=faults.ENV_VAR):
        faults.fault_point("step", 1)
