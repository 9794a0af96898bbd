"""Training the domain classifier on a dataset's own labels, streamed from its TFRecords.

What to learn is read from the records, not from the dataset's name: when
the manifest says the records carry attributes (``attributes_length`` > 0,
e.g. CelebA's 40), each attribute gets a sigmoid; otherwise the records'
``image/class/label`` values (e.g. MNIST's digits) get a softmax. Records
with neither cannot train a classifier.

The model trains on one split and is scored on another (``train`` and
``test`` by default), then saved with its protocol (see :mod:`.protocol`).
Nothing is written until training and scoring have succeeded, so a failed
run never replaces a good classifier.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ganlab import __version__
from ganlab.atomic import atomic_write
from ganlab.data.manifest import manifest_classes
from ganlab.errors import DataError, TrainingError

from .calibration import BINS, Calibration, calibrate
from .model import build_classifier, output_weights, with_features
from .protocol import (
    MULTI_LABEL,
    SINGLE_LABEL,
    Protocol,
    classifier_dir,
    model_path,
    protocol_path,
    read_protocol,
    write_protocol,
)

#: Training examples seen in all (the epochs default to this over the split size).
DEFAULT_EXAMPLES_SEEN = 60_000
MAX_DEFAULT_EPOCHS = 15
DEFAULT_BATCH_SIZE = 64
#: The classifier belongs to its TFRecord folder, whichever experiment trains it first, so
#: its default seed is one constant (2015, the seed of the experiments that first used it).
DEFAULT_SEED = 2015
LEARNING_RATE = 1e-3
#: Datasets whose decoded train split fits in this many bytes are cached in memory.
CACHE_BYTES = 1 << 30
SHUFFLE_BUFFER = 20_000
PREDICT_BATCH = 256

Report = Callable[[str], None]


@dataclass(frozen=True)
class LabelSpec:
    """What the classifier predicts: the kind of labels and one name per output."""

    kind: str
    names: list[str]

    @property
    def multi_label(self) -> bool:
        """Sigmoid outputs (attributes) instead of a softmax (classes)."""
        return self.kind == MULTI_LABEL


def default_epochs(train_count: int) -> int:
    """Enough epochs to see about 60,000 examples (15 at most, 1 at least)."""
    return max(1, min(MAX_DEFAULT_EPOCHS, math.ceil(DEFAULT_EXAMPLES_SEEN / max(train_count, 1))))


def label_spec(dataset: Any, manifest: Mapping[str, Any], split: str) -> LabelSpec:
    """The labels the records of ``split`` carry.

    Raises:
        DataError: The records carry no attributes and no class labels.

    """
    length = int(manifest.get("attributes_length") or 0)
    if length:
        names = list((manifest.get("notes") or {}).get("attribute_names") or [])
        if len(names) != length:
            names = [f"attribute_{index}" for index in range(length)]
        return LabelSpec(MULTI_LABEL, names)
    labels = np.concatenate([batch.numpy() for batch in dataset.load(
        split, with_metadata=True, deterministic=True).map(
            lambda example: example["label"]).batch(4096)])
    if labels.size == 0 or labels.min() < 0:
        raise DataError(
            f"The '{split}' records in {dataset.tfrecords} carry no class labels "
            f"(image/class/label is -1{' for some' if labels.size and labels.max() >= 0 else ''})"
            " and no attributes, so there is nothing for a domain classifier to learn. It "
            "needs a dataset whose records have labels (e.g. MNIST) or attributes (e.g. "
            "CelebA).")
    # The dataset's class names (the manifest's class_names), so queries and reports speak them.
    names = (manifest_classes(manifest)
             or list((manifest.get("notes") or {}).get("label_names") or []))
    count = int(labels.max()) + 1
    if len(names) < count:
        names = [str(index) for index in range(count)]
    return LabelSpec(SINGLE_LABEL, names)


def examples(dataset: Any, split: str, spec: LabelSpec) -> tf.data.Dataset:
    """``(image, target)`` pairs of ``split``, in a fixed order."""

    def pair(example: Mapping[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        if spec.multi_label:
            return example["image"], tf.cast(example["attributes"] > 0, tf.float32)
        return example["image"], example["label"]

    return dataset.load(split, with_metadata=True, deterministic=True).map(
        pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def compile_classifier(image_shape: Any, spec: LabelSpec) -> keras.Model:
    """A fresh classifier with its optimizer and loss."""
    model = build_classifier(image_shape, len(spec.names), multi_label=spec.multi_label)
    loss = "binary_crossentropy" if spec.multi_label else "sparse_categorical_crossentropy"
    metric = "binary_accuracy" if spec.multi_label else "sparse_categorical_accuracy"
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=loss, metrics=[metric])
    return model


def score(model: keras.Model, data: tf.data.Dataset,
          spec: LabelSpec) -> tuple[float, dict[str, float], float]:
    """``(accuracy, accuracy per class/attribute, commonest-answer baseline)`` on ``data``.

    Single-label: top-1 accuracy, and per class the share of that class's
    images classified right. Multi-label: per attribute the accuracy at a
    0.5 threshold, and their mean.
    """
    predicted, targets = [], []
    for images, target in data.batch(PREDICT_BATCH):
        predicted.append(np.asarray(model(images, training=False)))
        targets.append(target.numpy())
    probabilities, truth = np.concatenate(predicted), np.concatenate(targets)
    if spec.multi_label:
        truth = truth.astype(bool)
        right = (probabilities > 0.5) == truth
        per_label = right.mean(axis=0)
        positive = truth.mean(axis=0)
        baseline = float(np.maximum(positive, 1 - positive).mean())
        return float(per_label.mean()), _named(spec, per_label), baseline
    truth = truth.astype(np.int64)
    right = probabilities.argmax(axis=1) == truth
    per_label = np.array([right[truth == k].mean() if np.any(truth == k) else np.nan
                          for k in range(len(spec.names))])
    baseline = float(np.bincount(truth, minlength=len(spec.names)).max() / len(truth))
    return float(right.mean()), _named(spec, per_label), baseline


def held_out_logits(model: keras.Model, data: tf.data.Dataset
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(logits, targets)`` of ``data``: the output layer before its softmax or sigmoids."""
    both = with_features(model)
    kernel, bias = output_weights(model)
    logits, targets = [], []
    for images, target in data.batch(PREDICT_BATCH):
        features = np.asarray(both(images, training=False)[0], dtype=np.float64)
        logits.append(features @ kernel + bias)
        targets.append(target.numpy())
    return np.concatenate(logits), np.concatenate(targets)


