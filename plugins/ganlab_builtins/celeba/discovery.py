"""Finding CelebA's files: the official or the flat layout, and helpful messages."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ganlab import DataError
from ganlab_builtins.celeba.facts import (
    ANNOTATION_DIRS,
    ATTR_FILE,
    BBOX_FILE,
    DOWNLOAD_HINT,
    PARTITION_FILE,
    VARIANTS,
)


# -- source layout ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Where a CelebA source keeps its files.

    Attributes:
        image_dir: The folder of the chosen variant's images.
        partition_file: ``list_eval_partition.txt``.
        attr_file: ``list_attr_celeba.txt``.
        bbox_file: ``list_bbox_celeba.txt`` (``None`` when not needed).
        kind: ``official`` or ``flat``.

    """

    image_dir: Path
    partition_file: Path
    attr_file: Path
    bbox_file: Path | None
    kind: str


def find_annotation(source: Path, name: str) -> Path | None:
    """``name`` in ``Anno/``, ``Eval/`` or the source root, whichever has it."""
    for folder in ANNOTATION_DIRS:
        candidate = source / folder / name
        if candidate.is_file():
            return candidate
    return None


def find_image_dir(source: Path, variant: str) -> Path | None:
    """The folder of ``variant``'s images: ``Img/<variant>``, ``<variant>`` or the root."""
    for candidate in (source / "Img" / variant, source / variant):
        if candidate.is_dir():
            return candidate
    if _has_file_with_suffix(source, VARIANTS[variant]):
        return source
    return None


def _has_file_with_suffix(folder: Path, suffix: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.name.lower().endswith(suffix) for e in entries)
    except OSError:
        return False


def _archives_near(source: Path, variant: str) -> list[Path]:
    """Downloaded but unextracted archives of ``variant`` (zip, 7z, 7z volumes)."""
    found = []
    for folder in (source / "Img", source):
        if folder.is_dir():
            found.extend(sorted(folder.glob(f"{variant}.zip")))
            found.extend(sorted(folder.glob(f"{variant}.7z*")))
    return found


def locate(source: Path, variant: str, need_bbox: bool) -> Layout:
    """Find the image folder and annotation files of a CelebA source.

    Raises:
        DataError: Something is missing; the message says what and where it was looked for.

    """
    if not source.is_dir():
        raise DataError(f"The CelebA source folder {source} does not exist. {DOWNLOAD_HINT}")
    needed = [PARTITION_FILE, ATTR_FILE] + ([BBOX_FILE] if need_bbox else [])
    files: dict[str, Path] = {}
    missing = []
    for name in needed:
        found = find_annotation(source, name)
        if found is None:
            missing.append(name)
        else:
            files[name] = found
    if missing:
        raise DataError(f"CelebA annotation file(s) {', '.join(missing)} not found in {source} "
                        "(looked in Anno/, Eval/ and the folder itself). " + DOWNLOAD_HINT)
    image_dir = find_image_dir(source, variant)
    if image_dir is None:
        raise DataError(missing_images_message(source, variant))
    official = image_dir == source / "Img" / variant
    return Layout(image_dir=image_dir, partition_file=files[PARTITION_FILE],
                  attr_file=files[ATTR_FILE], bbox_file=files.get(BBOX_FILE),
                  kind="official" if official else "flat")


def missing_images_message(source: Path, variant: str) -> str:
    """What to tell the user when the image folder of ``variant`` is not found."""
    archives = _archives_near(source, variant)
    if archives:
        return (f"The CelebA {variant} images are not extracted: found {archives[0]} but no "
                f"folder {source / 'Img' / variant}. Extract the archive there (for 7z "
                f"volumes: 7z x {archives[0].name}) and run again.")
    return (f"No CelebA {variant} images in {source}: expected the folder "
            f"{source / 'Img' / variant} (official layout), {source / variant}, or the "
            f"{VARIANTS[variant]} files directly in {source}. {DOWNLOAD_HINT}")


