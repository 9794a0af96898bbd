"""One dataset contract: exactly the documented members validate, train and inspect."""

from __future__ import annotations

from pathlib import Path

import pytest
from author_plugin import experiment
from conftest import run_cli, write_experiment

PLUGIN = str(Path(__file__).resolve().parent / "author_plugin.py")


@pytest.mark.parametrize("dataset", ["contract_only", "blobs"])
def test_contract_only_dataset_validates_runs_and_inspects(tmp_path: Path, dataset: str) -> None:
    config = experiment(tmp_path, PLUGIN, dataset={"name": dataset, "params": {"count": 32}})
    path = write_experiment(tmp_path / "exp.yaml", config)

    validated = run_cli(["validate", str(path)])
    assert validated.exit_code == 0, validated.output
    assert "ready" in validated.output and "32 images" in validated.output

    ran = run_cli(["run", str(path)])
    assert ran.exit_code == 0, ran.output
    run_dir = tmp_path / "runs" / "author"
    assert (run_dir / "generator.keras").is_file()
    assert len((run_dir / "history.csv").read_text().splitlines()) == 2  # header + 1 epoch

    grid = tmp_path / "grid.png"
    inspected = run_cli(["inspect", str(path), "--num", "4", "--out", str(grid)])
    assert inspected.exit_code == 0, inspected.output
    assert grid.is_file() and "8x8x1 float32" in inspected.output

    prepared = run_cli(["prepare", str(path)])
    assert prepared.exit_code == 0, prepared.output
    assert "32 images" in prepared.output


def test_in_memory_uint8_images_are_scaled_to_the_training_range() -> None:
    from author_plugin import Blobs

    images = [image.numpy() for image in Blobs(count=5).load()]
    assert len(images) == 5
    low = min(float(i.min()) for i in images)
    high = max(float(i.max()) for i in images)
    assert images[0].dtype.name == "float32"
    assert -1.0 <= low < 0.0 < high <= 1.0
