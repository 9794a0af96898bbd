"""Temperature scaling of the domain classifier, and its expected calibration error.

A network trained to a low loss on a few thousand images is overconfident:
its top probability is larger than the share of its answers that are right.
Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural
Networks", https://arxiv.org/abs/1706.04599) divides the logits by one scalar
``T`` fitted by minimising the negative log-likelihood on held-out logits.
It changes no answer (the argmax of a softmax and the sign of a sigmoid's
logit are the same at every ``T > 0``), so accuracies are unchanged; only the
probabilities move. For sigmoid outputs (one per attribute) one ``T`` is
shared by all attributes.

The expected calibration error (ECE) sorts the predictions into 15
equal-width confidence bins ``((m-1)/15, m/15]`` and averages, weighted by
the bins' sizes, the gap between each bin's accuracy and its mean
confidence. For a softmax it is the top-label ECE (confidence: the largest
probability; right: the argmax is the label); for sigmoids every (image,
attribute) pair is one binary prediction (confidence ``max(p, 1 - p)``;
right: ``p > 0.5`` matches the attribute).

This module uses numpy only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BINS = 15
#: The temperatures searched: 1/20 to 20 (log-spaced search).
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 20.0
_GOLDEN = (math.sqrt(5) - 1) / 2
_SEARCH_STEPS = 80


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function in float64."""
    z = np.asarray(logits, dtype=np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def probabilities(logits: np.ndarray, temperature: float = 1.0, *,
                  multi_label: bool) -> np.ndarray:
    """The calibrated probabilities ``softmax(logits / T)`` (or ``sigmoid`` per attribute)."""
    scaled = np.asarray(logits, dtype=np.float64) / float(temperature)
    return sigmoid(scaled) if multi_label else softmax(scaled)


def negative_log_likelihood(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0,
                            *, multi_label: bool) -> float:
    """Mean NLL of ``targets`` (class indices, or 0/1 attributes) under ``logits / T``."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    if multi_label:
        y = np.asarray(targets, dtype=np.float64)
        # log(1 + e^z) - y·z, the stable form of binary cross-entropy on logits.
        return float((np.logaddexp(0.0, z) - y * z).mean())
    labels = np.asarray(targets, dtype=np.int64)
    top = z.max(axis=1)
    log_norm = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return float((log_norm - z[np.arange(len(z)), labels]).mean())


def fit_temperature(logits: np.ndarray, targets: np.ndarray, *, multi_label: bool) -> float:
    """The ``T`` in [0.05, 20] minimising the held-out NLL of ``logits / T``.

    The NLL is convex in ``1/T``, hence unimodal in ``log T``: a golden-section
    search over ``log T`` finds the minimum to about 1e-9 relative precision.

    Raises:
        ValueError: No logits, or targets of another length.

    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or not len(z) or len(targets) != len(z):
        raise ValueError(f"expected (n, k) logits and n targets, got {z.shape} and "
                         f"{len(targets)}")

    def loss(log_t: float) -> float:
        return negative_log_likelihood(z, targets, math.exp(log_t), multi_label=multi_label)

    low, high = math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)
    a, b = high - _GOLDEN * (high - low), low + _GOLDEN * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(_SEARCH_STEPS):
        if loss_a <= loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - _GOLDEN * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + _GOLDEN * (high - low)
            loss_b = loss(b)
    return math.exp((low + high) / 2)


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, *, multi_label: bool,
                               bins: int = BINS) -> float:
    """The ECE of ``probs`` against ``targets`` with ``bins`` equal-width bins (see above).

    Raises:
        ValueError: No predictions, or targets of another length.

    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or not len(p) or len(targets) != len(p):
        raise ValueError(f"expected (n, k) probabilities and n targets, got {p.shape} and "
                         f"{len(targets)}")
    if multi_label:
        truth = np.asarray(targets).astype(bool).ravel()
        flat = p.ravel()
        confidence = np.maximum(flat, 1.0 - flat)
        right = (flat > 0.5) == truth
    else:
        confidence = p.max(axis=1)
        right = p.argmax(axis=1) == np.asarray(targets, dtype=np.int64)
    # Bin m (1-based) holds confidences in ((m-1)/bins, m/bins]; exactly 0 joins bin 1.
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for m in range(bins):
        members = index == m
        if members.any():
            total += members.sum() * abs(right[members].mean() - confidence[members].mean())
    return float(total / len(confidence))


@dataclass(frozen=True)
class Calibration:
    """A fitted temperature and what it did on the images it was not fitted on."""

    temperature: float
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    fit_count: int
    report_count: int


def calibrate(logits: np.ndarray, targets: np.ndarray, *, multi_label: bool) -> Calibration:
    """Fit ``T`` on the even positions of a held-out split, report on the odd ones.

    Halving by position (not first half / second half) keeps both halves
    representative when the split is stored grouped by class (the embedded
    MNIST sample is). The ECE and NLL before and after are measured on the
    half ``T`` was not fitted on, so they are not flattered by the fit.

    Raises:
        ValueError: Fewer than 2 held-out images.

    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(targets)
    if len(z) < 2:
        raise ValueError(f"calibration needs at least 2 held-out images, got {len(z)}")
    fit, report = slice(0, None, 2), slice(1, None, 2)
    temperature = fit_temperature(z[fit], y[fit], multi_label=multi_label)

    def ece(t: float) -> float:
        return expected_calibration_error(probabilities(z[report], t, multi_label=multi_label),
                                          y[report], multi_label=multi_label)

    def nll(t: float) -> float:
        return negative_log_likelihood(z[report], y[report], t, multi_label=multi_label)

    return Calibration(temperature=temperature, ece_before=ece(1.0), ece_after=ece(temperature),
                       nll_before=nll(1.0), nll_after=nll(temperature),
                       fit_count=len(z[fit]), report_count=len(z[report]))
