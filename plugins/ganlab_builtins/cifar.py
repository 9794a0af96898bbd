"""The built-in ``cifar10`` and ``cifar100`` datasets, from the official binary version.

CIFAR-10 and CIFAR-100 (Krizhevsky, "Learning Multiple Layers of Features
from Tiny Images", 2009; https://www.cs.toronto.edu/~kriz/cifar.html) are
published in three versions. ganlab reads the **binary version**, which
needs no unpickling:

- ``cifar-10-binary.tar.gz`` extracts to ``cifar-10-batches-bin/``:
  ``data_batch_1.bin`` .. ``data_batch_5.bin`` (train, 10,000 images each),
  ``test_batch.bin`` (10,000) and ``batches.meta.txt`` (the 10 class names,
  one a line). A record is 1 label byte then 3,072 pixel bytes.
- ``cifar-100-binary.tar.gz`` extracts to ``cifar-100-binary/``:
  ``train.bin`` (50,000), ``test.bin`` (10,000), ``fine_label_names.txt``
  (100 names) and ``coarse_label_names.txt`` (20). A record is the coarse
  label byte, the fine label byte, then 3,072 pixel bytes.

The pixels of a record are the red plane, then the green, then the blue,
each 32 rows of 32 bytes. ``source`` is the folder holding the extracted
folder, or the extracted folder itself. The Python version
(``cifar-10-batches-py``, ``cifar-100-python``: pickles) is refused, since
unpickling a file can run code; the message names the binary version.

The TFRecords hold both splits (``train`` and ``test``), whatever
``partition`` says: it only chooses what ``load()`` returns (``all`` = both).
Labels are kept in ``image/class/label``, the class names in the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganlab import hookimpl
from ganlab.data import ImageExample, TFRecordImageDataset
from ganlab.errors import DataError

SIDE = 32
PIXELS = 3 * SIDE * SIDE
PARTITIONS = ("train", "test", "all")
SPLIT_PARTITION = {"train": 0, "test": 1}
IMAGE_SIZES = (32, 64, 128)
RESAMPLING = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
}
DOWNLOAD_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"


@dataclass(frozen=True)
class Variant:
    """What differs between CIFAR-10 and CIFAR-100's binary versions.

    Attributes:
        name: ``cifar10`` or ``cifar100``.
        folder: The folder the binary archive extracts to.
        archive: The binary archive's file name.
        python_folder: The folder of the Python (pickle) version, refused.
        files: Split → its data files.
        label_bytes: Label bytes before each record's pixels.
        names_files: Kind of label → the file of its class names.
        classes: Kind of label → its number of classes.

    """

    name: str
    folder: str
    archive: str
    python_folder: str
    files: dict[str, tuple[str, ...]]
    label_bytes: int
    names_files: dict[str, str]
    classes: dict[str, int]

    @property
    def record_bytes(self) -> int:
        """Bytes of one record: the label bytes and the pixels."""
        return self.label_bytes + PIXELS

    @property
    def all_files(self) -> list[str]:
        """Every data file, train then test."""
        return [name for names in self.files.values() for name in names]


CIFAR10_FILES = Variant(
    "cifar10", "cifar-10-batches-bin", "cifar-10-binary.tar.gz", "cifar-10-batches-py",
    files={"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
           "test": ("test_batch.bin",)},
    label_bytes=1, names_files={"label": "batches.meta.txt"}, classes={"label": 10})
CIFAR100_FILES = Variant(
    "cifar100", "cifar-100-binary", "cifar-100-binary.tar.gz", "cifar-100-python",
    files={"train": ("train.bin",), "test": ("test.bin",)},
    label_bytes=2, names_files={"coarse": "coarse_label_names.txt",
                                "fine": "fine_label_names.txt"},
    classes={"coarse": 20, "fine": 100})
#: The Python version's file names (pickles), recognised to refuse them by name.
PICKLE_FILES = ("data_batch_1", "test_batch", "batches.meta", "train", "test", "meta")


class CIFAR(TFRecordImageDataset):
    """CIFAR-10 or CIFAR-100 (32 x 32 RGB, labelled), from the binary version files.

    Args:
        variant: ``cifar10`` or ``cifar100``.
        tfrecords: Output folder of the TFRecords.
        source: The folder holding ``cifar-10-batches-bin`` /
            ``cifar-100-binary``, or that folder itself.
        labels: CIFAR-100 only: ``fine`` (100 classes, default) or
            ``coarse`` (20 superclasses).
        partition: What ``load()`` returns: ``train``, ``test`` or ``all``.
        image_size: 32 (native), 64 or 128 (resized with ``resample``).
        resample: Resize filter: ``bicubic`` (default), ``bilinear``,
            ``lanczos`` or ``nearest``.
        on_error: ``skip`` or ``fail`` (files are checked whole, so there is
            nothing to skip per image).
        workers: Default number of writer processes for ``prepare``.

    """

    def __init__(self, *, variant: str, tfrecords: str | Path, source: str | Path,
                 labels: str = "fine", partition: str = "train", image_size: int = 32,
                 resample: str = "bicubic", on_error: str = "skip",
                 workers: int | None = None):
        kinds = {"cifar10": CIFAR10_FILES, "cifar100": CIFAR100_FILES}
        if variant not in kinds:
            raise ValueError(f"variant must be cifar10 or cifar100, got {variant!r}")
        self.variant = kinds[variant]
        label_kinds = ("label",) if variant == "cifar10" else ("fine", "coarse")
        labels = "label" if variant == "cifar10" else labels
        if labels not in label_kinds:
            raise ValueError(f"labels must be fine or coarse, got {labels!r}")
        if partition not in PARTITIONS:
            raise ValueError(f"partition must be one of {', '.join(PARTITIONS)}, "
                             f"got {partition!r}")
        if image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {image_size!r}")
        if resample not in RESAMPLING:
            raise ValueError(f"resample must be one of {', '.join(RESAMPLING)}, "
                             f"got {resample!r}")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        if source is None:
            raise ValueError(f"source must be the folder holding {self.variant.folder}")
        super().__init__(source=source, tfrecords=tfrecords, on_error=on_error)
        self.labels = labels
        self.partition = partition
        self.image_size = image_size
        self.resample = resample
        self.workers = workers
        self.image_shape = (image_size, image_size, 3)
        self.default_split = partition
        self.num_classes = self.variant.classes[labels]
        self._records: dict[str, np.ndarray] = {}

    # Worker processes get a copy of the dataset: send the settings, not the open files.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_records"] = {}
        return state

    # -- the contract -----------------------------------------------------------------------
    def options(self) -> Mapping[str, Any]:
        """What changes the records: the variant, the labels kept, the size and the filter."""
        options: dict[str, Any] = {"dataset": self.variant.name, "image_size": self.image_size,
                                   "resample": self.resample if self.image_size != SIDE
                                   else "none"}
        if self.variant is CIFAR100_FILES:
            options["labels"] = self.labels
        return options

    def source_available(self) -> bool:
        """Whether the binary version's files seem to be there."""
        folder = self._folder(strict=False)
        return folder is not None and all((folder / name).is_file()
                                          for name in self.variant.all_files)

    def source_fingerprint(self) -> str | None:
        """Names, sizes and times of the data and class-name files (``None``: not there)."""
        from ganlab.data import source_fingerprint

        folder = self._folder(strict=False)
        if folder is None or not self.source_available():
            return None
        names = [*self.variant.all_files, *self.variant.names_files.values()]
        return source_fingerprint([folder / n for n in names if (folder / n).is_file()],
                                  root=folder)

    def plan(self) -> Mapping[str, Sequence[Any]]:
        """``split → [(file, record index), ...]`` for train and test; reads the class names.

        Raises:
            DataError: The files are missing, of the Python version, or damaged.

        """
        folder = self._folder(strict=True)
        self.class_names = read_class_names(folder, self.variant, self.labels)
        plan: dict[str, list[tuple[str, int]]] = {}
        for split, names in self.variant.files.items():
            items = []
            for name in names:
                path = folder / name
                records = self._open(path)
                check_labels(records, self.variant, self.labels, path)
                items += [(str(path), index) for index in range(len(records))]
            plan[split] = items
        return plan

    def decode(self, item: tuple[str, int]) -> ImageExample:
        """Record ``index`` of ``file``, at the training size."""
        path, index = item
        record = self._open(Path(path))[index]
        pixels = record_image(record, self.variant.label_bytes)
        if self.image_size != SIDE:
            picture = Image.fromarray(pixels).resize((self.image_size, self.image_size),
                                                     RESAMPLING[self.resample])
            pixels = np.asarray(picture, dtype=np.uint8)
        split = "test" if Path(path).name in self.variant.files["test"] else "train"
        return ImageExample(image=pixels, filename=f"{Path(path).name}#{index}",
                            label=record_label(record, self.variant, self.labels),
                            partition=SPLIT_PARTITION[split])

    def describe_source(self) -> str:
        """What was read."""
        folder = self._folder(strict=False) or self.source
        kept = "" if self.variant is CIFAR10_FILES else f", {self.labels} labels"
        return f"{self.variant.name} binary version in {folder}{kept}"

    # -- finding and reading the files -----------------------------------------------------
    def _folder(self, strict: bool) -> Path | None:
        """The folder of the binary files: ``source`` or its ``cifar-*`` child.

        Raises:
            DataError: (``strict``) missing, the Python version, or incomplete.

        """
        for candidate in (self.source / self.variant.folder, self.source):
            if candidate.is_dir() and any((candidate / name).is_file()
                                          for name in self.variant.all_files):
                if strict:
                    self._check_complete(candidate)
                return candidate
        if strict:
            raise DataError(self._missing_message())
        return None

    def _check_complete(self, folder: Path) -> None:
        missing = [name for name in self.variant.all_files if not (folder / name).is_file()]
        if missing:
            raise DataError(f"{folder} lacks {', '.join(missing)} of the {self.variant.name} "
                            f"binary version; extract the whole {self.variant.archive} again "
                            f"(from {DOWNLOAD_PAGE}).")

    def _missing_message(self) -> str:
        variant = self.variant
        pickles = self._python_version()
        if pickles is not None:
            return (f"{pickles} holds the Python version of {variant.name} (pickled files such "
                    "as data_batch_1), which ganlab does not read: unpickling a file can run "
                    f"code. Download the binary version, {variant.archive}, from "
                    f"{DOWNLOAD_PAGE}, extract it and set the dataset's `source` to the "
                    f"folder holding {variant.folder}/.")
        if not self.source.exists():
            where = f"{self.source} does not exist"
        else:
            where = f"{self.source} holds neither {variant.folder}/ nor its files"
        return (f"No {variant.name} binary files: {where}. Download {variant.archive} (the "
                f"binary version) from {DOWNLOAD_PAGE}, extract it, and set the dataset's "
                f"`source` to the folder holding {variant.folder}/ (or to that folder); it "
                f"holds {', '.join(variant.all_files)}.")

    def _python_version(self) -> Path | None:
        """The folder of the Python (pickle) version, when that is what ``source`` has."""
        for candidate in (self.source / self.variant.python_folder, self.source):
            if candidate.is_dir() and any((candidate / name).is_file()
                                          for name in PICKLE_FILES):
                return candidate
        return None

    def _open(self, path: Path) -> np.ndarray:
        """The records of ``path``, ``(n, record_bytes)`` uint8 (memory-mapped, once per process).

        Raises:
            DataError: Empty, or not a whole number of records.

        """
        key = str(path)
        if key not in self._records:
            self._records[key] = read_records(path, self.variant.record_bytes)
        return self._records[key]


