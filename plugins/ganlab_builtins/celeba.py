"""The built-in ``celeba`` dataset: CelebA's three image folders as ganlab TFRecords.

CelebA (Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015)
ships 202,599 faces in three image folders and three annotation files:

- ``img_celeba/``: in-the-wild JPEGs of varying sizes, with a face box per
  image in ``list_bbox_celeba.txt`` (in these images' coordinates);
- ``img_align_celeba/``: the faces aligned and cropped to 178×218 (w×h), JPEG;
- ``img_align_celeba_png/``: the same aligned faces as PNG (``000001.png``);
- ``list_attr_celeba.txt``: 40 binary attributes (``1``/``-1``) per image;
- ``list_eval_partition.txt``: the official train/val/test split (0/1/2).

Both the official layout (``Img/<variant>/``, ``Anno/*.txt``,
``Eval/list_eval_partition.txt``) and a flat one (the annotation files and
the image folder, or the images themselves, directly in ``source``) are read.

Every image of every partition is written, each with its 40 attributes and
its partition index, into the splits ``train``/``val``/``test`` that have
images; ``partition`` only chooses what ``load()`` returns by default, so the
four partitions share one set of TFRecords.

How an image becomes a square ``image_size`` image (decoded with Pillow to
RGB, never rotated by EXIF since the boxes are in raw pixel coordinates):

- aligned variants: a centered ``crop``×``crop`` square, default 108 as in the
  widely used DCGAN-tensorflow CelebA port (the face from brows to chin); 140
  keeps the whole head, 178 the full width (background included);
- ``img_celeba`` without ``bbox``: a centered square of the short side (or of
  ``crop`` pixels when given, limited to the short side);
- ``img_celeba`` with ``bbox``: the face box, first clipped to the image
  (boxes reaching outside are counted as *clipped*; boxes with nothing left
  are *degenerate* and their images skipped), then with ``bbox_square`` (the
  default) grown to a square around the box's center (the longer side of the
  box, shifted to stay inside the image and limited to its short side), so
  faces are not stretched; with ``bbox_square: false`` the box is resized as
  is, changing the face's aspect ratio.

The square is then resized with Pillow's antialiased bicubic filter.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from ganlab import DataError, hookimpl, params
from ganlab.data import ImageExample, SkipExample, TFRecordImageDataset

#: Image folder name → file extension of its images.
VARIANTS: dict[str, str] = {
    "img_celeba": ".jpg",
    "img_align_celeba": ".jpg",
    "img_align_celeba_png": ".png",
}
#: Official partition index → split name.
SPLITS: tuple[str, ...] = ("train", "val", "test")
PARTITIONS: tuple[str, ...] = (*SPLITS, "all")
IMAGE_SIZES: tuple[int, ...] = (32, 64, 128)
#: Width and height of the aligned images.
ALIGNED_SIZE: tuple[int, int] = (178, 218)
DEFAULT_ALIGNED_CROP = 108
NUM_ATTRIBUTES = 40

BBOX_FILE = "list_bbox_celeba.txt"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
BBOX_HEADER: tuple[str, ...] = ("image_id", "x_1", "y_1", "width", "height")
#: Annotation files live in Anno/ or Eval/ (official layout) or in the root (flat).
ANNOTATION_DIRS: tuple[str, ...] = ("Anno", "Eval", ".")

RESAMPLE = Image.Resampling.BICUBIC
RESAMPLE_NAME = "bicubic"
#: Bumped when the bytes written for the same options change.
FORMAT_VERSION = 1
#: Box statistics kept by ``decode`` and reported by ``prepare_notes``.
BOX_COUNTS: tuple[str, ...] = ("bbox_clipped", "bbox_degenerate")
#: How many example file names a note or message lists.
EXAMPLES_SHOWN = 5

DOWNLOAD_HINT = (
    "CelebA is distributed at https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
    "(Google Drive and Baidu Drive links); keep the official layout (Img/<variant>/, "
    "Anno/, Eval/) or put everything in one folder, and point the experiment at it with "
    "--set dataset.params.source=/path/to/CelebA."
)

Box = tuple[int, int, int, int]


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
                     f"({_some(missing)})")
    if extra:
        parts.append(f"has {len(extra)} row(s) for images not in {reference_path.name} "
                     f"({_some(extra)})")
    raise DataError(f"{other_path} " + " and ".join(parts) + ": the annotation files do not "
                    "describe the same images; use the files of one CelebA download.")


def _some(names: Sequence[str]) -> str:
    shown = ", ".join(names[:EXAMPLES_SHOWN])
    return shown + (", ..." if len(names) > EXAMPLES_SHOWN else "")


# -- geometry ------------------------------------------------------------------------------------
def clip_box(box: Box, size: tuple[int, int]) -> tuple[Box | None, bool]:
    """Clip an ``(x, y, width, height)`` box to an image of ``size`` (width, height).

    Returns:
        ``(left, top, right, bottom)`` inside the image, or ``None`` when nothing
        of the box is left (degenerate); and whether clipping changed the box.

    """
    x, y, width, height = box
    image_width, image_height = size
    left, top = max(0, x), max(0, y)
    right, bottom = min(image_width, x + width), min(image_height, y + height)
    clipped = (left, top, right, bottom) != (x, y, x + width, y + height)
    if right <= left or bottom <= top:
        return None, clipped
    return (left, top, right, bottom), clipped


def square_around(box: Box, size: tuple[int, int]) -> Box:
    """The square around a clipped ``(left, top, right, bottom)`` box, inside the image.

    Its side is the box's longer side, limited to the image's short side; it is
    centered on the box and shifted (not shrunk) to stay inside the image, so
    the whole box is kept whenever the image is large enough.
    """
    left, top, right, bottom = box
    image_width, image_height = size
    side = min(max(right - left, bottom - top), image_width, image_height)
    new_left = min(max((left + right - side) // 2, 0), image_width - side)
    new_top = min(max((top + bottom - side) // 2, 0), image_height - side)
    return (new_left, new_top, new_left + side, new_top + side)


def center_square(size: tuple[int, int], crop: int | None) -> Box:
    """A centered square of ``crop`` pixels (the short side when ``None`` or larger)."""
    width, height = size
    side = min(width, height) if crop is None else min(crop, width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)


# -- images ----------------------------------------------------------------------------------------
def read_rgb(path: Path) -> Image.Image:
    """Decode an image file fully to RGB.

    ``load()`` decodes every byte now: Pillow opens lazily and would otherwise
    only notice a truncated file later (or never, with ``LOAD_TRUNCATED_IMAGES``,
    which ganlab never enables).

    Raises:
        SkipExample: The file is missing, not an image, truncated or corrupt.

    """
    try:
        with Image.open(path) as image:
            image.load()
            return image.convert("RGB")
    except FileNotFoundError:
        raise SkipExample(f"missing image file {path}") from None
    except Image.UnidentifiedImageError:
        raise SkipExample(f"not an image file: {path}") from None
    except Exception as exc:  # any decoder failure means "unreadable"
        raise SkipExample(f"truncated or corrupt image {path} "
                          f"({type(exc).__name__}: {exc})") from None


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
        raise DataError(_missing_images_message(source, variant))
    official = image_dir == source / "Img" / variant
    return Layout(image_dir=image_dir, partition_file=files[PARTITION_FILE],
                  attr_file=files[ATTR_FILE], bbox_file=files.get(BBOX_FILE),
                  kind="official" if official else "flat")


def _missing_images_message(source: Path, variant: str) -> str:
    archives = _archives_near(source, variant)
    if archives:
        return (f"The CelebA {variant} images are not extracted: found {archives[0]} but no "
                f"folder {source / 'Img' / variant}. Extract the archive there (for 7z "
                f"volumes: 7z x {archives[0].name}) and run again.")
    return (f"No CelebA {variant} images in {source}: expected the folder "
            f"{source / 'Img' / variant} (official layout), {source / variant}, or the "
            f"{VARIANTS[variant]} files directly in {source}. {DOWNLOAD_HINT}")


# -- the dataset -----------------------------------------------------------------------------------
class CelebAItem(NamedTuple):
    """One planned image: everything ``decode`` needs, small and picklable.

    Attributes:
        filename: The image's file name in the image folder (``000001.png`` for PNG).
        partition: 0/1/2 (train/val/test).
        attributes: The 40 values as a string of ``+``/``-`` (compact: the plan of
            202,599 items would otherwise hold 8 million Python references).
        box: ``(x_1, y_1, width, height)`` when cropping to the face box.

    """

    filename: str
    partition: int
    attributes: str
    box: Box | None = None


class CelebA(TFRecordImageDataset):
    """CelebA faces (one of its three image folders) as 64×64 (or 32/128) RGB TFRecords.

    Args:
        source: CelebA root (official layout with ``Img/``, ``Anno/``, ``Eval/``,
            or a flat folder).
        tfrecords: Output folder of the shards and ``dataset.json``.
        variant: ``img_celeba`` (in the wild), ``img_align_celeba`` (aligned JPEG)
            or ``img_align_celeba_png`` (aligned PNG).
        bbox: Crop ``img_celeba`` images to the face boxes of
            ``list_bbox_celeba.txt`` (an error with the aligned variants, whose
            coordinates differ from the boxes').
        partition: What ``load()`` returns by default: ``train``, ``val``,
            ``test`` or ``all`` (every split). All partitions are always written.
        image_size: Side of the stored square images: 32, 64 (default) or 128.
        crop: Side of the centered square cut before resizing. Aligned
            variants: default 108 (DCGAN-tensorflow's choice), commonly 140 or
            178, at most 178. ``img_celeba`` without ``bbox``: default the image's
            short side; a given size is limited to the short side. Not used with
            ``bbox``.
        bbox_square: With ``bbox``, grow the clipped box to a square around the
            face (default) instead of stretching it to a square.
        on_error: ``skip`` (default: skip and report missing or unreadable
            images) or ``fail`` (stop at the first one).
        workers: Processes ``prepare`` uses (default: the core's choice from the
            image count and the CPU cores); read by the core's writer.

    """

    def __init__(
        self,
        *,
        source: str | Path | None = None,
        tfrecords: str | Path,
        variant: str = "img_align_celeba",
        bbox: bool = False,
        partition: str = "train",
        image_size: int = 64,
        crop: int | None = None,
        bbox_square: bool = True,
        on_error: str = "skip",
        workers: int | None = None,
    ):
        super().__init__(source=source, tfrecords=tfrecords, on_error=on_error)
        params.choice("variant", variant, tuple(VARIANTS))
        params.choice("partition", partition, PARTITIONS)
        params.boolean("bbox", bbox)
        params.boolean("bbox_square", bbox_square)
        if not isinstance(image_size, int) or isinstance(image_size, bool) \
                or image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {', '.join(map(str, IMAGE_SIZES))}, "
                             f"got {image_size!r}")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.variant = variant
        self.bbox = bbox
        self.bbox_square = bbox_square
        self.partition = partition
        self.image_size = image_size
        self.crop = _checked_crop(variant, bbox, crop)
        self.workers = workers
        self.image_shape = (image_size, image_size, 3)
        # The core expands ``all`` to every stored split.
        self.default_split = partition
        # Found once in the main process and pickled to the workers with the dataset.
        self.image_dir: Path | None = None
        # Counted by decode in whichever process runs it; the writer adds up each
        # shard's increase (see prepare_notes).
        self.box_counts: dict[str, int] = dict.fromkeys(BOX_COUNTS, 0)
        self._cache: dict[str, Any] = {}

    # Workers get the dataset pickled: leave the (large) annotation cache behind.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state

    # -- contract ----------------------------------------------------------------------------------
    def options(self) -> Mapping[str, Any]:
        """Everything that changes the stored bytes (not ``partition``: all are written)."""
        options: dict[str, Any] = {
            "dataset": "celeba",
            "variant": self.variant,
            "bbox": self.bbox,
            "image_size": self.image_size,
            "resample": RESAMPLE_NAME,
            "format_version": FORMAT_VERSION,
        }
        if self.bbox:
            options["bbox_square"] = self.bbox_square
        else:
            options["crop"] = self.crop if self.crop is not None else "short_side"
        return options

    def source_available(self) -> bool:
        """The annotation files and the variant's image folder are there."""
        try:
            self._layout()
        except DataError:
            return False
        return True

    def plan(self) -> Mapping[str, Sequence[CelebAItem]]:
        """Every annotated image, per official split, in file order.

        Images listed in the annotation files but missing on disk stay in the
        plan so that ``decode`` reports (or fails on) each of them; the counts
        of missing and unlisted files go to :meth:`prepare_notes`.

        Raises:
            DataError: The source is missing, the annotation files are
                malformed or disagree, or the image folder has none of the images.

        """
        annotations = self._annotations()
        self._scan_images(annotations)
        self.box_counts = dict.fromkeys(BOX_COUNTS, 0)
        plan: dict[str, list[CelebAItem]] = {name: [] for name in SPLITS}
        for image_id, partition in annotations.partitions.items():
            box = annotations.boxes[image_id] if annotations.boxes is not None else None
            item = CelebAItem(filename=self._file_name(image_id), partition=partition,
                              attributes=annotations.attributes[image_id],
                              box=box)
            plan[SPLITS[partition]].append(item)
        return {name: items for name, items in plan.items() if items}

    def decode(self, item: CelebAItem) -> ImageExample:
        """Read, crop and resize one image (runs in a worker process).

        Raises:
            SkipExample: The image is missing or unreadable, or its face box
                lies entirely outside it.

        """
        try:
            image = read_rgb(self._image_dir() / item.filename)
            region = self._crop_region(item, image.size)
        except SkipExample as exc:
            exc.filename = item.filename  # the writer's name for it (else the whole tuple)
            raise
        square = image.resize((self.image_size, self.image_size), RESAMPLE, box=region)
        return ImageExample(image=np.asarray(square, dtype=np.uint8), filename=item.filename,
                            attributes=decode_attributes(item.attributes),
                            partition=item.partition)

    def describe_source(self) -> str:
        """What was read, for the manifest."""
        crop = ("face boxes, " + ("squared" if self.bbox_square else "stretched")
                if self.bbox else f"center crop {self.crop or 'short side'}")
        try:
            layout = self._layout()
        except DataError:
            return f"CelebA {self.variant} ({crop}) from {self.source} (not found)"
        return (f"CelebA {self.variant} ({crop}) from {layout.image_dir} ({layout.kind} layout; "
                f"{layout.partition_file.name}, {layout.attr_file.name}"
                + (f", {layout.bbox_file.name}" if layout.bbox_file else "") + ")")

    def prepare_notes(self) -> dict[str, Any]:
        """Box statistics, and after :meth:`plan` what the annotation files and folder hold.

        The writer calls this in the main process after ``plan()`` and around
        every shard in the process writing it, adding up each shard's increase
        of the numeric notes: ``bbox_clipped`` (boxes reaching outside their
        image) and ``bbox_degenerate`` (nothing left after clipping: skipped)
        are counted by ``decode``. Cheap: it never parses or scans anything.
        """
        notes: dict[str, Any] = dict(self.box_counts) if self.bbox else {}
        if "scan" not in self._cache:  # a worker, or before plan()
            return notes
        annotations = self._cache["annotations"]
        scan = self._cache["scan"]
        notes |= {
            "attribute_names": list(annotations.attribute_names),
            "annotated_per_split": _per_split(annotations.partitions.values()),
            "images_missing": len(scan["missing"]),
            "images_not_annotated": len(scan["unlisted"]),
        }
        # Name a few of each, when there are any, so the user can look.
        if scan["missing"]:
            notes["images_missing_examples"] = scan["missing"][:EXAMPLES_SHOWN]
        if scan["unlisted"]:
            notes["images_not_annotated_examples"] = scan["unlisted"][:EXAMPLES_SHOWN]
        return notes

    # -- helpers -----------------------------------------------------------------------------------
    def _layout(self) -> Layout:
        if self.source is None:
            raise DataError("The celeba dataset needs a 'source' folder. " + DOWNLOAD_HINT)
        if "layout" not in self._cache:
            self._cache["layout"] = locate(self.source, self.variant, need_bbox=self.bbox)
            self.image_dir = self._cache["layout"].image_dir
        return self._cache["layout"]

    def _image_dir(self) -> Path:
        # Normally set by plan() in the main process; found here when decode runs alone.
        if self.image_dir is None:
            found = find_image_dir(self.source, self.variant) if self.source else None
            if found is None:
                raise SkipExample(f"no {self.variant} image folder in {self.source}")
            self.image_dir = found
        return self.image_dir

    def _file_name(self, image_id: str) -> str:
        """The file of ``image_id`` in this variant's folder (PNGs share the ids' stems)."""
        if VARIANTS[self.variant] == ".jpg":
            return image_id
        return image_id[: -len(".jpg")] + VARIANTS[self.variant]

    def _annotations(self) -> Annotations:
        if "annotations" not in self._cache:
            self._cache["annotations"] = load_annotations(self._layout())
        return self._cache["annotations"]

    def _scan_images(self, annotations: Annotations) -> dict[str, list[str]]:
        """Compare the image folder with the annotations (names only, one listing)."""
        if "scan" in self._cache:
            return self._cache["scan"]
        layout = self._layout()
        extension = VARIANTS[self.variant]
        with os.scandir(layout.image_dir) as entries:
            on_disk = {e.name for e in entries if e.name.lower().endswith(extension)}
        expected = [self._file_name(i) for i in annotations.partitions]
        missing = [name for name in expected if name not in on_disk]
        if len(missing) == len(expected):
            raise DataError(f"None of the {len(expected)} images listed in "
                            f"{layout.partition_file.name} is in {layout.image_dir} (expected "
                            f"names like {expected[0]}): is this the {self.variant} folder, "
                            "and was it extracted completely?")
        unlisted = sorted(on_disk.difference(expected))
        self._cache["scan"] = {"missing": missing, "unlisted": unlisted}
        return self._cache["scan"]

    def _crop_region(self, item: CelebAItem, size: tuple[int, int]) -> Box:
        if item.box is None:
            return center_square(size, self.crop)
        region, clipped = clip_box(item.box, size)
        if clipped and region is not None:
            self.box_counts["bbox_clipped"] += 1
        if region is None:
            self.box_counts["bbox_degenerate"] += 1
            raise SkipExample(f"face box {item.box} of {item.filename} lies outside the "
                              f"{size[0]}x{size[1]} image (degenerate after clipping)")
        return square_around(region, size) if self.bbox_square else region


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


def _per_split(partitions: Iterable[int]) -> dict[str, int]:
    counts = dict.fromkeys(SPLITS, 0)
    for partition in partitions:
        counts[SPLITS[partition]] += 1
    return counts


def _checked_crop(variant: str, bbox: bool, crop: Any) -> int | None:
    """Validate ``crop`` against the variant; return the crop size to use."""
    if bbox and variant != "img_celeba":
        raise ValueError(
            f"bbox: true needs variant img_celeba: the boxes of {BBOX_FILE} are in the "
            f"coordinates of the in-the-wild images, not of the aligned 178x218 faces of "
            f"{variant}; use variant: img_celeba, or bbox: false (aligned faces are "
            f"center-cropped, crop: {DEFAULT_ALIGNED_CROP} by default)")
    if crop is not None and (not isinstance(crop, int) or isinstance(crop, bool) or crop < 1):
        raise ValueError(f"crop must be a positive number of pixels, got {crop!r}")
    if bbox:
        if crop is not None:
            raise ValueError("crop does not apply with bbox: true (the face box is the crop); "
                             "remove crop, or set bbox: false")
        return None
    if variant == "img_celeba":
        return crop
    if crop is not None and crop > ALIGNED_SIZE[0]:
        raise ValueError(f"crop must be at most {ALIGNED_SIZE[0]} (the aligned images are "
                         f"{ALIGNED_SIZE[0]}x{ALIGNED_SIZE[1]}), got {crop}; common choices "
                         "are 108, 140 and 178")
    return DEFAULT_ALIGNED_CROP if crop is None else crop


@hookimpl
def register_datasets(register: Any) -> None:
    """Register the ``celeba`` dataset."""
    register("celeba", CelebA, description="CelebA faces (in the wild with face boxes, or "
                                           "aligned JPEG/PNG) with 40 attributes and the "
                                           "official partitions")
