"""The evaluation context: what a metric gets to score a generator.

Both ``ganlab evaluate`` and the training loop's metric callback hand every
metric an :class:`EvaluationContext`. It streams: generated images come
batch by batch from seeded latents, real images batch by batch from the
TFRecords, and each batch is turned into features at once, so evaluating
50,000 samples never holds 50,000 images. Real-data summaries go through
the cache beside the TFRecords (:mod:`ganlab.evaluation.cache`).

TensorFlow is only touched through the objects the context is given (the
generator, the dataset, the extractors); this module imports numpy only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.errors import DataError, PluginError
from ganlab.evaluation.bounds import Progress, check_sample_count
from ganlab.evaluation.cache import CACHE_DIR, CacheKey, StatisticsCache
from ganlab.evaluation.moments import FeatureSummary, SummaryBuilder
from ganlab.evaluation.results import GENERATOR_SAMPLES, MetricProtocol
from ganlab.latents import check_distribution, truncate

#: What a feature extractor must have (see the ``register_feature_extractors`` hook).
EXTRACTOR_ATTRIBUTES = ("name", "weights_sha256", "resize", "features", "probabilities",
                        "label_names", "multi_label")
#: The real split metrics use by default when the TFRecords have it.
PREFERRED_SPLIT = "test"


def latent_batches(count: int, latent_dim: int, distribution: str, seed: int,
                   batch_size: int, truncation: float | None = None,
                   num_classes: int = 0) -> Iterator[np.ndarray]:
    """``count`` float32 latents from the prior, ``batch_size`` at a time.

    One generator seeded with ``seed`` draws them in order, so the batches
    concatenate to exactly :func:`ganlab.latents.sample_latents` ``(count,
    ..., seed)``: the first 5,000 of 50,000 samples are the 5,000 samples.
    With ``truncation`` (normal latents), :func:`ganlab.latents.truncate`
    resamples their entries beyond the threshold, row by row, so that holds
    for truncated samples too.
    """
    rng = np.random.default_rng(seed)
    uniform = check_distribution(distribution) == "uniform"
    for start in range(0, count, batch_size):
        size = (min(batch_size, count - start), latent_dim)
        values = rng.uniform(-1.0, 1.0, size=size) if uniform else rng.standard_normal(size=size)
        values = values.astype(np.float32)
        if truncation is not None:
            values = truncate(values, truncation, seed, num_classes, first_index=start)
        yield values


@dataclass
class _Shared:
    """What stays valid from one epoch to the next: extractors and real summaries."""

    extractors: dict[tuple[str, str], Any] = field(default_factory=dict)
    real: dict[CacheKey, FeatureSummary] = field(default_factory=dict)


def _silent(message: str) -> None:
    """Discard ``message``."""


@dataclass
class EvaluationContext:
    """Everything a metric needs to score a generator against real data.

    Attributes:
        generator: The generator (``keras.Model``: latents → images in [-1, 1]).
        latent_dim: Its latent size.
        latent_distribution: Its prior, ``"normal"`` or ``"uniform"``.
        image_shape: ``(h, w, c)`` of its images.
        dataset: The experiment's dataset component (``load(split)``,
            ``num_examples(split)``, ``manifest()``, ``tfrecords``).
        registry: The plugin registry, to build feature extractors.
        seed: Default seed of the generated samples' latents.
        epoch: Completed epochs of the generator (``None`` when unknown).
        echo: Where progress messages go (computing or reusing real statistics).
        baseline_split: Score this real split's images in place of generated
            ones (the real baseline: the best a generator could do); ``None``
            scores the generator.
        generator_kind: Which generator ``generator`` is: ``"ema"`` (the EMA
            generator of ``train.ema``) or ``"raw"``; recorded in protocols.
        truncation: Truncate the generated samples' normal latents at this
            threshold (:func:`ganlab.latents.truncate`); ``None``: no truncation.
        num_classes: Classes of a class-conditional generator (truncation keeps
            each latent's class).

    """

    generator: Any
    latent_dim: int
    latent_distribution: str
    image_shape: tuple[int, int, int]
    dataset: Any
    registry: Any
    seed: int
    epoch: int | None = None
    echo: Callable[[str], None] = _silent
    baseline_split: str | None = None
    generator_kind: str = "raw"
    truncation: float | None = None
    num_classes: int = 0
    shared: _Shared = field(default_factory=_Shared, repr=False)
    fakes: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)

    def at_epoch(self, generator: Any, epoch: int | None) -> EvaluationContext:
        """The context for ``generator`` after ``epoch`` epochs (extractors and real data kept)."""
        return replace(self, generator=generator, epoch=epoch, fakes={})

    # -- real data -------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path | None:
        """The folder of the dataset's TFRecords (``None`` when it has none)."""
        folder = getattr(self.dataset, "tfrecords", None)
        return Path(folder) if folder is not None else None

    def manifest(self) -> dict[str, Any]:
        """The dataset's ``dataset.json`` (empty when it has none)."""
        read = getattr(self.dataset, "manifest", None)
        return dict(read()) if callable(read) else {}

    def real_splits(self) -> list[str]:
        """The splits stored in the TFRecords."""
        return list(self.manifest().get("splits", {}))

    def default_split(self) -> str:
        """``test`` when the TFRecords have it, else the experiment's training split."""
        if PREFERRED_SPLIT in self.real_splits():
            return PREFERRED_SPLIT
        return str(getattr(self.dataset, "default_split", None) or PREFERRED_SPLIT)

    def training_split(self) -> str:
        """The experiment's training split (the dataset's ``default_split``, else ``train``)."""
        return str(getattr(self.dataset, "default_split", None) or "train")

    def real_count(self, split: str) -> int:
        """Examples stored in ``split`` (raises ``DataError`` naming the splits there are)."""
        return int(self.dataset.num_examples(split))

    def real_batches(self, split: str, count: int, batch_size: int) -> Iterator[np.ndarray]:
        """``count`` images of ``split``, evenly spaced in stored order, ``batch_size`` at a time.

        All of them when ``count`` is the split's size or more. A subset is
        every (size/count)-th image, not the first ``count``: a split stored
        in sorted order (the embedded MNIST sample is grouped by digit) is
        then represented in proportion, and the choice is the same every time.
        """
        try:
            images = self.dataset.load(split, deterministic=True)
        except TypeError:  # a dataset whose load() has no deterministic option
            images = self.dataset.load(split)
        total = self.real_count(split)
        if count < total:
            images = evenly_spaced(images, count, total)
        check_sample_count(min(count, total), f"the real images asked of '{split}'")
        progress = Progress(self.echo, f"real '{split}' images read", min(count, total))
        batches = images.take(count).batch(batch_size).prefetch(1)
        for batch in batches.as_numpy_iterator():
            progress.add(len(batch))
            yield np.asarray(batch, dtype=np.float32)

    # -- generated data --------------------------------------------------------------------
    def fake_batches(self, count: int, batch_size: int, seed: int | None = None
                     ) -> Iterator[np.ndarray]:
        """``count`` generated images in [-1, 1], ``batch_size`` at a time, from seeded latents.

        For a real baseline, ``count`` images of ``baseline_split`` (see
        :meth:`real_batches`).

        Raises:
            DataError: The baseline split has fewer than ``count`` images.

        """
        check_sample_count(count)
        if self.baseline_split is not None:
            yield from self._baseline_batches(count, batch_size)
            return
        seed = self.seed if seed is None else seed
        progress = Progress(self.echo, "images generated", count)
        for latents in latent_batches(count, self.latent_dim, self.latent_distribution, seed,
                                      batch_size, self.truncation, self.num_classes):
            progress.add(len(latents))
            yield np.asarray(self.generator(latents, training=False), dtype=np.float32)

    # -- features --------------------------------------------------------------------------
    def extractor(self, name: str, params: dict[str, Any] | None = None) -> Any:
        """The feature extractor ``name`` built with ``params`` (built once per context).

        Raises:
            PluginError: Unknown name, or an object that is no feature extractor.
            ConfigError: The extractor rejected its params.

        """
        params = dict(params or {})
        key = (name, json.dumps(params, sort_keys=True, default=str))
        if key not in self.shared.extractors:
            extractor = self.registry.create("feature_extractor", name, params,
                                             data_dir=self.data_dir,
                                             image_shape=tuple(self.image_shape))
            missing = [a for a in EXTRACTOR_ATTRIBUTES if not hasattr(extractor, a)]
            if missing:
                provider = self.registry.resolve("feature_extractor", name).provider
                raise PluginError(f"The feature extractor '{name}' from {provider} lacks "
                                  f"{', '.join(missing)}: see the register_feature_extractors "
                                  "hook for what an extractor must provide.")
            self.shared.extractors[key] = extractor
        return self.shared.extractors[key]

    def fake_summary(self, extractor: Any, count: int, *, batch_size: int,
                     seed: int | None = None, keep_features: bool = False) -> FeatureSummary:
        """Features of ``count`` generated images (moments; every row with ``keep_features``)."""
        seed = self.seed if seed is None else seed
        for keep in ((True,) if keep_features else (False, True)):
            found = self.fakes.get(("features", id(extractor), count, seed, keep))
            if found is not None:
                return found
        builder = SummaryBuilder(keep_features)
        for images in self.fake_batches(count, batch_size, seed):
            builder.update(extract_features(extractor, images))
        summary = builder.result()
        self.fakes[("features", id(extractor), count, seed, keep_features)] = summary
        return summary

    def fake_probabilities(self, extractor: Any, count: int, *, batch_size: int,
                           seed: int | None = None) -> np.ndarray:
        """``(count, k)`` class probabilities of generated images.

        Raises:
            PluginError: The extractor is no classifier (``probabilities`` gives ``None``).

        """
        seed = self.seed if seed is None else seed
        memo = ("probabilities", id(extractor), count, seed)
        if memo not in self.fakes:
            rows = [extract_probabilities(extractor, images)
                    for images in self.fake_batches(count, batch_size, seed)]
            self.fakes[memo] = np.concatenate(rows)
        return self.fakes[memo]

    def real_summary(self, extractor: Any, split: str, count: int, *, batch_size: int,
                     keep_features: bool = False) -> FeatureSummary:
        """Features of ``count`` images of ``split`` (:meth:`real_batches`), cached.

        A summary with the same key (see :class:`~ganlab.evaluation.cache.CacheKey`)
        is read from the cache beside the TFRecords instead of being computed.
        """
        count = min(count, self.real_count(split))
        cache, keys = self._cache(), self._real_keys(extractor, split, count, keep_features)
        for key in keys:
            found = self.shared.real.get(key) or (cache.load(key) if cache else None)
            if found is not None:
                if key not in self.shared.real and cache is not None:
                    self.echo(f"Reusing cached real statistics {cache.path(key)}.")
                self.shared.real[key] = found
                return found
        self.echo(f"Computing real statistics: {count} '{split}' images through the "
                  f"'{extractor.name}' extractor ...")
        builder = SummaryBuilder(keep_features)
        for images in self.real_batches(split, count, batch_size):
            builder.update(extract_features(extractor, images))
        summary = builder.result()
        self.shared.real[keys[0]] = summary
        if cache is not None and cache.save(keys[0], summary) is not None:
            self.echo(f"Cached them in {cache.path(keys[0])}.")
        return summary

    def protocol(self, *, metric: str, extractor: Any, num_fake: int, num_real: int,
                 real_split: str, seed: int | None = None) -> MetricProtocol:
        """The protocol of a score measured in this context."""
        return MetricProtocol(metric=metric, extractor=str(extractor.name),
                              weights_sha256=str(extractor.weights_sha256),
                              num_fake=int(num_fake), num_real=int(num_real),
                              real_split=real_split,
                              image_size=tuple(int(v) for v in self.image_shape),
                              resize=str(extractor.resize),
                              seed=int(self.seed if seed is None else seed), epoch=self.epoch,
                              samples=self.protocol_samples, **self.protocol_generator)

    @property
    def protocol_generator(self) -> dict[str, Any]:
        """The protocol's ``generator`` and ``truncation`` (empty and ``None`` for a baseline)."""
        if self.baseline_split is not None:
            return {"generator": "", "truncation": None}
        return {"generator": self.generator_kind, "truncation": self.truncation}

    @property
    def protocol_samples(self) -> str:
        """What the scored samples are, for the protocol: ``generator`` or ``real:SPLIT``."""
        if self.baseline_split is None:
            return GENERATOR_SAMPLES
        return f"real:{self.baseline_split}"

    # -- helpers ---------------------------------------------------------------------------
    def _baseline_batches(self, count: int, batch_size: int) -> Iterator[np.ndarray]:
        split = str(self.baseline_split)
        available = self.real_count(split)
        if available < count:
            raise DataError(f"The real baseline scores {count} images of the '{split}' split, "
                            f"which has only {available}: use --num-samples {available} (or "
                            "fewer), or a larger split.")
        yield from self.real_batches(split, count, batch_size)

    def _cache(self) -> StatisticsCache | None:
        if self.data_dir is None or not self.manifest().get("fingerprint"):
            return None
        return StatisticsCache(self.data_dir / CACHE_DIR, warn=self.echo)

    def _real_keys(self, extractor: Any, split: str, count: int, keep_features: bool
                   ) -> list[CacheKey]:
        """The key to store under first, then any other key whose entry would also do."""
        base = CacheKey(dataset_fingerprint=str(self.manifest().get("fingerprint", "")),
                        split=split, num_real=count, extractor=str(extractor.name),
                        weights_sha256=str(extractor.weights_sha256),
                        resize=str(extractor.resize),
                        image_size=tuple(int(v) for v in self.image_shape),
                        features=keep_features,
                        source_fingerprint=str(self.manifest().get("source_fingerprint") or ""))
        # Every-row entries hold the moments too, so they serve a moments request.
        return [base] if keep_features else [base, replace(base, features=True)]


def evenly_spaced(images: Any, count: int, total: int) -> Any:
    """The ``count`` elements of a ``tf.data`` dataset of ``total`` at indices ``⌈i·total/count⌉``.

    Element ``j`` is kept when ``⌊j·count/total⌋`` steps up at ``j``, which
    happens exactly ``count`` times; the dataset is still read once, in order.
    """
    def kept(index: Any, image: Any) -> Any:
        return (index * count) // total > ((index - 1) * count) // total

    return images.enumerate().filter(kept).map(lambda index, image: image)


def extract_features(extractor: Any, images: np.ndarray) -> np.ndarray:
    """``extractor.features(images)``, checked to be ``(n, d)`` finite numbers.

    Raises:
        PluginError: The extractor returned something else.

    """
    features = np.asarray(extractor.features(images))
    if features.ndim != 2 or features.shape[0] != len(images):
        raise PluginError(f"The feature extractor '{extractor.name}' returned features of shape "
                          f"{features.shape} for {len(images)} images; expected (n, d).")
    if not np.all(np.isfinite(features)):
        raise PluginError(f"The feature extractor '{extractor.name}' returned non-finite "
                          "features (NaN or infinity).")
    return features


def extract_probabilities(extractor: Any, images: np.ndarray) -> np.ndarray:
    """``extractor.probabilities(images)``, checked to be ``(n, k)`` values in [0, 1].

    Raises:
        PluginError: The extractor is no classifier, or returned something else.

    """
    result = extractor.probabilities(images)
    if result is None:
        raise PluginError(f"The feature extractor '{extractor.name}' is not a classifier (its "
                          "probabilities() gives None), so it cannot score classes: use a "
                          "classifier extractor such as 'domain'.")
    probabilities = np.asarray(result, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[0] != len(images):
        raise PluginError(f"The feature extractor '{extractor.name}' returned probabilities of "
                          f"shape {probabilities.shape} for {len(images)} images; expected "
                          "(n, classes).")
    if not np.all(np.isfinite(probabilities)) or probabilities.min() < 0 \
            or probabilities.max() > 1:
        raise PluginError(f"The feature extractor '{extractor.name}' returned probabilities "
                          "outside [0, 1].")
    return probabilities
