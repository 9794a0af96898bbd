"""Each of the study's five experiments prepares, inspects and trains on a small real-format tree.

Only the sizes are overridden (tiny networks, one step); the dataset block,
image size (64×64), loss, schedule and callbacks are the shipped ones.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from celeba_fixtures import build_celeba
from conftest import REPO, run_cli
from PIL import Image
from test_mnist import write_idx_tree

CELEBA = {"dcgan_celeba_bbox.yaml": 2, "dcgan_celeba.yaml": 2, "dcgan_celeba_align.yaml": 2,
          "dcgan_celeba_align_png.yaml": 2}


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("study")
    build_celeba(root / "CelebA")
    write_idx_tree(root / "mnist", {"train": 12, "test": 4}, gz=True)
    return {"celeba": root / "CelebA", "mnist": root / "mnist"}


@pytest.mark.parametrize("name", [*CELEBA, "dcgan_mnist.yaml"])
def test_study_experiment_trains_on_a_small_tree(name: str, sources: dict[str, Path],
                                                  tmp_path: Path) -> None:
    experiment = REPO / "experiments" / name
    source = sources["mnist" if "mnist" in name else "celeba"]
    overrides = ["--set", f"dataset.params.source={source}",
                 "--set", f"dataset.params.tfrecords={tmp_path / 'records'}",
                 "--set", f"run_dir={tmp_path / 'run'}",
                 "--set", "architecture.params.base_filters=4",
                 "--set", "train.batch_size=2", "--set", "train.steps_per_epoch=1",
                 "--set", "train.epochs=1", "--set", "train.verbose=0"]
    result = run_cli(["run", str(experiment), *overrides])  # prepares, then trains
    assert result.exit_code == 0, result.output
    assert "Prepared" in result.output
    grid = tmp_path / "real.png"
    inspected = run_cli(["inspect", str(experiment), *overrides[:4], "--num", "2",
                         "--out", str(grid)])
    assert inspected.exit_code == 0, inspected.output
    assert Image.open(grid).size[0] >= 2 * 64
    run_dir = tmp_path / "run"
    assert (run_dir / "generator.keras").exists()
    assert (run_dir / "samples" / "epoch_0001.png").exists()
    assert (run_dir / "arithmetic" / "epoch_0001.png").exists()
    with (run_dir / "history.csv").open() as stream:
        assert float(next(csv.DictReader(stream))["lr_g"]) == pytest.approx(2e-4)
