"""The run directory: layout, single-writer lock, resolved config and metadata.

The run directory is the unit of resume: running the same experiment into
it again continues from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

try:
    import fcntl
except ImportError:  # Windows: the lock falls back to the pid check
    fcntl = None  # type: ignore[assignment]

from ganlab.atomic import atomic_write, pid_alive
from ganlab.contracts import MAX_CLASSES, check_class_names, is_class_count
from ganlab.engine.faults import fault_point
from ganlab.errors import ConfigError, RunDirectoryError, describe_os_error
from ganlab.experiment import RESUMABLE_CHANGES, load_yaml_data, with_defaults
from ganlab.schema import MAX_LATENT_DIM

LOCK_NAME = ".ganlab.lock"
#: Names of ganlab's temporary files in a run directory: hidden ``.tmp`` files
#: (``atomic_write`` and checkpoints write ``.<name>.<random>.tmp``) and the
#: exports' ``.generator-<pid>.keras`` and ``.generator_ema-<pid>.keras``; nothing
#: else is removed as a leftover.
_TEMPORARY = re.compile(r"\..+\.tmp|\.generator(_ema)?-\d+\.keras")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_write(path, "w", encoding="utf-8") as stream:
        stream.write(text)


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
    def metrics(self) -> Path:
        """``metrics.csv``: metric scores, one row per epoch, metric and score."""
        return self.root / "metrics.csv"

    @property
    def generator(self) -> Path:
        """``generator.keras``: the exported final generator."""
        return self.root / "generator.keras"

    @property
    def generator_ema(self) -> Path:
        """``generator_ema.keras``: the exported EMA generator (runs with ``train.ema``)."""
        return self.root / "generator_ema.keras"

    @property
    def latent_bank(self) -> Path:
        """``latents.npy``: the fixed, numbered latent bank."""
        return self.root / "latents.npy"

    def exists(self) -> bool:
        """Whether this run directory already holds a run."""
        return self.config.exists()

    def remove_temporaries(self) -> list[Path]:
        """Delete temporary files left by a writer that was killed mid-write.

        Atomic writers in ganlab write ``.<name>.<random>.tmp`` beside their
        target (and the export ``.generator-<pid>.keras``), in the run
        directory or one of its folders. Call only while holding the lock.
        """
        if not self.root.is_dir():
            return []
        folders = [self.root] + [p for p in self.root.iterdir() if p.is_dir()]
        stale = [p for folder in folders for p in folder.iterdir()
                 if p.is_file() and not p.is_symlink() and _TEMPORARY.fullmatch(p.name)]
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def read_config(self) -> dict[str, Any]:
        """The resolved config saved by an earlier run.

        Raises:
            RunDirectoryError: It is unreadable or not a mapping.

        """
        try:
            config = load_yaml_data(self.config.read_text(encoding="utf-8"), str(self.config))
            if not isinstance(config, dict):
                raise ValueError(f"a {type(config).__name__}, not a mapping")
        except (OSError, UnicodeDecodeError, ValueError, ConfigError) as exc:
            raise RunDirectoryError(
                f"Cannot read {self.config}, the resolved config of the run in {self.root} "
                f"({type(exc).__name__}: {exc}), so ganlab cannot check that this experiment "
                "may resume it. If it is this experiment's run, delete that file (it is "
                "written again) and run the same command to resume.") from None
        return config

    def read_metadata(self) -> dict[str, Any]:
        """``run.json`` of the run (empty when absent)."""
        try:
            data = json.loads(self.metadata.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise RunDirectoryError(f"Cannot read {self.metadata}: {exc}.") from None
        if not isinstance(data, dict):
            raise RunDirectoryError(f"{self.metadata} is damaged (not a JSON object).")
        problems = metadata_problems(data)
        if problems:
            raise RunDirectoryError(f"{self.metadata} is damaged: {'; '.join(problems)}. "
                                    "ganlab writes it; it was edited or corrupted.")
        return data

    def update_metadata(self, **values: Any) -> None:
        """Merge ``values`` into ``run.json``."""
        data = self.read_metadata()
        data.update(values)
        write_json_atomic(self.metadata, data)


# -- run.json fields -----------------------------------------------------------------------------
#: Largest image side ``run.json`` may record.
MAX_IMAGE_SIDE = 8192


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def metadata_problems(data: Mapping[str, Any]) -> list[str]:
    """Fields of ``run.json`` with the wrong type or range (``[]``: sound; others unchecked)."""
    checks: dict[str, tuple[Any, str]] = {
        "latent_dim": (lambda v: _whole(v, 1, MAX_LATENT_DIM),
                       f"a whole number from 1 to {MAX_LATENT_DIM}"),
        "latent_distribution": (lambda v: v in ("normal", "uniform"), "'normal' or 'uniform'"),
        "num_classes": (is_class_count,
                        f"0 or a whole number from 2 to {MAX_CLASSES}"),
        "image_shape": (lambda v: isinstance(v, list) and len(v) == 3
                        and all(_whole(x, 1, MAX_IMAGE_SIDE) for x in v),
                        "[height, width, channels] of whole numbers"),
        "epochs_completed": (lambda v: _whole(v, 0, 10**9), "a whole number >= 0"),
        "status": (lambda v: isinstance(v, str), "a string"),
        "name": (lambda v: isinstance(v, str), "a string"),
        "experiment_dir": (lambda v: isinstance(v, str), "a string"),
        "ganlab_version": (lambda v: isinstance(v, str), "a string"),
        "branched_from": (lambda v: isinstance(v, dict), "a mapping"),
        "data": (lambda v: v is None or (isinstance(v, dict) and all(
            isinstance(x, str) for x in v.values())), "a mapping of fingerprints"),
    }
    problems = [f"{key} is {data[key]!r}, expected {expected}"
                for key, (ok, expected) in checks.items() if key in data and not ok(data[key])]
    if (data.get("class_names", []) != []
            and is_class_count(data.get("num_classes", 0))):
        try:
            check_class_names(data["class_names"], data.get("num_classes", 0))
        except (TypeError, ValueError) as exc:
            problems.append(str(exc))
    return problems


# -- where a run may live -------------------------------------------------------------------------
def real_path(path: str | Path) -> Path:
    """``path`` with ``~`` expanded and every symlink resolved (loops left as they are)."""
    return Path(os.path.realpath(os.path.expanduser(os.fspath(path))))


def check_apart(run_dir: str | Path, tfrecords: str | Path) -> None:
    """Refuse a run directory and a TFRecord folder that are one folder or nested.

    A prepare with ``--overwrite`` replaces the TFRecord folder and a run
    writes and prunes files in its run directory: sharing a folder would let
    one delete the other's files. Symlinks are resolved first.

    Raises:
        ConfigError: They are the same folder, or one is inside the other.

    """
    run, data = real_path(run_dir), real_path(tfrecords)
    if run == data:
        relation = "are the same folder"
    elif data in run.parents:
        relation = "nest: the run directory is inside the TFRecord folder"
    elif run in data.parents:
        relation = "nest: the TFRecord folder is inside the run directory"
    else:
        return
    raise ConfigError(
        f"The run directory ({run_dir} → {run}) and the dataset's TFRecord folder "
        f"({tfrecords} → {data}) {relation}. They must be separate folders, neither inside the "
        "other, so that preparing data never touches a run and a run never touches the data: "
        "change `run_dir` or the dataset's `tfrecords` parameter.")


def check_run_dir_path(run_dir: str | Path) -> None:
    """Refuse a ``run_dir`` that cannot become a run directory, before any work.

    Raises:
        RunDirectoryError: It is a file, lies under a file, is a symlink
            loop, or its nearest existing folder is not writable.

    """
    path = Path(os.path.expanduser(os.fspath(run_dir)))
    try:
        os.stat(path)
    except FileNotFoundError:
        pass
    except OSError as exc:  # a loop, or a file in the middle of the path
        raise RunDirectoryError(f"run_dir {run_dir}: {describe_os_error(exc)} Choose another "
                                "run_dir (--set run_dir=PATH).") from None
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"run_dir {run_dir} is a file, not a folder: ganlab will not "
                                "write over it. Choose another run_dir (--set run_dir=PATH).")
    existing = next((p for p in (path, *path.absolute().parents) if p.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise RunDirectoryError(f"run_dir {run_dir} cannot be written: {existing} is not "
                                "writable by you (permissions, or a read-only filesystem). "
                                "Choose another run_dir (--set run_dir=PATH).")


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
    """Config keys that differ between a saved run and a new experiment and may not.

    A key that the saved run's ganlab did not have yet counts as its default
    (what that run trained with), so a newer ganlab resumes older runs.
    """
    old_flat, new_flat = flatten(with_defaults(saved)), flatten(new)
    changes = []
    for key in sorted(set(old_flat) | set(new_flat)):
        if _may_change(key):
            continue
        if old_flat.get(key, "<absent>") != new_flat.get(key, "<absent>"):
            changes.append(f"{key}: {old_flat.get(key, '<absent>')!r} → "
                           f"{new_flat.get(key, '<absent>')!r}")
    return changes


# -- the single-writer lock ---------------------------------------------------------------
def process_start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot; Linux), to tell reused pids apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _owner_alive(owner: Mapping[str, Any]) -> bool:
    """Whether the process named by a lock file on this host still runs."""
    pid = owner.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid):
        return False
    recorded = owner.get("pid_start")
    return recorded is None or process_start_ticks(pid) in (None, recorded)


def _try_flock(handle: int) -> bool:
    """Take an exclusive ``flock`` without waiting (``True`` where flock is unavailable)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:  # a file system without flock: fall back to the pid check
        return exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN)
    return True


