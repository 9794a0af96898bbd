"""The benchmarks' epoch_clock plugin: loaded with -p, it times every epoch on both clocks."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPO, run_cli, tiny_experiment, write_experiment

PLUGIN = REPO / "benchmarks" / "epoch_clock.py"


def test_epoch_clock_records_wall_and_cpu_seconds_per_epoch(tmp_path: Path) -> None:
    clock = tmp_path / "clock.json"
    config = tiny_experiment(tmp_path, callbacks=[
        {"name": "epoch_clock", "params": {"path": str(clock)}}])
    experiment = write_experiment(tmp_path / "exp.yaml", config)

    result = run_cli(["-p", str(PLUGIN), "run", str(experiment)])

    assert result.exit_code == 0, result.output
    seconds = json.loads(clock.read_text())
    assert sorted(seconds) == ["cpu", "wall"]
    assert len(seconds["wall"]) == len(seconds["cpu"]) == 2
    # Every epoch trained (3 steps each), so both clocks moved; CPU is the whole process's.
    assert all(value > 0 for value in seconds["wall"] + seconds["cpu"])
    history = (Path(config["run_dir"]) / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 2
