"""Evaluating generators: the machinery metric plugins and ``ganlab evaluate`` share.

- :class:`EvaluationContext` (:mod:`~ganlab.evaluation.context`): what a
  metric's ``compute(generate, dataset, context=...)`` receives: streamed
  generated and real images, feature extractors built from the registry, and
  real-data summaries cached beside the TFRecords.
- :class:`RunningMoments`, :class:`FeatureSummary`
  (:mod:`~ganlab.evaluation.moments`): float64 streaming mean and covariance.
- :class:`MetricResult`, :class:`MetricProtocol`
  (:mod:`~ganlab.evaluation.results`): scores with how they were measured.
- :mod:`~ganlab.evaluation.records`: ``RUN_DIR/metrics.json``.
- :mod:`~ganlab.evaluation.cache`: the real-statistics cache.

Nothing here imports TensorFlow.
"""

from ganlab.evaluation.context import EvaluationContext, latent_batches
from ganlab.evaluation.moments import FeatureSummary, RunningMoments
from ganlab.evaluation.results import MetricProtocol, MetricResult, compute_metric, scores_of

__all__ = [
    "EvaluationContext",
    "FeatureSummary",
    "MetricProtocol",
    "MetricResult",
    "RunningMoments",
    "compute_metric",
    "latent_batches",
    "scores_of",
]
