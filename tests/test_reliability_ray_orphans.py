"""A SIGKILLed Ray sweep leaves no process behind: the local Ray it started (GCS, raylet,
``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``, workers) and the run it was training all go.

The sweep is a real ``ganlab sweep --backend ray`` subprocess; its one run is held at its
second batch by the reliability plugin's ``pace`` callback, so the kill lands mid-training
with every Ray process up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from reliability_support import cli_env, ganlab_command, prepare_tiny_data, wait_for
from sweep_helpers import sweep_experiment

from ganlab.sweep.reaper import descendants


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def still_running(processes: dict[int, int]) -> dict[int, str]:
    """The processes of ``processes`` (pid → start time) that are the same process and alive."""
    alive = {}
    for pid, start in processes.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[19]) == start and fields[0] != "Z":
            alive[pid] = command_line(pid)
    return alive


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs Linux /proc")
def test_a_sigkilled_ray_sweep_leaves_no_ray_process(tmp_path: Path) -> None:
    prepare_tiny_data(tmp_path)
    progress, release = tmp_path / "progress", tmp_path / "release"
    pace = {"name": "pace", "params": {"progress": str(progress), "hold_at": 2,
                                       "release": str(release)}}
    experiment = sweep_experiment(tmp_path, "orphans", epochs=1, callbacks=[pace], metric=False)
    sweep = subprocess.Popen(
        ganlab_command("sweep", str(experiment), "--grid", "seed=1", "--backend", "ray",
                       "--runs-dir", str(tmp_path / "runs")),
        cwd=tmp_path, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: progress.exists() and progress.read_text() == "2", timeout=240,
                 what="the run to reach its second batch on Ray")
        start = int(Path(f"/proc/{sweep.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        below = descendants({sweep.pid: start})
        lines = " ".join(command_line(pid) for pid in below)
        assert "raylet" in lines and "gcs_server" in lines, lines
        assert "ray::" in lines or "agent" in lines, lines
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=30)
        deadline = time.monotonic() + 30
        while still_running(below) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not still_running(below), still_running(below)
    finally:
        release.touch()
        if sweep.poll() is None:
            sweep.kill()
