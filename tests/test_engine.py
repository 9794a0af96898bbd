"""End to end: `ganlab run` of a tiny real experiment, its run directory, resume, mirrored."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO, run_cli, tiny_experiment, write_experiment
from PIL import Image


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    tmp_path = tmp_path_factory.mktemp("engine")
    config = tiny_experiment(tmp_path)
    config["optimizers"] = {"schedule": {"boundaries_epochs": [1], "factors": [1.0, 0.5]}}
    path = write_experiment(tmp_path / "tiny.yaml", config)
    result = run_cli(["run", str(path)])
    assert result.exit_code == 0, result.output
    return path, Path(config["run_dir"]), result


def test_run_directory_has_every_artefact(finished_run: tuple[Path, Path, object]) -> None:
    _, run_dir, result = finished_run
    assert "Done: 2 epochs" in result.output
    for name in ("config.yaml", "plugins.json", "run.json", "history.csv", "generator.keras",
                 "latents.npy", "samples/epoch_0001.png", "samples/epoch_0002.png",
                 "samples/progress.gif", "checkpoints/latest.json",
                 "checkpoints/ckpt-e0002-s000000.npz"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["train"]["batch_size"] == 16 and config["train"]["precision"] == "float32"
    provenance = json.loads((run_dir / "plugins.json").read_text())
    providers = {c["name"]: c["plugin"] for c in provenance["components"]}
    assert providers["dcgan"] == "dcgan" and providers["mnist"] == "mnist"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["latent_dim"] == 16
    assert meta["image_shape"] == [32, 32, 1] and meta["epochs_completed"] == 2


def test_history_and_learning_rate_schedule(finished_run: tuple[Path, Path, object]) -> None:
    _, run_dir, _ = finished_run
    with (run_dir / "history.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert [float(r["lr_g"]) for r in rows] == pytest.approx([2e-4, 1e-4])
    assert all(0.0 <= float(r["d_real"]) <= 1.0 and np.isfinite(float(r["d_loss"]))
               for r in rows)


def test_sample_grid_uses_the_fixed_bank(finished_run: tuple[Path, Path, object]) -> None:
    _, run_dir, _ = finished_run
    grid = Image.open(run_dir / "samples" / "epoch_0002.png")
    # 4x4 cells of 32 px with 2 px padding.
    assert grid.size == (4 * 34 + 2, 4 * 34 + 2)
    assert np.load(run_dir / "latents.npy").shape == (16, 16)
    frames = Image.open(run_dir / "samples" / "progress.gif")
    assert frames.n_frames == 2


def test_sample_command_draws_from_the_exported_generator(
        finished_run: tuple[Path, Path, object], tmp_path: Path) -> None:
    _, run_dir, _ = finished_run
    out = tmp_path / "grid.png"
    final = tmp_path / "final.png"
    result = run_cli(["sample", str(run_dir), "--num", "9", "--out", str(final)])
    assert result.exit_code == 0, result.output
    assert Image.open(final).size == (3 * 34 + 2, 3 * 34 + 2)
    # Numbered grids of small images are enlarged (x2 for 32 px) so labels fit.
    result = run_cli(["sample", str(run_dir), "--num", "9", "--out", str(out), "--numbered"])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (2 * (3 * 34 + 2), 2 * (3 * 34 + 2))
    from_checkpoint = tmp_path / "epoch1.png"
    result = run_cli(["sample", str(run_dir), "--num", "9", "--epoch", "1", "--out",
                      str(from_checkpoint)])
    assert result.exit_code == 0, result.output
    assert Image.open(from_checkpoint).size == Image.open(final).size
    assert not np.array_equal(np.asarray(Image.open(final)),
                              np.asarray(Image.open(from_checkpoint)))
    seeded = [tmp_path / f"s{i}.png" for i in range(2)]
    for target in seeded:
        assert run_cli(["sample", str(run_dir), "--num", "4", "--seed", "3", "--out",
                        str(target)]).exit_code == 0
    assert np.array_equal(np.asarray(Image.open(seeded[0])), np.asarray(Image.open(seeded[1])))
    too_many = run_cli(["sample", str(run_dir), "--num", "40", "--out", str(out)])
    assert too_many.exit_code != 0 and "latent bank holds 16" in too_many.output


def test_resume_continues_at_the_next_epoch(finished_run: tuple[Path, Path, object]) -> None:
    path, run_dir, _ = finished_run
    before = np.load(run_dir / "checkpoints" / "ckpt-e0002-s000000.npz")
    result = run_cli(["run", str(path), "--set", "train.epochs=3"])
    assert result.exit_code == 0, result.output
    assert "Resuming from" in result.output and "end of epoch 2" in result.output
    assert "both optimizer states" in result.output
    with (run_dir / "history.csv").open() as stream:
        assert [int(r["epoch"]) for r in csv.DictReader(stream)] == [1, 2, 3]
    after = np.load(run_dir / "checkpoints" / "ckpt-e0003-s000000.npz")
    assert json.loads(after["__meta__"].tobytes())["global_step"] == 9
    assert np.array_equal(before["latent_bank"], after["latent_bank"])
    assert (run_dir / "samples" / "epoch_0003.png").exists()
    assert not (run_dir / "samples" / "epoch_0004.png").exists()


def test_incompatible_config_is_refused(finished_run: tuple[Path, Path, object]) -> None:
    path, run_dir, _ = finished_run
    result = run_cli(["run", str(path), "--set", "architecture.params.base_filters=8"])
    assert result.exit_code != 0
    assert "cannot be resumed" in result.output
    assert "architecture.params.base_filters: 4 → 8" in result.output
    assert "Traceback" not in result.output


def test_validate_checks_without_training(finished_run: tuple[Path, Path, object]) -> None:
    path, _, _ = finished_run
    result = run_cli(["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "TFRecords ready" in result.output
    bad = run_cli(["validate", str(path), "--set", "dataset.params.image_size=28"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert "32" in bad.output  # DCGAN says which sizes it supports


@pytest.mark.parametrize("num_classes", [0, 10], ids=["unconditional", "conditional"])
def test_mirrored_strategy_over_two_cpu_devices(tmp_path: Path, num_classes: int) -> None:
    """The same training path under MirroredStrategy, two logical CPUs, in a fresh process;
    a class-conditional GAN's (images, labels) batches are split between the replicas too."""
    config = tiny_experiment(tmp_path)
    config["train"].update({"strategy": "mirrored", "devices": ["/cpu:0", "/cpu:1"],
                            "epochs": 1})
    config["architecture"]["params"].update(synchronized_bn=True, num_classes=num_classes)
    path = write_experiment(tmp_path / "mirrored.yaml", config)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    completed = subprocess.run([sys.executable, "-m", "ganlab", "run", str(path)], cwd=REPO,
                               env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    run_dir = Path(config["run_dir"])
    assert (run_dir / "generator.keras").exists()
    with (run_dir / "history.csv").open() as stream:
        row = next(csv.DictReader(stream))
    assert np.isfinite(float(row["d_loss"])) and np.isfinite(float(row["g_loss"]))
