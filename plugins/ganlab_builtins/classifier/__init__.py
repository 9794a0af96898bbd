"""The built-in domain classifier: ``ganlab train-classifier`` and the ``domain`` extractor.

A small CNN trained by ganlab on the dataset's own labels (MNIST's digits, a
softmax; CelebA's 40 attributes, sigmoids), saved beside the TFRecords in
``<tfrecords>/.ganlab-classifier/`` (``domain.keras`` + ``domain.json``, its protocol
and sha256). The ``domain`` feature extractor loads it for the evaluation
metrics: its penultimate layer gives the features, its outputs the class or
attribute probabilities, calibrated by the temperature fitted on held-out
images at training (:mod:`.calibration`). :func:`load_domain_classifier` is the same thing for
plugins that want to classify images themselves.

Registration imports neither TensorFlow nor Keras: the factory and the
command import them when they are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ganlab import hookimpl

from .score import ClassifierScore, classifier_score

__all__ = ["ClassifierScore", "classifier_score", "domain", "load_domain_classifier"]


def domain(data_dir: str | Path | None = None, image_shape: Sequence[int] | None = None,
           batch_size: int = 256) -> Any:
    """The ``domain`` feature extractor of the TFRecord folder ``data_dir``.

    Args:
        data_dir: The dataset's TFRecord folder.
        image_shape: The shape of the images to score (checked).
        batch_size: Images per forward pass.

    Returns:
        A :class:`~ganlab_builtins.classifier.extractor.DomainClassifier`.

    Raises:
        DataError: No classifier trained there (run ``ganlab train-classifier
            EXPERIMENT.yaml``), or it does not match the file or the data.

    """
    from .extractor import domain_extractor

    return domain_extractor(data_dir=data_dir, image_shape=image_shape, batch_size=batch_size)


def load_domain_classifier(data_dir: str | Path, *, image_shape: Sequence[int] | None = None,
                           batch_size: int = 256) -> Any:
    """The checked domain classifier of a TFRecord folder, for plugins that classify images.

    The object has ``features``, ``probabilities`` and ``classify`` (hard
    answers) and its ``protocol`` (label names, accuracies).

    See :func:`ganlab_builtins.classifier.extractor.load_domain_classifier`.
    """
    from .extractor import load_domain_classifier as load

    return load(data_dir, image_shape=image_shape, batch_size=batch_size)


@hookimpl
def register_feature_extractors(register: Any) -> None:
    """Register the ``domain`` feature extractor."""
    register("domain", domain,
             description="ganlab's classifier trained on the dataset's own labels "
                         "(`ganlab train-classifier`); features: penultimate layer")


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``ganlab train-classifier``."""
    from .command import train_classifier_command

    cli.add_command(train_classifier_command)
