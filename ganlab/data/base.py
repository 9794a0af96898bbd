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
    ) -> Any:
        """An unbatched ``tf.data.Dataset`` of float32 images in [-1, 1].

        Args:
            split: Split name; the training split when ``None``.
            with_metadata: Yield dicts (``image``, ``label``, ``attributes``,
                ``filename``, ``partition``) instead of bare images.
            deterministic: Keep record order fixed (for reproducible runs).
        """
        from ganlab.data.reader import load_split

        return load_split(
            self, split or self.default_split, with_metadata=with_metadata,
            deterministic=deterministic,
        )
