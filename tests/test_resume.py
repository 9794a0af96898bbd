"""Crash and resume with real processes: SIGKILL at a step, mid-checkpoint-write and while
writing samples, a real SIGINT, a second writer refused; all ending bit-identical to a run
never interrupted (``train.deterministic: true``, CPU).

Kills at exact points use the test-only fault hook ``GANLAB_FAULT`` (see
``ganlab/engine/faults.py``) or the ``torn_sample`` callback of
``reliability_plugin.py``; the SIGINT is a real signal sent by this test.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_support import (
    assert_clean_failure,
    checkpoint_names,
    differing_arrays,
    final_state,
    flat,
    invoke,
    output,
    prepare_tiny_data,
    run_cli,
    start_cli,
    tiny_config,
    wait_for,
    write_experiment,
)

SIGKILLED = -signal.SIGKILL


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("resume")
    prepare_tiny_data(folder)
    return folder


class Reference:
    """The uninterrupted run, started at once so that it overlaps the killed runs."""

    def __init__(self, root: Path):
        self.run_dir = root / "runs" / "reference"
        path = write_experiment(root / "reference.yaml", tiny_config(root, "reference"))
        self.process = start_cli("run", str(path))
        self._state: dict | None = None

    def state(self) -> dict:
        if self._state is None:
            stdout, stderr = self.process.communicate(timeout=300)
            assert self.process.returncode == 0, stdout + stderr
            self._state = final_state(self.run_dir)
        return self._state


@pytest.fixture(scope="module")
def reference(root: Path) -> Iterator[Reference]:
    started = Reference(root)
    yield started
    if started.process.poll() is None:  # a test failed before waiting for it
        started.process.kill()
        started.process.communicate()


def hidden_files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob(".*")
                  if p.name != ".ganlab.lock")


@pytest.mark.slow
def test_killed_anywhere_then_resumed_ends_bit_identical(
        root: Path, reference: Reference) -> None:
    progress, release, once = root / "progress", root / "release", root / "torn-fired"
    config = tiny_config(root, "chain", callbacks=[
        {"name": "sample_grid", "params": {"rows": 2, "gif": False}},
        {"name": "torn_sample", "params": {"epoch": 2, "once": str(once)}},
        {"name": "pace", "params": {"progress": str(progress)}},
    ])
    experiment = str(write_experiment(root / "chain.yaml", config))
    run_dir = Path(config["run_dir"])

    # 1. SIGKILL after global step 5: the mid-epoch checkpoint of step 3 survives.
    first = run_cli("run", experiment, fault="step:5")
    assert first.returncode == SIGKILLED, output(first)
    assert checkpoint_names(run_dir) == ["ckpt-e0000-s000003.npz"]

    # 2. Resumed, then SIGKILLed halfway through writing its 2nd checkpoint (end of epoch 1).
    second = run_cli("run", experiment, fault="checkpoint-write:2:torn")
    assert second.returncode == SIGKILLED, output(second)
    assert "Resuming from" in second.stdout and "(epoch 1, after step 3)" in second.stdout
    assert "took over the stale lock" in second.stdout
    torn = list((run_dir / "checkpoints").glob(".ckpt-*.tmp"))
    assert len(torn) == 1, "the torn write should have left its temporary file"
    assert checkpoint_names(run_dir) == ["ckpt-e0000-s000006.npz"]

    # 3. Resumed from step 6, SIGKILLed while writing the epoch-2 sample grid.
    third = run_cli("run", experiment)
    assert third.returncode == SIGKILLED, output(third)
    assert "(epoch 1, after step 6)" in third.stdout
    assert not torn[0].exists(), "the torn temporary file should have been cleaned up"
    assert (run_dir / "samples" / ".epoch_0002.png.torn.tmp").exists()
    assert checkpoint_names(run_dir) == ["ckpt-e0001-s000000.npz", "ckpt-e0001-s000007.npz"]

    # 4. Resumed; held at its 2nd batch, a second writer is refused; a real SIGINT stops it.
    progress.unlink(missing_ok=True)
    held = start_cli("run", experiment, "--set", "callbacks.2.params.hold_at=2",
                     "--set", f"callbacks.2.params.release={release}")
    try:
        wait_for(lambda: progress.exists() and progress.read_text() == "2", what="2 batches")
        lock = json.loads((run_dir / ".ganlab.lock").read_text())
        assert lock["pid"] == held.pid and lock["host"] == socket.gethostname()
        rival = run_cli("run", experiment)
        assert rival.returncode == 5, output(rival)
        assert f"in use by process {held.pid} on host {socket.gethostname()}" in flat(rival.stderr)
        assert "Traceback" not in output(rival)
        held.send_signal(signal.SIGINT)
        release.write_text("go")
        stdout, stderr = held.communicate(timeout=120)
    finally:
        if held.poll() is None:
            held.kill()
    assert held.returncode == 130, stdout + stderr
    stderr = flat(stderr)
    assert "SIGINT received: saving a checkpoint at the next step boundary" in stdout
    assert "Training stopped at the epoch 3, after step 1 (global step 17)" in stderr, stderr[-900:]
    assert f"To resume, run the same command again: ganlab run {experiment}" in stderr
    assert "Traceback" not in stderr
    assert "ckpt-e0002-s000001.npz" in checkpoint_names(run_dir)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"

    # 5. Resumed to the end: bit-identical to the run never interrupted.
    last = run_cli("run", experiment)
    assert last.returncode == 0, output(last)
    assert "(epoch 3, after step 1)" in last.stdout
    assert not differing_arrays(final_state(run_dir), reference.state())
    assert hidden_files(run_dir) == [], "temporary files were left behind"
    assert not (run_dir / ".ganlab.lock").exists()
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == [
        "epoch_0001.png", "epoch_0002.png", "epoch_0003.png"]
    history = (run_dir / "history.csv").read_text().splitlines()
    reference_history = (reference.run_dir / "history.csv").read_text().splitlines()
    assert [row.split(",")[:5] for row in history] == [
        row.split(",")[:5] for row in reference_history], "epoch means differ after resume"


def test_sigterm_saves_at_the_next_step_and_resumes(root: Path) -> None:
    """In-process (the handler is real; the signal comes from the fault hook)."""
    config = tiny_config(root, "sigterm", train={"deterministic": False})
    experiment = str(write_experiment(root / "sigterm.yaml", config))
    stopped = invoke(["run", experiment], env={"GANLAB_FAULT": "step:13:sigterm"})
    assert_clean_failure(stopped, 130, "SIGTERM received",
                         "Training stopped at the epoch 2, after step 5 (global step 13)",
                         "To resume, run the same command again")
    assert "ckpt-e0001-s000005.npz" in checkpoint_names(Path(config["run_dir"]))
    resumed = invoke(["run", experiment])
    assert resumed.exit_code == 0, resumed.output
    assert "(epoch 2, after step 5)" in resumed.output and "Done: 3 epochs" in resumed.output
