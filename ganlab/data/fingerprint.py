"""Fingerprints of a dataset's raw files, so that changed data is never used silently.

The options fingerprint of a manifest says *how* TFRecords were written; the
source fingerprint says *from what*. It covers every raw file a prepare
reads: its name, its size and its modification time, or, where reading it is
cheap (MNIST's IDX files, annotation files), a sha256 of its content in place
of the time. Replacing, adding, removing or editing a raw file changes it,
and ``prepare``, the evaluation cache and resume then notice.

This module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ganlab.errors import DataError

#: Bytes read at a time when hashing a file's content.
_CHUNK = 1 << 20
#: A prepare's own folders beside its output (``<tfrecords>.partial-<pid>``, ``.old-<pid>``).
_PREPARE_SIBLING = re.compile(r".+\.(partial|old)-\d+")
#: The manifest that marks a ganlab TFRecord folder (left out of a walk).
_MANIFEST = "dataset.json"


def source_fingerprint(paths: Iterable[str | os.PathLike[str]], *,
                       root: str | os.PathLike[str] | None = None,
                       hash_content: bool = False) -> str:
    """A fingerprint of the raw files ``paths`` (a folder stands for every file under it).

    Each file contributes its name, its size and either its modification
    time (``st_mtime_ns``) or, with ``hash_content``, the sha256 of its bytes
    (then copying or touching the file changes nothing; editing it does).
    Folders are walked recursively in name order, leaving out hidden entries
    (``.name``: ganlab's caches among them) and ganlab's own TFRecord folders
    (those holding a ``dataset.json``, and a prepare's ``.partial-``/``.old-``
    siblings), so TFRecords written inside the source do not change it.

    Args:
        paths: Files and folders the dataset reads.
        root: Names are taken relative to this folder, so that the same files
            moved together elsewhere keep their fingerprint; default: the
            paths as given.
        hash_content: Hash every file's bytes instead of reading its
            modification time (for sources of a few files, where it is cheap).

    Returns:
        ``"<n> files, <bytes> bytes, sha256 <32 hex digits>"``: readable in
        messages, compared whole.

    Raises:
        DataError: A path does not exist or cannot be read (named).

    """
    digest = hashlib.sha256()
    count = total = 0
    for path in _files(paths):
        name = _name(path, root)
        try:
            size = path.stat().st_size
            detail = _content_hash(path) if hash_content else str(path.stat().st_mtime_ns)
        except OSError as exc:
            raise DataError(f"Cannot read the raw data file {path} to fingerprint it: "
                            f"{exc.strerror or exc}.") from None
        digest.update(f"{name}\0{size}\0{detail}\n".encode("utf-8", "surrogateescape"))
        count += 1
        total += size
    return f"{count} files, {total} bytes, sha256 {digest.hexdigest()[:32]}"


def _files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Every file of ``paths``, folders expanded in a stable order."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            yield from _walk(path, set())
        elif path.is_file():
            yield path
        else:
            what = "is not a regular file" if path.exists() else "does not exist"
            raise DataError(f"The raw data file {path} {what}, so the data cannot be "
                            "fingerprinted. Check the dataset's `source`.")


def _walk(folder: Path, seen: set[tuple[int, int]]) -> Iterator[Path]:
    """The files under ``folder``; a folder reached twice (a symlink loop) is walked once."""
    try:
        info = folder.stat()
        if (info.st_dev, info.st_ino) in seen:
            return
        seen.add((info.st_dev, info.st_ino))
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as exc:
        raise DataError(f"Cannot list the raw data folder {folder}: "
                        f"{exc.strerror or exc}.") from None
    for entry in entries:
        if entry.name.startswith(".") or _PREPARE_SIBLING.fullmatch(entry.name):
            continue
        if entry.is_dir(follow_symlinks=True):
            if not (Path(entry.path) / _MANIFEST).exists():
                yield from _walk(Path(entry.path), seen)
        elif entry.is_file(follow_symlinks=True):
            yield Path(entry.path)


def _name(path: Path, root: str | os.PathLike[str] | None) -> str:
    if root is not None:
        try:
            return path.relative_to(root).as_posix()
        except ValueError:
            pass
    return os.fspath(path)


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def source_changed(recorded: object, current: str | None) -> bool:
    """Whether raw files fingerprinted ``current`` differ from a manifest's ``recorded`` ones.

    Unknown on either side (a dataset without a fingerprint, a source no
    longer there, a manifest of an older ganlab) is not a change: there is
    nothing to compare.
    """
    return isinstance(recorded, str) and current is not None and recorded != current


#: Fingerprints already computed this process, per dataset object (a prepare, then
#: ``is_prepared`` checks, would otherwise walk a large source several times).
_COMPUTED: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()


def current_source_fingerprint(dataset: Any) -> str | None:
    """``dataset.source_fingerprint()`` (once per dataset object); ``None`` when it has none.

    The member is optional in the dataset contract: a dataset without it has
    raw files ganlab cannot check.
    """
    method = getattr(dataset, "source_fingerprint", None)
    if not callable(method):
        return None
    try:
        return _COMPUTED[dataset]
    except (KeyError, TypeError):  # not computed yet, or an object weakref cannot hold
        pass
    value = method()
    if value is not None and not isinstance(value, str):
        raise TypeError(f"source_fingerprint() of {type(dataset).__name__} returned "
                        f"{value!r}; it must return a string or None")
    with contextlib.suppress(TypeError):
        _COMPUTED[dataset] = value
    return value
