"""A small, real classifier for the latent tests: nearest class centroid on the TFRecords.

It satisfies the ``feature_extractor`` contract (``probabilities``,
``label_names``, ``multi_label``) like the ``domain`` extractor, learns from
the same TFRecords (``data_dir``) and the same labels (MNIST's classes,
CelebA's attributes), and trains in a second: the latent tests use it to
check the query pipeline without depending on how long a CNN takes to train.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ganlab import hookimpl

#: Softness of the distance → probability map (squared distances per pixel).
TEMPERATURE = 0.02


class CentroidClassifier:
    """Per class (or per attribute value) the mean training image; nearer is likelier."""

    name = "centroid"
    weights_sha256 = "none"
    resize = "none"

    def __init__(self, data_dir: Path):
        from ganlab.data.manifest import read_manifest
        from ganlab.data.reader import read_tfrecords

        manifest = read_manifest(data_dir)
        records = list(read_tfrecords(data_dir, "train", with_metadata=True,
                                      deterministic=True).as_numpy_iterator())
        images = np.stack([r["image"] for r in records]).reshape(len(records), -1)
        attributes = np.stack([r["attributes"] for r in records])
        self.multi_label = attributes.shape[1] > 0
        if self.multi_label:
            positive = attributes > 0
            # An attribute no training image has (or every one has) is never (always) there.
            self.prevalence = positive.mean(axis=0)
            overall = images.mean(0)
            self.centroids = np.stack([
                np.stack([images[~column].mean(0) if (~column).any() else overall,
                          images[column].mean(0) if column.any() else overall])
                for column in positive.T])
            names = (manifest.get("notes") or {}).get("attribute_names")
            self.label_names = list(names or [f"attribute_{j}" for j in range(len(positive.T))])
        else:
            labels = np.array([r["label"] for r in records])
            self.centroids = np.stack([images[labels == k].mean(0)
                                       for k in range(labels.max() + 1)])
            self.label_names = [str(k) for k in range(len(self.centroids))]

    def _distances(self, images: np.ndarray, centroids: np.ndarray) -> np.ndarray:
        flat = np.asarray(images, np.float64).reshape(len(images), -1)
        return ((flat[:, None, :] - centroids[None]) ** 2).mean(-1) / TEMPERATURE

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Softmax over classes, or a sigmoid per attribute."""
        if self.multi_label:
            # Per attribute: nearer the 'present' centroid than the 'absent' one.
            gaps = np.stack([d[:, 0] - d[:, 1] for d in
                             (self._distances(images, pair) for pair in self.centroids)], 1)
            probabilities = 1.0 / (1.0 + np.exp(-np.clip(gaps, -50, 50)))
            constant = (self.prevalence == 0) | (self.prevalence == 1)
            probabilities[:, constant] = self.prevalence[constant]
            return probabilities
        logits = -self._distances(images, self.centroids)
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def features(self, images: np.ndarray) -> np.ndarray:
        """The distances to every centroid."""
        return self._distances(images, self.centroids.reshape(-1, self.centroids.shape[-1]))


def centroid_classifier(data_dir: Any = None, image_shape: Any = None) -> CentroidClassifier:
    """The ``centroid`` feature extractor of the TFRecord folder ``data_dir``."""
    return CentroidClassifier(Path(data_dir))


@hookimpl
def register_feature_extractors(register: Any) -> None:
    """``centroid``."""
    register("centroid", centroid_classifier)
