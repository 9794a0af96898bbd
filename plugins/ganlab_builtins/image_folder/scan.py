"""Finding the images of a folder: its splits, its classes and every file under it.

The layout (:func:`find_layout`) is read from the top folders only, cheaply,
so that a dataset knows its classes before anything is prepared:

- **splits**: ``train/`` beside ``valid/`` (or ``val/``) and/or ``test/``
  sub-folders are the splits; without a ``train/`` folder the whole source is
  one pool, split by a seeded fraction later.
- **classes** (the torchvision ``ImageFolder`` convention): each sub-folder of
  a split folder (or of the source) is a class; classes are sorted by name.

The walk (:func:`scan_files`) lists every file under a folder, recursively,
following symbolic links to folders but reading each real folder once (a
link back up the tree would otherwise loop for ever), and reports what it
could not read instead of failing. Hidden entries (``.name``) and ganlab's own
TFRecord folders (a ``tfrecords`` folder inside the source) are left out.

Nothing here decodes an image or imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ganlab.errors import DataError

#: Split name → folder names that hold it, in order of preference.
SPLIT_FOLDERS: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "valid": ("valid", "val"),
    "test": ("test",),
}
#: Split name → ``image/partition`` index (CelebA's convention: 0/1/2 = train/val/test).
SPLIT_PARTITION: dict[str, int] = {"train": 0, "valid": 1, "test": 2}
#: File extensions of the image formats read (a file with another one is still tried).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".webp", ".bmp",
                              ".dib", ".tif", ".tiff", ".gif"})
#: The manifest that marks a ganlab TFRecord folder.
_MANIFEST = "dataset.json"
#: A prepare's own folders beside its output (``<tfrecords>.partial-<pid>``, ``.old-<pid>``).
_PREPARE_SIBLING = re.compile(r".+\.(partial|old)-\d+")


@dataclass(frozen=True)
class SourceFile:
    """One regular file found under a split folder.

    Attributes:
        path: Path relative to the source, with ``/`` separators.
        size: Bytes.
        mtime_ns: Modification time (nanoseconds).
    """

    path: str
    size: int
    mtime_ns: int


@dataclass
class Walk:
    """What :func:`scan_files` found under one folder.

    Attributes:
        files: Regular files, sorted by path.
        odd: ``(path, reason)`` of entries that are not regular files (broken
            links, FIFOs, sockets, devices): never opened.
        unreadable: ``(folder, reason)`` of folders that could not be listed.
        loops: Folders not entered because their real folder was already
            read (a symbolic link back up the tree, or a second link to it).
        hidden: Hidden entries left out.
    """

    files: list[SourceFile] = field(default_factory=list)
    odd: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)
    hidden: int = 0


@dataclass(frozen=True)
class Layout:
    """Where a source's splits and classes are.

    Attributes:
        split_folders: Split name → its folder (``{"train": source}`` when the
            source has no split folders; ``seeded`` is then true).
        seeded: The splits are to be cut from one pool by a seeded fraction.
        labelled: Images are labelled by their class folder.
        class_names: The class folder names, sorted (empty when not labelled).
        outside: Entries of the source outside its split folders (ignored).
    """

    split_folders: dict[str, Path]
    seeded: bool
    labelled: bool
    class_names: tuple[str, ...]
    outside: tuple[str, ...] = ()


def is_skipped_folder(path: Path, name: str, exclude: frozenset[str]) -> bool:
    """Whether the walk leaves out the folder ``path``: a TFRecord folder of ganlab's."""
    if _PREPARE_SIBLING.fullmatch(name) is not None or os.path.realpath(path) in exclude:
        return True
    try:
        return (path / _MANIFEST).is_file()
    except OSError:  # an unreadable folder: the walk reports it
        return False


def _listing(folder: Path) -> list[os.DirEntry[str]]:
    """The entries of ``folder`` sorted by name.

    Raises:
        DataError: It cannot be listed.

    """
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        raise DataError(f"Cannot list the image folder {folder}: {exc.strerror or exc}. "
                        "Check the dataset's `source` and the folder's permissions.") from None


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _sub_folders(folder: Path, exclude: frozenset[str]) -> list[str]:
    """Names of the visible sub-folders of ``folder``.

    Left out: ganlab's TFRecord folders, and links back to ``folder`` or a
    folder above it (a loop, not a class).
    """
    above = {os.path.realpath(path) for path in (folder, *folder.parents)}
    return [entry.name for entry in _listing(folder)
            if not entry.name.startswith(".") and _is_dir(entry)
            and os.path.realpath(entry.path) not in above
            and not is_skipped_folder(Path(entry.path), entry.name, exclude)]


def _loose_images(folder: Path) -> list[str]:
    """Names of files with an image extension directly in ``folder``."""
    return [entry.name for entry in _listing(folder)
            if not entry.name.startswith(".") and not _is_dir(entry)
            and Path(entry.name).suffix.lower() in IMAGE_EXTENSIONS]


def split_folders(source: Path, exclude: frozenset[str]) -> tuple[dict[str, Path], bool]:
    """Split name → folder, and whether the splits are to be cut by a seeded fraction.

    Raises:
        DataError: Both ``valid/`` and ``val/`` are there (which one is meant?).

    """
    present = set(_sub_folders(source, exclude))
    if "train" not in present:
        return {"train": source}, True
    found: dict[str, Path] = {}
    for split, names in SPLIT_FOLDERS.items():
        there = [name for name in names if name in present]
        if len(there) > 1:
            raise DataError(f"{source} has both {there[0]}/ and {there[1]}/ folders: ganlab "
                            f"reads either as the '{split}' split, not both. Merge them or "
                            "rename one.")
        if there:
            found[split] = source / there[0]
    return found, False


