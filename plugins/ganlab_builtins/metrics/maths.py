"""The mathematics of the built-in metrics, on numpy arrays, in float64.

- :func:`frechet_distance`: the Fréchet distance between two Gaussians
  (FID; Heusel et al. 2017).
- :func:`kernel_inception_distance`: unbiased MMD² with the cubic polynomial
  kernel over random subsets (KID; Bińkowski et al. 2018).
- :func:`precision_recall`: improved precision and recall through k-NN
  balls (Kynkäänniemi et al. 2019).
- :func:`classifier_score`: the Inception-Score formula over any classifier's
  probabilities (Salimans et al. 2016), with the confident share and a
  class histogram; :func:`split_classifier_scores`: the same over splits, as
  the published Inception Score.

Nothing here depends on TensorFlow or on where the features come from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Rows of a pairwise-distance block (precision/recall): 256 × 50,000 float64 = 100 MB.
DISTANCE_BLOCK_ROWS = 256


# -- Fréchet distance ------------------------------------------------------------------------
def clip_rounding(eigenvalues: np.ndarray) -> np.ndarray:
    """PSD eigenvalues with rounding noise set to zero.

    ``eigh`` finds a zero eigenvalue only to within ``n·ε·λ_max`` (slightly
    negative or positive); the square root would blow that noise up to
    ``sqrt(n·ε·λ_max)`` per eigenvalue, which matters for the rank-deficient
    covariances of fewer samples than feature dimensions. The threshold is
    ``numpy.linalg.matrix_rank``'s.
    """
    noise = len(eigenvalues) * np.finfo(np.float64).eps * np.abs(eigenvalues).max()
    return np.where(eigenvalues > noise, eigenvalues, 0.0)


def psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix, through ``eigh``."""
    matrix = np.asarray(matrix, dtype=np.float64)
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (eigenvectors * np.sqrt(clip_rounding(eigenvalues))) @ eigenvectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr sqrt(Σ1 Σ2)`` for covariance matrices ``Σ1``, ``Σ2``.

    ``Σ1 Σ2`` is not symmetric, but it is similar to the symmetric PSD matrix
    ``M = sqrt(Σ1) Σ2 sqrt(Σ1)`` (conjugate by ``sqrt(Σ1)``), so both have
    the same non-negative eigenvalues and ``tr sqrt(Σ1 Σ2) = Σ sqrt(λ(M))``.
    Two symmetric eigendecompositions replace the general ``scipy.linalg.sqrtm``
    (a Schur decomposition in complex arithmetic), which is both slower and
    prone to spurious imaginary parts on near-singular covariances.
    """
    root = psd_sqrt(sigma1)
    inner = root @ np.asarray(sigma2, dtype=np.float64) @ root
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    return float(np.sqrt(clip_rounding(eigenvalues)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """Squared Fréchet (2-Wasserstein) distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr sqrt(Σ1 Σ2)``, in float64. This is
    FID when the Gaussians are fitted to Inception features of real and
    generated images.

    Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to
    a Local Nash Equilibrium", NeurIPS 2017, https://arxiv.org/abs/1706.08500;
    Dowson & Landau, "The Fréchet distance between multivariate normal
    distributions", J. Multivariate Analysis 1982.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape \
            or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched shapes: means {mu1.shape}, {mu2.shape}; covariances "
                         f"{sigma1.shape}, {sigma2.shape}")
    diff = mu1 - mu2
    distance = (diff @ diff + np.trace(sigma1) + np.trace(sigma2)
                - 2.0 * trace_sqrt_product(sigma1, sigma2))
    return max(float(distance), 0.0)  # rounding can leave -1e-12 for identical inputs


# -- KID -------------------------------------------------------------------------------------
def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The cubic kernel ``k(x, y) = (x·y / d + 1)³`` between the rows of ``x`` and ``y``."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased estimate of MMD² between samples ``x`` and ``y`` with the cubic kernel.

    ``1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j)
    − 2/(mn) Σ_{i,j} k(x_i, y_j)``: the diagonals are left out, so the
    estimate is unbiased and can be slightly negative when the two
    distributions agree.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"MMD² needs at least 2 samples on each side, got {m} and {n}")
    k_xx, k_yy = polynomial_kernel(x, x), polynomial_kernel(y, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * polynomial_kernel(x, y).mean())


