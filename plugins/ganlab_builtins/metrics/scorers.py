"""The built-in metric components: ``fid``, ``kid``, ``precision_recall``, ``classifier_score``.

Each scores a generator through the evaluation context the core passes to
``compute(generate, dataset, context=...)``: generated images are streamed
from seeded latents and real images from the TFRecords, both turned into
features batch by batch by a feature extractor (``domain`` unless the
``extractor`` param names another), and the real side is cached beside the
TFRecords. The result carries its protocol (extractor and weights hash,
sample counts, real split, image size and resize, seed, epoch).

Common params:

- ``extractor`` (``domain``) and ``extractor_params`` (``{}``): the feature
  extractor component and its params (e.g. ``{weights: path}`` for
  ``inception_v3``).
- ``num_samples`` (10,000): generated samples; ``num_real`` (default: the
  same): real samples, evenly spaced through the split, at most all of them.
- ``split`` (default ``null``: ``test`` when the TFRecords have a test
  split, else the experiment's training split): the real split.

With ``extractor: inception_2015`` the defaults are the published protocol
(TTUR, Heusel et al. 2017): 50,000 generated samples, and the statistics of
the *whole* training split as the real side; ``num_samples``, ``num_real``
and ``split`` still override them one by one.
- ``batch_size`` (200): images generated and extracted at a time.
- ``seed`` (default ``null``: the experiment seed + 1, the seed of the
  training loop's metric samples): seed of the generated samples' latents.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ganlab import ScoreSpec
from ganlab.evaluation import EvaluationContext, FeatureSummary, MetricResult
from ganlab.evaluation.bounds import MAX_SAMPLES
from ganlab_builtins.metrics.maths import (
    classifier_score,
    frechet_distance,
    kernel_inception_distance,
    precision_recall,
    split_classifier_scores,
)

DEFAULT_EXTRACTOR = "domain"
DEFAULT_NUM_SAMPLES = 10_000
#: The extractor whose default protocol is the published one.
PAPER_EXTRACTOR = "inception_2015"
#: Generated samples of the published FID and Inception Score protocols.
PAPER_NUM_SAMPLES = 50_000
DEFAULT_BATCH_SIZE = 200

MetricClass = TypeVar("MetricClass", bound=type)


def _positive_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum:,} (images scored per metric), "
                         f"got {value:,}")
    return value


def _optional(check: Callable[[str, Any], Any], name: str, value: Any) -> Any:
    return None if value is None else check(name, value)


def _string(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _seed(name: str, value: Any) -> int:
    return _positive_int(name, value, minimum=0)


class _StreamedMetric:
    """What every built-in metric shares: the extractor, sample counts, split and seed."""

    name = ""

    def __init__(self, *, extractor: str = DEFAULT_EXTRACTOR,
                 extractor_params: Mapping[str, Any] | None = None,
                 num_samples: int | None = None, num_real: int | None = None,
                 split: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 seed: int | None = None):
        self.extractor = _string("extractor", extractor)
        if extractor_params is not None and not isinstance(extractor_params, Mapping):
            raise ValueError(f"extractor_params must be a mapping, got {extractor_params!r}")
        self.extractor_params = dict(extractor_params or {})
        if num_samples is None:
            num_samples = PAPER_NUM_SAMPLES if self.paper_protocol else DEFAULT_NUM_SAMPLES
        self.num_samples = _positive_int("num_samples", num_samples, 2, MAX_SAMPLES)
        self.num_real = _optional(lambda n, v: _positive_int(n, v, 2, MAX_SAMPLES), "num_real",
                                  num_real)
        self.split = _optional(_string, "split", split)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.seed = _optional(_seed, "seed", seed)

    @property
    def paper_protocol(self) -> bool:
        """Whether the defaults are the published protocol (``extractor: inception_2015``)."""
        return self.extractor == PAPER_EXTRACTOR

    def _real_side(self, context: EvaluationContext) -> tuple[str, int]:
        """The real split and how many of its images: the params, else the defaults.

        The published protocol compares with the whole training split; ganlab's
        own, with as many images of the test split (if any) as generated ones.
        """
        if self.paper_protocol:
            split = self.split or context.training_split()
            return split, self.num_real or context.real_count(split)
        return self.split or context.default_split(), self.num_real or self.num_samples

    def _context(self, context: EvaluationContext | None) -> EvaluationContext:
        if context is None:
            raise TypeError(f"the '{self.name}' metric needs the evaluation context that "
                            "ganlab passes as compute(..., context=...)")
        return context


def with_common_params(cls: MetricClass) -> MetricClass:
    """Give ``cls.__init__(..., **common)`` the full signature, common params spelled out.

    ganlab checks an experiment's params against the factory's signature
    (unknown names get a "did you mean"); ``**common`` would hide them.
    """
    own = inspect.signature(cls.__init__)
    # A param the class spells out itself (another default) is not repeated.
    common = [p for p in inspect.signature(_StreamedMetric.__init__).parameters.values()
              if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in own.parameters]
    kept = [p for p in own.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    cls.__init__.__signature__ = own.replace(parameters=kept + common)
    return cls


class _FeatureMetric(_StreamedMetric):
    """A metric comparing generated and real features."""

    #: Whether the score needs every feature row (KID, precision/recall) or the moments (FID).
    keep_features = False

    def compute(self, generate: Any, dataset: Any, *,
                context: EvaluationContext | None = None) -> MetricResult:
        """Score the context's generator against the real split."""
        context = self._context(context)
        extractor = context.extractor(self.extractor, self.extractor_params)
        split, num_real = self._real_side(context)
        real = context.real_summary(extractor, split, num_real,
                                    batch_size=self.batch_size, keep_features=self.keep_features)
        fake = context.fake_summary(extractor, self.num_samples, batch_size=self.batch_size,
                                    seed=self.seed, keep_features=self.keep_features)
        protocol = context.protocol(metric=self.name, extractor=extractor, num_fake=fake.count,
                                    num_real=real.count, real_split=split, seed=self.seed)
        return MetricResult(self.score(real, fake, context), protocol)

    def score(self, real: FeatureSummary, fake: FeatureSummary,
              context: EvaluationContext) -> dict[str, float]:
        """The scores from the two summaries."""
        raise NotImplementedError


