"""Metrics of class-conditional generators: ``class_agreement`` and ``cas``.

A class-conditional generator is asked for a class by each latent (its last
``K`` entries' argmax, :func:`ganlab.contracts.latent_class`). Two questions
the classifier score cannot answer follow:

- ``class_agreement``: does it draw the class it was asked for? The share of
  generated samples that the domain classifier puts in the asked class.
- ``cas``: the Classification Accuracy Score (Ravuri & Vinyals 2019,
  https://arxiv.org/abs/1905.10887): a fresh classifier trained *only* on
  generated images, each labelled with the class its latent asked for, is
  tested on the real held-out split. It is high only when the samples are
  both of the right class and as varied as the real ones: a generator that
  draws one prototype per class trains a classifier that fails on real
  digits drawn otherwise.

With ``ganlab evaluate --real-baseline SPLIT`` both score real images of
``SPLIT`` with their own labels in place of generated ones: the class
agreement is then the domain classifier's accuracy there, and the CAS the
accuracy of the recipe trained on those real images.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganlab import ScoreSpec
from ganlab.contracts import class_names_of, latent_class, load_labelled
from ganlab.errors import ConfigError, DataError, TrainingError
from ganlab.evaluation import EvaluationContext, MetricResult, latent_batches
from ganlab.evaluation.bounds import check_sample_count
from ganlab.evaluation.context import evenly_spaced, extract_probabilities
from ganlab_builtins.classifier.child import run_json_child
from ganlab_builtins.metrics.scorers import (
    _positive_int,
    _StreamedMetric,
    calibration_of,
    with_common_params,
)

#: Generated images the CAS classifier trains on by default (bounded: it trains a CNN).
CAS_SAMPLES = 5_000
#: The seed of the CAS classifier's weights and data order (the domain classifier's default).
CAS_TRAIN_SEED = 2015


def _require_conditional(context: EvaluationContext, metric: str) -> int:
    """The number of classes of the context's generator.

    Raises:
        ConfigError: The generator is not class-conditional.

    """
    classes = int(context.num_classes)
    if not classes:
        raise ConfigError(f"The {metric} metric needs a class-conditional run (an "
                          "architecture with num_classes, on a dataset with labels): it asks "
                          "the generator for each class through the latent's class entries. "
                          "This run's generator is unconditional; use classifier_score or fid "
                          "instead.")
    return classes


def labelled_samples(context: EvaluationContext, count: int, batch_size: int,
                     seed: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(images, asked classes)`` batches: generated from seeded latents, or a real baseline.

    Generated: the latents of :func:`~ganlab.evaluation.latent_batches` (so
    the same images as the other metrics score), each labelled with the class
    it asks for. Real baseline: ``count`` images of the baseline split, evenly
    spaced in stored order, with their own labels.

    Raises:
        DataError: The baseline split has fewer than ``count`` images.

    """
    check_sample_count(count)
    classes = int(context.num_classes)
    if context.baseline_split is not None:
        split = str(context.baseline_split)
        total = context.real_count(split)
        if total < count:
            raise DataError(f"The real baseline scores {count} images of the '{split}' split, "
                            f"which has only {total}: use --num-samples {total} (or fewer).")
        yield from labelled_real(context, split, count, batch_size)
        return
    seed = context.seed if seed is None else seed
    for latents in latent_batches(count, context.latent_dim, context.latent_distribution, seed,
                                  batch_size, context.truncation, classes):
        images = np.asarray(context.generator(latents, training=False), dtype=np.float32)
        yield images, np.asarray(latent_class(latents, classes), dtype=np.int64)