def calibration_record(calibration: Calibration, spec: LabelSpec, split: str) -> dict[str, Any]:
    """What ``domain.json`` records of the temperature fit (see :mod:`.calibration`)."""
    return {
        "method": "temperature scaling (Guo et al. 2017), NLL minimised on held-out logits",
        "scope": ("one temperature shared by all attributes" if spec.multi_label
                  else "one temperature for the softmax"),
        "fit_on": f"'{split}' images at even positions ({calibration.fit_count})",
        "reported_on": f"'{split}' images at odd positions ({calibration.report_count})",
        "ece_bins": BINS,
        "ece_kind": "per (image, attribute) decision" if spec.multi_label else "top-label",
        "ece_before": round(calibration.ece_before, 6),
        "ece_after": round(calibration.ece_after, 6),
        "nll_before": round(calibration.nll_before, 6),
        "nll_after": round(calibration.nll_after, 6),
    }


def _named(spec: LabelSpec, values: np.ndarray) -> dict[str, float]:
    return {name: round(float(value), 4) for name, value in zip(spec.names, values, strict=True)}


@dataclass(frozen=True)
class TrainSettings:
    """How to train: splits, epochs (``None``: :func:`default_epochs`), batch, seed."""

    train_split: str = "train"
    test_split: str = "test"
    epochs: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = DEFAULT_SEED
    overwrite: bool = False
    verbose: int = 2


