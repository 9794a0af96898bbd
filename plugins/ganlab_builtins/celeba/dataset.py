"""The ``celeba`` dataset: CelebA images and annotations as ganlab TFRecords."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image

from ganlab import DataError, params
from ganlab.data import ImageExample, SkipExample, TFRecordImageDataset, source_fingerprint
from ganlab.data.imagefile import open_image
from ganlab_builtins.celeba.annotations import (
    Annotations,
    decode_attributes,
    load_annotations,
    per_split,
)
from ganlab_builtins.celeba.discovery import Layout, find_image_dir, locate
from ganlab_builtins.celeba.facts import (
    ALIGNED_SIZE,
    BBOX_FILE,
    BOX_COUNTS,
    DEFAULT_ALIGNED_CROP,
    DOWNLOAD_HINT,
    EXAMPLES_SHOWN,
    FORMAT_VERSION,
    IMAGE_SIZES,
    PARTITIONS,
    RESAMPLE,
    RESAMPLE_NAME,
    SPLITS,
    VARIANTS,
    Box,
)
from ganlab_builtins.celeba.geometry import center_square, clip_box, square_around


# -- images ----------------------------------------------------------------------------------------
def read_rgb(path: Path) -> Image.Image:
    """Decode an image file fully to RGB, within ganlab's pixel limit.

    :func:`ganlab.data.imagefile.open_image` decodes every byte now (a
    truncated file is noticed here) and skips images over
    ``MAX_IMAGE_PIXELS`` before decoding them (a decompression bomb).

    Raises:
        SkipExample: The file is missing, empty, not an image, too large,
            truncated or corrupt.

    """
    with open_image(path) as image:
        return image.convert("RGB")



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

    def source_fingerprint(self) -> str | None:
        """The annotation files' content (sha256) and the variant's images (names, sizes, times).

        The image folder is listed once (202,599 files take about a second);
        ``None`` when the source is not there.
        """
        try:
            layout = self._layout()
        except DataError:
            return None
        annotations = [path for path in (layout.partition_file, layout.attr_file,
                                         layout.bbox_file) if path is not None]
        extension = VARIANTS[self.variant]
        with os.scandir(layout.image_dir) as entries:
            images = sorted(entry.path for entry in entries
                            if entry.name.lower().endswith(extension) and entry.is_file())
        return " + ".join((source_fingerprint(annotations, root=self.source, hash_content=True),
                           source_fingerprint(images, root=self.source)))

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
            "annotated_per_split": per_split(annotations.partitions.values()),
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


