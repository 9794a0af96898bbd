"""Datasets held in memory: synthetic images, or arrays computed by the plugin.

Nothing is written to disk and nothing needs preparing: subclass
:class:`InMemoryDataset`, set ``image_shape`` and return each split's images
from :meth:`InMemoryDataset.images`.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np


class InMemoryDataset(abc.ABC):
    """Base class for datasets whose images are a numpy array (``source`` is ``None``).

    Subclasses set :attr:`image_shape` and implement :meth:`images`. The
    array may be ``uint8`` in [0, 255] (scaled to [-1, 1] here) or floating
    point already in [-1, 1].
    """

    #: ``(height, width, channels)`` of the images.
    image_shape: tuple[int, int, int]
    #: The split ``load()`` returns when none is named.
    default_split: str = "train"
    #: There are no raw files.
    source: None = None

    @abc.abstractmethod
    def images(self, split: str) -> np.ndarray:
        """All images of ``split``, ``(n, h, w, c)``, uint8 or float in [-1, 1]."""

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

    def load(self, split: str | None = None) -> Any:
        """An unbatched ``tf.data.Dataset`` of float32 images in [-1, 1], in array order."""
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(self._array(split))

    def _array(self, split: str | None) -> np.ndarray:
        cache: dict[str, np.ndarray] = self.__dict__.setdefault("_arrays", {})
        name = split or self.default_split
        if name not in cache:
            cache[name] = as_training_images(self.images(name))
        return cache[name]


def as_training_images(array: np.ndarray) -> np.ndarray:
    """``uint8`` [0, 255] → float32 [-1, 1]; floating point is cast to float32 as it is."""
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 127.5 - 1.0
    return array.astype(np.float32)
