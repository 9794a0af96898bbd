"""Reading a run directory's files as hostile input, for ``ganlab compare``.

A run directory may come from anyone (a colleague's tarball, a shared
disk), so every file ``compare`` reads is opened the same careful way:
regular files only (a FIFO, a device or a directory in a file's place is
skipped without blocking: the file is opened non-blocking and checked
before any read), at most a size limit, text as UTF-8. A file that fails
any check is skipped with a warning naming it; a missing file is simply
absent. Nothing here raises for a bad file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Largest ``run.json``, ``config.yaml`` or ``sweep.json`` read (bytes).
MAX_SMALL_FILE = 4 * 2**20
#: Largest ``history.csv``, ``metrics.csv`` or ``metrics.json`` read (bytes).
MAX_TABLE_FILE = 32 * 2**20
#: Largest sample grid PNG embedded (bytes) ...
MAX_IMAGE_FILE = 16 * 2**20
#: ... and its most pixels (a 4,096² grid).
MAX_IMAGE_PIXELS = 4096 * 4096

Warn = Callable[[str], None]

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR,
          "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_bytes(path: Path, limit: int, warn: Warn) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes.

    Opened with ``O_NONBLOCK`` so that a FIFO in a file's place returns at
    once (and is then refused by ``fstat``) instead of waiting for a writer.

    Returns:
        The content; ``None`` when the file is missing (silently) or refused (with a warning).

    """
    try:
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        warn(f"cannot open {path} ({exc.strerror or exc}); skipped it.")
        return None
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            warn(f"{path} is {_kind(info.st_mode)}, not a regular file; skipped it.")
            return None
        if info.st_size > limit:
            warn(f"{path} is {info.st_size:,} bytes, more than the {limit:,} compare reads; "
                 "skipped it.")
            return None
        chunks, size = [], 0
        while size <= limit:  # a file that grows while read still stops at the limit
            chunk = os.read(handle, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            warn(f"{path} grew past the {limit:,} bytes compare reads; skipped it.")
            return None
        return b"".join(chunks)
    except OSError as exc:
        warn(f"cannot read {path} ({exc.strerror or exc}); skipped it.")
        return None
    finally:
        os.close(handle)


def read_text(path: Path, limit: int, warn: Warn) -> str | None:
    """``path`` as UTF-8 text (see :func:`read_bytes`); ``None`` when missing or refused."""
    data = read_bytes(path, limit, warn)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        warn(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); skipped it.")
        return None


def read_json_object(path: Path, limit: int, warn: Warn) -> dict[str, Any]:
    """A JSON object file; ``{}`` when missing, refused, not JSON or not an object."""
    text = read_text(path, limit, warn)
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        warn(f"{path} is not valid JSON ({exc}); skipped it.")
        return {}
    if not isinstance(data, dict):
        warn(f"{path} holds a JSON {type(data).__name__}, not an object; skipped it.")
        return {}
    return data


def regular_file(path: Path) -> bool:
    """Whether ``path`` is (or links to) a regular file; never opens it."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def checked_image(path: Path, warn: Warn) -> bytes | None:
    """A PNG's bytes when it is a regular, bounded file whose header PIL reads.

    Only the header is decoded here (the pixel count comes from it), so a
    decompression bomb is refused before any pixel is.
    """
    data = read_bytes(path, MAX_IMAGE_FILE, warn)
    if data is None:
        return None
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            fmt = image.format
    except Exception as exc:  # PIL raises many types for a damaged file
        warn(f"{path} is not an image PIL can read ({type(exc).__name__}); skipped it.")
        return None
    if fmt != "PNG":
        warn(f"{path} is a {fmt} file, not a PNG; skipped it.")
        return None
    if width * height > MAX_IMAGE_PIXELS:
        warn(f"{path} is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} compare "
             "shows; skipped it.")
        return None
    return data
