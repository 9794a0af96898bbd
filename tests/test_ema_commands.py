"""A run with ``train.ema`` end to end: kill/resume, the export, and every command that
draws images choosing the EMA generator by default (``--generator raw`` the trained one),
the truncation trick, and the metric records naming what they scored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import run_cli
from evaluation_support import PLUGIN_SOURCE
from reliability_support import (
    assert_clean_failure,
    differing_arrays,
    final_state,
    prepare_tiny_data,
    resumed_run_matches,
    tiny_experiment_file,
)

EMA = {"decay": 0.8, "start_step": 3}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ema-commands")
    prepare_tiny_data(folder)
    (folder / "projection.py").write_text(PLUGIN_SOURCE)
    return folder


@pytest.fixture(scope="module")
def finished(root: Path) -> dict[str, Any]:
    """The EMA run killed at step 5 and resumed, and the same run straight through."""
    plugins = [str(Path(__file__).resolve().parent / "reliability_plugin.py"),
               str(root / "projection.py")]
    grids = [{"name": "sample_grid", "params": {"rows": 4}}]
    whole = tiny_experiment_file(root, "whole", train={"ema": EMA}, plugins=plugins,
                                 callbacks=grids)
    killed = tiny_experiment_file(root, "killed", train={"ema": EMA}, plugins=plugins)
    state = resumed_run_matches(whole, killed, fault="step:5")
    return {"state": state, "run_dir": whole[1], "killed": killed[1]}


def test_kill_and_resume_is_bit_identical_with_the_shadow(finished: dict[str, Any]) -> None:
    state = finished["state"]
    shadow = sorted(k for k in state if k.startswith("generator_ema/"))
    generator = sorted(k for k in state if k.startswith("generator/"))
    assert len(shadow) == len(generator) > 0
    # 24 G updates at decay 0.8: the average is no longer the generator itself.
    assert any(not np.array_equal(state[s], state[g]) for s, g in zip(shadow, generator,
                                                                          strict=True))
    metadata = json.loads((finished["run_dir"] / "run.json").read_text())
    assert metadata["generator_ema"] is True


def test_the_ema_generator_is_exported_and_reloads(finished: dict[str, Any]) -> None:
    from ganlab.restore import restore_generator
    from ganlab.sampling import generate

    run_dir = finished["run_dir"]
    assert (run_dir / "generator_ema.keras").is_file()
    latents = np.random.default_rng(1).standard_normal((6, 8)).astype(np.float32)
    exported = restore_generator(run_dir)
    assert exported.kind == "ema" and exported.source.name == "generator_ema.keras"
    checkpoint = restore_generator(run_dir, "latest")
    assert checkpoint.kind == "ema" and "EMA generator" in checkpoint.description
    raw = restore_generator(run_dir, generator="raw")
    assert raw.kind == "raw" and raw.source.name == "generator.keras"
    images = generate(exported.generator, latents)
    np.testing.assert_array_equal(images, generate(checkpoint.generator, latents))
    assert not np.array_equal(images, generate(raw.generator, latents))


def test_a_missing_ema_export_falls_back_to_the_checkpoint(finished: dict[str, Any],
                                                           tmp_path: Path) -> None:
    from ganlab.restore import restore_generator

    copy = tmp_path / "run"
    shutil.copytree(finished["run_dir"], copy)
    (copy / "generator_ema.keras").unlink()  # as if its export had failed (disk full)
    restored = restore_generator(copy)
    assert restored.kind == "ema" and restored.source.suffix == ".npz"
    assert restore_generator(copy, generator="raw").source.name == "generator.keras"


def test_sample_draws_with_the_ema_generator_unless_told_raw(finished: dict[str, Any],
                                                             tmp_path: Path) -> None:
    run_dir = finished["run_dir"]
    pictures = {}
    for name, extra in (("default", []), ("ema", ["--generator", "ema"]),
                        ("raw", ["--generator", "raw"])):
        out = tmp_path / f"{name}.png"
        result = run_cli(["sample", str(run_dir), "--num", "9", "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        # The output line says which generator drew the grid.
        said = "the raw (trained) generator" if name == "raw" else "the EMA generator"
        assert said in result.output, result.output
        pictures[name] = out.read_bytes()
    assert pictures["default"] == pictures["ema"] != pictures["raw"]


def test_the_sample_grids_are_drawn_by_the_ema_generator(finished: dict[str, Any],
                                                         tmp_path: Path) -> None:
    run_dir = finished["run_dir"]
    grid = (run_dir / "samples" / "epoch_0003.png").read_bytes()
    for kind in ("ema", "raw"):
        out = tmp_path / f"{kind}.png"
        result = run_cli(["sample", str(run_dir), "--num", "16", "--rows", "4", "--out",
                          str(out), "--generator", kind])
        assert result.exit_code == 0, result.output
        assert (out.read_bytes() == grid) is (kind == "ema")


def test_a_run_without_ema_gains_one_only_in_a_branch(root: Path, tmp_path: Path) -> None:
    path, run_dir = tiny_experiment_file(root, "plain", train={"epochs": 1})
    assert run_cli(["run", path]).exit_code == 0
    result = run_cli(["sample", str(run_dir), "--num", "4", "--out", str(tmp_path / "x.png"),
                      "--generator", "ema"])
    assert_clean_failure(result, result.exit_code, "has no EMA generator",
                         "--generator raw")
    assert result.exit_code != 0
    # Resuming it with train.ema is refused: the run trained without one.
    added = ["--set", "train.ema.decay=0.9", "--set", "train.epochs=2"]
    result = run_cli(["run", path, *added])
    assert_clean_failure(result, result.exit_code, "cannot be resumed", "train.ema")
    # A branch may add it: the EMA generator starts as the checkpoint's generator.
    branch = ["--from-run", str(run_dir), "--from-checkpoint", "epoch=1",
              "--set", "name=plain-ema", "--set", f"run_dir={tmp_path / 'plain-ema'}"]
    result = run_cli(["run", path, *added, *branch])
    assert result.exit_code == 0, result.output
    assert "the EMA generator starts as a copy of the restored generator" in " ".join(
        result.output.split())
    assert (tmp_path / "plain-ema" / "generator_ema.keras").is_file()


def test_metric_records_name_the_generator_and_the_truncation(
        finished: dict[str, Any]) -> None:
    run_dir = finished["run_dir"]
    common = ["--metric", "fid", "--num-samples", "16", "--extractor", "projection"]
    for extra in ([], ["--generator", "raw"], ["--truncation", "0.5"]):
        result = run_cli(["evaluate", str(run_dir), *common, *extra])
        assert result.exit_code == 0, result.output
    assert "ema T=0.5" in result.stdout
    records = json.loads((run_dir / "metrics.json").read_text())["records"]
    protocols = {(r["protocol"]["generator"], r["protocol"]["truncation"]): r for r in records}
    assert set(protocols) == {("ema", None), ("raw", None), ("ema", 0.5)}
    scores = {key: r["scores"]["fid"] for key, r in protocols.items()}
    assert len(set(scores.values())) == 3  # three measurements, not one recorded thrice


def test_arithmetic_and_interpolate_take_generator_and_truncation(
        finished: dict[str, Any], tmp_path: Path) -> None:
    run_dir = finished["run_dir"]
    out = tmp_path / "walk.png"
    result = run_cli(["interpolate", str(run_dir), "--from", "1", "--to", "s5", "--steps", "3",
                      "--out", str(out), "--truncation", "0.7", "--generator", "raw"])
    assert result.exit_code == 0, result.output
    assert "the exported generator (generator.keras), truncation 0.7" in result.output
    result = run_cli(["arithmetic", str(run_dir), "--concept", "a=1,2", "--concept", "b=3",
                      "--expr", "a - b", "--neighbours", "0", "--out", str(tmp_path / "a.png")])
    assert result.exit_code == 0, result.output
    assert "EMA generator" in result.output


def test_truncation_is_refused_for_uniform_latents(finished: dict[str, Any],
                                                   tmp_path: Path) -> None:
    uniform = tmp_path / "uniform-run"
    shutil.copytree(finished["run_dir"], uniform)
    metadata = json.loads((uniform / "run.json").read_text())
    metadata["latent_distribution"] = "uniform"
    (uniform / "run.json").write_text(json.dumps(metadata))
    for args in (["sample", str(uniform), "--num", "4", "--out", str(tmp_path / "u.png")],
                 ["evaluate", str(uniform), "--metric", "fid"],
                 ["interpolate", str(uniform), "--from", "1", "--to", "2",
                  "--out", str(tmp_path / "i.png")]):
        result = run_cli([*args, "--truncation", "1"])
        assert result.exit_code != 0
        assert_clean_failure(result, result.exit_code, "truncation applies to normal latents",
                             "uniform")


def test_resumed_run_state_is_the_straight_run(finished: dict[str, Any]) -> None:
    assert not differing_arrays(final_state(finished["killed"]), finished["state"])


@pytest.mark.slow
def test_two_workers_keep_one_ema_generator(tmp_path: Path) -> None:
    """train.ema under multi_worker: the update runs on each worker's own copy, and the
    chief checkpoints and exports it."""
    import yaml
    from test_multi_worker import (
        NO_CHECKPOINT_WRITES,
        cluster_experiment,
        explain,
        ganlab_run,
        run_workers,
    )

    path, run_dir = cluster_experiment(tmp_path, "mw-ema")
    config = yaml.safe_load(path.read_text())
    config["train"]["ema"] = {"decay": 0.5}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    workers = run_workers(tmp_path, ganlab_run(path), faults={1: NO_CHECKPOINT_WRITES})
    assert all(w.returncode == 0 for w in workers), explain(workers)
    assert (run_dir / "generator_ema.keras").is_file()
    state = final_state(run_dir)
    shadow = sorted(k for k in state if k.startswith("generator_ema/"))
    generator = sorted(k for k in state if k.startswith("generator/"))
    assert len(shadow) == len(generator) > 0
    assert any(not np.array_equal(state[s], state[g])
               for s, g in zip(shadow, generator, strict=True))