class FID(_FeatureMetric):
    """Fréchet distance between Gaussians fitted to real and generated features.

    Only the running mean and covariance of each side are needed, so no
    feature matrix is kept. Lower is better; 0 for identical statistics.
    FID is biased upward at small sample sizes: compare runs at equal
    ``num_samples`` only. Heusel et al. 2017, https://arxiv.org/abs/1706.08500.

    Scores: ``fid``.
    """

    name = "fid"
    score_specs = {"fid": ScoreSpec(higher_is_better=False, minimum=0.0)}

    def score(self, real: FeatureSummary, fake: FeatureSummary,
              context: EvaluationContext) -> dict[str, float]:
        """``{"fid": d²}``."""
        return {"fid": frechet_distance(fake.mean, fake.covariance, real.mean, real.covariance)}


@with_common_params
class KID(_FeatureMetric):
    """Kernel Inception Distance: unbiased MMD² with the cubic kernel, over subsets.

    Unbiased, so comparable across sample sizes (unlike FID); its standard
    deviation over subsets says how far apart two runs must be to differ.
    Bińkowski et al. 2018, https://arxiv.org/abs/1801.01401.

    Args:
        num_subsets: Random subsets averaged over (100).
        subset_size: Samples per side in each subset (1,000; fewer when
            there are fewer samples).
        **common: See the module docstring.

    Scores: ``kid_mean``, ``kid_std``.
    """

    name = "kid"
    # The unbiased estimate dips below 0 when the two sides match: no minimum.
    score_specs = {"kid_mean": ScoreSpec(higher_is_better=False),
                   "kid_std": ScoreSpec(higher_is_better=None, minimum=0.0)}
    keep_features = True

    def __init__(self, *, num_subsets: int = 100, subset_size: int = 1000, **common: Any):
        super().__init__(**common)
        self.num_subsets = _positive_int("num_subsets", num_subsets)
        self.subset_size = _positive_int("subset_size", subset_size, minimum=2)

    def score(self, real: FeatureSummary, fake: FeatureSummary,
              context: EvaluationContext) -> dict[str, float]:
        """``{"kid_mean": ..., "kid_std": ...}``."""
        seed = context.seed if self.seed is None else self.seed
        mean, std = kernel_inception_distance(fake.features, real.features,
                                              num_subsets=self.num_subsets,
                                              subset_size=self.subset_size, seed=seed)
        return {"kid_mean": mean, "kid_std": std}


@with_common_params
class PrecisionRecall(_FeatureMetric):
    """Improved precision (quality) and recall (coverage) through k-NN balls.

    Precision: the share of generated samples that fall in the real data's
    manifold; recall: the share of real samples in the generated one.
    Kynkäänniemi et al. 2019, https://arxiv.org/abs/1904.06991. The pairwise
    distances cost ``n²·d``: keep ``num_samples`` at 10,000 or below on a CPU.

    Args:
        k: The neighbour that sets each ball's radius (3, the paper's).
        **common: See the module docstring.

    Scores: ``precision``, ``recall``.
    """

    name = "precision_recall"
    score_specs = {"precision": ScoreSpec(higher_is_better=True, minimum=0.0, maximum=1.0),
                   "recall": ScoreSpec(higher_is_better=True, minimum=0.0, maximum=1.0)}
    keep_features = True

    def __init__(self, *, k: int = 3, **common: Any):
        super().__init__(**common)
        self.k = _positive_int("k", k)

    def score(self, real: FeatureSummary, fake: FeatureSummary,
              context: EvaluationContext) -> dict[str, float]:
        """``{"precision": ..., "recall": ...}``."""
        precision, recall = precision_recall(real.features, fake.features, k=self.k)
        return {"precision": precision, "recall": recall}


def calibration_of(extractor: Any) -> str:
    """How a classifier extractor's probabilities are calibrated, for the record.

    The ``domain`` classifier says (its fitted temperature, or uncalibrated);
    other extractors are recorded as not saying.
    """
    return str(getattr(extractor, "calibration", "not stated by the extractor"))


