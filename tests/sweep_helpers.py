"""Shared by the sweep and compare tests: a tiny experiment with a toy metric, sweep.json reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reliability_support import tiny_config, write_experiment

#: A real metric plugin: a FID-like distance (lower is better) between the mean and spread
#: of generated and real pixels, scored every epoch into metrics.csv.
TOY_METRIC = '''
import numpy as np
from ganlab import ScoreSpec, hookimpl


class ToyDistance:
    """Gap between the pixel mean and spread of generated and real images."""

    name = "toy_distance"
    score_specs = {"fid": ScoreSpec(higher_is_better=False, minimum=0.0)}

    def compute(self, generate, dataset):
        fake = generate(16)
        real = np.stack([np.asarray(x) for x in dataset.take(16)])
        return {"fid": float(abs(fake.mean() - real.mean()) + abs(fake.std() - real.std()))}


@hookimpl
def register_metrics(register):
    register("toy_distance", ToyDistance)
'''


def sweep_experiment(root: Path, name: str = "study", epochs: int = 2,
                     callbacks: list[dict[str, Any]] | None = None, metric: bool = True) -> Path:
    """The reliability tests' tiny experiment (8×8 images, Dense G/D), ready to sweep."""
    plugin = root / "toy_metric.py"
    plugin.write_text(TOY_METRIC, encoding="utf-8")
    config = tiny_config(root, name)
    config.pop("run_dir")
    config["plugins"].append(str(plugin))
    config["train"].update(epochs=epochs, deterministic=False)
    config["checkpoint"] = {"every_n_steps": 2, "keep_last": 2}
    config["callbacks"] = callbacks if callbacks is not None else [
        {"name": "sample_grid", "params": {"rows": 2}}]
    config["metrics"] = [{"name": "toy_distance"}] if metric else []
    return write_experiment(root / f"{name}.yaml", config)


def read_sweep(sweep_dir: Path) -> dict[str, Any]:
    """``sweep.json`` (an empty dict while it does not exist yet)."""
    try:
        return json.loads((sweep_dir / "sweep.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def states(sweep_dir: Path) -> dict[str, str]:
    """Run name → state in ``sweep.json``."""
    return {run["name"]: run["state"] for run in read_sweep(sweep_dir).get("runs", [])}
