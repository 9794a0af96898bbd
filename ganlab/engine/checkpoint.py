"""Checkpoints: whole or invisible, kept by policy, verified on restore.

A checkpoint is one ``.npz`` file (numpy's zip format, every array CRC-checked,
loaded with ``allow_pickle=False``) holding G, D, both optimizer states, the
counters, the training RNG state and the fixed latent bank. It is written to
a temporary name and renamed, then ``latest.json`` is replaced atomically, so a
kill at any moment leaves the previous checkpoint intact and visible.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.errors import RunDirectoryError
from ganlab.rundir import write_json_atomic

CHECKPOINT_PATTERN = re.compile(r"^ckpt-e(\d{4,})-s(\d{6,})\.npz$")
FORMAT_VERSION = 1


@dataclass(frozen=True, order=True)
class CheckpointId:
    """Where a checkpoint sits in training.

    Attributes:
        epoch: Completed epochs.
        step: Steps already done in the next epoch (0 at an epoch boundary).

    """

    epoch: int
    step: int = 0

    @property
    def filename(self) -> str:
        """``ckpt-e0003-s000000.npz``."""
        return f"ckpt-e{self.epoch:04d}-s{self.step:06d}.npz"

    def describe(self) -> str:
        """Human words: ``end of epoch 3`` or ``epoch 4, step 120``."""
        if self.step == 0:
            return f"end of epoch {self.epoch}"
        return f"epoch {self.epoch + 1}, after step {self.step}"

    @classmethod
    def parse(cls, name: str) -> CheckpointId | None:
        """The id encoded in a checkpoint file name, or ``None``."""
        match = CHECKPOINT_PATTERN.match(name)
        return cls(int(match.group(1)), int(match.group(2))) if match else None


def variables_state(prefix: str, variables: Sequence[Any]) -> dict[str, np.ndarray]:
    """Arrays of ``variables`` keyed ``prefix/NNNN``, in order."""
    return {f"{prefix}/{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(variables)}


def assign_variables(prefix: str, variables: Sequence[Any], arrays: Any, source: Path) -> None:
    """Assign arrays saved by :func:`variables_state` back, checking count and shapes."""
    keys = sorted(k for k in arrays.files if k.startswith(prefix + "/"))
    if len(keys) != len(variables):
        raise RunDirectoryError(
            f"Checkpoint {source} holds {len(keys)} {prefix} variables but the model has "
            f"{len(variables)}: the architecture changed since it was written."
        )
    for key, variable in zip(keys, variables, strict=True):
        value = arrays[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise RunDirectoryError(
                f"Checkpoint {source}: {prefix} variable {variable.path} has shape "
                f"{tuple(variable.shape)} in the model but {tuple(value.shape)} in the "
                "checkpoint: the architecture changed since it was written."
            )
        variable.assign(value)


class CheckpointStore:
    """The ``checkpoints/`` folder of a run.

    Args:
        folder: The folder.
        keep_last: How many most recent checkpoints to keep.
        keep_every_n_epochs: Also keep end-of-epoch checkpoints whose epoch is
            a multiple of this (``None``: none extra).

    """

    def __init__(self, folder: Path, keep_last: int = 3, keep_every_n_epochs: int | None = None):
        self.folder = folder
        self.keep_last = keep_last
        self.keep_every_n_epochs = keep_every_n_epochs

    @property
    def latest_pointer(self) -> Path:
        """``latest.json``, naming the newest complete checkpoint."""
        return self.folder / "latest.json"

    def list(self) -> list[CheckpointId]:
        """Complete checkpoints present, oldest first."""
        if not self.folder.is_dir():
            return []
        found = [CheckpointId.parse(p.name) for p in self.folder.iterdir()]
        return sorted(c for c in found if c is not None)

    def path(self, checkpoint: CheckpointId) -> Path:
        """File of ``checkpoint``."""
        return self.folder / checkpoint.filename

    def save(self, checkpoint: CheckpointId, arrays: dict[str, np.ndarray],
             meta: dict[str, Any]) -> Path:
        """Write a checkpoint atomically, point ``latest.json`` at it, prune old ones."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(checkpoint)
        handle, temporary = tempfile.mkstemp(prefix=".ckpt-", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(handle, "wb") as stream:
                meta_json = json.dumps({"format": FORMAT_VERSION, **meta})
                np.savez(stream, __meta__=np.frombuffer(meta_json.encode(), dtype=np.uint8),
                         **arrays)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        write_json_atomic(self.latest_pointer, {"file": target.name, "epoch": checkpoint.epoch,
                                                "step": checkpoint.step})
        self.prune(protect=checkpoint)
        return target

    def prune(self, protect: CheckpointId) -> list[CheckpointId]:
        """Delete checkpoints outside the keep policy; never ``protect``."""
        present = self.list()
        keep = set(present[-self.keep_last:]) | {protect}
        if self.keep_every_n_epochs:
            keep |= {c for c in present
                     if c.step == 0 and c.epoch % self.keep_every_n_epochs == 0}
        removed = [c for c in present if c not in keep]
        for checkpoint in removed:
            self.path(checkpoint).unlink(missing_ok=True)
        return removed

    def open(self, checkpoint: CheckpointId) -> tuple[Any, dict[str, Any]]:
        """Open and fully verify one checkpoint.

        Returns:
            The ``NpzFile`` and its metadata.

        Raises:
            RunDirectoryError: The file is missing, truncated or corrupt
                (saying which file and what is wrong).

        """
        path = self.path(checkpoint)
        try:
            arrays = np.load(path, allow_pickle=False)
            for key in arrays.files:  # reading every member checks its CRC
                arrays[key]
            meta = json.loads(arrays["__meta__"].tobytes().decode())
        except (OSError, ValueError, zipfile.BadZipFile, KeyError, EOFError) as exc:
            raise RunDirectoryError(f"Checkpoint {path} is damaged ({type(exc).__name__}: "
                                    f"{exc}).") from None
        return arrays, meta

    def load_latest_good(self, at_or_before: CheckpointId | None = None,
                         ) -> tuple[CheckpointId, Any, dict[str, Any], list[str]] | None:
        """The newest checkpoint that opens cleanly, falling back past damaged ones.

        Args:
            at_or_before: Only consider checkpoints up to this one.

        Returns:
            ``(id, arrays, meta, problems)`` where ``problems`` describes each
            damaged checkpoint skipped, or ``None`` when there is none.

        """
        problems: list[str] = []
        candidates = [c for c in self.list() if at_or_before is None or c <= at_or_before]
        for checkpoint in reversed(candidates):
            try:
                arrays, meta = self.open(checkpoint)
            except RunDirectoryError as exc:
                problems.append(str(exc))
                continue
            return checkpoint, arrays, meta, problems
        if problems:
            raise RunDirectoryError(
                "Every checkpoint in " + str(self.folder) + " is damaged: " + " ".join(problems)
                + " Move the run directory aside to start again."
            )
        return None