@with_common_params
class ClassifierScore(_StreamedMetric):
    """The Inception-Score formula with a classifier extractor (``domain`` by default).

    ``exp(E_x[KL(p(y|x) ‖ p(y))])`` over generated samples: between 1 and the
    number of classes for single-label data (MNIST digits: up to 10); high
    when every sample is recognised confidently and all classes appear.
    Also the share of confidently classified samples and the class
    histogram. For multi-label classifiers (CelebA's 40 attributes) each
    attribute is scored as a yes/no variable and the score is the geometric
    mean over attributes, in [1, 2]; see
    :func:`ganlab_builtins.metrics.maths.classifier_score`. Real images are
    not used (``num_real`` 0 in the protocol).

    Args:
        threshold: A sample (an attribute decision, for multi-label) is
            confident when its largest probability is at least this (0.9).
        **common: See the module docstring (``num_real`` and ``split`` are unused).

    Scores: ``classifier_score``, ``confident_share``. Details:
    ``class_histogram``, ``label_names`` and ``classifier_calibration`` (the
    domain classifier's temperature, or "uncalibrated" for one trained
    before calibration existed).
    """

    name = "classifier_score"
    # At most the number of classes (2 per attribute for multi-label data).
    score_specs = {"classifier_score": ScoreSpec(higher_is_better=True, minimum=1.0),
                   "confident_share": ScoreSpec(higher_is_better=True, minimum=0.0,
                                                maximum=1.0)}

    def __init__(self, *, threshold: float = 0.9, **common: Any):
        super().__init__(**common)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
                or not 0.5 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a number in [0.5, 1], got {threshold!r}")
        self.threshold = float(threshold)

    def compute(self, generate: Any, dataset: Any, *,
                context: EvaluationContext | None = None) -> MetricResult:
        """Classify the context's generated samples."""
        extractor, probabilities, protocol = self._classified(context)
        scores = classifier_score(probabilities, multi_label=bool(extractor.multi_label),
                                  threshold=self.threshold)
        return MetricResult({"classifier_score": scores.score,
                             "confident_share": scores.confident_share}, protocol,
                            {"class_histogram": scores.histogram,
                             "label_names": [str(n) for n in extractor.label_names],
                             "classifier_calibration": calibration_of(extractor)})

    def _classified(self, context: EvaluationContext | None) -> tuple[Any, Any, Any]:
        """The extractor, the generated samples' class probabilities and their protocol."""
        context = self._context(context)
        extractor = context.extractor(self.extractor, self.extractor_params)
        probabilities = context.fake_probabilities(extractor, self.num_samples,
                                                   batch_size=self.batch_size, seed=self.seed)
        protocol = context.protocol(metric=self.name, extractor=extractor,
                                    num_fake=len(probabilities), num_real=0, real_split="",
                                    seed=self.seed)
        return extractor, probabilities, protocol


@with_common_params
class InceptionScore(ClassifierScore):
    """The Inception Score as published: the classifier score of the 2015 Inception graph.

    :class:`ClassifierScore` with the published protocol for defaults: the
    ``inception_2015`` extractor (its 1,008-class softmax), 50,000 generated
    samples, cut into 10 splits; the score is the mean over the splits and
    its spread their standard deviation (Salimans et al. 2016,
    https://arxiv.org/abs/1606.03498, and their openai/improved-gan code).
    With another classifier extractor it is the same formula over its classes.

    Args:
        splits: Parts the samples are cut into, in order (10).
        extractor: The classifier extractor (``inception_2015``).
        threshold: See :class:`ClassifierScore` (the confident share).
        **common: See the module docstring (``num_real`` and ``split`` are unused).

    Scores: ``inception_score``, ``inception_score_std``. Details:
    ``split_scores``, ``splits``, ``confident_share``.
    """

    name = "inception_score"
    score_specs = {"inception_score": ScoreSpec(higher_is_better=True, minimum=1.0),
                   "inception_score_std": ScoreSpec(higher_is_better=None, minimum=0.0)}

    def __init__(self, *, splits: int = 10, extractor: str = PAPER_EXTRACTOR,
                 threshold: float = 0.9, **common: Any):
        super().__init__(extractor=extractor, threshold=threshold, **common)
        self.splits = _positive_int("splits", splits)
        if self.splits > self.num_samples:
            raise ValueError(f"splits ({self.splits}) must be at most num_samples "
                             f"({self.num_samples})")

    def compute(self, generate: Any, dataset: Any, *,
                context: EvaluationContext | None = None) -> MetricResult:
        """Classify the context's generated samples and score them split by split."""
        extractor, probabilities, protocol = self._classified(context)
        mean, std, parts = split_classifier_scores(probabilities, self.splits)
        whole = classifier_score(probabilities, multi_label=bool(extractor.multi_label),
                                 threshold=self.threshold)
        return MetricResult({"inception_score": mean, "inception_score_std": std}, protocol,
                            {"split_scores": parts, "splits": self.splits,
                             "confident_share": whole.confident_share})
