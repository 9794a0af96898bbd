"""What a metric returns: scores, details, and the protocol that produced them.

A score means little without how it was measured: FID at 5,000 samples is
not FID at 50,000, and features of one network are not those of another.
So every result carries a :class:`MetricProtocol`, written beside the
scores into ``metrics.json``; two results compare only when their protocols
agree (the epoch and the metric aside).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: The protocol fields, in the order ``metrics.json`` writes them.
PROTOCOL_FIELDS = ("metric", "extractor", "weights_sha256", "num_fake", "num_real", "real_split",
                   "image_size", "resize", "seed", "epoch", "samples", "generator", "truncation")
#: ``samples`` of a generator's scores (a real baseline's are ``real:SPLIT``).
GENERATOR_SAMPLES = "generator"


@dataclass(frozen=True)
class MetricProtocol:
    """How a score was measured.

    Attributes:
        metric: The metric's name (``fid``, ``kid``, ...).
        extractor: The feature extractor's name (``domain``, ``inception_v3``, ...).
        weights_sha256: sha256 of the extractor's weights.
        num_fake: Generated samples scored.
        num_real: Real samples compared against (0 when none are, e.g. the
            classifier score).
        real_split: The real split (``""`` when none is used).
        image_size: ``[h, w, c]`` of the generated images.
        resize: How images were resized for the extractor (``"none"``,
            ``"bilinear 299x299"``).
        seed: Seed of the generated samples' latents.
        epoch: Completed training epochs of the generator (``None`` when unknown).
        samples: What was scored: ``generator``, or ``real:SPLIT`` for the
            real baseline (a split's real images in place of generated ones).
        generator: Which generator drew the samples: ``ema`` (the EMA
            generator of ``train.ema``) or ``raw`` (the trained one); ``""``
            for a real baseline.
        truncation: The truncation threshold of the latents (``None``: none),
            see :func:`ganlab.latents.truncate`.

    """

    metric: str
    extractor: str
    weights_sha256: str
    num_fake: int
    num_real: int
    real_split: str
    image_size: tuple[int, int, int]
    resize: str
    seed: int
    epoch: int | None
    samples: str = GENERATOR_SAMPLES
    generator: str = "raw"
    truncation: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data, fields in :data:`PROTOCOL_FIELDS` order."""
        data = asdict(self)
        data["image_size"] = [int(v) for v in self.image_size]
        return {key: data[key] for key in PROTOCOL_FIELDS}


@dataclass(frozen=True)
class MetricResult:
    """A metric's scores with their details and protocol.

    Attributes:
        scores: Score name → value (these go to ``metrics.csv`` and TensorBoard).
        details: Anything else worth keeping (JSON data), e.g. a class histogram.
        protocol: How the scores were measured.

    """

    scores: dict[str, float]
    protocol: MetricProtocol
    details: dict[str, Any] = field(default_factory=dict)


def scores_of(result: MetricResult | Mapping[str, float]) -> dict[str, float]:
    """The scores of a metric's return value (a :class:`MetricResult` or a plain dict)."""
    scores = result.scores if isinstance(result, MetricResult) else result
    if not isinstance(scores, Mapping):
        raise TypeError(f"a metric must return a dict of scores or a MetricResult, got "
                        f"{type(result).__name__}")
    return {str(name): float(value) for name, value in scores.items()}


def takes_context(compute: Callable[..., Any]) -> bool:
    """Whether a metric's ``compute`` accepts the ``context`` keyword.

    Metrics written for the first contract take ``compute(generate,
    dataset)`` only; they keep working, and are simply not given a context.
    """
    try:
        parameters = inspect.signature(compute).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "context" or p.kind is inspect.Parameter.VAR_KEYWORD
               for p in parameters)


def compute_metric(metric: Any, generate: Callable[[int], Any], dataset: Any,
                   context: Any) -> MetricResult | dict[str, float]:
    """Call ``metric.compute`` under whichever contract it implements."""
    if takes_context(metric.compute):
        return metric.compute(generate, dataset, context=context)
    return metric.compute(generate, dataset)
