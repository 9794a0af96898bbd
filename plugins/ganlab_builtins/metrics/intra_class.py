"""The ``intra_fid`` metric: FID within each class of a class-conditional run.

Intra-class FID (Miyato & Koyama 2018, "cGANs with Projection
Discriminator", https://arxiv.org/abs/1802.05637; reported by
PyTorch-StudioGAN) compares, for every class ``k``, the images the generator
draws as ``k`` with the real images labelled ``k``, and averages the
Fréchet distances. Unlike the FID over all images, it is hurt by a generator
that draws good images of the wrong class.

Each class gets ``num_samples // K`` generated images: the same seeded
latents, each made to draw class ``k`` (:func:`ganlab.latents.with_class`,
what ``ganlab sample --class`` does), and up to as many real images of the
split labelled ``k`` (``num_real // K`` when ``num_real`` is set), read once
in stored order. The per-class distances are kept by class name in the
result's details (``metrics.json`` for ``ganlab evaluate``), and the worst
are printed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ganlab import ScoreSpec
from ganlab.contracts import class_names_of, load_labelled
from ganlab.errors import ConfigError, DataError
from ganlab.evaluation import EvaluationContext, FeatureSummary, MetricResult, latent_batches
from ganlab.evaluation.context import extract_features
from ganlab.evaluation.moments import SummaryBuilder
from ganlab.latents import with_class
from ganlab_builtins.metrics.maths import frechet_distance
from ganlab_builtins.metrics.scorers import _StreamedMetric

#: Per-class distances printed at most (the worst ones).
SHOWN_CLASSES = 10


class IntraClassFID(_StreamedMetric):
    """Mean over classes of the FID between generated and real images of each class.

    Params: as ``fid`` (``extractor``, ``num_samples`` — the total, spread
    evenly over the classes — ``num_real``, ``split``, ``batch_size``,
    ``seed``). Needs a class-conditional run and a dataset with labels.

    Scores: ``intra_fid`` (the mean), ``intra_fid_worst`` and
    ``intra_fid_best`` (the largest and smallest class's).
    """

    name = "intra_fid"
    score_specs = {"intra_fid": ScoreSpec(higher_is_better=False, minimum=0.0),
                   "intra_fid_worst": ScoreSpec(higher_is_better=False, minimum=0.0),
                   "intra_fid_best": ScoreSpec(higher_is_better=False, minimum=0.0)}

    def compute(self, generate: Any, dataset: Any, *,
                context: EvaluationContext | None = None) -> MetricResult:
        """Score the context's conditional generator class by class.

        Raises:
            ConfigError: The run is not class-conditional.
            DataError: A class has fewer than 2 real images in the split.

        """
        context = self._context(context)
        classes = int(context.num_classes)
        if not classes:
            raise ConfigError("The intra_fid metric compares each class's generated and real "
                              "images, so it needs a class-conditional run (an architecture "
                              "with num_classes) on a dataset with labels; use fid otherwise.")
        names = class_names_of(context.dataset) or [str(k) for k in range(classes)]
        extractor = context.extractor(self.extractor, self.extractor_params)
        split = self.split or context.default_split()
        per_class = max(2, self.num_samples // classes)
        real_cap = max(2, self.num_real // classes) if self.num_real else per_class
        real = self._real_by_class(context, extractor, split, classes, real_cap, names)
        if context.baseline_split is not None:
            fake = self._real_by_class(context, extractor, context.baseline_split, classes,
                                       per_class, names)
        else:
            fake = self._fake_by_class(context, extractor, classes, per_class)
        distances = np.array([frechet_distance(f.mean, f.covariance, r.mean, r.covariance)
                              for f, r in zip(fake, real, strict=True)])
        worst = np.argsort(-distances)[:SHOWN_CLASSES]
        context.echo("intra-class FID, worst classes: " + ", ".join(
            f"{names[k]} {distances[k]:.2f}" for k in worst))
        protocol = context.protocol(metric=self.name, extractor=extractor,
                                    num_fake=sum(f.count for f in fake),
                                    num_real=sum(r.count for r in real), real_split=split,
                                    seed=self.seed)
        scores = {"intra_fid": float(distances.mean()),
                  "intra_fid_worst": float(distances.max()),
                  "intra_fid_best": float(distances.min())}
        per_class = {name: round(float(value), 4) for name, value in zip(names, distances,
                                                                           strict=True)}
        return MetricResult(scores, protocol, details={"per_class": per_class})

    def _real_by_class(self, context: EvaluationContext, extractor: Any, split: str,
                       classes: int, cap: int, names: list[str]) -> list[FeatureSummary]:
        """Features of up to ``cap`` real images per class, read once in stored order."""
        builders = [SummaryBuilder(False) for _ in range(classes)]
        counts = np.zeros(classes, dtype=np.int64)
        pairs = load_labelled(context.dataset, split, fixed_order=True)
        for images, labels in pairs.batch(self.batch_size).as_numpy_iterator():
            keep = np.zeros(len(labels), dtype=bool)
            for index, label in enumerate(labels):
                if 0 <= label < classes and counts[label] < cap:
                    keep[index] = True
                    counts[label] += 1
            if keep.any():
                features = extract_features(extractor, np.asarray(images[keep], np.float32))
                for label in np.unique(labels[keep]):
                    builders[label].update(features[labels[keep] == label])
            if (counts >= cap).all():
                break
        short = [names[k] for k in range(classes) if counts[k] < 2]
        if short:
            raise DataError(f"The '{split}' split has fewer than 2 images of class "
                            f"{', '.join(short[:5])}{' ...' if len(short) > 5 else ''}, so "
                            "intra-class FID cannot be measured there: pick a split with "
                            "every class (the metric's split param).")
        return [builder.result() for builder in builders]

    def _fake_by_class(self, context: EvaluationContext, extractor: Any, classes: int,
                       count: int) -> list[FeatureSummary]:
        """Features of ``count`` generated images per class (the same seeded latents for each)."""
        seed = context.seed if self.seed is None else self.seed
        summaries = []
        for label in range(classes):
            builder = SummaryBuilder(False)
            for latents in latent_batches(count, context.latent_dim,
                                          context.latent_distribution, seed, self.batch_size,
                                          context.truncation, classes):
                drawn = with_class(latents, classes, label)
                images = np.asarray(context.generator(drawn, training=False), np.float32)
                builder.update(extract_features(extractor, images))
            summaries.append(builder.result())
        return summaries