def find_layout(source: Path, labels: str, exclude: frozenset[str] = frozenset()) -> Layout:
    """The splits and classes of ``source``, from its top folders only.

    Args:
        source: The image folder.
        labels: ``auto`` (class folders when there are two or more in all,
            every split folder has some and holds no images of its own),
            ``folders`` or ``none``.
        exclude: Real paths of folders to leave out (the TFRecord output).

    Raises:
        DataError: The source is not a readable folder, or ``labels: folders``
            finds fewer than two class folders.

    """
    if not source.is_dir():
        what = "is a file, not a folder" if source.exists() else "does not exist"
        raise DataError(f"The image folder {source} {what}. Set the dataset's `source` to the "
                        "folder that holds your images (sub-folders are read too).")
    folders, seeded = split_folders(source, exclude)
    outside = () if seeded else tuple(
        name for name in _sub_folders(source, exclude)
        if name not in {folder.name for folder in folders.values()})
    classes = {split: _sub_folders(folder, exclude) for split, folder in folders.items()}
    labelled = labels == "folders"
    names = tuple(sorted({name for found in classes.values() for name in found}))
    if labels == "auto":  # a split folder may lack a class (a small valid/), not hold images
        labelled = len(names) >= 2 and all(
            found and not _loose_images(folders[split]) for split, found in classes.items())
    if labelled and len(names) < 2:
        where = ", ".join(f"{folder}" for folder in folders.values())
        raise DataError(f"labels is 'folders' but {where} holds {len(names)} sub-folder"
                        f"{'' if len(names) == 1 else 's'}: class labels need one sub-folder "
                        "per class and at least two classes (e.g. cats/ and dogs/). Set "
                        "`labels: none` to train without labels.")
    return Layout(split_folders=folders, seeded=seeded, labelled=labelled,
                  class_names=names if labelled else (), outside=outside)


def scan_files(source: Path, folder: Path, exclude: frozenset[str],
               seen: set[str] | None = None) -> Walk:
    """Every file under ``folder`` (paths relative to ``source``), recursively.

    Args:
        source: The root the paths are made relative to.
        folder: The folder to walk.
        exclude: Real paths of folders to leave out.
        seen: Real paths of folders already read (shared between the walks of
            one source, so no folder is read twice).

    """
    walk = Walk()
    seen = set() if seen is None else seen
    real = os.path.realpath(folder)
    if real in seen:
        walk.loops.append(_relative(folder, source))
        return walk
    seen.add(real)

    def unreadable(error: OSError) -> None:
        where = _relative(Path(error.filename or folder), source)
        walk.unreadable.append((where, error.strerror or str(error)))

    for top, dirs, names in os.walk(folder, onerror=unreadable, followlinks=True):
        here = Path(top)
        dirs[:] = _folders_to_enter(here, sorted(dirs), source, exclude, seen, walk)
        for name in sorted(names):
            if name.startswith("."):
                walk.hidden += 1
                continue
            _add_file(here / name, source, walk)
    walk.files.sort(key=lambda found: found.path)
    return walk


def _folders_to_enter(here: Path, names: list[str], source: Path, exclude: frozenset[str],
                      seen: set[str], walk: Walk) -> list[str]:
    """The sub-folders of ``here`` to walk into (each real folder once)."""
    entered = []
    for name in names:
        path = here / name
        if name.startswith("."):
            walk.hidden += 1
            continue
        if is_skipped_folder(path, name, exclude):
            continue
        real = os.path.realpath(path)
        if real in seen:
            walk.loops.append(_relative(path, source))
            continue
        seen.add(real)
        entered.append(name)
    return entered


def _add_file(path: Path, source: Path, walk: Walk) -> None:
    relative = _relative(path, source)
    try:
        info = path.stat()
    except OSError as exc:
        reason = ("a broken symbolic link" if path.is_symlink()
                  else f"cannot be read ({exc.strerror or exc})")
        walk.odd.append((relative, reason))
        return
    if not stat.S_ISREG(info.st_mode):
        # Opening a FIFO would wait for a writer for ever: never opened.
        walk.odd.append((relative, f"not a regular file ({_kind(info.st_mode)})"))
        return
    walk.files.append(SourceFile(relative, info.st_size, info.st_mtime_ns))


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


def _relative(path: Path, source: Path) -> str:
    try:
        relative = path.relative_to(source).as_posix()
    except ValueError:
        return path.as_posix()
    return relative if relative != "." else "."


def files_fingerprint(files: list[SourceFile]) -> str:
    """``"<n> files, <bytes> bytes, sha256 <hex>"`` of the names, sizes and times of ``files``.

    The same form as :func:`ganlab.data.source_fingerprint`; computed from the
    walk's own ``stat`` results, so a large folder is not listed twice.
    """
    digest = hashlib.sha256()
    for found in files:
        digest.update(f"{found.path}\0{found.size}\0{found.mtime_ns}\n"
                      .encode("utf-8", "surrogateescape"))
    total = sum(found.size for found in files)
    return f"{len(files)} files, {total} bytes, sha256 {digest.hexdigest()[:32]}"
