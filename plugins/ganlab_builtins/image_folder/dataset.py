"""The ``image_folder`` dataset: any folder of images as ganlab TFRecords."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ganlab import DataError, params
from ganlab.contracts import MAX_CLASSES, check_class_names
from ganlab.data import ImageExample, SkipExample, TFRecordImageDataset
from ganlab.data.imagefile import MAX_IMAGE_PIXELS, open_image
from ganlab_builtins.image_folder.convert import (
    RESAMPLING,
    RESIZE_POLICIES,
    colour_code,
    parse_colour,
    training_array,
    upright,
)
from ganlab_builtins.image_folder.scan import (
    SPLIT_PARTITION,
    Layout,
    SourceFile,
    Walk,
    files_fingerprint,
    find_layout,
    scan_files,
)

#: Pillow formats read; a file of any other format is skipped as "not an image"
#: (never handed to Pillow's other plugins: EPS would run Ghostscript). JPEG
#: includes the MPO files many cameras write.
FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
LABELS: tuple[str, ...] = ("auto", "folders", "none")
PARTITIONS: tuple[str, ...] = ("train", "valid", "test", "all")
CHANNELS: tuple[int, ...] = (1, 3)
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 4, 2048
#: Bumped when the bytes written for the same options change.
FORMAT_VERSION = 1
#: Counted by ``decode`` (in whichever process writes the shard), reported as notes.
COUNTERS: tuple[str, ...] = ("images_upscaled", "exif_rotated")
#: How many names a note lists (the manifest's ``skipped`` lists every skipped file).
EXAMPLES_SHOWN = 20


class ImageItem(NamedTuple):
    """One planned file, small and picklable.

    Attributes:
        path: Relative to the source (``/`` separators); the name the report uses.
        label: Class index, ``-1`` when unlabelled.
        partition: 0/1/2 for train/valid/test.
        problem: Why the file cannot be used, when the walk already knows
            (a FIFO, a broken link, an image outside the class folders):
            ``decode`` skips it without opening it.

    """

    path: str
    label: int = -1
    partition: int = 0
    problem: str | None = None


class ImageFolder(TFRecordImageDataset):
    """Every image under a folder (PNG, JPEG, WebP, BMP, TIFF, GIF), recursively.

    Args:
        source: The folder of images. Its ``train/``, ``valid/`` (or ``val/``)
            and ``test/`` sub-folders are the splits when it has a ``train/``
            folder; else every image is in one pool, split by ``valid_fraction``
            and ``test_fraction``.
        tfrecords: Output folder of the shards and ``dataset.json``.
        image_size: Side of the stored square images, 4 to 2048 (default 64).
        channels: 3 (RGB, default) or 1 (gray).
        labels: ``auto`` (default: class labels when the images sit in two or
            more sub-folders and none directly in the folder), ``folders`` (one
            sub-folder per class, the ``ImageFolder`` convention; classes sorted
            by name) or ``none``.
        partition: What ``load()`` returns by default: ``train`` (default),
            ``valid``, ``test`` or ``all``. Every split is always written.
        valid_fraction: Without split folders, the share of each class (or of
            all images) held out as the ``valid`` split (default 0.1).
        test_fraction: Likewise for a ``test`` split (default 0).
        seed: Chooses the held-out images: each class's files are ordered by
            a hash of the seed and their path, and the first
            ``round(n * fraction)`` are held out (the same on every machine).
        resize: ``center_crop`` (default: the centred square of the short side),
            ``pad`` (the whole image on the background colour) or ``stretch``.
        resample: Pillow filter: ``lanczos``, ``bicubic`` (default),
            ``bilinear``, ``nearest`` or ``box``.
        background: Colour under transparent pixels and around padded images:
            ``white`` (default), ``black``, ``#rrggbb``, any CSS colour name.
        on_error: ``skip`` (default: skip and report unusable files) or ``fail``.
        workers: Processes ``prepare`` uses (default: from the image count and cores).

    """

    def __init__(self, *, source: str | Path | None = None, tfrecords: str | Path,
                 image_size: int = 64, channels: int = 3, labels: str = "auto",
                 partition: str = "train", valid_fraction: float = 0.1,
                 test_fraction: float = 0.0, seed: int = 0, resize: str = "center_crop",
                 resample: str = "bicubic", background: str = "white",
                 on_error: str = "skip", workers: int | None = None):
        if source is None:
            raise ValueError("source is required: the folder that holds your images")
        super().__init__(source=source, tfrecords=tfrecords, on_error=on_error)
        self.image_size = params.positive_int("image_size", image_size)
        if not MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE:
            raise ValueError(f"image_size must be from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE} "
                             f"pixels, got {image_size}")
        self.channels = params.choice("channels", channels, CHANNELS)
        self.labels = params.choice("labels", labels, LABELS)
        self.partition = params.choice("partition", partition, PARTITIONS)
        self.valid_fraction = params.fraction("valid_fraction", valid_fraction)
        self.test_fraction = params.fraction("test_fraction", test_fraction)
        if self.valid_fraction + self.test_fraction >= 1.0:
            raise ValueError(f"valid_fraction + test_fraction must be below 1 (some images "
                             f"must train), got {valid_fraction} + {test_fraction}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be a whole number, got {seed!r}")
        self.seed = seed
        self.resize = params.choice("resize", resize, RESIZE_POLICIES)
        self.resample = params.choice("resample", resample, tuple(RESAMPLING))
        self.background = parse_colour(background)
        if workers is not None:
            params.positive_int("workers", workers)
        self.workers = workers
        self.image_shape = (self.image_size, self.image_size, self.channels)
        # The core expands ``all`` to every stored split.
        self.default_split = partition
        # Counted by decode in whichever process runs it; the writer adds up each
        # shard's increase (see prepare_notes).
        self.counts: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self._cache: dict[str, Any] = {}
        try:
            self._declare_classes()
        except DataError:  # plan() raises it again, with the prepare
            pass

    # Workers get the dataset pickled: leave the (large) scan behind.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = {}
        return state

    # -- contract ----------------------------------------------------------------------------------
    def options(self) -> Mapping[str, Any]:
        """Everything that changes the stored bytes (not ``partition``: all splits are written).

        Independent of what the folder holds (so finished TFRecords load
        without it); the folder's content is covered by :meth:`source_fingerprint`.
        """
        return {
            "dataset": "image_folder",
            "image_size": self.image_size,
            "channels": self.channels,
            "labels": self.labels,
            "valid_fraction": self.valid_fraction,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
            "resize": self.resize,
            "resample": self.resample,
            "background": colour_code(self.background),
            "max_image_pixels": MAX_IMAGE_PIXELS,
            "format_version": FORMAT_VERSION,
        }

    def source_available(self) -> bool:
        """The source is a folder."""
        return self.source is not None and self.source.is_dir()

    def source_fingerprint(self) -> str | None:
        """Relative names, sizes and modification times of every file the prepare considers.

        ``None`` when the source folder is not there (finished TFRecords are
        then used as they are).
        """
        if not self.source_available():
            return None
        walks = self._walks().values()
        # Entries that are not regular files (broken links, FIFOs) count by name alone.
        files = [found for walk in walks for found in walk.files]
        files += [SourceFile(path, -1, 0) for walk in walks for path, _ in walk.odd]
        return files_fingerprint(sorted(files, key=lambda found: found.path))

    def plan(self) -> Mapping[str, Sequence[ImageItem]]:
        """Every file under the split folders, per split, in a seeded shuffled order.

        The order mixes the classes within every shard; files the walk
        already knows to be unusable stay in the plan so that the report
        names each of them.

        Raises:
            DataError: The source is missing or unreadable, has no files, or
                lacks the split that ``partition`` asks for.

        """
        layout = self._layout()
        self._declare_classes(layout)
        walks = self._walks()
        pools = {split: self._items(layout, split, walk) for split, walk in walks.items()}
        if layout.seeded:
            pools = self._seeded_split(pools["train"])
        plan = {split: sorted(items, key=self._shuffle_key) for split, items in pools.items()
                if items}
        if not plan:
            raise DataError(f"No files in {self.source} (sub-folders included"
                            + (f"; {len(self._unreadable())} unreadable folders"
                               if self._unreadable() else "")
                            + "). Set the dataset's `source` to the folder of your images.")
        if self.partition != "all" and self.partition not in plan:
            raise DataError(f"partition is '{self.partition}' but {self.source} gives no "
                            f"{self.partition} images (it has: {', '.join(plan)}). "
                            + self._split_hint())
        return plan

    def decode(self, item: ImageItem) -> ImageExample:
        """Read one file and make it a training image (runs in a worker process).

        Raises:
            SkipExample: The file is unusable (the message says why).

        """
        if item.problem:
            raise SkipExample(item.problem)
        size = self.image_size
        # A JPEG may decode at 1/2, 1/4 or 1/8 scale, down to twice the training size.
        with open_image(self.source / item.path, formats=FORMATS,
                        draft=(2 * size, 2 * size)) as image:
            if upright(image):
                self.counts["exif_rotated"] += 1
            if _upscaled(image.size, size, self.resize):
                self.counts["images_upscaled"] += 1
            try:
                pixels = training_array(image, size=size, channels=self.channels,
                                        policy=self.resize, resample=self.resample,
                                        background=self.background)
            except (ValueError, OSError) as exc:
                raise SkipExample(f"cannot convert its {image.mode} pixels: {exc}") from None
        return ImageExample(image=pixels, filename=item.path, label=item.label,
                            partition=item.partition)

    def describe_source(self) -> str:
        """What was read, for the manifest."""
        try:
            layout = self._layout()
        except DataError:
            return f"image folder {self.source} (not found)"
        splits = ("split folders " + ", ".join(f"{name}/" for name in (
            folder.name for folder in layout.split_folders.values()))
                  if not layout.seeded else
                  f"seeded split: valid {self.valid_fraction:g}, test {self.test_fraction:g}, "
                  f"seed {self.seed}")
        classes = (f"{len(layout.class_names)} class folders" if layout.labelled
                   else "no labels")
        return f"image folder {self.source} ({splits}; {classes}; resize {self.resize})"

    def prepare_notes(self) -> dict[str, Any]:
        """Decode counts, and after :meth:`plan` what the walk found.

        ``images_upscaled`` (smaller than the training size) and
        ``exif_rotated`` are counted by ``decode``; ``unreadable_folders``,
        ``folders_not_followed`` (symbolic-link loops and folders reached a
        second time), ``hidden_entries`` and ``ignored_outside_splits`` come
        from the walk. Cheap: it never scans anything.
        """
        notes: dict[str, Any] = dict(self.counts)
        if "walks" not in self._cache:  # a worker, or before plan()
            return notes
        layout, walks = self._cache["layout"], self._cache["walks"]
        notes["layout"] = ("seeded split" if layout.seeded else "split folders")
        notes["labels"] = "class folders" if layout.labelled else "none"
        unreadable = self._unreadable()
        loops = [path for walk in walks.values() for path in walk.loops]
        hidden = sum(walk.hidden for walk in walks.values())
        if unreadable:
            _listed(notes, "unreadable_folders",
                    [f"{path} ({reason})" for path, reason in unreadable])
        if loops:
            _listed(notes, "folders_not_followed", loops)
        if hidden:
            notes["hidden_entries"] = hidden
        if layout.outside:
            notes["ignored_outside_splits"] = list(layout.outside[:EXAMPLES_SHOWN])
        return notes

    # -- helpers -----------------------------------------------------------------------------------
    def _exclude(self) -> frozenset[str]:
        """The TFRecord output, never read as images even when it sits inside the source."""
        return frozenset({os.path.realpath(self.tfrecords)})

    def _layout(self) -> Layout:
        if "layout" not in self._cache:
            assert self.source is not None
            self._cache["layout"] = find_layout(self.source, self.labels, self._exclude())
        return self._cache["layout"]

    def _declare_classes(self, layout: Layout | None = None) -> None:
        """Set ``num_classes`` and ``class_names`` from the class folders.

        Before :meth:`plan` (from ``__init__``), only when the source is
        there: without it, the finished TFRecords' manifest says them.
        """
        if self.labels == "none":
            self.num_classes, self.class_names = 0, None
            return
        if layout is None:
            try:
                layout = self._layout() if self.source_available() else None
            except DataError:  # plan() raises it again, with the prepare
                layout = None
            if layout is None:
                return
        names = list(layout.class_names)
        if len(names) > MAX_CLASSES:
            raise DataError(f"{self.source} has {len(names)} class folders, more than the "
                            f"{MAX_CLASSES} ganlab supports. Set `labels: none`, or group them.")
        try:
            check_class_names(names, len(names))
        except ValueError as exc:
            raise DataError(f"The class folders of {self.source} cannot name classes: {exc}. "
                            "Rename the folder, or set `labels: none`.") from None
        self.num_classes = len(names)
        self.class_names = names or None

    def _walks(self) -> dict[str, Walk]:
        """Split → the walk of its folder (one walk per split folder, each real folder once)."""
        if "walks" not in self._cache:
            layout, exclude, seen = self._layout(), self._exclude(), set()
            assert self.source is not None
            self._cache["walks"] = {split: scan_files(self.source, folder, exclude, seen)
                                    for split, folder in layout.split_folders.items()}
        return self._cache["walks"]

    def _unreadable(self) -> list[tuple[str, str]]:
        return [entry for walk in self._walks().values() for entry in walk.unreadable]

    def _items(self, layout: Layout, split: str, walk: Walk) -> list[ImageItem]:
        """The items of one split folder, labelled by their class folder."""
        folder = layout.split_folders[split]
        prefix = _relative_prefix(folder, self.source)
        partition = SPLIT_PARTITION[split]
        index = {name: label for label, name in enumerate(layout.class_names)}
        items = [ImageItem(path, -1, partition, problem) for path, problem in walk.odd]
        for found in walk.files:
            if not layout.labelled:
                items.append(ImageItem(found.path, -1, partition))
                continue
            parts = found.path[len(prefix):].split("/")
            if len(parts) < 2:
                items.append(ImageItem(found.path, -1, partition,
                                       "not inside a class folder (labels come from "
                                       "sub-folders: move it into one, or set labels: none)"))
            else:
                items.append(ImageItem(found.path, index[parts[0]], partition))
        return items

    def _shuffle_key(self, item: ImageItem) -> str:
        """A seeded hash of the path: a stable order, unrelated to names and classes."""
        return hashlib.sha256(f"{self.seed}\0{item.path}".encode("utf-8",
                                                                  "surrogateescape")).hexdigest()

    def _seeded_split(self, pool: list[ImageItem]) -> dict[str, list[ImageItem]]:
        """Cut ``valid``/``test`` from each class by the fractions (first in the seeded order)."""
        splits: dict[str, list[ImageItem]] = {"train": [], "valid": [], "test": []}
        by_label: dict[int, list[ImageItem]] = {}
        for item in sorted(pool, key=self._shuffle_key):
            by_label.setdefault(item.label, []).append(item)
        for members in by_label.values():
            usable = [item for item in members if item.problem is None]
            valid = round(len(usable) * self.valid_fraction)
            test = round(len(usable) * self.test_fraction)
            parts = {"valid": usable[:valid], "test": usable[valid:valid + test],
                     "train": usable[valid + test:]
                     + [item for item in members if item.problem is not None]}
            for split, items in parts.items():
                partition = SPLIT_PARTITION[split]
                splits[split] += [item._replace(partition=partition) for item in items]
        return splits

    def _split_hint(self) -> str:
        if self._layout().seeded:
            return ("Without train/ valid/ test/ folders the held-out splits come from "
                    "valid_fraction and test_fraction: raise the one you need above 0, or use "
                    "partition: train.")
        return "Add that split's folder beside train/, or choose another partition."


def _listed(notes: dict[str, Any], key: str, names: list[str]) -> None:
    """``notes[key]``: the first names; with ``<key>_count`` when there are more."""
    notes[key] = names[:EXAMPLES_SHOWN]
    if len(names) > EXAMPLES_SHOWN:
        notes[f"{key}_count"] = len(names)


def _upscaled(shape: tuple[int, int], size: int, policy: str) -> bool:
    """Whether ``policy`` enlarges an image of ``shape`` to reach ``size``."""
    if policy == "center_crop":
        return min(shape) < size
    if policy == "pad":
        return max(shape) < size
    return min(shape) < size


def _relative_prefix(folder: Path, source: Path | None) -> str:
    """``"train/"`` for a split folder, ``""`` for the source itself."""
    assert source is not None
    relative = folder.relative_to(source).as_posix()
    return "" if relative == "." else f"{relative}/"
