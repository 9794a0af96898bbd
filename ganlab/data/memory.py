"""Datasets held in memory: synthetic images, or arrays computed by the plugin.

Nothing is written to disk and nothing needs preparing: subclass
:class:`InMemoryDataset`, set ``image_shape`` and return each split's images
from :meth:`InMemoryDataset.images` (and, for a dataset with classes, set
``num_classes``, optionally ``class_names``, and return the labels from
:meth:`InMemoryDataset.labels`).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import numpy as np


class InMemoryDataset(abc.ABC):
    """Base class for datasets whose images are a numpy array (``source`` is ``None``).

    Subclasses set :attr:`image_shape` and implement :meth:`images`. The
    array may be ``uint8`` in [0, 255] (scaled to [-1, 1] here) or floating
    point already in [-1, 1].

    A dataset with classes sets :attr:`num_classes` (and optionally
    :attr:`class_names`) and implements :meth:`labels`; it can then train a
    class-conditional GAN (``load(split, with_labels=True)``).
    """

    #: ``(height, width, channels)`` of the images.
    image_shape: tuple[int, int, int]
    #: The split ``load()`` returns when none is named.
    default_split: str = "train"
    #: There are no raw files.
    source: None = None
    #: Classes of :meth:`labels` (``0``: the images have none).
    num_classes: int = 0
    #: One name per class (``None``: ``"0" .. "K-1"``).
    class_names: Sequence[str] | None = None

    @abc.abstractmethod
    def images(self, split: str) -> np.ndarray:
        """All images of ``split``, ``(n, h, w, c)``, uint8 or float in [-1, 1]."""

    def labels(self, split: str) -> np.ndarray | None:
        """The class of each image of ``split``, ``(n,)`` integers ``0 .. K-1`` (``None``: none)."""
        return None

    def describe(self) -> str:
        """One line for messages."""
        return f"the in-memory {type(self).__name__} dataset"

    def prepare(self, *, workers: int | None = None, overwrite: bool = False) -> None:
        """Nothing to prepare."""
        return None

    def is_prepared(self) -> bool:
        """Always loadable."""
        return True

    def num_examples(self, split: str | None = None) -> int:
        """Number of images in ``split``."""
        return len(self._array(split))

    def load(self, split: str | None = None, *, with_labels: bool = False) -> Any:
        """An unbatched ``tf.data.Dataset`` of float32 images in [-1, 1], in array order.

        Args:
            split: The split; :attr:`default_split` when ``None``.
            with_labels: Yield ``(image, label)`` pairs (int32 labels from
                :meth:`labels`).

        Raises:
            DataError: ``with_labels`` for a dataset without labels.
            ValueError: :meth:`labels` gave a label outside ``0 .. K-1`` or
                another count than :meth:`images` (a plugin bug).

        """
        import tensorflow as tf

        if with_labels:
            return tf.data.Dataset.from_tensor_slices((self._array(split),
                                                       self._label_array(split)))
        return tf.data.Dataset.from_tensor_slices(self._array(split))

    def _array(self, split: str | None) -> np.ndarray:
        cache: dict[str, np.ndarray] = self.__dict__.setdefault("_arrays", {})
        name = split or self.default_split
        if name not in cache:
            cache[name] = as_training_images(self.images(name))
        return cache[name]

    def _label_array(self, split: str | None) -> np.ndarray:
        name = split or self.default_split
        labels = self.labels(name)
        if labels is None or not self.num_classes:
            from ganlab.errors import DataError

            raise DataError(f"{self.describe()} has no class labels (it sets no num_classes "
                            "or its labels() gives none), so it cannot feed a "
                            "class-conditional GAN.")
        return checked_labels(labels, self.num_classes, len(self._array(name)), name)


def as_training_images(array: np.ndarray) -> np.ndarray:
    """``uint8`` [0, 255] → float32 [-1, 1]; floating point is cast to float32 as it is."""
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 127.5 - 1.0
    return array.astype(np.float32)


def checked_labels(labels: np.ndarray, num_classes: int, count: int, split: str) -> np.ndarray:
    """``labels`` as int32, one per image, each in ``0 .. num_classes - 1``.

    Raises:
        ValueError: Not whole numbers, another count, or out of range.

    """
    array = np.asarray(labels)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(f"labels('{split}') must be a 1-D array of whole numbers, got "
                         f"{array.dtype} of shape {array.shape}")
    if len(array) != count:
        raise ValueError(f"labels('{split}') gives {len(array)} labels for {count} images")
    bad = np.flatnonzero((array < 0) | (array >= num_classes))
    if bad.size:
        raise ValueError(f"labels('{split}')[{int(bad[0])}] is {int(array[bad[0]])}, not a "
                         f"class 0..{num_classes - 1} (num_classes is {num_classes})")
    return array.astype(np.int32)
