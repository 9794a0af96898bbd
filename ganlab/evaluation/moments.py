"""Streaming feature statistics: running mean and covariance in float64.

The Fréchet distance needs only the mean and covariance of each feature
set, so they are accumulated batch by batch (Chan et al.'s pairwise update)
and no ``(n, d)`` matrix has to exist. KID and precision/recall need every
feature vector; :class:`FeatureSummary` then keeps them as well (float32,
``n × d``: 50,000 × 2048 is 400 MB), but never the images.

This module imports numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class RunningMoments:
    """Mean and covariance of a stream of ``(batch, d)`` feature batches, in float64.

    Batches are merged with the pairwise update of Chan, Golub & LeVeque
    (1979): the centred sum of squares of the union of two sets is the sum
    of each set's plus ``δ δᵀ · n_a n_b / (n_a + n_b)`` with ``δ`` the
    difference of their means. It stays accurate where the textbook
    ``Σxxᵀ − n μμᵀ`` loses digits to cancellation (features with a large
    mean and a small spread).
    """

    def __init__(self) -> None:
        self.count = 0
        self._mean: np.ndarray | None = None
        self._scatter: np.ndarray | None = None  # centred sum of outer products

    def update(self, batch: np.ndarray) -> None:
        """Add the rows of ``batch`` (``(n, d)``) to the statistics."""
        batch = np.asarray(batch, dtype=np.float64)
        if batch.ndim != 2:
            raise ValueError(f"features must be a (n, d) array, got shape {batch.shape}")
        n = batch.shape[0]
        if n == 0:
            return
        batch_mean = batch.mean(axis=0)
        centred = batch - batch_mean
        batch_scatter = centred.T @ centred
        if self._mean is None:
            self.count, self._mean, self._scatter = n, batch_mean, batch_scatter
            return
        if batch.shape[1] != self._mean.shape[0]:
            raise ValueError(f"features of width {batch.shape[1]} after width "
                             f"{self._mean.shape[0]}")
        total = self.count + n
        delta = batch_mean - self._mean
        self._scatter += batch_scatter + np.outer(delta, delta) * (self.count * n / total)
        self._mean += delta * (n / total)
        self.count = total

    @property
    def mean(self) -> np.ndarray:
        """The ``(d,)`` mean (float64)."""
        if self._mean is None:
            raise ValueError("no features were added")
        return self._mean.copy()

    @property
    def covariance(self) -> np.ndarray:
        """The ``(d, d)`` unbiased sample covariance (float64; needs two rows or more)."""
        if self._scatter is None or self.count < 2:
            raise ValueError(f"a covariance needs at least 2 samples, got {self.count}")
        return self._scatter / (self.count - 1)


@dataclass(frozen=True)
class FeatureSummary:
    """What a metric gets about one side (real or generated) of a comparison.

    Attributes:
        count: Number of samples summarised.
        mean: ``(d,)`` float64 mean of the features.
        covariance: ``(d, d)`` float64 unbiased covariance.
        features: ``(count, d)`` float32 features, or ``None`` when only the
            moments were asked for (FID).

    """

    count: int
    mean: np.ndarray
    covariance: np.ndarray
    features: np.ndarray | None = None


class SummaryBuilder:
    """Accumulates a :class:`FeatureSummary` batch by batch.

    Args:
        keep_features: Also keep every feature row (KID, precision/recall).

    """

    def __init__(self, keep_features: bool):
        self.moments = RunningMoments()
        self.keep_features = keep_features
        self._rows: list[np.ndarray] = []

    def update(self, features: np.ndarray) -> None:
        """Add one batch of features."""
        self.moments.update(features)
        if self.keep_features:
            self._rows.append(np.asarray(features, dtype=np.float32))

    def result(self) -> FeatureSummary:
        """The summary of everything added."""
        features = np.concatenate(self._rows) if self.keep_features else None
        return FeatureSummary(self.moments.count, self.moments.mean, self.moments.covariance,
                              features)
