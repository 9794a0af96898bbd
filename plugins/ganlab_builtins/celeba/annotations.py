"""Parsing and cross-checking CelebA's annotation files (partitions, attributes, boxes)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganlab import DataError
from ganlab_builtins.celeba.discovery import Layout
from ganlab_builtins.celeba.facts import (
    BBOX_HEADER,
    EXAMPLES_SHOWN,
    NUM_ATTRIBUTES,
    SPLITS,
    Box,
)


# -- annotation files ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Annotations:
    """The parsed annotation files, keyed by image id (``000001.jpg``), in file order.

    Attributes:
        attribute_names: The 40 names of ``list_attr_celeba.txt``'s header.
        partitions: Image id → 0/1/2 (train/val/test).
        attributes: Image id → the 40 values as ``+``/``-`` (``1``/``-1``).
        boxes: Image id → ``(x_1, y_1, width, height)``; ``None`` when not read.

    """

    attribute_names: tuple[str, ...]
    partitions: dict[str, int]
    attributes: dict[str, str]
    boxes: dict[str, tuple[int, int, int, int]] | None = None


def encode_attributes(values: Iterable[int | str]) -> str:
    """``(1, -1, ...)`` (or ``("1", "-1", ...)``) → ``"+-..."``."""
    return "".join("+" if v in (1, "1") else "-" for v in values)


def decode_attributes(text: str) -> tuple[int, ...]:
    """``"+-..."`` → ``(1, -1, ...)``."""
    return tuple(1 if c == "+" else -1 for c in text)


def read_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The non-blank lines of an annotation file as ``(line number, tokens)``, streamed.

    CRLF or LF endings and any run of spaces or tabs between columns are
    accepted, as in the shipped files. Rows are yielded one at a time: the
    attribute file has 8 million values, too many to hold as strings at once.

    Raises:
        DataError: The file cannot be read or is not text.

    """
    try:
        with open(path, encoding="utf-8-sig", newline=None) as stream:
            for number, line in enumerate(stream, start=1):
                tokens = line.split()
                if tokens:
                    yield number, tokens
    except OSError as exc:
        raise DataError(f"Cannot read the CelebA annotation file {path}: {exc}.") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"The CelebA annotation file {path} is not text ({exc}); "
                        "is it the right file, and was it extracted completely?") from None


def _malformed(path: Path, line: int, expected: str, tokens: Sequence[str]) -> DataError:
    shown = " ".join(tokens)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return DataError(f"{path}, line {line}: malformed row, expected {expected}, "
                     f"got {shown!r}.")


def _count_and_header(path: Path, rows: Iterator[tuple[int, list[str]]]
                      ) -> tuple[int, int, list[str]]:
    """Read the first two lines: the declared image count and the header.

    Returns:
        The count, the header's line number and its tokens.

    """
    first = next(rows, None)
    if first is None:
        raise DataError(f"The CelebA annotation file {path} is empty.")
    line, tokens = first
    if len(tokens) != 1 or not tokens[0].isdigit():
        raise _malformed(path, line, "the number of images on the first line", tokens)
    header = next(rows, None)
    if header is None:
        raise DataError(f"{path} ends after its first line: the header and rows are missing.")
    return int(tokens[0]), header[0], header[1]


def _check_count(path: Path, declared: int, found: int) -> None:
    if declared != found:
        raise DataError(f"{path} declares {declared} images on its first line but has "
                        f"{found} rows: the file is truncated or edited; download it again.")


def check_image_id(image_id: str, path: Path, line: int) -> str:
    """Return ``image_id`` if it is a plain ``.jpg`` file name inside the image folder.

    Raises:
        DataError: The id is a path (``../x.jpg``, ``/etc/x.jpg``, ``a/b.jpg``) that
            could read a file outside the source folder, or is not a ``.jpg`` name.

    """
    unsafe = ("/" in image_id or "\\" in image_id or ":" in image_id or "\0" in image_id
              or image_id.startswith(".") or image_id.startswith("~"))
    if unsafe:
        raise DataError(f"{path}, line {line}: image id {image_id!r} is not a plain file name; "
                        "ids must name a file inside the image folder (like 000001.jpg), "
                        "never a path that could reach outside the source folder.")
    if not image_id.lower().endswith(".jpg") or len(image_id) <= len(".jpg"):
        raise DataError(f"{path}, line {line}: image id {image_id!r} is not a CelebA image "
                        "name like 000001.jpg.")
    return image_id


def _new_id(seen: dict[str, Any], image_id: str, path: Path, line: int) -> str:
    check_image_id(image_id, path, line)
    if image_id in seen:
        raise DataError(f"{path}, line {line}: image {image_id} is listed twice.")
    return image_id