def train_classifier(dataset: Any, settings: TrainSettings,
                     report: Report = print) -> Protocol:
    """Train, score and save the domain classifier of ``dataset``'s TFRecords.

    Args:
        dataset: A prepared ganlab TFRecord dataset (``tfrecords``,
            ``manifest()``, ``load(split, with_metadata=True)``).
        settings: Splits, epochs, batch size, seed, overwrite.
        report: Where progress lines go.

    Returns:
        The saved protocol.

    Raises:
        DataError: A classifier exists (without ``overwrite``), a split is
            missing, or the records carry no labels.
        TrainingError: The loss became NaN (nothing is written).

    """
    tfrecords = Path(dataset.tfrecords)
    refuse_existing(tfrecords, settings.overwrite)
    manifest = dataset.manifest()
    counts = _split_counts(manifest, settings, tfrecords)
    keras.utils.set_random_seed(settings.seed)
    tf.config.experimental.enable_op_determinism()
    spec = label_spec(dataset, manifest, settings.train_split)
    epochs = settings.epochs or default_epochs(counts["train"])
    report(f"Training the domain classifier on {counts['train']} '{settings.train_split}' "
           f"images of {tfrecords} ({len(spec.names)} "
           f"{'attributes, sigmoid' if spec.multi_label else 'classes, softmax'}), {epochs} "
           f"epoch{'s' * (epochs != 1)} ...")
    started = time.monotonic()
    model = compile_classifier(tuple(manifest["image_shape"]), spec)
    history = model.fit(_training_batches(dataset, manifest, settings, spec, counts["train"]),
                        epochs=epochs, shuffle=False, verbose=settings.verbose)
    losses = history.history.get("loss", [])
    if not losses or not all(np.isfinite(losses)):
        raise TrainingError(f"Training the domain classifier failed: the loss became "
                            f"{losses[-1] if losses else 'undefined'}. Nothing was written; "
                            "a classifier already there is unchanged.")
    held_out = examples(dataset, settings.test_split, spec)
    accuracy, per_label, baseline = score(model, held_out, spec)
    calibration = calibrate(*held_out_logits(model, held_out), multi_label=spec.multi_label)
    protocol = Protocol(
        label_kind=spec.kind, label_names=spec.names,
        image_shape=[int(n) for n in manifest["image_shape"]],
        dataset_fingerprint=str(manifest["fingerprint"]),
        dataset_source=str(manifest.get("source", "")),
        splits={"train": settings.train_split, "test": settings.test_split}, counts=counts,
        epochs=epochs, batch_size=settings.batch_size, seed=settings.seed,
        accuracy=round(accuracy, 4), per_label_accuracy=per_label,
        baseline_accuracy=round(baseline, 4),
        trained_seconds=round(time.monotonic() - started, 1),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        ganlab_version=__version__, temperature=round(calibration.temperature, 6),
        calibration=calibration_record(calibration, spec, settings.test_split))
    save_classifier(model, tfrecords, protocol)
    return protocol


def refuse_existing(tfrecords: Path, overwrite: bool) -> None:
    """Refuse to replace a classifier that is there unless ``overwrite``.

    Raises:
        DataError: ``domain.json`` exists and ``overwrite`` is false.

    """
    if overwrite or not protocol_path(tfrecords).exists():
        return
    try:
        existing = read_protocol(tfrecords)
        what = (f"held-out accuracy {existing.accuracy:.2%} on {existing.counts.get('test')} "
                f"'{existing.splits.get('test')}' images, trained {existing.created}")
    except DataError:
        what = "its protocol is unreadable"
    raise DataError(f"A domain classifier already exists in {classifier_dir(tfrecords)} "
                    f"({what}). Pass --overwrite to train a new one in its place (the old one "
                    "stays until the new one is trained and saved).")


def _split_counts(manifest: Mapping[str, Any], settings: TrainSettings,
                  tfrecords: Path) -> dict[str, int]:
    """Images in the train and test splits.

    Raises:
        DataError: A split is missing or empty.

    """
    splits = manifest["splits"]
    stored = ", ".join(f"{split} {info['count']}" for split, info in splits.items())
    counts = {}
    for role, name in (("train", settings.train_split), ("test", settings.test_split)):
        count = int((splits.get(name) or {}).get("count", 0))
        if not count:
            raise DataError(
                f"The TFRecords in {tfrecords} have no '{name}' images to {role} the domain "
                f"classifier on (splits there: {stored}). Pick another "
                f"with --{role}-split, or prepare a dataset with a held-out split.")
        counts[role] = count
    if settings.train_split == settings.test_split:
        raise DataError(f"The train and test splits are both '{settings.train_split}': the "
                        "held-out accuracy would not be held out. Pick two different splits.")
    return counts


def _training_batches(dataset: Any, manifest: Mapping[str, Any], settings: TrainSettings,
                      spec: LabelSpec, count: int) -> tf.data.Dataset:
    """Shuffled (seeded, reshuffled each epoch) training batches, cached when small."""
    # The count is known from the manifest; telling tf.data lets Keras size its epochs.
    data = examples(dataset, settings.train_split, spec).apply(
        tf.data.experimental.assert_cardinality(count))
    if count * 4 * int(np.prod(manifest["image_shape"])) <= CACHE_BYTES:
        data = data.cache()
    data = data.shuffle(min(count, SHUFFLE_BUFFER), seed=settings.seed,
                        reshuffle_each_iteration=True)
    return data.batch(settings.batch_size).prefetch(tf.data.AUTOTUNE)


def save_classifier(model: keras.Model, tfrecords: Path, protocol: Protocol) -> None:
    """Write ``domain.keras`` then ``domain.json``, each atomically, the hash in the latter."""
    folder = classifier_dir(tfrecords)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".saving-") as scratch:
        staged = Path(scratch) / "domain.keras"
        model.save(staged)
        payload = staged.read_bytes()
    protocol.weights_sha256 = hashlib.sha256(payload).hexdigest()
    with atomic_write(model_path(tfrecords)) as stream:
        stream.write(payload)
    write_protocol(tfrecords, protocol)
