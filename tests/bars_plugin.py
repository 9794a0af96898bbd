"""A local ganlab plugin for the conditional-metric tests: bar images in memory and a
classifier extractor that reads which bar is lit (listed as a user's own plugin would be)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ganlab import hookimpl
from ganlab.data import InMemoryDataset

SIDE = 16
CLASSES = 4


def bar_rows(label: int) -> slice:
    """The rows class ``label``'s bar covers (3 apart, 2 high)."""
    return slice(2 + 3 * label, 4 + 3 * label)


def bars(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uint8 images: class k is a bright bar at :func:`bar_rows` (k) over noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % CLASSES
    images = rng.integers(0, 70, size=(count, SIDE, SIDE, 1), dtype=np.uint8)
    for index, label in enumerate(labels):
        start = int(rng.integers(0, 5))
        images[index, bar_rows(int(label)), start:start + 11] = 250
    return images, labels


class Bars(InMemoryDataset):
    """Bars with labels, 'train' and 'test' drawn from different seeds."""

    num_classes = CLASSES
    class_names = ("top", "upper", "lower", "bottom")

    def __init__(self, train: int = 160, test: int = 80):
        self.image_shape = (SIDE, SIDE, 1)
        self.counts = {"train": train, "test": test}

    def images(self, split: str) -> np.ndarray:
        return bars(self.counts[split], 0 if split == "train" else 1)[0]

    def labels(self, split: str) -> np.ndarray:
        return bars(self.counts[split], 0 if split == "train" else 1)[1]


class BarReader:
    """A classifier extractor: the probabilities follow each class's bar brightness."""

    name = "bar_reader"
    weights_sha256 = "none"
    resize = "none"
    label_names = ["top", "upper", "lower", "bottom"]
    multi_label = False
    calibration = "not a trained classifier"

    def __init__(self, data_dir: Any = None, image_shape: Any = None):
        self.image_shape = image_shape

    def features(self, images: np.ndarray) -> np.ndarray:
        return np.stack([images[:, bar_rows(k)].mean(axis=(1, 2, 3)) for k in range(CLASSES)],
                        axis=1).astype(np.float32)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        logits = 20.0 * self.features(images)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


@hookimpl
def register_feature_extractors(register: Any) -> None:
    """Register the bar reader."""
    register("bar_reader", BarReader, description="which bar is lit (tests)")
