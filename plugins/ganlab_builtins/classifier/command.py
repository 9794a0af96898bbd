"""``ganlab train-classifier EXPERIMENT.yaml``: train the experiment dataset's domain classifier.

Importing this module loads click only; TensorFlow is imported when the
command runs.
"""

from __future__ import annotations

from typing import Any

import click


@click.command("train-classifier",
               short_help="Train the domain classifier (for metrics) on the dataset's labels.")
@click.argument("experiment_file", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a key of the experiment (repeatable).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Training epochs (default: enough to see about 60,000 images, at most 15).")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of weights and data order (default: 2015, the same for every "
                   "experiment on the data, as when a run trains it by itself).")
@click.option("--train-split", default="train", show_default=True,
              help="Split to train on.")
@click.option("--test-split", default="test", show_default=True,
              help="Held-out split the accuracy is measured on.")
@click.option("--overwrite", is_flag=True,
              help="Replace an existing classifier (the old one stays until the new one is "
                   "trained and saved).")
@click.option("--quiet", is_flag=True, help="No per-epoch progress.")
@click.pass_obj
def train_classifier_command(state: Any, experiment_file: str, overrides: tuple[str, ...],
                             epochs: int | None, batch_size: int, seed: int | None,
                             train_split: str, test_split: str, overwrite: bool,
                             quiet: bool) -> None:
    """Train a small CNN on the labels of EXPERIMENT_FILE's dataset, saved beside its TFRecords.

    Digit-like labels (image/class/label) give a softmax classifier, attributes
    (image/attributes, e.g. CelebA's 40) one sigmoid per attribute. It trains
    on --train-split, reports held-out accuracy per class or attribute on
    --test-split, and saves <tfrecords>/.ganlab-classifier/domain.keras with its
    protocol and sha256 in domain.json, where the `domain` feature extractor
    (FID, KID, classifier score ...) finds it. The TFRecords are prepared
    first when they are missing and the raw data is there.
    """
    from ganlab.commands.data import experiment_dataset

    from .training import DEFAULT_SEED, TrainSettings, train_classifier

    experiment, dataset = experiment_dataset(state, experiment_file, overrides)
    if not dataset.is_prepared():
        click.echo(f"Preparing TFRecords in {dataset.tfrecords} ...", err=True)
        dataset.prepare()
    settings = TrainSettings(train_split=train_split, test_split=test_split, epochs=epochs,
                             batch_size=batch_size,
                             seed=DEFAULT_SEED if seed is None else seed,
                             overwrite=overwrite, verbose=0 if quiet else 2)
    protocol = train_classifier(dataset, settings, report=lambda line: click.echo(line, err=True))
    echo_protocol(protocol, str(dataset.tfrecords))


def echo_protocol(protocol: Any, tfrecords: str) -> None:
    """Print the held-out accuracies and where the classifier was saved."""
    for line in echo_protocol_lines(protocol, tfrecords):
        click.echo(line)


def echo_protocol_lines(protocol: Any, tfrecords: str) -> list[str]:
    """The held-out accuracies and where the classifier was saved, as lines."""
    from .protocol import model_path, protocol_path

    test = protocol.splits["test"]
    noun = "attribute" if protocol.multi_label else "class"
    overall = "mean per-attribute accuracy" if protocol.multi_label else "accuracy"
    width = max(len(name) for name in protocol.per_label_accuracy)
    return [f"Held-out {overall} on {protocol.counts['test']} '{test}' images: "
            f"{protocol.accuracy:.2%} (always answering the commonest {noun}: "
            f"{protocol.baseline_accuracy:.2%}); trained {protocol.epochs} epochs on "
            f"{protocol.counts['train']} '{protocol.splits['train']}' images in "
            f"{protocol.trained_seconds:.0f} s.",
            f"Per {noun}:",
            *(f"  {name:<{width}}  {accuracy:.2%}"
              for name, accuracy in protocol.per_label_accuracy.items()),
            calibration_line(protocol),
            f"Saved {model_path(tfrecords)} (sha256 {protocol.weights_sha256[:16]}...) and "
            f"its protocol {protocol_path(tfrecords)}."]


def calibration_line(protocol: Any) -> str:
    """The fitted temperature and the expected calibration error before and after it."""
    if not protocol.calibrated:
        return "Uncalibrated (T=1): trained before ganlab calibrated its classifiers."
    info = protocol.calibration
    return (f"Calibrated by temperature scaling: T={protocol.temperature:.3f}, fitted on "
            f"{info['fit_on']}; expected calibration error ({info['ece_bins']} bins, "
            f"{info['ece_kind']}) on {info['reported_on']}: {info['ece_before']:.2%} before, "
            f"{info['ece_after']:.2%} after (NLL {info['nll_before']:.3f} -> "
            f"{info['nll_after']:.3f}); accuracies do not change with T.")
