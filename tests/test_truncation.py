"""The truncation trick (Brock et al. 2019): ganlab.latents.truncate and its uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ganlab.evaluation.context import latent_batches
from ganlab.latents import (
    check_truncation,
    sample_latents,
    truncate,
    truncate_exemplar,
    with_class,
)
from ganlab.sampling import truncate_chosen


def test_every_entry_is_within_the_threshold_and_the_rest_untouched() -> None:
    latents = sample_latents(200, 16, "normal", 3)
    truncated = truncate(latents, 0.5, seed=9)
    assert np.abs(truncated).max() <= 0.5
    inside = np.abs(latents) <= 0.5
    np.testing.assert_array_equal(truncated[inside], latents[inside])
    # Entries beyond the threshold were drawn again, not clipped to it.
    assert not np.any(np.isin(truncated[~inside], [0.5, -0.5]))
    assert truncated.dtype == np.float32


def test_resampling_is_deterministic_with_the_seed_and_per_row() -> None:
    latents = sample_latents(50, 8, "normal", 1)
    first = truncate(latents, 0.7, seed=4)
    np.testing.assert_array_equal(first, truncate(latents, 0.7, seed=4))
    assert not np.array_equal(first, truncate(latents, 0.7, seed=5))
    # A row is truncated the same whatever batch it comes in.
    np.testing.assert_array_equal(truncate(latents[20:], 0.7, seed=4, first_index=20),
                                  first[20:])
    np.testing.assert_array_equal(
        truncate_exemplar(latents[7], 0.7, run_seed=4, index=7), first[7])


def test_resampled_values_follow_the_truncated_normal() -> None:
    values = truncate(np.full((4000, 8), 5.0, np.float32), 1.0, seed=0).ravel()
    # Every value was redrawn: N(0, 1) restricted to [-1, 1] has variance 0.2911.
    assert abs(values.mean()) < 0.02 and abs(values.var() - 0.2911) < 0.01


def test_conditional_latents_keep_their_class() -> None:
    latents = with_class(sample_latents(300, 20, "normal", 2), 5, 3)
    latents[::2] = sample_latents(150, 20, "normal", 8)
    classes = latents[:, -5:].argmax(axis=1)
    truncated = truncate(latents, 0.3, seed=1, num_classes=5)
    np.testing.assert_array_equal(truncated[:, -5:].argmax(axis=1), classes)
    assert np.abs(truncated).max() <= 0.3


def test_evaluation_batches_are_the_same_latents_whatever_the_batch_size() -> None:
    small = np.concatenate(list(latent_batches(100, 6, "normal", 3, 7, truncation=0.6)))
    large = np.concatenate(list(latent_batches(100, 6, "normal", 3, 64, truncation=0.6)))
    np.testing.assert_array_equal(small, large)
    assert np.abs(small).max() <= 0.6
    untruncated = np.concatenate(list(latent_batches(100, 6, "normal", 3, 64)))
    np.testing.assert_array_equal(untruncated, sample_latents(100, 6, "normal", 3))


def test_grid_cells_are_their_exemplars_truncated() -> None:
    bank = sample_latents(10, 8, "normal", 0)
    cells = truncate_chosen(bank[:4], 0.5, None, run_seed=11)
    np.testing.assert_array_equal(cells[2], truncate_exemplar(bank[2], 0.5, run_seed=11,
                                                              index=2))
    seeded = np.concatenate([sample_latents(1, 8, "normal", 40 + i) for i in range(3)])
    cells = truncate_chosen(seeded, 0.5, 40, run_seed=11)
    np.testing.assert_array_equal(cells[1], truncate_exemplar(seeded[1], 0.5, run_seed=11,
                                                              seed=41))


@pytest.mark.parametrize("threshold", [0.0, 0.001, float("nan"), float("inf")])
def test_bad_thresholds_are_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match="truncation threshold"):
        truncate(np.zeros((1, 2), np.float32), threshold, seed=0)


def test_uniform_latents_are_refused() -> None:
    check_truncation("normal", 0.5)
    check_truncation("uniform", None)
    with pytest.raises(ValueError, match="normal latents"):
        check_truncation("uniform", 0.5)


def test_compare_keeps_truncated_and_ema_scores_apart(tmp_path: Path) -> None:
    import json

    from ganlab.compare.collect import read_evaluations

    def record(generator: str, truncation: float | None, fid: float) -> dict:
        return {"metric": "fid", "scores": {"fid": fid}, "details": {},
                "protocol": {"metric": "fid", "epoch": 3, "generator": generator,
                             "truncation": truncation},
                "evaluated_at": "2026-12-04T10:00:00Z"}

    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"format": 1, "records": [
        record("raw", None, 9.0), record("ema", None, 7.0), record("ema", 0.5, 6.0)]}))
    found = {e.generator: e.scores["fid"] for e in read_evaluations(path, print)}
    assert found == {"raw": 9.0, "ema": 7.0, "ema T=0.5": 6.0}