def kernel_inception_distance(fake: np.ndarray, real: np.ndarray, *, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID: mean and standard deviation of :func:`mmd2_unbiased` over random subsets.

    Each of ``num_subsets`` rounds draws ``subset_size`` rows (without
    replacement) from each side; the subset size shrinks to the smaller
    side when there are fewer samples. The standard deviation is over the
    rounds (``ddof=0``), as in the authors' code.

    Bińkowski et al., "Demystifying MMD GANs", ICLR 2018,
    https://arxiv.org/abs/1801.01401 (section 4, "Kernel Inception Distance").
    """
    if num_subsets < 1 or subset_size < 2:
        raise ValueError("num_subsets must be >= 1 and subset_size >= 2")
    size = min(subset_size, len(fake), len(real))
    rng = np.random.default_rng(seed)
    estimates = [mmd2_unbiased(fake[rng.choice(len(fake), size, replace=False)],
                               real[rng.choice(len(real), size, replace=False)])
                 for _ in range(num_subsets)]
    return float(np.mean(estimates)), float(np.std(estimates))


# -- precision and recall --------------------------------------------------------------------
def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``‖a_i − b_j‖²`` for every pair of rows, in float64 (clipped at 0 against rounding)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    distances = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(distances, 0.0)


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each row to its k-th nearest other row.

    The row itself is its own nearest neighbour (distance 0), so the k-th
    *other* neighbour is at index ``k`` of the sorted distances.
    """
    if not 1 <= k < len(features):
        raise ValueError(f"k must be in [1, {len(features) - 1}] for {len(features)} samples, "
                         f"got {k}")
    radii = np.empty(len(features))
    for start in range(0, len(features), DISTANCE_BLOCK_ROWS):
        block = squared_distances(features[start:start + DISTANCE_BLOCK_ROWS], features)
        radii[start:start + len(block)] = np.partition(block, k, axis=1)[:, k]
    return radii


def coverage(queries: np.ndarray, support: np.ndarray, radii: np.ndarray) -> float:
    """Share of ``queries`` inside at least one ball ``(support_j, radius_j)`` (radii squared)."""
    inside = 0
    for start in range(0, len(queries), DISTANCE_BLOCK_ROWS):
        block = squared_distances(queries[start:start + DISTANCE_BLOCK_ROWS], support)
        inside += int(np.any(block <= radii[None, :], axis=1).sum())
    return inside / len(queries)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of ``fake`` against ``real`` features.

    Each set's manifold is the union of balls around its samples, each ball
    reaching the sample's k-th nearest neighbour in the same set. Precision
    is the share of generated samples inside the real manifold (quality);
    recall the share of real samples inside the generated one (coverage).
    Distances are computed in blocks of rows, never as one ``n × n`` matrix.

    Kynkäänniemi et al., "Improved Precision and Recall Metric for Assessing
    Generative Models", NeurIPS 2019, https://arxiv.org/abs/1904.06991
    (section 2; k = 3 as recommended there).
    """
    precision = coverage(fake, real, knn_radii(real, k))
    recall = coverage(real, fake, knn_radii(fake, k))
    return precision, recall


# -- classifier score ------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassifierScores:
    """What :func:`classifier_score` reports.

    Attributes:
        score: ``exp(E_x[KL(p(y|x) ‖ p(y))])``.
        confident_share: Share of confident decisions (see :func:`classifier_score`).
        histogram: Per class, how many samples the classifier assigns to it.

    """

    score: float
    confident_share: float
    histogram: list[int]


def classifier_score(probabilities: np.ndarray, *, multi_label: bool = False,
                     threshold: float = 0.9) -> ClassifierScores:
    """The Inception-Score formula over a classifier's probabilities.

    Single-label (softmax rows ``p(y|x)``): ``exp(E_x[KL(p(y|x) ‖ p(y))])``
    with ``p(y)`` the mean row. It lies in [1, number of classes]: high when
    each sample is classified confidently *and* the classes are used evenly.
    A sample is confident when its largest probability is at least
    ``threshold``; the histogram counts each sample under its arg-max class.

    Multi-label (independent per-attribute sigmoids ``p_a(x)``): every
    attribute is a yes/no question, so the formula is applied to each as a
    Bernoulli variable and the KL divergences are averaged over attributes:
    ``exp(mean_a E_x[KL(Bern(p_a(x)) ‖ Bern(p̄_a))])``, in [1, 2]: the
    geometric mean of the per-attribute scores. A decision is confident when
    ``max(p, 1 − p) >= threshold``; the confident share is over all
    (sample, attribute) decisions; the histogram counts, per attribute, the
    samples with ``p >= 0.5``.

    Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016,
    https://arxiv.org/abs/1606.03498 (section 4, the Inception score).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probabilities must be a non-empty (n, classes) array, got {p.shape}")
    if not 0.5 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0.5, 1], got {threshold}")
    if multi_label:
        return _multi_label_score(p, threshold)
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-30)
    kl = _kl_terms(p, p.mean(axis=0, keepdims=True)).sum(axis=1)
    histogram = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    return ClassifierScores(float(np.exp(kl.mean())), float((p.max(axis=1) >= threshold).mean()),
                            [int(v) for v in histogram])


def split_classifier_scores(probabilities: np.ndarray, splits: int
                            ) -> tuple[float, float, list[float]]:
    """The Inception Score as published: :func:`classifier_score` on each of ``splits`` parts.

    The rows are cut in order into ``splits`` parts (part ``i``: rows
    ``i·n // splits`` to ``(i+1)·n // splits``), each scored with its own
    marginal ``p(y)``; the result is the mean and the (population) standard
    deviation over the parts, and the parts' scores, as in the Inception
    Score reference code of Salimans et al. 2016 (openai/improved-gan).

    Raises:
        ValueError: Fewer rows than splits, or ``splits`` < 1.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if splits < 1 or p.ndim != 2 or len(p) < splits:
        raise ValueError(f"{splits} splits need at least as many probability rows, "
                         f"got shape {p.shape}")
    n = len(p)
    scores = [classifier_score(p[i * n // splits:(i + 1) * n // splits]).score
              for i in range(splits)]
    return float(np.mean(scores)), float(np.std(scores)), scores


def _multi_label_score(p: np.ndarray, threshold: float) -> ClassifierScores:
    marginal = p.mean(axis=0, keepdims=True)
    kl = _kl_terms(p, marginal) + _kl_terms(1.0 - p, 1.0 - marginal)
    confident = np.maximum(p, 1.0 - p) >= threshold
    return ClassifierScores(float(np.exp(kl.mean())), float(confident.mean()),
                            [int(v) for v in (p >= 0.5).sum(axis=0)])


def _kl_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Elementwise ``p log(p / q)`` with ``0 log 0 = 0`` (``q > 0`` wherever ``p > 0``)."""
    q = np.broadcast_to(q, p.shape)
    positive = p > 0
    terms = np.zeros_like(p)
    terms[positive] = p[positive] * (np.log(p[positive]) - np.log(q[positive]))
    return terms
