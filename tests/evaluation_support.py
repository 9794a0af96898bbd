"""A small local feature-extractor plugin for the evaluation tests.

``projection`` is a fixed random projection of the pixels (seeded; the seed
is its "weights") with a linear 10-way softmax on top, so it exercises
everything a real extractor does (features, probabilities, weights hash)
at no cost. With ``max_batch`` it refuses larger batches: a check that
evaluation streams. Tests write :data:`PLUGIN_SOURCE` to a ``.py`` file and list it
under the experiment's ``plugins:``, as a user would.
"""

from __future__ import annotations

PLUGIN_SOURCE = '''
import hashlib

import numpy as np

from ganlab import hookimpl


class Projection:
    """Pixels times a seeded random matrix; softmax of a seeded linear map on top."""

    name = "projection"
    resize = "none"
    multi_label = False

    def __init__(self, *, data_dir=None, image_shape, dim=16, classes=10, seed=0,
                 max_batch=None):
        self.max_batch = max_batch  # streaming check: never more images than this at once
        rng = np.random.default_rng(seed)
        size = int(np.prod(image_shape))
        self.matrix = (rng.standard_normal((size, dim)) / np.sqrt(size)).astype(np.float32)
        self.head = rng.standard_normal((dim, classes)).astype(np.float32) * 4
        self.weights_sha256 = hashlib.sha256(self.matrix.tobytes()
                                             + self.head.tobytes()).hexdigest()
        self.label_names = [f"class{i}" for i in range(classes)]

    def features(self, images):
        if self.max_batch is not None and len(images) > self.max_batch:
            raise ValueError(f"got {len(images)} images at once, more than {self.max_batch}")
        return np.asarray(images, np.float32).reshape(len(images), -1) @ self.matrix

    def probabilities(self, images):
        logits = self.features(images) @ self.head
        logits -= logits.max(axis=1, keepdims=True)
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@hookimpl
def register_feature_extractors(register):
    register("projection", Projection)
'''
