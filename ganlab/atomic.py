"""Writing files so that a crash never leaves a half-written one under the real name.

Every file ganlab writes for a user (run outputs, manifests, checkpoints,
images) goes through :func:`atomic_write`: a temporary sibling, flushed and
fsynced, then renamed over the target.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def current_umask() -> int:
    """The process umask (read without changing it for good)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_permissions(handle: int) -> None:
    """Give a ``mkstemp`` file (created 0600) the usual permissions under the umask."""
    if hasattr(os, "fchmod"):
        os.fchmod(handle, 0o666 & ~current_umask())


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb", *, encoding: str | None = None,
                 prefix: str | None = None,
                 before_replace: Callable[[Path], None] | None = None) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path``; rename it over ``path`` when the block succeeds.

    Args:
        path: The target file.
        mode: ``"wb"`` or ``"w"``.
        encoding: Text encoding for ``"w"``.
        prefix: Temporary-name prefix (default ``.<name>.``); ``.tmp`` is the suffix.
        before_replace: Called with the finished temporary path just before
            the rename (fault injection in tests).

    On any exception (``KeyboardInterrupt`` included) the temporary file is
    removed and the target is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=prefix or f".{path.name}.", suffix=".tmp",
                                         dir=path.parent)
    try:
        default_permissions(handle)
        with os.fdopen(handle, mode, encoding=encoding) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        if before_replace is not None:
            before_replace(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
