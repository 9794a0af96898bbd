"""A local ganlab plugin for the class-name tests: circles and squares, named, in memory and as
TFRecords (listed under an experiment's ``plugins:``, as a user's own plugin would be)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ganlab import hookimpl
from ganlab.data import ImageExample, InMemoryDataset, TFRecordImageDataset

NAMES = ("circle", "square")


def shapes(count: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` gray images of a bright circle (label 0) or square (label 1), and the labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    rows, cols = np.mgrid[:side, :side]
    images = np.zeros((count, side, side, 1), dtype=np.uint8)
    for index, label in enumerate(labels):
        radius = rng.uniform(side / 5, side / 3)
        cy, cx = rng.uniform(radius, side - radius, size=2)
        if label == 0:
            inside = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius ** 2
        else:
            inside = (abs(rows - cy) <= radius) & (abs(cols - cx) <= radius)
        images[index, ..., 0] = np.where(inside, 230, 20)
    return images, labels


class Shapes(InMemoryDataset):
    """Circles and squares in memory, with labels and class names."""

    num_classes = 2
    class_names = NAMES

    def __init__(self, count: int = 32, side: int = 32, bad_label: bool = False):
        self.image_shape = (side, side, 1)
        self.count, self.bad_label = count, bad_label

    def images(self, split: str) -> np.ndarray:
        return shapes(self.count, self.image_shape[0], 0 if split == "train" else 1)[0]

    def labels(self, split: str) -> np.ndarray:
        labels = shapes(self.count, self.image_shape[0], 0 if split == "train" else 1)[1]
        if self.bad_label:
            labels[3] = 2
        return labels


class ShapeRecords(TFRecordImageDataset):
    """The same shapes stored as TFRecords; the names are set in ``plan``, as a scan would."""

    default_split = "train"

    def __init__(self, tfrecords: str | Path, side: int = 16, count: int = 48,
                 names: Sequence[str] = NAMES, label_offset: int = 0):
        super().__init__(source=None, tfrecords=tfrecords)
        self.image_shape = (side, side, 1)
        self.count, self.names, self.label_offset = count, list(names), label_offset

    def options(self) -> Mapping[str, Any]:
        return {"dataset": "shapes", "side": self.image_shape[0], "count": self.count,
                "label_offset": self.label_offset}

    def source_available(self) -> bool:
        return True

    def plan(self) -> Mapping[str, Sequence[Any]]:
        self.num_classes = len(self.names)
        self.class_names = self.names
        return {"train": [("train", i) for i in range(self.count)],
                "test": [("test", i) for i in range(self.count // 2)]}

    def decode(self, item: tuple[str, int]) -> ImageExample:
        split, index = item
        count = self.count if split == "train" else self.count // 2
        images, labels = shapes(count, self.image_shape[0], 0 if split == "train" else 1)
        return ImageExample(image=images[index], filename=f"{split}#{index}",
                            label=int(labels[index]) + self.label_offset)

    def describe_source(self) -> str:
        return "generated circles and squares"


class Quadrants:
    """A cheap feature extractor: mean and spread of each image quadrant (8 features)."""

    name = "quadrants"
    weights_sha256 = "none"
    resize = "none"
    label_names: list[str] = []
    multi_label = False

    def __init__(self, data_dir: Any = None, image_shape: Any = None):
        self.image_shape = image_shape

    def features(self, images: np.ndarray) -> np.ndarray:
        half = images.shape[1] // 2
        parts = [images[:, r:r + half, c:c + half] for r in (0, half) for c in (0, half)]
        return np.concatenate([[p.mean(axis=(1, 2, 3)), p.std(axis=(1, 2, 3))] for p in parts]
                              ).T.astype(np.float32)

    def probabilities(self, images: np.ndarray) -> None:
        return None


@hookimpl
def register_feature_extractors(register: Any) -> None:
    """Register the quadrant-statistics extractor."""
    register("quadrants", Quadrants, description="quadrant means and spreads")


@hookimpl
def register_datasets(register: Any) -> None:
    """Register the shapes datasets."""
    register("shapes_in_memory", Shapes, description="circles and squares, in memory")
    register("shapes_records", ShapeRecords, description="circles and squares, TFRecords")
