"""The metrics' mathematics against independent references (scipy, closed forms, loops)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.linalg
from ganlab_builtins.metrics import maths
from ganlab_builtins.metrics.maths import (
    classifier_score,
    frechet_distance,
    kernel_inception_distance,
    knn_radii,
    mmd2_unbiased,
    precision_recall,
    trace_sqrt_product,
)

from ganlab.evaluation import RunningMoments, latent_batches
from ganlab.latents import sample_latents


def random_covariance(rng: np.random.Generator, d: int, samples: int | None = None) -> np.ndarray:
    """A covariance estimated from Gaussian samples (rank-deficient when samples <= d)."""
    mixing = rng.standard_normal((d, d)) * rng.uniform(0.1, 3.0, size=d)
    points = rng.standard_normal((samples or 4 * d, d)) @ mixing
    return np.cov(points, rowvar=False)


# -- Fréchet distance ------------------------------------------------------------------------
@pytest.mark.parametrize("d,seed", [(2, 0), (16, 1), (64, 2)])
def test_trace_sqrt_matches_scipy_sqrtm(d: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    sigma1, sigma2 = random_covariance(rng, d), random_covariance(rng, d)
    reference = np.trace(scipy.linalg.sqrtm(sigma1 @ sigma2)).real
    assert trace_sqrt_product(sigma1, sigma2) == pytest.approx(reference, rel=1e-9)


@pytest.mark.parametrize("seed", [3, 4])
def test_frechet_distance_matches_the_scipy_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = 32
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d) + 0.5
    sigma1, sigma2 = random_covariance(rng, d), random_covariance(rng, d)
    root = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    reference = (np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2)
                 - 2 * np.trace(root))
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(reference, rel=1e-9)


def test_frechet_distance_closed_forms() -> None:
    rng = np.random.default_rng(5)
    # One dimension: (μ1 − μ2)² + (σ1 − σ2)².
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]),
                            np.array([[9.0]])) == pytest.approx(9.0 + 1.0)
    # Diagonal (commuting) covariances: ‖Δμ‖² + Σ (√a − √b)².
    a, b = rng.uniform(0.1, 5, 10), rng.uniform(0.1, 5, 10)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected,
                                                                               rel=1e-12)
    # A full covariance against a scaled copy, Σ2 = k²Σ1: ‖Δμ‖² + (1 − k)² tr Σ1.
    sigma = random_covariance(rng, 20)
    expected = (1 - 3.0) ** 2 * np.trace(sigma)
    assert frechet_distance(np.zeros(20), sigma, np.zeros(20), 9.0 * sigma) == pytest.approx(
        expected, rel=1e-9)


def test_frechet_distance_of_identical_and_singular_statistics() -> None:
    rng = np.random.default_rng(6)
    singular = random_covariance(rng, 40, samples=10)  # rank 9 of 40
    mu = rng.normal(size=40)
    assert np.linalg.matrix_rank(singular) < 40
    assert frechet_distance(mu, singular, mu, singular) == pytest.approx(0.0, abs=1e-8)
    # Scaled singular copy: the closed form still holds where sqrtm is unreliable.
    assert frechet_distance(mu, singular, mu, 4.0 * singular) == pytest.approx(
        np.trace(singular), rel=1e-8)


def test_frechet_distance_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="mismatched"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# -- streaming moments -----------------------------------------------------------------------
def test_running_moments_match_numpy_over_uneven_batches() -> None:
    rng = np.random.default_rng(7)
    # A large mean and a small spread: the case where Σxxᵀ − nμμᵀ loses digits.
    features = 1e4 + rng.standard_normal((1000, 12)) * rng.uniform(0.01, 2, size=12)
    moments = RunningMoments()
    start = 0
    for size in itertools.cycle([1, 7, 64, 250, 3]):
        moments.update(features[start:start + size].astype(np.float64))
        start += size
        if start >= len(features):
            break
    assert moments.count == 1000
    np.testing.assert_allclose(moments.mean, features.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(moments.covariance, np.cov(features, rowvar=False), rtol=1e-9,
                               atol=1e-12)


def test_running_moments_need_two_samples() -> None:
    moments = RunningMoments()
    moments.update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        _ = moments.covariance


def test_latent_batches_concatenate_to_sample_latents() -> None:
    for distribution in ("normal", "uniform"):
        batches = list(latent_batches(1003, 8, distribution, seed=11, batch_size=100))
        assert [len(b) for b in batches] == [100] * 10 + [3]
        np.testing.assert_array_equal(np.concatenate(batches),
                                      sample_latents(1003, 8, distribution, 11))


# -- KID -------------------------------------------------------------------------------------
def direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD² estimator written as its defining double sums."""
    d = x.shape[1]

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (float(np.dot(a, b)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_the_direct_double_sum() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(9, 5)), rng.normal(loc=0.3, size=(12, 5))
    assert mmd2_unbiased(x, y) == pytest.approx(direct_mmd2(x, y), rel=1e-12)


def test_kid_with_one_full_subset_is_the_mmd2_of_the_sets() -> None:
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
    mean, std = kernel_inception_distance(x, y, num_subsets=1, subset_size=1000)
    assert mean == pytest.approx(direct_mmd2(x, y), rel=1e-10) and std == 0.0


def test_kid_separates_equal_from_shifted_distributions() -> None:
    rng = np.random.default_rng(10)
    real = rng.normal(size=(300, 8))
    same = rng.normal(size=(300, 8))
    shifted = rng.normal(loc=0.5, size=(300, 8))
    same_mean, same_std = kernel_inception_distance(same, real, num_subsets=10, subset_size=100)
    shifted_mean, _ = kernel_inception_distance(shifted, real, num_subsets=10, subset_size=100)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert shifted_mean > 10 * max(abs(same_mean), same_std)
    # The same seed draws the same subsets.
    assert kernel_inception_distance(shifted, real, num_subsets=5, subset_size=50, seed=3) == \
        kernel_inception_distance(shifted, real, num_subsets=5, subset_size=50, seed=3)


# -- precision and recall --------------------------------------------------------------------
def test_knn_radii_match_a_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maths, "DISTANCE_BLOCK_ROWS", 7)  # several blocks, one ragged
    points = np.random.default_rng(11).normal(size=(50, 3))
    squared = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    expected = np.sort(squared, axis=1)[:, 3]  # index 0 is the point itself
    np.testing.assert_allclose(knn_radii(points, 3), expected, rtol=1e-9, atol=1e-12)


