"""Sweeps and runs keep out of each other's directories; sweep sizes, threads and sample counts
are bounded before any work; a stopped sweep says which runs have a checkpoint.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
from reliability_support import (
    assert_clean_failure,
    flat,
    invoke,
    output,
    prepare_tiny_data,
    run_cli,
    tiny_experiment_file,
)
from sweep_helpers import sweep_experiment

from ganlab.evaluation import EvaluationContext
from ganlab.evaluation.bounds import MAX_SAMPLES, PROGRESS_FROM
from ganlab.sweep.driver import stopped_message
from ganlab.sweep.launch import available_cpus
from ganlab.sweep.spec import MAX_RUNS, SweepAxes, expand
from ganlab.sweep.state import RunRecord, SweepState

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# -- runs and sweeps keep apart --
def test_a_sweep_never_writes_into_a_run_and_a_run_never_into_a_sweep(tmp_path: Path) -> None:
    prepare_tiny_data(tmp_path)
    experiment = sweep_experiment(tmp_path, "study", epochs=1, callbacks=[], metric=False)
    runs = tmp_path / "runs"
    # `ganlab run study.yaml`, then `ganlab sweep study.yaml`: both default to runs/study.
    trained = run_cli("run", str(experiment), "--set", f"run_dir={runs / 'study'}")
    assert trained.returncode == 0, output(trained)
    before = digests(runs / "study")
    result = invoke(["sweep", experiment, "--grid", "seed=1,2", "--runs-dir", runs])
    assert_clean_failure(result, 5, f"The sweep directory {runs / 'study'} holds a run",
                         "--name NEW_NAME", "--runs-dir")
    assert digests(runs / "study") == before

    # A real sweep of one run, then a run aimed at the sweep's directory.
    swept = run_cli("sweep", str(experiment), "--grid", "seed=3", "--name", "grid",
                    "--runs-dir", str(runs))
    assert swept.returncode == 0, output(swept)
    sweep_before = digests(runs / "grid")
    refused = run_cli("run", str(experiment), "--set", f"run_dir={runs / 'grid'}")
    assert refused.returncode == 5, output(refused)
    text = flat(output(refused))
    assert f"The run directory {runs / 'grid'} holds a sweep (sweep.json" in text
    assert "--set name=NEW_NAME" in text and "Traceback" not in text
    assert digests(runs / "grid") == sweep_before


# -- sweep sizes --
@pytest.mark.parametrize("axes, shown", [
    (["--grid", "seed=" + ",".join(map(str, range(10_000))), "--grid", "loss.name=bce,hinge",
      "--grid", "train.batch_size=" + ",".join(map(str, range(1, 5001)))],
     "100,000,000 runs (10,000 seed × 2 loss.name × 5,000 train.batch_size)"),
    (["--random", "1000000000", "--range", "seed=1:100:int"],
     "1,000,000,000 runs (1,000,000,000 random draws)"),
    (["--grid", "seed=" + ",".join(map(str, range(MAX_RUNS + 1)))], f"{MAX_RUNS + 1:,} values"),
])
def test_huge_sweeps_are_refused_before_expansion_even_in_a_dry_run(
        tmp_path: Path, axes: list[str], shown: str) -> None:
    experiment, _ = tiny_experiment_file(tmp_path, "huge")
    started = time.monotonic()
    result = invoke(["sweep", experiment, "--dry-run", *axes, "--runs-dir", tmp_path / "runs"])
    assert_clean_failure(result, 2, shown, f"{MAX_RUNS:,}")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "runs").exists()


def test_expand_refuses_too_many_runs_without_building_them() -> None:
    axes = SweepAxes(grid=(("seed", tuple(range(100_000))), ("x", tuple(range(100_000)))))
    with pytest.raises(Exception, match="10,000,000,000 runs"):
        expand(axes)


# -- threads per run --
def test_threads_per_run_beyond_the_cores_is_refused(tmp_path: Path) -> None:
    experiment, _ = tiny_experiment_file(tmp_path, "threads")
    cores = available_cpus()
    result = invoke(["sweep", experiment, "--grid", "seed=1,2", "--threads-per-run", "1000000",
                     "--runs-dir", tmp_path / "runs"])
    assert_clean_failure(result, 2, "--threads-per-run is 1,000,000", f"the {cores:,} CPU cores",
                         f"--threads-per-run {cores} or fewer")
    assert not (tmp_path / "runs").exists()
    ray = invoke(["sweep", experiment, "--grid", "seed=1,2", "--threads-per-run", "1000000",
                  "--backend", "ray", "--address", "auto", "--runs-dir", tmp_path / "runs"])
    assert_clean_failure(ray, 2, "more than the 1,024 CPU cores a run on a Ray cluster")


def test_a_stopped_sweep_claims_checkpoints_only_for_runs_that_saved_one(tmp_path: Path) -> None:
    state = SweepState(tmp_path, "s", "x.yaml", [], {},
                       [RunRecord("a", {}, "finished"), RunRecord("b", {}, "interrupted"),
                        RunRecord("c", {}, "interrupted")])
    assert "none of its unfinished runs had saved a checkpoint" in stopped_message(state)
    (tmp_path / "b" / "checkpoints").mkdir(parents=True)
    (tmp_path / "b" / "checkpoints" / "ckpt-e0001-s000000.npz").write_bytes(b"")
    assert "1 of its 2 unfinished runs saved checkpoints" in stopped_message(state)
    (tmp_path / "c" / "checkpoints").mkdir(parents=True)
    (tmp_path / "c" / "checkpoints" / "ckpt-e0000-s000004.npz").write_bytes(b"")
    assert "its unfinished runs saved checkpoints" in stopped_message(state)


# -- evaluation sample counts --
def test_evaluate_num_samples_is_bounded(tmp_path: Path) -> None:
    result = invoke(["evaluate", tmp_path, "--num-samples", "1000000000"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"2<=x<={MAX_SAMPLES}" in result.output.replace(" ", "")


def test_a_metric_asking_for_too_many_samples_is_refused_before_it_runs() -> None:
    from ganlab_builtins.metrics.scorers import FID

    with pytest.raises(ValueError, match="num_samples must be at most 1,000,000"):
        FID(num_samples=10**9)


def test_long_evaluations_tell_their_progress_and_huge_ones_are_refused() -> None:
    said: list[str] = []
    context = EvaluationContext(
        generator=lambda latents, training: np.zeros((len(latents), 2, 2, 1), np.float32),
        latent_dim=2, latent_distribution="normal", image_shape=(2, 2, 1), dataset=None,
        registry=None, seed=0, echo=said.append)
    total = sum(len(batch) for batch in context.fake_batches(PROGRESS_FROM, 4096))
    assert total == PROGRESS_FROM
    assert len(said) == 10 and said[-1].endswith(f"{PROGRESS_FROM:,} of {PROGRESS_FROM:,} (100 %)")
    with pytest.raises(Exception, match="more than the 1,000,000 images"):
        next(context.fake_batches(MAX_SAMPLES + 1, 4096))
