"""Where the domain classifier lives, what its ``domain.json`` says, and the checks on both.

A classifier trained by ``ganlab train-classifier`` is stored inside the
dataset's TFRecord folder, beside ``dataset.json``::

    <tfrecords>/.ganlab-classifier/domain.keras   the Keras model
    <tfrecords>/.ganlab-classifier/domain.json    its protocol (this module's Protocol)

The protocol names the data it was trained on (the manifest's fingerprint
and split counts), the labels (kind and names), the image shape, the
training settings, the held-out accuracies and the sha256 of the ``.keras``
file. A classifier is only used when that hash matches the file and that
fingerprint matches the folder's ``dataset.json``.

This module does not import TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ganlab.atomic import atomic_write
from ganlab.errors import DataError

#: Folder inside the TFRecord folder that holds the classifier (a ``.ganlab`` name: prepare
#: treats it as ganlab's own, and ``prepare --overwrite`` removes it with the data it fits).
FOLDER = ".ganlab-classifier"
MODEL_NAME = "domain.keras"
PROTOCOL_NAME = "domain.json"
#: Value of ``domain.json``'s ``format`` field, bumped when its meaning changes.
FORMAT = "ganlab-domain-classifier/1"
#: The two kinds of labels a dataset's records can carry.
SINGLE_LABEL = "class"
MULTI_LABEL = "attributes"
TRAIN_HINT = "ganlab train-classifier EXPERIMENT.yaml"


@dataclass
class Protocol:
    """What a saved domain classifier is, as written to ``domain.json``.

    Attributes:
        label_kind: ``"class"`` (one label per image, softmax) or
            ``"attributes"`` (several binary attributes, sigmoids).
        label_names: One name per output.
        image_shape: ``(height, width, channels)`` the model takes.
        dataset_fingerprint: The ``fingerprint`` of the ``dataset.json`` it
            was trained on.
        dataset_source: That manifest's ``source`` line (for people).
        splits: ``{"train": name, "test": name}``.
        counts: Images per split used.
        epochs: Training epochs.
        batch_size: Training batch size.
        seed: The seed of weights and data order.
        accuracy: Held-out accuracy (single-label: top-1; multi-label: the
            mean over attributes of the per-attribute accuracy at 0.5).
        per_label_accuracy: Held-out accuracy per class or per attribute.
        baseline_accuracy: What always answering the commonest class (per
            attribute for multi-label) scores on the test split.
        weights_sha256: sha256 of ``domain.keras``.
        trained_seconds: Wall time of the training.
        created: ISO timestamp.
        ganlab_version: The version that trained it.
        temperature: The temperature ``T`` the logits are divided by before
            the softmax or sigmoids (temperature scaling, see
            :mod:`.calibration`); 1.0 for classifiers trained before
            calibration existed, which are then uncalibrated.
        calibration: How ``T`` was fitted and what it did: the images it was
            fitted on and reported on, the expected calibration error and
            NLL before and after (empty: uncalibrated).

    """

    label_kind: str
    label_names: list[str]
    image_shape: list[int]
    dataset_fingerprint: str
    dataset_source: str
    splits: dict[str, str]
    counts: dict[str, int]
    epochs: int
    batch_size: int
    seed: int
    accuracy: float
    per_label_accuracy: dict[str, float]
    baseline_accuracy: float
    weights_sha256: str = ""
    trained_seconds: float = 0.0
    created: str = ""
    ganlab_version: str = ""
    temperature: float = 1.0
    calibration: dict[str, Any] = field(default_factory=dict)
    format: str = field(default=FORMAT)

    @property
    def multi_label(self) -> bool:
        """Whether outputs are independent sigmoids (attributes) rather than a softmax."""
        return self.label_kind == MULTI_LABEL

    @property
    def calibrated(self) -> bool:
        """Whether a temperature was fitted (protocols written before calibration: no)."""
        return bool(self.calibration)

    def calibration_note(self) -> str:
        """One line for records: ``temperature T=1.87 (ECE 4.1% -> 0.9%)`` or ``uncalibrated``."""
        if not self.calibrated:
            return "uncalibrated (T=1: trained before calibration existed)"
        info = self.calibration
        return (f"temperature T={self.temperature:.4g} (held-out ECE "
                f"{info.get('ece_before', float('nan')):.2%} -> "
                f"{info.get('ece_after', float('nan')):.2%})")

    def to_json(self) -> dict[str, Any]:
        """The protocol as JSON-ready data."""
        return asdict(self)


def classifier_dir(tfrecords: str | Path) -> Path:
    """The folder of the domain classifier of a TFRecord folder."""
    return Path(tfrecords) / FOLDER


def model_path(tfrecords: str | Path) -> Path:
    """Where ``domain.keras`` of a TFRecord folder is."""
    return classifier_dir(tfrecords) / MODEL_NAME


def protocol_path(tfrecords: str | Path) -> Path:
    """Where ``domain.json`` of a TFRecord folder is."""
    return classifier_dir(tfrecords) / PROTOCOL_NAME


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_protocol(tfrecords: str | Path, protocol: Protocol) -> Path:
    """Write ``domain.json`` atomically."""
    path = protocol_path(tfrecords)
    with atomic_write(path, "w", encoding="utf-8") as stream:
        json.dump(protocol.to_json(), stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    return path


def read_protocol(tfrecords: str | Path) -> Protocol:
    """Read ``domain.json`` of a TFRecord folder.

    Raises:
        DataError: No classifier was trained there, or the file is damaged
            or of another format.

    """
    path = protocol_path(tfrecords)
    if not path.is_file():
        raise DataError(
            f"No domain classifier has been trained for the dataset in {tfrecords} (there is "
            f"no {path}). Train one with `{TRAIN_HINT}` (the experiment whose dataset this "
            "is); it is saved beside the TFRecords, where the `domain` feature extractor "
            "finds it.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"Cannot read the domain classifier's protocol {path}: {exc}. Train "
                        f"it again with `{TRAIN_HINT} --overwrite`.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"{path} is not a domain classifier protocol of this ganlab (format "
                        f"{data.get('format') if isinstance(data, dict) else None!r}, expected "
                        f"{FORMAT!r}). Train it again with `{TRAIN_HINT} --overwrite`.")
    try:
        return Protocol(**data)
    except TypeError as exc:
        raise DataError(f"The domain classifier's protocol {path} is damaged ({exc}). Train "
                        f"it again with `{TRAIN_HINT} --overwrite`.") from None


def check_fingerprint(protocol: Protocol, manifest: Mapping[str, Any],
                      tfrecords: str | Path) -> None:
    """Refuse a classifier trained on other data than the folder's ``dataset.json`` describes.

    Raises:
        DataError: The fingerprints differ.

    """
    found = str(manifest.get("fingerprint"))
    if found != protocol.dataset_fingerprint:
        raise DataError(
            f"The domain classifier in {classifier_dir(tfrecords)} was trained on other data "
            f"(dataset fingerprint {protocol.dataset_fingerprint[:16]}, from "
            f"{protocol.dataset_source}) than the TFRecords now in {tfrecords} (fingerprint "
            f"{found[:16]}): its features and probabilities would not mean what they say. "
            f"Train it again with `{TRAIN_HINT} --overwrite`.")


def check_weights(protocol: Protocol, tfrecords: str | Path) -> str:
    """The sha256 of ``domain.keras``, checked against the protocol.

    Raises:
        DataError: The model file is missing or its hash differs.

    """
    path = model_path(tfrecords)
    if not path.is_file():
        raise DataError(f"The domain classifier's model {path} is missing (its protocol "
                        f"{protocol_path(tfrecords).name} is there). Train it again with "
                        f"`{TRAIN_HINT} --overwrite`.")
    digest = file_sha256(path)
    if digest != protocol.weights_sha256:
        raise DataError(
            f"The domain classifier's model {path} has sha256 {digest[:16]}..., but its "
            f"protocol records {protocol.weights_sha256[:16]}...: the file was changed or "
            f"damaged after training. Train it again with `{TRAIN_HINT} --overwrite`.")
    return digest