def labelled_real(context: EvaluationContext, split: str, count: int,
                  batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``count`` (all when more) labelled images of ``split``, evenly spaced in stored order."""
    total = context.real_count(split)
    pairs = load_labelled(context.dataset, split, fixed_order=True)
    if count < total:
        pairs = evenly_spaced(pairs, count, total)
    for images, labels in pairs.batch(batch_size).as_numpy_iterator():
        yield np.asarray(images, dtype=np.float32), np.asarray(labels, dtype=np.int64)


def _collect(batches: Iterator[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = zip(*batches, strict=True)
    return np.concatenate(images), np.concatenate(labels)


def per_class_share(right: np.ndarray, labels: np.ndarray, names: Sequence[str]
                    ) -> dict[str, float]:
    """The share of ``right`` among the samples of each class (classes without any left out)."""
    return {str(name): round(float(right[labels == k].mean()), 4)
            for k, name in enumerate(names) if np.any(labels == k)}


class ClassAgreement(_StreamedMetric):
    """The share of generated samples the classifier puts in the class their latent asked for.

    Params: ``extractor`` (a single-label classifier over the run's classes,
    ``domain`` by default), ``num_samples``, ``batch_size``, ``seed`` (see
    :mod:`.scorers`). Needs a class-conditional run. The answers are the
    classifier's argmax, which its temperature does not change.

    Scores: ``class_agreement`` (in [0, 1], higher is better; chance is 1/K)
    and ``class_agreement_worst`` (the class drawn right least often).
    Details: ``per_class`` and the extractor's ``classifier_calibration``.
    """

    name = "class_agreement"
    score_specs = {"class_agreement": ScoreSpec(higher_is_better=True, minimum=0.0, maximum=1.0),
                   "class_agreement_worst": ScoreSpec(higher_is_better=True, minimum=0.0,
                                                      maximum=1.0)}

    def compute(self, generate: Any, dataset: Any, *,
                context: EvaluationContext | None = None) -> MetricResult:
        """Classify samples drawn for every class and count those classified as asked.

        Raises:
            ConfigError: The run is not class-conditional, or the classifier
                is multi-label or has another number of classes.

        """
        context = self._context(context)
        classes = _require_conditional(context, self.name)
        extractor = context.extractor(self.extractor, self.extractor_params)
        if extractor.multi_label or len(extractor.label_names) != classes:
            what = ("is multi-label" if extractor.multi_label
                    else f"has {len(extractor.label_names)} classes")
            raise ConfigError(f"The class_agreement metric needs a single-label classifier "
                              f"over the run's {classes} classes; the '{extractor.name}' "
                              f"extractor {what}.")
        right, asked = [], []
        for images, labels in labelled_samples(context, self.num_samples, self.batch_size,
                                               self.seed):
            answers = extract_probabilities(extractor, images).argmax(axis=1)
            right.append(answers == labels)
            asked.append(labels)
        hits, labels = np.concatenate(right), np.concatenate(asked)
        names = class_names_of(context.dataset) or [str(k) for k in range(classes)]
        per_class = per_class_share(hits, labels, names)
        protocol = context.protocol(metric=self.name, extractor=extractor, num_fake=len(hits),
                                    num_real=0, real_split="", seed=self.seed)
        return MetricResult({"class_agreement": float(hits.mean()),
                             "class_agreement_worst": min(per_class.values())}, protocol,
                            {"per_class": per_class,
                             "classifier_calibration": calibration_of(extractor)})


@dataclass(frozen=True)
class _CasRecipe:
    """What describes the CAS classifier in a protocol (it has no weights file)."""

    name: str = "cas_cnn"
    weights_sha256: str = ""
    resize: str = "none"


@with_common_params
class ClassificationAccuracyScore(_StreamedMetric):
    """CAS: a classifier trained on generated images only, tested on real held-out ones.

    The classifier is the domain classifier's network and recipe (Adam 1e-3,
    batch 64, epochs to see about 60,000 images, at most 15), trained from
    seed ``train_seed`` on ``num_samples`` generated images labelled with the
    class each latent asked for, then tested on the real held-out split (all
    of it, or ``num_real`` evenly spaced images). For reference, the same
    recipe trained on as many real images of the training split is tested the
    same way (``real_accuracy`` in the details). Both train in a child
    process, so the caller's TensorFlow seeds and determinism are untouched.

    Args:
        num_samples: Generated training images (5,000).
        epochs: Training epochs (``None``: as the domain classifier's default).
        train_seed: Seed of the classifier's weights and data order (2015).
        reference: Also train the recipe on real images, for the details (true).
        **common: See :mod:`.scorers` (``split``: the real held-out split,
            ``test`` by default; ``num_real``: held-out images, all by default).

    Scores: ``cas`` (accuracy on real held-out images, in [0, 1], higher is
    better). Details: ``real_accuracy``, ``cas_per_class``, ``epochs``,
    ``train_split``.
    """

    name = "cas"
    score_specs = {"cas": ScoreSpec(higher_is_better=True, minimum=0.0, maximum=1.0)}

    def __init__(self, *, num_samples: int = CAS_SAMPLES, epochs: int | None = None,
                 train_seed: int = CAS_TRAIN_SEED, reference: bool = True, **common: Any):
        super().__init__(num_samples=num_samples, **common)
        self.epochs = None if epochs is None else _positive_int("epochs", epochs)
        self.train_seed = _positive_int("train_seed", train_seed, minimum=0)
        if not isinstance(reference, bool):
            raise ValueError(f"reference must be true or false, got {reference!r}")
        self.reference = reference

    def compute(self, generate: Any, dataset: Any, *,
                context: EvaluationContext | None = None) -> MetricResult:
        """Train on generated (or baseline) images, test on the real held-out split.

        Raises:
            ConfigError: The run is not class-conditional, or the held-out
                split is the one the training images come from.
            TrainingError: The classifier's loss became NaN.

        """
        from ganlab_builtins.classifier.training import default_epochs

        context = self._context(context)
        classes = _require_conditional(context, self.name)
        test_split = self.split or context.default_split()
        train_split = context.training_split()
        if context.baseline_split == test_split or train_split == test_split:
            raise ConfigError(
                f"The cas metric tests on the real '{test_split}' split, which must be held "
                f"out from what it trains on (the baseline or training split "
                f"'{context.baseline_split or train_split}'): set the metric's split param "
                "to another split, or give --real-baseline another split.")
        epochs = self.epochs or default_epochs(self.num_samples)
        train = _collect(labelled_samples(context, self.num_samples, self.batch_size, self.seed))
        test = _collect(labelled_real(context, test_split,
                                      self.num_real or context.real_count(test_split),
                                      self.batch_size))
        sets = {"train": train, "test": test}
        if self.reference:
            sets["reference"] = _collect(labelled_real(context, train_split, len(train[0]),
                                                       self.batch_size))
        context.echo(f"CAS: training a classifier on {len(train[0])} "
                     f"{'generated' if context.baseline_split is None else 'real'} images "
                     f"for {epochs} epochs{', and one on real ones' if self.reference else ''}"
                     " ...")
        outcome = train_in_child(sets, classes, epochs, self.train_seed)
        names = class_names_of(context.dataset) or [str(k) for k in range(classes)]
        protocol = context.protocol(metric=self.name, extractor=_CasRecipe(),
                                    num_fake=len(train[0]), num_real=len(test[0]),
                                    real_split=test_split, seed=self.seed)
        details = {"cas_per_class": dict(zip(names, outcome["per_class"], strict=True)),
                   "epochs": epochs, "train_seed": self.train_seed}
        if self.reference:
            details.update(real_accuracy=outcome["reference"], train_split=train_split,
                           real_images=len(sets["reference"][0]))
        return MetricResult({"cas": outcome["cas"]}, protocol, details)


def train_in_child(sets: dict[str, tuple[np.ndarray, np.ndarray]], classes: int, epochs: int,
                   seed: int) -> dict[str, Any]:
    """Run :func:`main` on ``sets`` in a child process; its JSON outcome.

    Raises:
        TrainingError: The child failed (the loss became NaN, or it crashed).

    """
    with tempfile.TemporaryDirectory(prefix="ganlab-cas-") as scratch:
        path = Path(scratch) / "sets.npz"
        np.savez(path, **{f"{name}_{part}": array for name, pair in sets.items()
                          for part, array in zip(("x", "y"), pair, strict=True)})
        outcome = run_json_child(__name__, [str(path), str(classes), str(epochs), str(seed)],
                                 capture_stderr=True)
    if not outcome.ok:
        raise TrainingError(outcome.answer.get("error") or
                            f"Training the CAS classifier failed (exit {outcome.returncode}): "
                            f"{' / '.join(outcome.stderr_tail) or 'no message'}.")
    return outcome.answer


def fit_and_test(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                 classes: int, epochs: int, seed: int) -> tuple[float, list[float | None]]:
    """Train the domain classifier's recipe on ``train`` from ``seed``; accuracy on ``test``.

    Returns:
        The accuracy and the accuracy per class (``None`` for a class ``test`` lacks).

    Raises:
        TrainingError: The loss became NaN.

    """
    import keras
    import tensorflow as tf

    from ganlab_builtins.classifier.protocol import SINGLE_LABEL
    from ganlab_builtins.classifier.training import (
        DEFAULT_BATCH_SIZE,
        PREDICT_BATCH,
        LabelSpec,
        compile_classifier,
    )

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    images, labels = train
    model = compile_classifier(images.shape[1:],
                               LabelSpec(SINGLE_LABEL, [str(k) for k in range(classes)]))
    data = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32))).shuffle(
        len(images), seed=seed, reshuffle_each_iteration=True).batch(DEFAULT_BATCH_SIZE)
    losses = model.fit(data, epochs=epochs, verbose=0).history.get("loss", [])
    if not losses or not np.all(np.isfinite(losses)):
        raise TrainingError("Training the CAS classifier failed: its loss became "
                            f"{losses[-1] if losses else 'undefined'}.")
    test_images, test_labels = test
    answers = np.concatenate([np.asarray(model(test_images[i:i + PREDICT_BATCH],
                                               training=False)).argmax(axis=1)
                              for i in range(0, len(test_images), PREDICT_BATCH)])
    right = answers == test_labels
    per_class = [round(float(right[test_labels == k].mean()), 4) if np.any(test_labels == k)
                 else None for k in range(classes)]
    return float(right.mean()), per_class


def main(argv: Sequence[str] | None = None) -> int:
    """Child process: ``SETS.npz CLASSES EPOCHS SEED`` → one JSON line of accuracies."""
    path, classes, epochs, seed = argv if argv is not None else sys.argv[1:]
    arrays = np.load(path, allow_pickle=False)
    sets = {name: (arrays[f"{name}_x"], arrays[f"{name}_y"])
            for name in ("train", "test", "reference") if f"{name}_x" in arrays}
    try:
        cas, per_class = fit_and_test(sets["train"], sets["test"], int(classes), int(epochs),
                                      int(seed))
        outcome: dict[str, Any] = {"ok": True, "cas": cas, "per_class": per_class}
        if "reference" in sets:
            outcome["reference"] = fit_and_test(sets["reference"], sets["test"], int(classes),
                                                int(epochs), int(seed))[0]
    except TrainingError as exc:
        outcome = {"ok": False, "error": str(exc)}
    print(json.dumps(outcome))
    return 0 if outcome["ok"] else 2
