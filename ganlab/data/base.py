"""The dataset contract and the base class most dataset plugins subclass.

A dataset plugin says *what* its raw files are (``plan``) and *how* to turn
one into a training-size image (``decode``); the core does the rest in one
way for every dataset: sharded, parallel, atomic TFRecord writing with a
manifest (:mod:`ganlab.data.writer`) and the ``tf.data`` reader
(:mod:`ganlab.data.reader`).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ImageExample:
    """One decoded example, ready to be written.

    Attributes:
        image: ``uint8`` array ``(h, w, c)`` already at the training size.
        filename: Source file name (or ``source#index`` for packed sources).
        label: Class label, ``-1`` when there is none.
        attributes: Per-image attributes (CelebA's 40 ``1``/``-1`` values).
        partition: Official partition index (CelebA 0/1/2), ``-1`` when none.
    """

    image: np.ndarray
    filename: str
    label: int = -1
    attributes: Sequence[int] = ()
    partition: int = -1


class SkipExample(Exception):
    """Raised by :meth:`TFRecordImageDataset.decode` for a bad source image.

    The writer records the filename and reason in the manifest and goes on
    (``on_error: skip``) or stops (``on_error: fail``).
    """


@dataclass
class PrepareReport:
    """What a ``prepare`` did, for the CLI to print.

    Attributes:
        reused: The finished TFRecords with the same fingerprint were reused.
        counts: Examples written per split.
        skipped: ``(filename, reason)`` of skipped source images.
        notes: Other counts worth telling (e.g. clipped bounding boxes).
        seconds: Wall time.
    """

    reused: bool
    counts: dict[str, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


class TFRecordImageDataset(abc.ABC):
    """Base class for datasets stored in ganlab's TFRecord format.

    Subclasses implement :meth:`options`, :meth:`source_available`,
    :meth:`plan`, :meth:`decode` and :meth:`describe_source`, and set
    :attr:`image_shape` and :attr:`default_split`. Instances are pickled to
    worker processes during ``prepare``, so keep their state plain.

    A dataset with class labels (``ImageExample.label`` ``0 .. K-1``) says
    so with :attr:`num_classes` and, optionally, :attr:`class_names`: as
    class attributes (MNIST: ``num_classes = 10``), or assigned on ``self``
    in ``__init__`` or in :meth:`plan` (when the classes are found in the
    source). ``prepare`` writes both into the manifest; without them set,
    they are read back from the manifest of the finished TFRecords, so a
    prepared dataset knows its classes when the source is gone.

    Args:
        source: Root folder (or file) of the raw data.
        tfrecords: Output folder of the shards and ``dataset.json``.
        on_error: ``skip`` (record and skip unreadable images) or ``fail``.
    """

    #: ``(height, width, channels)`` of the stored and loaded images.
    image_shape: tuple[int, int, int]
    #: The split ``load()`` returns when none is named.
    default_split: str

    def __init__(self, *, source: str | Path | None, tfrecords: str | Path, on_error: str = "skip"):
        if on_error not in ("skip", "fail"):
            raise ValueError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
        self.source = Path(source).expanduser() if source is not None else None
        self.tfrecords = Path(tfrecords).expanduser()
        self.on_error = on_error

    # -- what subclasses provide -------------------------------------------------
    @abc.abstractmethod
    def options(self) -> Mapping[str, Any]:
        """Every option that changes the bytes written; fingerprinted in the manifest."""

    @abc.abstractmethod
    def source_available(self) -> bool:
        """Whether the raw files seem to be there (cheap check, no full scan)."""

    @abc.abstractmethod
    def plan(self) -> Mapping[str, Sequence[Any]]:
        """Split name → picklable work items (one per image), in a stable order.

        Raises:
            DataError: The source is missing or inconsistent (say what to do).
        """

    @abc.abstractmethod
    def decode(self, item: Any) -> ImageExample:
        """Turn one work item into an :class:`ImageExample` (runs in workers).

        Raises:
            SkipExample: The image is unreadable or unusable.
        """

    @abc.abstractmethod
    def describe_source(self) -> str:
        """One line saying what was read, stored in the manifest."""

    def prepare_notes(self) -> dict[str, Any]:
        """Extra counts for the manifest and report (override to add some)."""
        return {}

    def source_fingerprint(self) -> str | None:
        """A fingerprint of the raw files' content, recorded in the manifest.

        When it differs from the one recorded, the TFRecords are stale:
        ``prepare`` refuses to reuse them (``--overwrite`` rewrites them), a
        run does not train on them, the evaluation cache does not serve
        their statistics. Override it to cover exactly the files ``plan``
        reads, with :func:`ganlab.data.source_fingerprint` (a content hash
        where the files are few). The default covers every file under
        ``source`` (names, sizes, modification times).

        Returns:
            The fingerprint, or ``None`` when the source is not there (the
            TFRecords are then used as they are) or the dataset has none.

        """
        from ganlab.data.fingerprint import source_fingerprint

        if self.source is None or not self.source.exists():
            return None
        return source_fingerprint([self.source], root=self.source)

    # -- classes -----------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Classes of the labels (``0``: none): as set, else from the manifest."""
        if "_num_classes" in self.__dict__:
            return self.__dict__["_num_classes"]
        return int(self._stored_classes().get("num_classes") or 0)

    @num_classes.setter
    def num_classes(self, value: int) -> None:
        self.__dict__["_num_classes"] = value

    @property
    def class_names(self) -> list[str] | None:
        """One name per class: as set, else from the manifest (``None``: ``"0" .. "K-1"``)."""
        if "_class_names" in self.__dict__:
            return self.__dict__["_class_names"]
        return self._stored_classes().get("class_names")

    @class_names.setter
    def class_names(self, value: Sequence[str] | None) -> None:
        self.__dict__["_class_names"] = None if value is None else list(value)

    def _stored_classes(self) -> dict[str, Any]:
        """``num_classes`` and ``class_names`` of the finished TFRecords (``{}``: none)."""
        from ganlab.errors import DataError

        try:
            manifest = self.manifest()
        except DataError:
            return {}
        return {key: manifest[key] for key in ("num_classes", "class_names") if key in manifest}

    # -- what the core provides --------------------------------------------------
    def is_prepared(self) -> bool:
        """Finished TFRecords with this dataset's fingerprint exist."""
        from ganlab.data.writer import is_prepared

        return is_prepared(self)

    def prepare(self, *, workers: int | None = None, overwrite: bool = False) -> PrepareReport:
        """Write the TFRecords (or reuse finished ones with the same fingerprint)."""
        from ganlab.data.writer import prepare

        return prepare(self, workers=workers, overwrite=overwrite)

    def manifest(self) -> dict[str, Any]:
        """The ``dataset.json`` manifest of the finished TFRecords."""
        from ganlab.data.manifest import read_manifest

        return read_manifest(self.tfrecords)

    def num_examples(self, split: str | None = None) -> int:
        """Number of stored examples in ``split`` (default: the training split)."""
        from ganlab.data.manifest import split_count

        split = split or self.default_split
        count = split_count(self.manifest(), split)
        if count == 0:
            from ganlab.errors import DataError

            raise DataError(f"The '{split}' split of the TFRecords in {self.tfrecords} holds no "
                            "images (its manifest records 0): the data is empty. Check the "
                            "dataset's source and prepare again with `ganlab prepare "
                            "EXPERIMENT.yaml --overwrite`.")
        return count

    def load(
        self,
        split: str | None = None,
        *,
        with_metadata: bool = False,
        deterministic: bool = False,
        with_labels: bool = False,
    ) -> Any:
        """An unbatched ``tf.data.Dataset`` of float32 images in [-1, 1].

        Args:
            split: Split name; the training split when ``None``.
            with_metadata: Yield dicts (``image``, ``label``, ``attributes``,
                ``filename``, ``partition``) instead of bare images.
            deterministic: Keep record order fixed (for reproducible runs).
            with_labels: Yield ``(image, label)`` pairs (int32 class labels).
        """
        from ganlab.data.reader import load_split

        records = load_split(
            self, split or self.default_split, with_metadata=with_metadata or with_labels,
            deterministic=deterministic,
        )
        if not with_labels:
            return records
        import tensorflow as tf

        return records.map(lambda record: (record["image"], tf.cast(record["label"], tf.int32)))
