"""The ``domain`` feature extractor: the trained domain classifier, loaded and checked.

:class:`DomainClassifier` follows the feature-extractor contract of
``register_feature_extractors``: ``features(images)`` are the classifier's
penultimate-layer activations, ``probabilities(images)`` its softmax (classes)
or sigmoid (attributes) outputs with the logits divided by the temperature
fitted at training (``domain.json``'s ``temperature``; 1 for classifiers
trained before calibration, see :mod:`.calibration`). It runs at the dataset's own image size
(``resize == "none"``). Loading checks the model file's sha256 against its
protocol and the protocol's dataset fingerprint against the folder's
``dataset.json``, so a changed file or re-prepared data is refused, not used.

Other plugins can use :func:`load_domain_classifier` and
:meth:`DomainClassifier.classify` directly, e.g. to score generated images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from ganlab.data.manifest import read_manifest
from ganlab.errors import DataError

from .auto import ensure_trained
from .calibration import probabilities as scaled_probabilities
from .model import output_weights, with_features
from .protocol import (
    PROTOCOL_NAME,
    TRAIN_HINT,
    Protocol,
    check_fingerprint,
    check_weights,
    model_path,
    read_protocol,
)

NAME = "domain"
BATCH_SIZE = 256


class DomainClassifier:
    """A trained domain classifier as a feature extractor.

    Attributes:
        name: ``"domain"``.
        weights_sha256: sha256 of ``domain.keras`` (checked at load).
        resize: ``"none"``: images are used at the dataset's size.
        label_names: One name per class or attribute.
        multi_label: Sigmoid outputs (attributes) rather than a softmax.
        protocol: Everything ``domain.json`` records (accuracies included).
        image_shape: The ``(h, w, c)`` the classifier takes.
        temperature: The logits' divisor (1.0: uncalibrated).
        calibration: One line saying how the probabilities are calibrated,
            for metric records.

    """

    name = NAME
    resize = "none"

    def __init__(self, model: keras.Model, protocol: Protocol, *, batch_size: int = BATCH_SIZE):
        self.protocol = protocol
        self.weights_sha256 = protocol.weights_sha256
        self.label_names = list(protocol.label_names)
        self.multi_label = protocol.multi_label
        self.image_shape = tuple(protocol.image_shape)
        self.batch_size = batch_size
        self.temperature = float(protocol.temperature)
        self.calibration = protocol.calibration_note()
        self._both = with_features(model)
        self._kernel, self._bias = output_weights(model)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate-layer activations ``(n, 128)`` of images ``(n, h, w, c)`` in [-1, 1]."""
        return self._run(images)[0]

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Calibrated class (softmax rows) or attribute (sigmoids) probabilities, ``(n, k)``."""
        return self._run(images)[1]

    def logits(self, images: np.ndarray) -> np.ndarray:
        """The output layer's logits ``(n, k)`` before the temperature and the softmax."""
        return self._logits(self._run(images)[0])

    def _logits(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float64) @ self._kernel + self._bias

    def features_and_probabilities(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both outputs from one pass."""
        return self._run(images)

    def classify(self, images: np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """Class indices ``(n,)``, or attribute booleans ``(n, k)`` (probability > threshold)."""
        probabilities = self.probabilities(images)
        if self.multi_label:
            return probabilities > threshold
        return probabilities.argmax(axis=1)

    def _run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or tuple(images.shape[1:]) != self.image_shape:
            raise DataError(f"The domain classifier takes images of shape "
                            f"{self.image_shape} (the dataset's), got a batch of shape "
                            f"{tuple(images.shape)}.")
        features = []
        for start in range(0, len(images), self.batch_size):
            feature, _ = self._both(images[start:start + self.batch_size], training=False)
            features.append(np.asarray(feature, dtype=np.float32))
        if not features:
            return (np.zeros((0, self._both.outputs[0].shape[-1]), np.float32),
                    np.zeros((0, len(self.label_names)), np.float32))
        features = np.concatenate(features)
        # The probabilities come from the logits, so the fitted temperature applies to them.
        probabilities = scaled_probabilities(self._logits(features), self.temperature,
                                             multi_label=self.multi_label)
        return features, probabilities.astype(np.float32)


def load_domain_classifier(data_dir: str | Path | None, *,
                           image_shape: Sequence[int] | None = None,
                           batch_size: int = BATCH_SIZE) -> DomainClassifier:
    """The checked domain classifier of the TFRecord folder ``data_dir``.

    Args:
        data_dir: The dataset's TFRecord folder (where ``.ganlab-classifier/`` is).
        image_shape: When given, the shape the caller's images have; it must
            be the classifier's.
        batch_size: Images per forward pass.

    When the folder has no classifier yet, it is trained first, as
    ``ganlab train-classifier`` would with its defaults (see
    :mod:`~ganlab_builtins.classifier.auto`).

    Raises:
        DataError: No classifier can be trained there (no labels, no held-out
            split), a changed or damaged model file, a classifier trained on
            other data, or another image shape.

    """
    if data_dir is None:
        raise DataError("The `domain` feature extractor needs the dataset's TFRecord folder "
                        "(it keeps the classifier trained on that data); none was given.")
    ensure_trained(data_dir)
    protocol = read_protocol(data_dir)
    check_fingerprint(protocol, read_manifest(data_dir), data_dir)
    check_weights(protocol, data_dir)
    if image_shape is not None and tuple(image_shape) != tuple(protocol.image_shape):
        raise DataError(f"The domain classifier in {data_dir} takes "
                        f"{tuple(protocol.image_shape)} images, the images to score are "
                        f"{tuple(image_shape)}. Train it again with `{TRAIN_HINT} --overwrite`.")
    try:
        model = keras.saving.load_model(model_path(data_dir), compile=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"Cannot load the domain classifier {model_path(data_dir)}: {exc}. "
                        f"Train it again with `{TRAIN_HINT} --overwrite`.") from None
    return _checked_classifier(model, protocol, model_path(data_dir), batch_size)


def _checked_classifier(model: keras.Model, protocol: Protocol, path: Path,
                        batch_size: int) -> DomainClassifier:
    """``model`` as the classifier its protocol describes, or an error naming its file.

    Raises:
        DataError: The file holds another model (no features layer, another
            input shape or number of outputs).

    """
    def other_model(why: str) -> DataError:
        return DataError(f"The domain classifier file {path} holds another model than the "
                         f"classifier its protocol {PROTOCOL_NAME} "
                         f"describes ({why}): it was replaced. Train it again with "
                         f"`{TRAIN_HINT} --overwrite`.")

    try:
        inputs, outputs = tuple(model.input_shape[1:]), int(model.output_shape[-1])
        classifier = DomainClassifier(model, protocol, batch_size=batch_size)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise other_model(f"{type(exc).__name__}: {exc}") from None
    if inputs != tuple(protocol.image_shape):
        raise other_model(f"it takes {inputs} images, the protocol says "
                          f"{tuple(protocol.image_shape)}")
    if outputs != len(protocol.label_names):
        raise other_model(f"it has {outputs} outputs, the protocol names "
                          f"{len(protocol.label_names)} labels")
    return classifier


def domain_extractor(data_dir: str | Path | None = None, image_shape: Sequence[int] | None = None,
                     batch_size: int = BATCH_SIZE) -> DomainClassifier:
    """The ``domain`` feature-extractor factory (see :func:`load_domain_classifier`)."""
    return load_domain_classifier(data_dir, image_shape=image_shape, batch_size=batch_size)
