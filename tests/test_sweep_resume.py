"""Kill a real sweep process (SIGKILL, then SIGTERM) mid-run and run it again: finished runs
are not retrained, killed runs resume from their checkpoints, and the sweep ends complete.

The runs are real ``ganlab run`` subprocesses of a real ``ganlab sweep`` subprocess. The
``pace`` callback of the reliability test plugin holds a run at its second batch until the
test creates a release file, so the kills land mid-training at a known point.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from reliability_support import cli_env, ganlab_command, prepare_tiny_data, wait_for
from sweep_helpers import read_sweep, states, sweep_experiment

NAMES = ["seed-1", "seed-2", "seed-3"]


def progress_is(path: Path, value: str) -> bool:
    try:
        return path.read_text() == value
    except OSError:
        return False


def run_record(sweep_dir: Path, name: str) -> dict:
    return {run["name"]: run for run in read_sweep(sweep_dir)["runs"]}[name]


def lock_released(run_dir: Path) -> bool:
    return not (run_dir / ".ganlab.lock").exists()


def mtimes(run_dir: Path) -> dict[str, int]:
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_killed_sweep_resumes_and_never_retrains_finished_runs(tmp_path: Path) -> None:
    prepare_tiny_data(tmp_path)
    release, progress = tmp_path / "release", tmp_path / "progress"
    pace = {"name": "pace", "params": {"progress": str(progress), "hold_at": 2,
                                       "release": str(release)}}
    experiment = sweep_experiment(tmp_path, "killed", callbacks=[pace], metric=False)
    command = ganlab_command("sweep", str(experiment), "--grid", "seed=1,2,3",
                             "--runs-dir", str(tmp_path / "runs"))
    sweep_dir = tmp_path / "runs" / "killed"

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(command, cwd=tmp_path, env=cli_env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    # 1. seed-1 trains to the end; seed-2 is held mid-epoch; the sweep is SIGKILLed.
    release.touch()
    first = start()
    wait_for(lambda: states(sweep_dir).get("seed-1") == "finished", 300, "seed-1 to finish")
    release.unlink()
    wait_for(lambda: states(sweep_dir).get("seed-2") == "running" and progress_is(progress, "2"),
             300, "seed-2 to be held at its second batch")
    first.kill()
    first.communicate(timeout=60)
    release.touch()  # seed-2 got SIGTERM when the sweep died: it checkpoints and exits
    wait_for(lambda: lock_released(sweep_dir / "seed-2"), 120, "seed-2 to stop")
    assert list((sweep_dir / "seed-2" / "checkpoints").glob("ckpt-e0000-*.npz"))
    finished = mtimes(sweep_dir / "seed-1")
    assert states(sweep_dir) == {"seed-1": "finished", "seed-2": "running",
                                 "seed-3": "pending"}

    # 2. Run again: seed-2 resumes and is held again; SIGTERM stops the sweep cleanly.
    release.unlink()
    progress.unlink()
    second = start()
    wait_for(lambda: run_record(sweep_dir, "seed-2")["attempts"] == 2
             and progress_is(progress, "2"), 300, "seed-2's second attempt to be held")
    second.send_signal(signal.SIGTERM)
    # Release seed-2 only once the sweep has passed the signal on to it: released earlier,
    # the run could finish (or end its training loop) before the signal reached it.
    seed_2_log = sweep_dir / "logs" / "seed-2.log"
    wait_for(lambda: seed_2_log.read_text(errors="replace").count("SIGTERM received") >= 2,
             120, "seed-2's second attempt to receive the sweep's SIGTERM")
    release.touch()
    printed, _ = second.communicate(timeout=300)
    assert second.returncode == 130, printed
    assert "1 finished already, skipped" in printed
    assert "SIGTERM received: stopping 1 running run(s)" in printed
    assert "Run the same command again to resume it" in " ".join(printed.split())
    record = run_record(sweep_dir, "seed-2")
    assert (record["state"], record["exit_code"]) == ("interrupted", 130)
    assert states(sweep_dir)["seed-3"] == "pending"

    # 3. Run again to the end: nothing of seed-1 is touched, seed-2 resumes, seed-3 trains.
    third = subprocess.run(command, cwd=tmp_path, env=cli_env(), text=True,
                           capture_output=True, timeout=600)
    assert third.returncode == 0, third.stdout + third.stderr
    assert states(sweep_dir) == dict.fromkeys(NAMES, "finished")
    assert [run_record(sweep_dir, n)["attempts"] for n in NAMES] == [1, 3, 1]
    assert mtimes(sweep_dir / "seed-1") == finished
    log = (sweep_dir / "logs" / "seed-2.log").read_text()
    assert log.count("Resuming from") == 2
    for name in NAMES:
        history = (sweep_dir / name / "history.csv").read_text().splitlines()
        assert [line.split(",")[0] for line in history] == ["epoch", "1", "2"]
        meta = json.loads((sweep_dir / name / "run.json").read_text())
        assert (meta["status"], meta["epochs_completed"]) == ("completed", 2)