def test_precision_recall_on_point_clouds_with_known_overlap() -> None:
    rng = np.random.default_rng(12)
    real = rng.uniform(0, 1, size=(2000, 2))
    # Fake covers the right half of the real square and as much again outside it.
    fake = rng.uniform(0, 1, size=(2000, 2)) + np.array([0.5, 0.0])
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == pytest.approx(0.5, abs=0.04)
    assert recall == pytest.approx(0.5, abs=0.04)
    # Fake inside a quarter of the real support: all fakes are real-looking, a quarter of
    # the real data is covered.
    inner = rng.uniform(0, 0.5, size=(2000, 2))
    precision, recall = precision_recall(real, inner, k=3)
    assert precision > 0.97 and recall == pytest.approx(0.25, abs=0.04)


def test_precision_recall_extremes() -> None:
    rng = np.random.default_rng(13)
    real = rng.normal(size=(300, 8))
    assert precision_recall(real, real.copy(), k=3) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0, k=3) == (0.0, 0.0)
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(real[:3], real[:3], k=3)


# -- classifier score ------------------------------------------------------------------------
def test_classifier_score_single_label() -> None:
    balanced = np.eye(10)[np.arange(200) % 10]
    result = classifier_score(balanced)
    assert result.score == pytest.approx(10.0) and result.confident_share == 1.0
    assert result.histogram == [20] * 10
    one_class = classifier_score(np.eye(10)[np.zeros(50, dtype=int)])
    assert one_class.score == pytest.approx(1.0) and one_class.histogram[0] == 50
    undecided = classifier_score(np.full((40, 10), 0.1))
    assert undecided.score == pytest.approx(1.0) and undecided.confident_share == 0.0
    # Half the samples confident (0.95), half not (0.6): threshold 0.9.
    rows = np.array([[0.95, 0.05], [0.6, 0.4]] * 10)
    assert classifier_score(rows).confident_share == 0.5
    assert classifier_score(rows, threshold=0.55).confident_share == 1.0


def test_classifier_score_matches_the_kl_formula() -> None:
    rng = np.random.default_rng(14)
    logits = rng.normal(size=(100, 5)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    marginal = p.mean(0)
    expected = np.exp(np.mean([np.sum(row * np.log(row / marginal)) for row in p]))
    assert classifier_score(p).score == pytest.approx(expected, rel=1e-12)


def test_classifier_score_multi_label() -> None:
    # Two attributes, each decided for sure and present in half the samples: 2 per attribute.
    decided = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]] * 5)
    result = classifier_score(decided, multi_label=True)
    assert result.score == pytest.approx(2.0) and result.confident_share == 1.0
    assert result.histogram == [10, 10]
    unsure = classifier_score(np.full((20, 3), 0.5), multi_label=True)
    assert unsure.score == pytest.approx(1.0) and unsure.confident_share == 0.0
    # One attribute informative, one constant: the geometric mean sqrt(2 * 1).
    mixed = np.array([[1.0, 1.0], [0.0, 1.0]] * 5)
    assert classifier_score(mixed, multi_label=True).score == pytest.approx(np.sqrt(2.0))
