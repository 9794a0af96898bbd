"""class_agreement and cas on bar images, with generator stand-ins built from Keras layers."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from bars_plugin import CLASSES, SIDE, Bars, bar_rows
from ganlab_builtins.metrics.conditional import ClassAgreement, ClassificationAccuracyScore
from ganlab_builtins.metrics.scorers import ClassifierScore

from ganlab.errors import ConfigError
from ganlab.evaluation import EvaluationContext, latent_batches
from ganlab.plugins import load_plugins

PLUGIN = str(Path(__file__).with_name("bars_plugin.py"))
NOISE = 4
LATENT_DIM = NOISE + CLASSES
SEED = 3


def bar_generator(drawn: list[int]) -> keras.Model:
    """A conditional generator that draws class ``drawn[k]``'s bar when asked for class k.

    Dense layers with set weights: a sharp softmax turns the class entries into a
    one-hot, a second layer paints that class's bar, the noise entries add texture.
    """
    latents = keras.Input((LATENT_DIM,))
    pick = np.zeros((LATENT_DIM, CLASSES), np.float32)
    pick[NOISE:] = 60.0 * np.eye(CLASSES)
    one_hot = keras.layers.Dense(CLASSES, activation="softmax", name="pick")(latents)
    paint = np.full((CLASSES, SIDE, SIDE), -2.0, np.float32)
    for asked, shown in enumerate(drawn):
        paint[asked, bar_rows(shown), 2:14] = 2.0
    painted = keras.layers.Dense(SIDE * SIDE, name="paint")(one_hot)
    texture = keras.layers.Dense(SIDE * SIDE, use_bias=False, name="texture")(latents)
    pixels = keras.layers.Activation("tanh")(keras.layers.Add()([painted, texture]))
    model = keras.Model(latents, keras.layers.Reshape((SIDE, SIDE, 1))(pixels))
    model.get_layer("pick").set_weights([pick, np.zeros(CLASSES, np.float32)])
    model.get_layer("paint").set_weights([paint.reshape(CLASSES, -1),
                                          np.zeros(SIDE * SIDE, np.float32)])
    noise = np.zeros((LATENT_DIM, SIDE * SIDE), np.float32)
    noise[:NOISE] = np.random.default_rng(0).normal(0, 0.3, (NOISE, SIDE * SIDE))
    model.get_layer("texture").set_weights([noise])
    return model


def context(generator: keras.Model | None, *, num_classes: int = CLASSES,
            baseline: str | None = None) -> EvaluationContext:
    return EvaluationContext(generator=generator, latent_dim=LATENT_DIM,
                             latent_distribution="normal", image_shape=(SIDE, SIDE, 1),
                             dataset=Bars(), registry=load_plugins([PLUGIN]).registry, seed=SEED,
                             num_classes=num_classes, baseline_split=baseline)


RIGHT = list(range(CLASSES))
#: Draws the top bar when asked for the bottom one.
WRONG_LAST = [*range(CLASSES - 1), 0]


def test_class_agreement_matches_a_hand_count() -> None:
    result = ClassAgreement(extractor="bar_reader", num_samples=300, batch_size=64).compute(
        None, None, context=context(bar_generator(WRONG_LAST)))
    latents = np.concatenate(list(latent_batches(300, LATENT_DIM, "normal", SEED, 64)))
    asked = latents[:, -CLASSES:].argmax(axis=1)
    assert result.scores["class_agreement"] == pytest.approx(np.mean(asked != CLASSES - 1))
    assert result.scores["class_agreement_worst"] == 0.0
    assert result.details["per_class"] == {"top": 1.0, "upper": 1.0, "lower": 1.0,
                                           "bottom": 0.0}
    assert result.details["classifier_calibration"] == "not a trained classifier"
    assert result.protocol.num_fake == 300 and result.protocol.samples == "generator"


def test_class_agreement_of_real_images_is_the_classifier_accuracy() -> None:
    result = ClassAgreement(extractor="bar_reader", num_samples=40).compute(
        None, None, context=context(None, baseline="test"))
    images, labels = Bars().images("test"), Bars().labels("test")
    picked = np.arange(40) * 2  # 40 of 80, evenly spaced
    reader = load_plugins([PLUGIN]).registry.create("feature_extractor", "bar_reader", {})
    answers = reader.probabilities(images[picked] / 127.5 - 1).argmax(axis=1)
    assert result.scores["class_agreement"] == pytest.approx(np.mean(answers == labels[picked]))
    assert result.protocol.samples == "real:test"


def test_classifier_score_records_how_the_classifier_is_calibrated() -> None:
    result = ClassifierScore(extractor="bar_reader", num_samples=40).compute(
        None, None, context=context(bar_generator(RIGHT)))
    assert result.details["classifier_calibration"] == "not a trained classifier"


@pytest.mark.parametrize("metric", [ClassAgreement(extractor="bar_reader"),
                                    ClassificationAccuracyScore()])
def test_unconditional_generators_are_refused(metric) -> None:
    unconditional = context(bar_generator(RIGHT), num_classes=0)
    with pytest.raises(ConfigError, match="needs a class-conditional run"):
        metric.compute(None, None, context=unconditional)


def test_cas_trains_on_generated_images_and_tests_on_real_ones() -> None:
    # One child process trains both classifiers (the CAS one and the real reference).
    result = ClassificationAccuracyScore(num_samples=160, epochs=3, split="test",
                                         batch_size=80).compute(
        None, None, context=context(bar_generator(WRONG_LAST)))
    per_class = result.details["cas_per_class"]
    # Learnt from generated bars alone, it reads the real middle bars ...
    assert per_class["upper"] >= 0.9 and per_class["lower"] >= 0.9
    # ... but never shown a bottom bar (asked for, the generator drew the top one), it
    # misses every real one, and it confuses the two meanings of the top bar.
    assert per_class["bottom"] == 0.0 and per_class["top"] < 0.9
    assert result.scores["cas"] == pytest.approx(np.mean(list(per_class.values())))
    assert result.scores["cas"] <= 0.75
    # The same recipe on as many real images reads them all.
    assert result.details["real_accuracy"] >= 0.9 and result.details["real_images"] == 160
    assert (result.protocol.num_fake, result.protocol.num_real) == (160, 80)
    assert result.protocol.real_split == "test" and result.details["epochs"] == 3


def test_cas_refuses_to_test_on_the_split_it_trains_on() -> None:
    with pytest.raises(ConfigError, match="held out"):
        ClassificationAccuracyScore(split="train").compute(
            None, None, context=context(bar_generator(RIGHT)))
