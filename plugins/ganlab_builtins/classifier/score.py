"""The classifier score of a set of class probabilities (the Inception-Score formula).

``exp(E_x[KL(p(y|x) || p(y))])`` (Salimans et al., 2016, "Improved Techniques
for Training GANs"), computed with the domain classifier instead of Inception:
it is high (up to the number of classes) when each sample is confidently one
class and the classes are evenly used. The quickstart's 1,000 real held-out
MNIST digits score 9.6 of 10 with the domain classifier trained on the other
4,000.

This module uses numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: A sample counts as confidently classified when its top probability is at least this.
CONFIDENT = 0.9
EPSILON = 1e-12


@dataclass(frozen=True)
class ClassifierScore:
    """The score, the share of confident samples and the class histogram.

    Attributes:
        score: ``exp(E[KL(p(y|x) || p(y))])``, between 1 and the class count.
        confident: Share of samples whose top class probability is ≥ 0.9.
        histogram: Samples per (top) class.

    """

    score: float
    confident: float
    histogram: list[int]


def classifier_score(probabilities: np.ndarray, confident_at: float = CONFIDENT) -> ClassifierScore:
    """Score ``(n, k)`` softmax rows (one row per sample).

    Raises:
        ValueError: ``probabilities`` is not a non-empty 2-D array.

    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or not len(p):
        raise ValueError(f"expected (n, classes) probabilities, got shape {p.shape}")
    marginal = p.mean(axis=0, keepdims=True)
    kl = (p * (np.log(p + EPSILON) - np.log(marginal + EPSILON))).sum(axis=1)
    histogram = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    return ClassifierScore(score=float(np.exp(kl.mean())),
                           confident=float((p.max(axis=1) >= confident_at).mean()),
                           histogram=[int(n) for n in histogram])
