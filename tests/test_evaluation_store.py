"""The real-statistics cache and the metrics.json records, on real files."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ganlab.errors import RunDirectoryError
from ganlab.evaluation import FeatureSummary, MetricProtocol, MetricResult
from ganlab.evaluation.cache import CacheKey, StatisticsCache
from ganlab.evaluation.records import make_record, merge_records, read_records, write_records

KEY = CacheKey(dataset_fingerprint="f" * 64, split="test", num_real=100, extractor="domain",
               weights_sha256="a" * 64, resize="none", image_size=(32, 32, 1), features=True)


def summary(seed: int = 0) -> FeatureSummary:
    features = np.random.default_rng(seed).normal(size=(100, 4)).astype(np.float32)
    return FeatureSummary(100, features.mean(0).astype(np.float64),
                          np.cov(features, rowvar=False), features)


def test_an_entry_round_trips_without_pickle(tmp_path: Path) -> None:
    cache = StatisticsCache(tmp_path / ".ganlab-eval-cache")
    stored = summary()
    path = cache.save(KEY, stored)
    assert path is not None and path.parent == tmp_path / ".ganlab-eval-cache"
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert json.loads(str(data["key"]))["split"] == "test"
    loaded = cache.load(KEY)
    assert loaded is not None and loaded.count == 100
    np.testing.assert_array_equal(loaded.features, stored.features)
    np.testing.assert_array_equal(loaded.covariance, stored.covariance)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


@pytest.mark.parametrize("change", [
    {"dataset_fingerprint": "e" * 64}, {"split": "train"}, {"num_real": 99},
    {"extractor": "inception_v3"}, {"weights_sha256": "b" * 64}, {"resize": "bilinear 299x299"},
    {"image_size": (64, 64, 3)}, {"features": False},
])
def test_every_key_part_names_another_entry(tmp_path: Path, change: dict) -> None:
    cache = StatisticsCache(tmp_path)
    cache.save(KEY, summary())
    other = dataclasses.replace(KEY, **change)
    assert cache.path(other) != cache.path(KEY)
    assert cache.load(other) is None


def test_an_entry_under_another_keys_name_is_never_used(tmp_path: Path) -> None:
    cache = StatisticsCache(tmp_path)
    other = dataclasses.replace(KEY, num_real=50)
    shutil.copy(cache.save(KEY, summary()), cache.path(other))  # e.g. a file copied by hand
    assert cache.load(other) is None
    assert cache.load(KEY) is not None


def test_a_damaged_entry_is_reported_and_recomputed(tmp_path: Path) -> None:
    warnings: list[str] = []
    cache = StatisticsCache(tmp_path, warn=warnings.append)
    path = cache.save(KEY, summary())
    path.write_bytes(path.read_bytes()[:200])
    assert cache.load(KEY) is None
    assert "unreadable" in warnings[0] and str(path) in warnings[0]


def test_an_unwritable_folder_only_disables_the_cache(tmp_path: Path) -> None:
    blocker = tmp_path / "tfrecords"
    blocker.write_text("a file where the folder would be")  # mkdir fails as on a read-only disk
    warnings: list[str] = []
    cache = StatisticsCache(blocker / ".ganlab-eval-cache", warn=warnings.append)
    assert cache.save(KEY, summary()) is None and cache.load(KEY) is None
    assert "cannot write" in warnings[0]


# -- metrics.json ----------------------------------------------------------------------------
def result(metric: str = "fid", epoch: int = 20, num_fake: int = 10000,
           value: float = 12.34) -> MetricResult:
    protocol = MetricProtocol(metric=metric, extractor="domain", weights_sha256="a" * 64,
                              num_fake=num_fake, num_real=10000, real_split="test",
                              image_size=(32, 32, 1), resize="none", seed=0, epoch=epoch)
    return MetricResult({metric: np.float64(value)}, protocol)


def test_the_record_format(tmp_path: Path) -> None:
    record = make_record(result(), evaluated_at="2026-12-01T20:00:00Z")
    path = write_records(tmp_path / "metrics.json", [record])
    assert json.loads(path.read_text()) == {"format": 1, "records": [
        {"metric": "fid", "scores": {"fid": 12.34}, "details": {},
         "protocol": {"metric": "fid", "extractor": "domain", "weights_sha256": "a" * 64,
                      "num_fake": 10000, "num_real": 10000, "real_split": "test",
                      "image_size": [32, 32, 1], "resize": "none", "seed": 0, "epoch": 20,
                      "samples": "generator", "generator": "raw", "truncation": None},
         "evaluated_at": "2026-12-01T20:00:00Z"}]}


def test_merging_replaces_identical_protocols_only() -> None:
    old = [make_record(result(epoch=10, value=30.0)), make_record(result(epoch=20, value=20.0)),
           make_record(result("kid", epoch=20))]
    new = [make_record(result(epoch=20, value=19.0))]
    merged = merge_records(old, new)
    assert [(r["metric"], r["protocol"]["epoch"], r["scores"][r["metric"]]) for r in merged] == [
        ("fid", 10, 30.0), ("kid", 20, 12.34), ("fid", 20, 19.0)]
    other_n = merge_records(merged, [make_record(result(num_fake=5000))])
    assert len(other_n) == 4


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": 2, "records": []}'])
def test_a_foreign_metrics_json_is_refused_not_overwritten(tmp_path: Path, content: str) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(content)
    with pytest.raises(RunDirectoryError, match="metrics.json"):
        write_records(path, [make_record(result())])
    assert path.read_text() == content
    with pytest.raises(RunDirectoryError):
        read_records(path)


@pytest.mark.parametrize(("count", "total"), [(3, 10), (4, 10), (10, 10), (1, 7), (999, 1000)])
def test_a_subset_of_a_split_is_evenly_spaced_through_it(count: int, total: int) -> None:
    import tensorflow as tf

    from ganlab.evaluation.context import evenly_spaced

    kept = list(evenly_spaced(tf.data.Dataset.range(total), count, total).as_numpy_iterator())
    assert len(kept) == count and kept == sorted(set(kept)) and kept[0] == 0
    gaps = np.diff([*kept, total])
    assert gaps.max() - gaps.min() <= 1  # no run of the split is skipped or over-sampled


def test_a_split_sorted_by_class_keeps_its_class_mix_in_a_subset() -> None:
    import tensorflow as tf

    from ganlab.evaluation.context import evenly_spaced

    labels = np.repeat(np.arange(10), 400)  # the embedded sample's train split: 400 per digit
    kept = list(evenly_spaced(tf.data.Dataset.from_tensor_slices(labels), 1000, 4000)
                .as_numpy_iterator())
    assert np.bincount(kept, minlength=10).tolist() == [100] * 10
