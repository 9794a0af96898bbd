"""Metric plugins are scored by the engine, logged to metrics.csv and TensorBoard."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import tensorflow as tf
from conftest import run_cli, tiny_experiment, write_experiment
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

PIXEL_STATS = '''
import numpy as np
from ganlab import hookimpl


class PixelStats:
    """Mean-intensity gap between generated and real images."""

    name = "pixel_stats"

    def __init__(self, num_samples: int = 64):
        self.num_samples = num_samples

    def compute(self, generate, dataset):
        fake = generate(self.num_samples)
        real = np.stack([np.asarray(x) for x in dataset.take(self.num_samples)])
        assert fake.shape == real.shape, (fake.shape, real.shape)
        return {"mean_gap": float(abs(fake.mean() - real.mean())),
                "fake_std": float(fake.std())}


@hookimpl
def register_metrics(register):
    register("pixel_stats", PixelStats)
'''


def test_metrics_are_scored_each_period(tmp_path: Path) -> None:
    (tmp_path / "pixel_stats.py").write_text(PIXEL_STATS)
    config = tiny_experiment(tmp_path, plugins=["pixel_stats.py"],
                             metrics=[{"name": "pixel_stats", "params": {"num_samples": 32}}])
    config["train"].update({"epochs": 3, "metrics_every_n_epochs": 2})
    result = run_cli(["run", str(write_experiment(tmp_path / "m.yaml", config))])
    assert result.exit_code == 0, result.output
    run_dir = Path(config["run_dir"])
    with (run_dir / "metrics.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    # Scored at epochs 2 only (period 2, 3 epochs), two scores each.
    assert [(r["epoch"], r["metric"], r["score"]) for r in rows] == [
        ("2", "pixel_stats", "mean_gap"), ("2", "pixel_stats", "fake_std")]
    assert 0.0 <= float(rows[0]["value"]) <= 2.0 and float(rows[1]["value"]) > 0.0
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    tags = events.Tags()["tensors"]
    assert "epoch/pixel_stats/mean_gap" in tags and "epoch/d_loss" in tags
    assert [e.step for e in events.Tensors("epoch/pixel_stats/mean_gap")] == [2]
    logged = tf.make_ndarray(events.Tensors("epoch/pixel_stats/mean_gap")[0].tensor_proto)
    assert float(logged) == pytest.approx(float(rows[0]["value"]), rel=1e-4)
