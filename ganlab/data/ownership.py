"""What in a TFRecord folder ganlab wrote, and cleaning up after killed prepares.

ganlab deletes or replaces only what it wrote itself: the shards
(``<split>-NNNNN-of-NNNNN.tfrecord``), the ``dataset.json`` manifest and its
temporary file, and entries whose names start with ``.ganlab`` (caches and
markers of ganlab's own). Everything else in a folder — notes, subfolders,
a run directory, symlinks — belongs to the user and is never touched.

A prepare writes into a sibling ``<tfrecords>.partial-<pid>`` and moves
finished data it replaces aside to ``<tfrecords>.old-<pid>``; a prepare
that was killed leaves them behind, and the next one recognises them by
name and by their writer being gone, and cleans them up.

This module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from ganlab.atomic import pid_alive
from ganlab.data.manifest import MANIFEST_NAME

#: Shard files, named as :func:`ganlab.data.manifest.shard_name` names them.
_SHARD_FILE = re.compile(r"[A-Za-z0-9_]+-\d{5,}-of-\d{5,}\.tfrecord")
#: The manifest's temporary file while :func:`ganlab.atomic.atomic_write` writes it.
_MANIFEST_TEMPORARY = re.compile(re.escape(f".{MANIFEST_NAME}.") + r".+\.tmp")
#: Names starting with this are ganlab's (caches, markers).
OWN_PREFIX = ".ganlab"
#: A prepare's temporary siblings: ``<tfrecords>.partial-<pid>``, ``<tfrecords>.old-<pid>``.
_SIBLING = re.compile(r"\.(partial|old)-(\d+)$")
#: Foreign names quoted in a refusal (the count says how many there are in all).
SHOWN_FOREIGN = 5


def is_own_entry(entry: Path) -> bool:
    """Whether ganlab wrote ``entry`` (an entry of a TFRecord folder)."""
    name = entry.name
    if name.startswith(OWN_PREFIX):
        return True
    if entry.is_symlink() or not entry.is_file():
        return False
    return (name == MANIFEST_NAME or bool(_SHARD_FILE.fullmatch(name))
            or bool(_MANIFEST_TEMPORARY.fullmatch(name)))


def foreign_entries(folder: str | Path) -> list[str]:
    """Names in ``folder`` that ganlab did not write, sorted (``[]``: safe to replace)."""
    return sorted(entry.name for entry in Path(folder).iterdir() if not is_own_entry(entry))


def describe_names(names: Sequence[str], shown: int = SHOWN_FOREIGN) -> str:
    """``'a', 'b', 'c' and 4 more (7 in all)``, for refusal messages."""
    quoted = ", ".join(repr(name) for name in names[:shown])
    if len(names) <= shown:
        return quoted
    return f"{quoted} and {len(names) - shown} more ({len(names)} in all)"


def remove_own_folder(folder: Path) -> list[str]:
    """Delete the entries ganlab wrote in ``folder``, then the folder if it is empty.

    Returns:
        The names left in place because ganlab did not write them (the
        folder stays when there are any).

    """
    left = []
    for entry in folder.iterdir():
        if not is_own_entry(entry):
            left.append(entry.name)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if not left:
        with contextlib.suppress(OSError):
            folder.rmdir()
    return sorted(left)


def sibling(target: Path, kind: str, pid: int) -> Path:
    """``<target>.<kind>-<pid>``: where a prepare writes (``partial``) or sets aside (``old``)."""
    return target.with_name(f"{target.name}.{kind}-{pid}")


def recover_stale_siblings(target: Path) -> None:
    """Clean up after prepares that were killed (their writer is gone).

    A ``.partial-<pid>`` folder is incomplete: ganlab's files in it are
    removed. A ``.old-<pid>`` folder is finished data that a killed
    overwrite had moved aside: put back if nothing took its place, else
    ganlab's files in it are removed. Anything else in them stays.
    """
    if not target.parent.is_dir():
        return
    for entry in target.parent.iterdir():
        found = _SIBLING.search(entry.name)
        if (not found or entry.name != f"{target.name}{found.group(0)}"
                or entry.is_symlink() or not entry.is_dir()):
            continue
        if _writer_running(int(found.group(2)), entry):
            continue
        if found.group(1) == "old" and not target.exists():
            os.rename(entry, target)
        else:
            with contextlib.suppress(OSError):
                remove_own_folder(entry)


def _writer_running(pid: int, folder: Path) -> bool:
    """Whether the prepare that made ``folder`` (process ``pid``) may still be running.

    Our own pid means an earlier prepare in this process that failed. A
    live pid whose process started after the folder was made is another
    program that reuses the number (Linux tells the start time).
    """
    if pid == os.getpid() or not pid_alive(pid):
        return False
    started = process_start_time(pid)
    if started is None:
        return True
    try:
        made = folder.stat().st_mtime
    except OSError:
        return False
    return started <= made + 1.0


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch; Linux only, else ``None``)."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    booted = time.time() - uptime
    return booted + ticks / os.sysconf("SC_CLK_TCK")
