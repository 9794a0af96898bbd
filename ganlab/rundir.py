"""The run directory: layout, single-writer lock, resolved config and metadata.

The run directory is the unit of resume: running the same experiment into
it again continues from its last checkpoint. See DESIGN.md §6 for the layout.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ganlab.errors import RunDirectoryError
from ganlab.experiment import RESUMABLE_CHANGES

LOCK_NAME = ".ganlab.lock"


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


@dataclass(frozen=True)
class RunDirectory:
    """Paths of one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        """``config.yaml``: the resolved experiment."""
        return self.root / "config.yaml"

    @property
    def plugins(self) -> Path:
        """``plugins.json``: who provided what."""
        return self.root / "plugins.json"

    @property
    def metadata(self) -> Path:
        """``run.json``: latent size, image shape, status."""
        return self.root / "run.json"

    @property
    def checkpoints(self) -> Path:
        """``checkpoints/``."""
        return self.root / "checkpoints"

    @property
    def samples(self) -> Path:
        """``samples/``."""
        return self.root / "samples"

    @property
    def tensorboard(self) -> Path:
        """``tensorboard/``."""
        return self.root / "tensorboard"

    @property
    def history(self) -> Path:
        """``history.csv``."""
        return self.root / "history.csv"

    @property
    def generator(self) -> Path:
        """``generator.keras``: the exported final generator."""
        return self.root / "generator.keras"

    @property
    def latent_bank(self) -> Path:
        """``latents.npy``: the fixed, numbered latent bank."""
        return self.root / "latents.npy"

    def exists(self) -> bool:
        """Whether this run directory already holds a run."""
        return self.config.exists()

    def read_config(self) -> dict[str, Any]:
        """The resolved config saved by an earlier run."""
        try:
            return yaml.safe_load(self.config.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise RunDirectoryError(f"Cannot read {self.config}: {exc}.") from None

    def read_metadata(self) -> dict[str, Any]:
        """``run.json`` of the run (empty when absent)."""
        if not self.metadata.exists():
            return {}
        return json.loads(self.metadata.read_text(encoding="utf-8"))

    def update_metadata(self, **values: Any) -> None:
        """Merge ``values`` into ``run.json``."""
        data = self.read_metadata()
        data.update(values)
        write_json_atomic(self.metadata, data)


# -- compatibility on resume ---------------------------------------------------------------------
def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{'a': {'b': 1}}`` → ``{'a.b': 1}``; lists are leaves."""
    if isinstance(data, Mapping):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: data}


def _may_change(path: str) -> bool:
    return any(path == allowed or path.startswith(allowed + ".") for allowed in RESUMABLE_CHANGES)


def incompatible_changes(saved: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Config keys that differ between a saved run and a new experiment and may not."""
    old_flat, new_flat = flatten(saved), flatten(new)
    changes = []
    for key in sorted(set(old_flat) | set(new_flat)):
        if _may_change(key):
            continue
        if old_flat.get(key, "<absent>") != new_flat.get(key, "<absent>"):
            changes.append(f"{key}: {old_flat.get(key, '<absent>')!r} → "
                           f"{new_flat.get(key, '<absent>')!r}")
    return changes


# -- the single-writer lock ---------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class RunLock:
    """An exclusive lock on a run directory (a file with pid and host).

    A lock left by a process that no longer runs on this host is stale and
    taken over; a live owner, or one on another host, makes the second
    writer refuse.
    """

    path: Path
    stale_taken_over: dict[str, Any] | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunDirectoryError`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        for _ in range(2):
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._handle_existing()
                continue
            with os.fdopen(handle, "w") as stream:
                json.dump(owner, stream)
            return self
        raise RunDirectoryError(f"Could not take the lock {self.path}; try again.")

    def _handle_existing(self) -> None:
        try:
            current = json.loads(self.path.read_text())
        except (OSError, ValueError):
            current = {}
        pid, host = current.get("pid"), current.get("host")
        if host == socket.gethostname() and isinstance(pid, int) and not _pid_alive(pid):
            self.stale_taken_over = current
            self.path.unlink(missing_ok=True)
            return
        raise RunDirectoryError(
            f"The run directory {self.path.parent} is in use by process {pid} on host "
            f"{host} (lock file {self.path}). Two runs must never write the same directory: "
            "wait for it to finish, or choose another run_dir. If that process is gone "
            "(e.g. the host was rebooted), delete the lock file."
        )

    def release(self) -> None:
        """Release the lock if this process holds it."""
        try:
            current = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if current.get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(run_dir: RunDirectory) -> Iterator[RunLock]:
    """Context-manager style generator holding the run directory's lock."""
    lock = RunLock(run_dir.root / LOCK_NAME).acquire()
    try:
        yield lock
    finally:
        lock.release()