def read_records(path: Path, record_bytes: int) -> np.ndarray:
    """The fixed-size records of a binary CIFAR file, memory-mapped.

    Raises:
        DataError: Unreadable, empty, or its size is not a multiple of the
            record size (a truncated download, or the other CIFAR's file).

    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"Cannot read the CIFAR file {path}: {exc.strerror or exc}.") from None
    if size == 0 or size % record_bytes:
        whole, extra = divmod(size, record_bytes)
        raise DataError(f"{path} has {size:,} bytes, not a whole number of {record_bytes}-byte "
                        f"records ({whole:,} records and {extra} bytes over): it is truncated, "
                        "or belongs to the other CIFAR (CIFAR-10 records have 1 label byte, "
                        "CIFAR-100 records 2). Extract the archive again.")
    try:
        return np.memmap(path, dtype=np.uint8, mode="r", shape=(size // record_bytes,
                                                                 record_bytes))
    except (OSError, ValueError) as exc:
        raise DataError(f"Cannot read the CIFAR file {path}: {exc}.") from None


def record_image(record: np.ndarray, label_bytes: int) -> np.ndarray:
    """The ``(32, 32, 3)`` uint8 image of one record (planes R, G, B, each row-major)."""
    planes = np.asarray(record[label_bytes:]).reshape(3, SIDE, SIDE)
    return np.ascontiguousarray(planes.transpose(1, 2, 0))


def record_label(record: np.ndarray, variant: Variant, labels: str) -> int:
    """The class of one record: CIFAR-100 has the coarse byte first, then the fine one."""
    return int(record[1] if labels == "fine" else record[0])


def check_labels(records: np.ndarray, variant: Variant, labels: str, path: Path) -> None:
    """Refuse label bytes beyond the classes (a damaged file, or the other CIFAR's).

    Raises:
        DataError: A label is out of range.

    """
    column = 1 if labels == "fine" else 0
    values = np.asarray(records[:, column])
    count = variant.classes[labels]
    bad = np.flatnonzero(values >= count)
    if bad.size:
        kind = "" if labels == "label" else f"{labels} "
        raise DataError(f"{path}: record {int(bad[0])} has {kind}label {int(values[bad[0]])}, "
                        f"but {variant.name} has {count} {kind}classes: the file is damaged "
                        "or is not a binary-version file of this CIFAR.")


def read_class_names(folder: Path, variant: Variant, labels: str) -> list[str] | None:
    """The class names of the names file, one a line (``None``: no file; named by index).

    Raises:
        DataError: The file has another number of names than classes.

    """
    path = folder / variant.names_files[labels]
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    count = variant.classes[labels]
    if len(names) != count or len(set(names)) != count:
        kind = "" if labels == "label" else f"{labels} "
        raise DataError(f"{path} names {len(names)} classes ({len(set(names))} distinct), but "
                        f"{variant.name} has {count} {kind}classes: the file is damaged or "
                        "belongs to another dataset. Extract it again, or delete it to name "
                        "the classes by number.")
    return names


class CIFAR10(CIFAR):
    """The ``cifar10`` dataset: 10 named classes (see :class:`CIFAR` for the params)."""

    def __init__(self, *, tfrecords: str | Path, source: str | Path, partition: str = "train",
                 image_size: int = 32, resample: str = "bicubic", on_error: str = "skip",
                 workers: int | None = None):
        super().__init__(variant="cifar10", tfrecords=tfrecords, source=source,
                         partition=partition, image_size=image_size, resample=resample,
                         on_error=on_error, workers=workers)


class CIFAR100(CIFAR):
    """The ``cifar100`` dataset: 100 fine or 20 coarse named classes (see :class:`CIFAR`)."""

    def __init__(self, *, tfrecords: str | Path, source: str | Path, labels: str = "fine",
                 partition: str = "train", image_size: int = 32, resample: str = "bicubic",
                 on_error: str = "skip", workers: int | None = None):
        super().__init__(variant="cifar100", tfrecords=tfrecords, source=source, labels=labels,
                         partition=partition, image_size=image_size, resample=resample,
                         on_error=on_error, workers=workers)


@hookimpl
def register_datasets(register: Any) -> None:
    """Register ``cifar10`` and ``cifar100``."""
    register("cifar10", CIFAR10, description="CIFAR-10 (binary version files), 32x32 RGB, "
                                             "10 named classes")
    register("cifar100", CIFAR100, description="CIFAR-100 (binary version files), 32x32 RGB, "
                                               "100 fine or 20 coarse named classes")
