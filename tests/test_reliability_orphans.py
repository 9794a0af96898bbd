"""A killed ``ganlab prepare --workers 2`` leaves no process running and nothing uncleanable.

Real processes only: the CLI runs as a subprocess writing the embedded MNIST
sample (5,000 digits, two shards) with two spawned workers; the test kills
it with SIGTERM or SIGKILL once the workers exist, then waits (bounded) for
every process it had started — workers and multiprocessing's resource
tracker — to be gone.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from reliability_support import flat, invoke, start_cli, wait_for, write_experiment


def experiment(root: Path) -> str:
    config = {"name": "orphans", "run_dir": str(root / "run"),
              "dataset": {"name": "mnist", "params": {"source": "embedded", "image_size": 28,
                                                      "tfrecords": str(root / "tf")}},
              "architecture": {"name": "dcgan", "params": {"latent_dim": 8}},
              "loss": {"name": "bce"}, "train": {"epochs": 1, "batch_size": 8}}
    return str(write_experiment(root / "exp.yaml", config))


def parents() -> dict[int, int]:
    """pid → parent pid of every process (Linux ``/proc``)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            found[int(entry.name)] = int(fields[1])
    return found


def descendants(pid: int) -> set[int]:
    table = parents()
    family, frontier = set(), [pid]
    while frontier:
        current = frontier.pop()
        children = [child for child, parent in table.items() if parent == current]
        family.update(children)
        frontier.extend(children)
    return family


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphaned zombie may wait for a reaper forever)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def start_and_kill(root: Path, sig: signal.Signals) -> tuple[int, str, set[int]]:
    proc = start_cli("prepare", experiment(root), "--workers", "2")
    try:
        wait_for(lambda: len(descendants(proc.pid)) >= 2 or proc.poll() is not None,
                 timeout=120, what="the prepare's worker processes")
        assert proc.poll() is None, proc.communicate()
        family = descendants(proc.pid)
        os.kill(proc.pid, sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wait_for(lambda: not any(running(pid) for pid in family), timeout=60,
             what=f"the processes of the killed prepare to end ({sorted(family)})")
    return proc.returncode, stderr, family


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if ".partial-" in p.name or ".old-" in p.name)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_sigterm_stops_the_workers_and_removes_the_partial_output(tmp_path: Path) -> None:
    code, stderr, family = start_and_kill(tmp_path, signal.SIGTERM)
    assert len(family) >= 2
    assert code == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in flat(stderr) and "Traceback" not in stderr
    assert leftovers(tmp_path) == [] and not (tmp_path / "tf").exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_sigkill_takes_the_workers_along_and_the_next_prepare_cleans_up(tmp_path: Path) -> None:
    code, _, family = start_and_kill(tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL and len(family) >= 2
    assert leftovers(tmp_path)  # the killed prepare could not clean up itself
    result = invoke(["prepare", experiment(tmp_path), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert leftovers(tmp_path) == []
    assert "train: 4000 images" in result.output and "test: 1000 images" in result.output
