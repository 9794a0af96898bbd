"""Temperature scaling and the expected calibration error of the domain classifier."""

from __future__ import annotations

import numpy as np
import pytest
from ganlab_builtins.classifier.calibration import (
    calibrate,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    probabilities,
    softmax,
)


def _softmax_data(temperature: float, n: int = 20_000, k: int = 10, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``T`` times sharper than the distribution the labels are drawn from."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0.0, 2.0, size=(n, k))
    p = softmax(true_logits)
    labels = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return true_logits * temperature, labels


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.5])
def test_fit_recovers_a_known_softmax_temperature(temperature: float) -> None:
    logits, labels = _softmax_data(temperature)
    fitted = fit_temperature(logits, labels, multi_label=False)
    assert fitted == pytest.approx(temperature, rel=0.05)
    # The fit is the NLL's minimum: a little either side is worse.
    best = negative_log_likelihood(logits, labels, fitted, multi_label=False)
    for other in (fitted * 0.9, fitted * 1.1):
        assert negative_log_likelihood(logits, labels, other, multi_label=False) > best


def test_fit_recovers_a_known_sigmoid_temperature() -> None:
    rng = np.random.default_rng(1)
    true_logits = rng.normal(0.0, 2.0, size=(5_000, 4))
    targets = (rng.random(true_logits.shape) < 1 / (1 + np.exp(-true_logits))).astype(int)
    fitted = fit_temperature(true_logits * 3.0, targets, multi_label=True)
    assert fitted == pytest.approx(3.0, rel=0.06)


def test_ece_matches_a_hand_computation() -> None:
    # Top-label confidences 0.95, 0.95, 0.55, 0.40 -> bins 15, 15, 9, 6 of 15.
    probs = np.array([[0.95, 0.05], [0.05, 0.95], [0.55, 0.45], [0.40, 0.30]])
    probs[3] = [0.40, 0.30]  # a row that does not sum to 1 still has a top label
    labels = np.array([0, 0, 0, 1])
    # bin 15: confidence 0.95, accuracy 1/2 -> |0.5 - 0.95| * 2/4
    # bin 9: confidence 0.55, accuracy 1 -> 0.45 * 1/4; bin 6: 0.40, accuracy 0 -> 0.40 / 4
    expected = 0.45 * 2 / 4 + 0.45 / 4 + 0.40 / 4
    assert expected_calibration_error(probs, labels, multi_label=False) == pytest.approx(expected)


def test_multi_label_ece_counts_every_attribute_decision() -> None:
    probs = np.array([[0.9, 0.2], [0.7, 0.6]])
    targets = np.array([[1, 0], [0, 1]])
    # Decisions: conf .9 right, .8 right, .7 wrong, .6 right; bins 14, 12, 11, 9 (all apart).
    expected = (0.1 + 0.2 + 0.7 + 0.4) / 4
    assert expected_calibration_error(probs, targets, multi_label=True) == pytest.approx(expected)


def test_calibrate_fits_on_half_and_reports_on_the_other() -> None:
    logits, labels = _softmax_data(3.0, n=4_000, seed=2)
    result = calibrate(logits, labels, multi_label=False)
    assert (result.fit_count, result.report_count) == (2_000, 2_000)
    assert result.temperature == pytest.approx(
        fit_temperature(logits[::2], labels[::2], multi_label=False))
    assert result.ece_after < result.ece_before / 3
    assert result.nll_after < result.nll_before
    # The answers do not move with T: the accuracy is the same before and after.
    before = probabilities(logits, 1.0, multi_label=False).argmax(axis=1)
    after = probabilities(logits, result.temperature, multi_label=False).argmax(axis=1)
    np.testing.assert_array_equal(before, after)