def _read_owner(handle: int) -> dict[str, Any]:
    os.lseek(handle, 0, os.SEEK_SET)
    data = b""
    while chunk := os.read(handle, 65536):
        data += chunk
    try:
        owner = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _same_file(handle: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(handle)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


@dataclass
class RunLock:
    """An exclusive lock on a run directory: a file naming its owner, held with ``flock``.

    The file records the owner's pid, host, process start time and command.
    While the owner runs it holds an exclusive ``flock`` on the file, which
    the kernel releases whatever way the process dies (``SIGKILL``
    included). A second writer refuses when the lock is held, or when the
    file names a live process on this host or any process on another host
    (whose liveness cannot be checked from here). A lock file whose owner is
    gone (same host, no ``flock``, pid dead or reused) is stale and taken over.

    Attributes:
        path: The lock file.
        stale_taken_over: The owner record of a stale lock that was taken over.

    """

    path: Path
    stale_taken_over: dict[str, Any] | None = None
    _handle: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`RunDirectoryError`."""
        try:
            return self._acquire()
        except OSError as exc:
            raise RunDirectoryError(
                f"{describe_os_error(exc)} (while taking the run directory's lock "
                f"{self.path}) Choose another run_dir (--set run_dir=PATH) if it cannot be "
                "fixed.") from None

    def _acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                taken = self._try_take(handle)
            except BaseException:
                os.close(handle)
                raise
            if taken:
                self._handle = handle
                return self
            os.close(handle)  # the file was replaced while we opened it: try again
        raise RunDirectoryError(f"Could not take the lock {self.path}; try again.")

    def _try_take(self, handle: int) -> bool:
        if not _try_flock(handle):
            raise RunDirectoryError(self._busy_message(_read_owner(handle)))
        if not _same_file(handle, self.path):
            return False
        previous = _read_owner(handle)
        if previous:
            self._check_previous(previous)
        owner = {"pid": os.getpid(), "host": socket.gethostname(),
                 "pid_start": process_start_ticks(os.getpid()), "started": time.time(),
                 "command": " ".join(sys.argv)[:500]}
        os.ftruncate(handle, 0)
        os.lseek(handle, 0, os.SEEK_SET)
        os.write(handle, (json.dumps(owner) + "\n").encode("utf-8"))
        os.fsync(handle)
        return True

    def _check_previous(self, previous: dict[str, Any]) -> None:
        """Refuse a lock file that may belong to a live writer; note a stale one."""
        if previous.get("host") != socket.gethostname():
            raise RunDirectoryError(self._busy_message(previous, other_host=True))
        if previous.get("pid") == os.getpid() or _owner_alive(previous):
            raise RunDirectoryError(self._busy_message(previous))
        self.stale_taken_over = previous

    def _busy_message(self, owner: Mapping[str, Any], other_host: bool = False) -> str:
        pid, host = owner.get("pid", "?"), owner.get("host", "?")
        started = owner.get("started")
        since = (f", running since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}"
                 if isinstance(started, (int, float)) else "")
        message = (f"The run directory {self.path.parent} is in use by process {pid} on host "
                   f"{host}{since} (lock file {self.path}). Two runs must never write the same "
                   "directory: wait for that run to finish, stop it (Ctrl-C saves a "
                   "checkpoint), or choose another run_dir.")
        if other_host:
            message += (f" ganlab cannot check a process on another host: if that run is no "
                        f"longer running (e.g. {host} was rebooted), delete {self.path}.")
        return message

    def release(self) -> None:
        """Release the lock if this process holds it (removes the file)."""
        if self._handle is None:
            return
        try:
            if _same_file(self._handle, self.path):
                self.path.unlink(missing_ok=True)
        finally:
            os.close(self._handle)  # closing releases the flock
            self._handle = None


@contextlib.contextmanager
def locked(run_dir: RunDirectory) -> Iterator[RunLock]:
    """Hold the run directory's lock for the duration of the ``with`` block."""
    lock = RunLock(run_dir.root / LOCK_NAME).acquire()
    try:
        yield lock
    finally:
        lock.release()


def save_latent_bank(run_dir: RunDirectory, bank: np.ndarray) -> None:
    """Write ``latents.npy`` atomically."""
    with atomic_write(run_dir.latent_bank) as stream:
        np.save(stream, bank)


# -- the run's files, as the engine writes and checks them -----------------------------------
NUMPY_MAGIC = b"\x93NUMPY"


def load_or_create_latent_bank(run_dir: RunDirectory, bank_size: int, latent_dim: int,
                               distribution: str, *, seed: int, save: bool = True
                               ) -> np.ndarray:
    """The run's fixed, numbered latent bank (drawn once from the seed, then reused).

    A bank on disk is checked before training: a numpy array file of
    floating-point latents of shape ``(n, latent_dim)``, every value finite.

    Args:
        run_dir: The run directory.
        bank_size: Latents to draw for a new bank (``latents.bank_size``).
        latent_dim: Latent size.
        distribution: The latent prior.
        seed: The experiment's seed.
        save: Write a newly drawn bank (``False`` on non-chief workers, which
            draw the same bank from the seed and write nothing).

    Raises:
        RunDirectoryError: ``latents.npy`` is damaged or does not fit the model.

    """
    if run_dir.latent_bank.exists():
        return read_latent_bank(run_dir, latent_dim)
    from ganlab.latents import sample_latents

    bank = sample_latents(bank_size, latent_dim, distribution, seed=seed)
    if save:
        save_latent_bank(run_dir, bank)
    return bank


def read_latent_bank(run_dir: RunDirectory, latent_dim: int) -> np.ndarray:
    """``latents.npy``, checked (format, dtype, shape, finite values); see above."""
    path = run_dir.latent_bank
    remedy = ("Every checkpoint holds a copy: restore it with numpy from the newest "
              "checkpoint's 'latent_bank' array, or delete the file to draw it again from "
              "the seed.")
    try:
        with path.open("rb") as stream:
            if stream.read(len(NUMPY_MAGIC)) != NUMPY_MAGIC:
                raise RunDirectoryError(f"{path} (the run's fixed latent bank) is damaged: it "
                                        f"is not a numpy array file. {remedy}")
        bank = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise RunDirectoryError(f"{path} (the run's fixed latent bank) is damaged: "
                                f"{type(exc).__name__}: {exc}. {remedy}") from None
    if not np.issubdtype(bank.dtype, np.floating):
        raise RunDirectoryError(f"{path} (the run's fixed latent bank) holds {bank.dtype} "
                                f"values, not floating-point latents. {remedy}")
    if bank.ndim != 2 or bank.shape[1] != latent_dim or bank.shape[0] == 0:
        raise RunDirectoryError(f"{path} holds latents of shape {bank.shape}, "
                                f"not (n, {latent_dim}).")
    bad = int(np.count_nonzero(~np.isfinite(bank)))
    if bad:
        raise RunDirectoryError(f"{path} (the run's fixed latent bank) holds {bad} NaN/Inf "
                                f"values, so every sample drawn from it would be too. {remedy}")
    return bank


def check_resumable(run_dir: RunDirectory, config: Mapping[str, Any]) -> bool:
    """Whether ``run_dir`` holds an earlier run of ``config`` (refuse if incompatible)."""
    if not run_dir.exists():
        return False
    changes = incompatible_changes(run_dir.read_config(), config)
    if changes:
        raise RunDirectoryError(
            f"The run directory {run_dir.root} holds a run whose config differs from this "
            f"experiment in ways that cannot be resumed: {'; '.join(changes)}. Use a new name "
            "(or --set run_dir=...) for a new run, or restore the old settings to resume.")
    return True


def repair_metadata(run_dir: RunDirectory) -> str | None:
    """Move a damaged ``run.json`` aside (it is written anew); what was wrong, if anything."""
    try:
        run_dir.read_metadata()
    except RunDirectoryError as exc:
        damaged = run_dir.metadata.with_name(run_dir.metadata.name + ".damaged")
        os.replace(run_dir.metadata, damaged)
        return f"{exc} It was moved aside to {damaged.name} and will be written anew."
    return None


def write_resolved_config(run_dir: RunDirectory, config: Mapping[str, Any], header: str) -> None:
    """``config.yaml``: the resolved experiment under a one-line ``header`` comment."""
    write_text_atomic(run_dir.config, f"# {header}\n" + yaml.safe_dump(
        dict(config), sort_keys=False, default_flow_style=False))


def record_checkpoint(run_dir: RunDirectory, checkpoint_file: str, epoch: int,
                      global_step: int) -> None:
    """Make ``run.json`` name the newest checkpoint and the epochs it completed."""
    run_dir.update_metadata(epochs_completed=epoch, global_step=global_step,
                            latest_checkpoint=checkpoint_file)


def export_model(model: Any, target: Path) -> Path:
    """Save a Keras model to ``target`` (``.keras``) whole or not at all.

    Raises:
        RunDirectoryError: Writing failed (disk full, permissions); the
            message names ``target`` and says the checkpoints are intact.

    """
    temporary = target.with_name(f".{target.stem}-{os.getpid()}{target.suffix}")
    try:
        model.save(temporary)
        fault_point("export", path=temporary)
        os.replace(temporary, target)
    except OSError as exc:
        exc.filename = exc.filename or str(target)
        raise RunDirectoryError(
            f"Exporting the model to {target} failed: {describe_os_error(exc)} Nothing "
            "trained is lost: the checkpoints are intact, and running the same command again "
            "exports it without training again.") from None
    finally:
        temporary.unlink(missing_ok=True)
    return target
