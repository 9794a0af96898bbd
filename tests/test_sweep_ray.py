"""A 2×2 sweep as Ray tasks on a local Ray the test starts with 2 CPUs; the runs of one
grid value are killed once mid-epoch (SIGKILL) and Ray retries them from their checkpoints.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from reliability_support import invoke, prepare_tiny_data
from sweep_helpers import read_sweep, sweep_experiment

RUNS = ["steps_per_epoch-4_seed-1", "steps_per_epoch-4_seed-2",
        "steps_per_epoch-8_seed-1", "steps_per_epoch-8_seed-2"]


@pytest.mark.slow
def test_a_2x2_sweep_runs_as_ray_tasks_and_lost_runs_resume(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    prepare_tiny_data(tmp_path)
    experiment = sweep_experiment(tmp_path, "onray", epochs=1, callbacks=[], metric=False)
    # Checkpoints every 2 steps: a run of 8 steps writes a third one (step 6) and is killed
    # right after it; a run of 4 steps never writes three. Ray workers inherit this variable.
    monkeypatch.setenv("GANLAB_FAULT", "checkpoint-rename:3:kill")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=80 * 1024**2)
    try:
        result = invoke(["sweep", experiment, "--grid", "train.steps_per_epoch=4,8",
                         "--grid", "seed=1,2", "--backend", "ray", "--cpus-per-run", "1",
                         "--max-retries", "2", "--runs-dir", tmp_path / "runs"])
    finally:
        ray.shutdown()
    assert result.exit_code == 0, result.output
    assert "Backend: ray; 1 CPU thread(s) per run" in result.output
    sweep_dir = tmp_path / "runs" / "onray"
    record = read_sweep(sweep_dir)
    assert [(r["name"], r["state"], r["exit_code"]) for r in record["runs"]] == \
        [(name, "finished", 0) for name in RUNS]
    for name in RUNS:
        log = (sweep_dir / "logs" / f"{name}.log").read_text()
        attempts = log.count("=== Ray task on")
        if name.startswith("steps_per_epoch-8_"):  # killed after the step-6 checkpoint, retried
            assert attempts == 2, log
            assert "Resuming from" in log and "step 6" in log, log
        else:
            assert attempts == 1, log
            assert "Resuming from" not in log
        with (sweep_dir / name / "history.csv").open() as stream:
            assert [row["epoch"] for row in csv.DictReader(stream)] == ["1"]
        assert (sweep_dir / name / "generator.keras").is_file()
