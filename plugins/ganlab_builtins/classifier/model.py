"""The domain classifier's network: a small CNN sized to train in about a minute on a CPU.

Stages of two 3×3 convolutions (batch norm, ReLU) and a 2×2 max-pool halve the
image until it is at most 4×4 (three stages at 32×32, four at 64×64), with
16, 32, 64, 128 ... filters. A 128-unit dense layer named ``features`` gives the
embedding (the penultimate layer, what FID/KID/precision-recall compare) and a
dense output layer named ``probabilities`` gives a softmax over classes or one
sigmoid per attribute. Dropout between the two regularises the small datasets
(4,000 digits) it is also meant for.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

#: Name of the penultimate (embedding) layer.
FEATURES_LAYER = "features"
#: Name of the output layer.
OUTPUT_LAYER = "probabilities"
FEATURE_UNITS = 128
FIRST_FILTERS = 16
MAX_FILTERS = 128
SMALLEST_SIDE = 4
DROPOUT = 0.3
#: Batch norm's moving-average decay: 0.9 (not Keras' 0.99) so the statistics used at
#: inference settle within tens of steps, which small datasets and short runs need.
BN_MOMENTUM = 0.9


def build_classifier(image_shape: Sequence[int], num_outputs: int, *,
                     multi_label: bool) -> keras.Model:
    """The classifier for images of ``image_shape`` (in [-1, 1]).

    Args:
        image_shape: ``(height, width, channels)``.
        num_outputs: Classes (softmax) or attributes (sigmoids).
        multi_label: Sigmoid outputs (attributes) instead of a softmax.

    """
    inputs = keras.Input(tuple(image_shape), name="images")
    x = inputs
    side, filters, stage = min(image_shape[:2]), FIRST_FILTERS, 0
    while side > SMALLEST_SIDE:
        stage += 1
        for conv in (1, 2):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                    name=f"stage{stage}_conv{conv}")(x)
            x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM,
                                                name=f"stage{stage}_bn{conv}")(x)
            x = keras.layers.ReLU(name=f"stage{stage}_relu{conv}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        side, filters = side // 2, min(filters * 2, MAX_FILTERS)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(FEATURE_UNITS, activation="relu", name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(DROPOUT, name="dropout")(x)
    outputs = keras.layers.Dense(num_outputs, activation="sigmoid" if multi_label else "softmax",
                                 name=OUTPUT_LAYER)(x)
    return keras.Model(inputs, outputs, name="domain_classifier")


def with_features(model: keras.Model) -> keras.Model:
    """A model returning ``[features, probabilities]`` of a trained classifier."""
    return keras.Model(model.input,
                       [model.get_layer(FEATURES_LAYER).output, model.outputs[0]],
                       name="domain_classifier_features")


def output_weights(model: keras.Model) -> tuple[np.ndarray, np.ndarray]:
    """The output layer's kernel ``(128, k)`` and bias ``(k,)`` in float64.

    The logits are ``features @ kernel + bias`` (dropout is the identity at
    inference), which is how temperature scaling gets at them without a
    second model.
    """
    kernel, bias = model.get_layer(OUTPUT_LAYER).get_weights()
    return np.asarray(kernel, dtype=np.float64), np.asarray(bias, dtype=np.float64)
