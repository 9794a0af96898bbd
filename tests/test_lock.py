"""The run directory lock: one writer, owner pid and host, stale locks taken over.

Real processes hold and contend for the lock here (without TensorFlow, so this
is fast); ``test_resume.py`` also refuses a second real ``ganlab run``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ganlab.errors import RunDirectoryError
from ganlab.rundir import LOCK_NAME, RunDirectory, RunLock, locked, process_start_ticks

HOLDER = """
import sys
from pathlib import Path
from ganlab.rundir import RunLock
lock = RunLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
sys.stdin.readline()
lock.release()
"""

TRY = """
import json, sys
from pathlib import Path
from ganlab.errors import RunDirectoryError
from ganlab.rundir import RunLock
try:
    lock = RunLock(Path(sys.argv[1])).acquire()
except RunDirectoryError as exc:
    print(json.dumps({"refused": str(exc)}))
    sys.exit(5)
print(json.dumps({"stale": lock.stale_taken_over}))
lock.release()
"""


def python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def start_holder(lock_path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(python(HOLDER, str(lock_path)), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def contend(lock_path: Path) -> tuple[int, dict]:
    result = subprocess.run(python(TRY, str(lock_path)), capture_output=True, text=True,
                            timeout=60, check=False)
    return result.returncode, json.loads(result.stdout)


def test_second_process_refused_then_stale_lock_taken_over(tmp_path: Path) -> None:
    lock_path = tmp_path / "run" / LOCK_NAME
    holder = start_holder(lock_path)
    try:
        owner = json.loads(lock_path.read_text())
        assert owner["pid"] == holder.pid and owner["host"] == socket.gethostname()
        code, answer = contend(lock_path)
        assert code == 5
        message = " ".join(answer["refused"].split())
        assert f"in use by process {holder.pid} on host {socket.gethostname()}" in message
        assert "Two runs must never write the same directory" in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert lock_path.exists(), "a SIGKILLed owner cannot remove its lock file"
    code, answer = contend(lock_path)
    assert code == 0 and answer["stale"]["pid"] == holder.pid
    assert not lock_path.exists(), "released locks are removed"


def test_released_lock_can_be_taken_again(tmp_path: Path) -> None:
    lock_path = tmp_path / LOCK_NAME
    holder = start_holder(lock_path)
    holder.communicate("\n", timeout=30)
    assert holder.returncode == 0 and not lock_path.exists()
    assert contend(lock_path) == (0, {"stale": None})


def test_same_process_cannot_take_it_twice(tmp_path: Path) -> None:
    run_dir = RunDirectory(tmp_path)
    with locked(run_dir):
        with pytest.raises(RunDirectoryError, match=f"in use by process {os.getpid()}"):
            RunLock(tmp_path / LOCK_NAME).acquire()
    with locked(run_dir) as again:
        assert again.stale_taken_over is None


def write_owner(path: Path, **owner) -> None:
    path.write_text(json.dumps({"host": socket.gethostname(), "started": 0, **owner}))


def test_lock_file_of_a_live_process_without_flock_is_respected(tmp_path: Path) -> None:
    """E.g. written by a ganlab on a file system without flock: the pid decides."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_owner(tmp_path / LOCK_NAME, pid=sleeper.pid,
                    pid_start=process_start_ticks(sleeper.pid))
        with pytest.raises(RunDirectoryError, match=f"in use by process {sleeper.pid}"):
            RunLock(tmp_path / LOCK_NAME).acquire()
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.parametrize("owner", [
    {"pid": 2**22 + 12345},                                     # no such process
    {"pid": os.getppid(), "pid_start": -1},                     # pid reused since
    {},                                                         # empty: died while writing
])
def test_stale_lock_files_are_taken_over(tmp_path: Path, owner: dict) -> None:
    path = tmp_path / LOCK_NAME
    if owner:
        write_owner(path, **owner)
    else:
        path.write_text("")
    lock = RunLock(path).acquire()
    try:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        assert (lock.stale_taken_over or {}).get("pid") == owner.get("pid")
    finally:
        lock.release()


def test_lock_of_another_host_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / LOCK_NAME
    path.write_text(json.dumps({"pid": 4242, "host": "elsewhere-node-7"}))
    with pytest.raises(RunDirectoryError) as caught:
        RunLock(path).acquire()
    message = str(caught.value)
    assert "process 4242 on host elsewhere-node-7" in message
    assert "cannot check a process on another host" in message and str(path) in message
    assert json.loads(path.read_text())["host"] == "elsewhere-node-7", "left as it was"
