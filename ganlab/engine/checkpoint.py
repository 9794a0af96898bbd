"""Checkpoints: whole or invisible, kept by policy, verified on restore.

A checkpoint is one ``.npz`` file (numpy's zip format, every array
CRC-checked, loaded with ``allow_pickle=False``: no pickle anywhere) holding
G and D (weights, and the state of their random-seed generators, e.g. for
dropout), the EMA generator's weights when the run keeps one
(``generator_ema/NNNN``), both optimizer states, the state the regularizers
keep (``regularizers/NNNN``), the training RNG state, the fixed latent
bank and a JSON ``__meta__`` member (epoch, step, global step, last finite
losses, running epoch totals).

Writing: the file is written under a temporary name (``.ckpt-*.tmp``),
flushed and fsynced, then renamed to ``ckpt-eEEEE-sSSSSSS.npz`` and the
folder fsynced; only then is ``latest.json`` replaced (atomically) and are
old checkpoints pruned. A kill at any moment therefore leaves every earlier
checkpoint intact and visible, and at worst a temporary file that the next
run deletes. Only files with a checkpoint name are ever read.

Reading: every member is read (which checks its CRC), the metadata must
agree with the file name, and every float array must be finite. A file that
fails is *damaged*: restore falls back to the previous one and moves the
damaged file aside (``*.damaged``), saying which file and what is wrong.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.atomic import atomic_write
from ganlab.engine.faults import fault_point
from ganlab.errors import RunDirectoryError
from ganlab.rundir import write_json_atomic

CHECKPOINT_PATTERN = re.compile(r"^ckpt-e(\d{4,})-s(\d{6,})\.npz$")
TEMPORARY_PREFIX = ".ckpt-"
DAMAGED_SUFFIX = ".damaged"
FORMAT_VERSION = 1
META_KEY = "__meta__"
#: Members every checkpoint written by the engine has.
REQUIRED_KEYS = ("rng_state", "latent_bank")
#: Prefix of the EMA generator's weights (``train.ema``) in a checkpoint.
EMA_PREFIX = "generator_ema"
#: Prefix of the state the experiment's regularizers keep (LeCam's anchors).
REGULARIZER_PREFIX = "regularizers"


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

    @property
    def end_of_epoch(self) -> bool:
        """Whether it was written at an epoch boundary."""
        return self.step == 0

    def describe(self) -> str:
        """Human words: ``end of epoch 3`` or ``epoch 4, after step 120``."""
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


def assign_variables(prefix: str, variables: Sequence[Any], arrays: Mapping[str, Any],
                     source: Path) -> None:
    """Assign arrays saved by :func:`variables_state` back, checking count and shapes."""
    keys = sorted(k for k in arrays if k.startswith(prefix + "/"))
    what = "the optimizer settings" if "optimizer" in prefix else "the architecture"
    if len(keys) != len(variables):
        raise RunDirectoryError(
            f"Checkpoint {source} holds {len(keys)} {prefix} variables but the model has "
            f"{len(variables)}: {what} changed since it was written."
        )
    for key, variable in zip(keys, variables, strict=True):
        value = arrays[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise RunDirectoryError(
                f"Checkpoint {source}: {prefix} variable {variable.path} has shape "
                f"{tuple(variable.shape)} in the model but {tuple(value.shape)} in the "
                f"checkpoint: {what} changed since it was written."
            )
        variable.assign(value)


def non_finite_arrays(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """Names of the floating-point arrays holding NaN or Inf."""
    return [key for key, value in arrays.items()
            if np.issubdtype(value.dtype, np.floating) and not np.isfinite(value).all()]


def _fsync_dir(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported here: the rename is still atomic
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


class CheckpointStore:
    """The ``checkpoints/`` folder of a run.

    Keep policy (applied after each save; the checkpoint just written is
    never deleted):

    - end-of-epoch checkpoints: the newest ``keep_last``, plus every one
      whose epoch is a multiple of ``keep_every_n_epochs``;
    - mid-epoch checkpoints (``checkpoint.every_n_steps``, or written on
      Ctrl-C): recovery points only; the newest is kept while it is newer
      than every end-of-epoch checkpoint.

    Args:
        folder: The folder.
        keep_last: How many most recent end-of-epoch checkpoints to keep.
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
        """Checkpoints present (complete by construction), oldest first."""
        if not self.folder.is_dir():
            return []
        found = [CheckpointId.parse(p.name) for p in self.folder.iterdir()]
        return sorted(c for c in found if c is not None)

    def path(self, checkpoint: CheckpointId) -> Path:
        """File of ``checkpoint``."""
        return self.folder / checkpoint.filename

    # -- writing -------------------------------------------------------------------------------
    def remove_temporaries(self) -> list[Path]:
        """Delete temporary files left by a writer that was killed.

        Call only while holding the run directory's lock (no other writer).
        """
        if not self.folder.is_dir():
            return []
        stale = [p for p in self.folder.iterdir()
                 if p.name.startswith(TEMPORARY_PREFIX) and p.name.endswith(".tmp")]
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def save(self, checkpoint: CheckpointId, arrays: dict[str, np.ndarray],
             meta: dict[str, Any]) -> Path:
        """Write a checkpoint atomically, point ``latest.json`` at it, prune old ones.

        Raises:
            RunDirectoryError: Writing failed (disk full, permissions): the
                temporary file is removed and every earlier checkpoint is
                left as it was.

        """
        target = self.path(checkpoint)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._write(target, arrays, meta)
            fault_point("checkpoint-rename")
            write_json_atomic(self.latest_pointer, {"file": target.name,
                                                    "epoch": checkpoint.epoch,
                                                    "step": checkpoint.step})
        except OSError as exc:
            raise RunDirectoryError(self._write_failure(checkpoint, exc)) from None
        self.prune(protect=checkpoint)
        return target

    def _write(self, target: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        meta_json = json.dumps({"format": FORMAT_VERSION, **meta})
        with atomic_write(target, prefix=TEMPORARY_PREFIX,
                          before_replace=lambda temporary: fault_point(
                              "checkpoint-write", path=temporary)) as stream:
            np.savez(stream, **{META_KEY: np.frombuffer(meta_json.encode(), np.uint8)},
                     **arrays)
        _fsync_dir(self.folder)

    def _write_failure(self, checkpoint: CheckpointId, exc: OSError) -> str:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            reason = "the disk is full (no space left on device)"
        earlier = [c for c in self.list() if c != checkpoint]
        kept = (f"The previous checkpoint {self.path(earlier[-1])} ({earlier[-1].describe()}) "
                "is intact" if earlier else "No earlier checkpoint exists")
        return (f"Could not write the checkpoint for the {checkpoint.describe()} to "
                f"{self.folder}: {reason} ({exc}). {kept}; training stopped so that nothing "
                "is trained without a way back. Free some space (or fix the folder's "
                "permissions) and run the same command again to resume.")

    def prune(self, protect: CheckpointId) -> list[CheckpointId]:
        """Delete checkpoints outside the keep policy; never ``protect``."""
        present = self.list()
        epochs = [c for c in present if c.end_of_epoch]
        keep = set(epochs[-self.keep_last:]) | {protect}
        if self.keep_every_n_epochs:
            keep |= {c for c in epochs if c.epoch % self.keep_every_n_epochs == 0}
        mid = [c for c in present if not c.end_of_epoch]
        if mid and (not epochs or mid[-1] > epochs[-1]):
            keep.add(mid[-1])
        removed = [c for c in present if c not in keep]
        for checkpoint in removed:
            self.path(checkpoint).unlink(missing_ok=True)
        return removed

    # -- reading -------------------------------------------------------------------------------
    def open(self, checkpoint: CheckpointId) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Open and fully verify one checkpoint.

        Returns:
            The arrays (name → array) and the metadata.

        Raises:
            RunDirectoryError: The file is missing, truncated, corrupt,
                inconsistent with its name or holds non-finite values (the
                message says which file and what is wrong).

        """
        path = self.path(checkpoint)
        arrays = _read_npz(path)
        meta = _read_meta(path, arrays)
        problem = _check_contents(checkpoint, arrays, meta)
        if problem:
            raise RunDirectoryError(f"Checkpoint {path} is damaged: {problem}.")
        return arrays, meta

    def quarantine(self, checkpoint: CheckpointId) -> Path:
        """Move a damaged checkpoint aside (kept for inspection, invisible to restore)."""
        source = self.path(checkpoint)
        target = source.with_name(source.name + DAMAGED_SUFFIX)
        os.replace(source, target)
        return target

    def pointer_problem(self) -> str | None:
        """What is wrong with ``latest.json``, if it names a checkpoint that is gone."""
        try:
            pointer = json.loads(self.latest_pointer.read_text(encoding="utf-8"))
            name = pointer["file"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return f"{self.latest_pointer} is unreadable."
        if not (self.folder / str(name)).exists():
            return f"{self.latest_pointer} names {name}, which is missing."
        return None

    def load_latest_good(self, at_or_before: CheckpointId | None = None, quarantine: bool = False,
                         ) -> tuple[CheckpointId, dict[str, np.ndarray], dict[str, Any],
                                    list[str]] | None:
        """The newest checkpoint that opens cleanly, falling back past damaged ones.

        Args:
            at_or_before: Only consider checkpoints up to this one.
            quarantine: Move each damaged checkpoint aside (``*.damaged``);
                only while holding the run directory's lock.

        Returns:
            ``(id, arrays, meta, problems)`` where ``problems`` describes each
            damaged checkpoint skipped, or ``None`` when there is none.

        Raises:
            RunDirectoryError: Checkpoints exist but every one is damaged.

        """
        problems: list[str] = []
        pointer = self.pointer_problem()
        if pointer:
            problems.append(pointer)
        candidates = [c for c in self.list() if at_or_before is None or c <= at_or_before]
        for checkpoint in reversed(candidates):
            try:
                arrays, meta = self.open(checkpoint)
            except RunDirectoryError as exc:
                problem = str(exc)
                if quarantine:
                    moved = self.quarantine(checkpoint)
                    problem += f" It was moved aside to {moved.name}."
                problems.append(problem)
                continue
            return checkpoint, arrays, meta, problems
        damaged = [p for p in problems if p != pointer]
        if damaged:
            raise RunDirectoryError(
                f"Every checkpoint in {self.folder} is damaged: {' '.join(damaged)} Nothing "
                "can be resumed; move the run directory aside (or use another run_dir) to "
                "start again.")
        return None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every member of the npz (reading each checks its CRC)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise RunDirectoryError(f"Checkpoint {path} is missing.") from None
    except Exception as exc:  # zipfile/numpy raise many types on corrupt input
        raise RunDirectoryError(f"Checkpoint {path} is damaged: it is truncated or corrupt "
                                f"({type(exc).__name__}: {exc}).") from None


def _read_meta(path: Path, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    try:
        meta = json.loads(arrays[META_KEY].tobytes().decode("utf-8"))
    except KeyError:
        raise RunDirectoryError(f"Checkpoint {path} is damaged: it has no {META_KEY} "
                                "member.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunDirectoryError(f"Checkpoint {path} is damaged: its metadata is not "
                                f"JSON ({exc}).") from None
    if not isinstance(meta, dict):
        raise RunDirectoryError(f"Checkpoint {path} is damaged: its metadata is not a "
                                "mapping.")
    return meta


def _check_contents(checkpoint: CheckpointId, arrays: Mapping[str, np.ndarray],
                    meta: Mapping[str, Any]) -> str | None:
    """What is wrong with a checkpoint that read cleanly, or ``None``."""
    counters = [meta.get(k) for k in ("epoch", "step", "global_step")]
    if not all(isinstance(v, int) for v in counters):
        return "its metadata lacks the epoch/step counters"
    if (meta["epoch"], meta["step"]) != (checkpoint.epoch, checkpoint.step):
        return (f"its metadata says epoch {meta['epoch']}, step {meta['step']}, which does "
                "not match its file name (renamed or copied over?)")
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing or not any(k.startswith("generator/") for k in arrays):
        return f"it lacks {', '.join(missing) or 'the generator weights'}"
    poisoned = non_finite_arrays({k: v for k, v in arrays.items() if k != META_KEY})
    if poisoned:
        return (f"{len(poisoned)} arrays hold NaN or Inf (first: {poisoned[0]}): the weights "
                "were poisoned before it was written")
    return None


# -- the training state as named arrays -----------------------------------------------------
def seed_variables(model: Any) -> list[Any]:
    """The model's variables that are not weights: random-seed generator states (dropout)."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def regularizer_state(trainer: Any) -> list[Any]:
    """The variables the trainer's regularizers keep (none without regularizers)."""
    penalties = getattr(trainer, "penalties", None)
    return penalties.variables if penalties is not None else []


def training_arrays(trainer: Any, latent_bank: np.ndarray) -> dict[str, np.ndarray]:
    """Everything the training state of ``trainer`` is made of, as named arrays.

    Args:
        trainer: A :class:`ganlab.engine.trainer.GANTrainer`.
        latent_bank: The run's fixed latent bank (kept in every checkpoint).

    """
    gan = trainer.gan
    arrays = {}
    for name, model in (("generator", gan.generator), ("discriminator", gan.discriminator)):
        arrays.update(variables_state(name, model.weights))
        arrays.update(variables_state(f"{name}_seeds", seed_variables(model)))
    if getattr(trainer, "ema", None) is not None:
        arrays.update(variables_state(EMA_PREFIX, trainer.ema.shadow.weights))
    arrays.update(variables_state("g_optimizer", trainer.g_optimizer.variables))
    arrays.update(variables_state("d_optimizer", trainer.d_optimizer.variables))
    arrays.update(variables_state(REGULARIZER_PREFIX, regularizer_state(trainer)))
    arrays["rng_state"] = np.asarray(trainer.rng.state.numpy())
    arrays["latent_bank"] = latent_bank
    return arrays


def assign_training_arrays(trainer: Any, arrays: Mapping[str, np.ndarray], source: Path
                           ) -> list[str]:
    """Put a checkpoint's arrays back into the models, optimizers and RNG of ``trainer``.

    Returns:
        Notes for the user: how the generator EMA was restored when the
        checkpoint and the experiment disagree on having one (a branch made
        with ``--from-checkpoint`` that adds or drops ``train.ema``).

    """
    gan = trainer.gan
    for name, model in (("generator", gan.generator), ("discriminator", gan.discriminator)):
        assign_variables(name, model.weights, arrays, source)
        assign_variables(f"{name}_seeds", seed_variables(model), arrays, source)
    assign_variables("g_optimizer", trainer.g_optimizer.variables, arrays, source)
    assign_variables("d_optimizer", trainer.d_optimizer.variables, arrays, source)
    state = regularizer_state(trainer)
    if state and any(key.startswith(REGULARIZER_PREFIX + "/") for key in arrays):
        # Only when both have some: a branch (--from-checkpoint) that adds a stateful
        # regularizer starts it fresh, one that drops them all drops their state.
        assign_variables(REGULARIZER_PREFIX, state, arrays, source)
    trainer.rng.state.assign(arrays["rng_state"])
    return assign_ema(getattr(trainer, "ema", None), arrays, source)


def has_ema(arrays: Mapping[str, Any]) -> bool:
    """Whether a checkpoint holds an EMA generator."""
    return any(key.startswith(EMA_PREFIX + "/") for key in arrays)


def assign_ema(ema: Any, arrays: Mapping[str, np.ndarray], source: Path) -> list[str]:
    """Restore the EMA generator's weights; start it from G when the checkpoint has none."""
    if ema is None:
        return ([f"{source.name} holds an EMA generator, which this experiment (no "
                 "train.ema) does not keep: it is dropped."] if has_ema(arrays) else [])
    if not has_ema(arrays):
        ema.copy_from_generator()
        return [f"{source.name} holds no EMA generator (its run had no train.ema): the EMA "
                "generator starts as a copy of the restored generator."]
    assign_variables(EMA_PREFIX, ema.shadow.weights, arrays, source)
    return []