def parse_partition_file(path: Path) -> dict[str, int]:
    """Parse ``list_eval_partition.txt``: no header, rows ``000001.jpg 0`` (0/1/2).

    Raises:
        DataError: A malformed row, an unsafe or repeated id, or an empty file.

    """
    partitions: dict[str, int] = {}
    for line, tokens in read_rows(path):
        if len(tokens) != 2 or tokens[1] not in ("0", "1", "2"):
            raise _malformed(path, line, "'<image_id> <0|1|2>' (0/1/2 = train/val/test)",
                             tokens)
        partitions[_new_id(partitions, tokens[0], path, line)] = int(tokens[1])
    if not partitions:
        raise DataError(f"The CelebA partition file {path} has no rows.")
    return partitions


def parse_attr_file(path: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    """Parse ``list_attr_celeba.txt``: the count, 40 names (no id column), rows of ``1``/``-1``.

    Returns:
        The attribute names, and image id → the 40 values as ``+``/``-``
        characters (see :func:`decode_attributes`): 89 bytes an image instead
        of a 376-byte tuple, for 202,599 images.

    Raises:
        DataError: A wrong header, a malformed row, or a count that does not match.

    """
    rows = read_rows(path)
    declared, header_line, names = _count_and_header(path, rows)
    if names and names[0] == "image_id":  # tolerate re-exported files that name the id column
        names = names[1:]
    if len(names) != NUM_ATTRIBUTES:
        raise DataError(f"{path}, line {header_line}: expected the {NUM_ATTRIBUTES} attribute "
                        f"names, found {len(names)}.")
    attributes: dict[str, str] = {}
    for line, tokens in rows:
        values = tokens[1:]
        if len(tokens) != NUM_ATTRIBUTES + 1 or any(v not in ("1", "-1") for v in values):
            raise _malformed(path, line, f"an image id and {NUM_ATTRIBUTES} values 1/-1", tokens)
        attributes[_new_id(attributes, tokens[0], path, line)] = encode_attributes(values)
    _check_count(path, declared, len(attributes))
    return tuple(names), attributes


def parse_bbox_file(path: Path) -> dict[str, Box]:
    """Parse ``list_bbox_celeba.txt``: the count, the header ``image_id x_1 y_1 width height``.

    Returns:
        Image id → ``(x_1, y_1, width, height)`` in in-the-wild pixel coordinates.

    Raises:
        DataError: A wrong header, a malformed row, or a count that does not match.

    """
    rows = read_rows(path)
    declared, header_line, header = _count_and_header(path, rows)
    if tuple(header) != BBOX_HEADER:
        raise _malformed(path, header_line, "the header '" + " ".join(BBOX_HEADER) + "'", header)
    boxes: dict[str, Box] = {}
    expected = "'<image_id> <x_1> <y_1> <width> <height>' (integers)"
    for line, tokens in rows:
        if len(tokens) != len(BBOX_HEADER):
            raise _malformed(path, line, expected, tokens)
        try:
            x, y, width, height = (int(t) for t in tokens[1:])
        except ValueError:
            raise _malformed(path, line, expected, tokens) from None
        boxes[_new_id(boxes, tokens[0], path, line)] = (x, y, width, height)
    _check_count(path, declared, len(boxes))
    return boxes


def _check_same_images(reference: Mapping[str, Any], reference_path: Path,
                       other: Mapping[str, Any], other_path: Path) -> None:
    """Raise when two annotation files do not list the same images."""
    missing = [i for i in reference if i not in other]
    extra = [i for i in other if i not in reference]
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"has no row for {len(missing)} image(s) of {reference_path.name} "
                     f"({some_names(missing)})")
    if extra:
        parts.append(f"has {len(extra)} row(s) for images not in {reference_path.name} "
                     f"({some_names(extra)})")
    raise DataError(f"{other_path} " + " and ".join(parts) + ": the annotation files do not "
                    "describe the same images; use the files of one CelebA download.")


def some_names(names: Sequence[str]) -> str:
    """The first few of ``names``, comma-separated, with ``...`` when there are more."""
    shown = ", ".join(names[:EXAMPLES_SHOWN])
    return shown + (", ..." if len(names) > EXAMPLES_SHOWN else "")


def load_annotations(layout: Layout) -> Annotations:
    """Parse and cross-check the annotation files of ``layout``.

    Raises:
        DataError: A file is malformed, or the files do not list the same images.

    """
    partitions = parse_partition_file(layout.partition_file)
    names, attributes = parse_attr_file(layout.attr_file)
    _check_same_images(partitions, layout.partition_file, attributes, layout.attr_file)
    boxes = None
    if layout.bbox_file is not None:
        boxes = parse_bbox_file(layout.bbox_file)
        _check_same_images(partitions, layout.partition_file, boxes, layout.bbox_file)
    return Annotations(attribute_names=names, partitions=partitions, attributes=attributes,
                       boxes=boxes)


def per_split(partitions: Iterable[int]) -> dict[str, int]:
    """Number of images per split name, from official partition indices."""
    counts = dict.fromkeys(SPLITS, 0)
    for partition in partitions:
        counts[SPLITS[partition]] += 1
    return counts

