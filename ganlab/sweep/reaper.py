"""A watchdog that ends a local Ray's processes when the sweep that started them dies.

``ray.init()`` starts a local Ray's processes (GCS, raylet, dashboard and
runtime-env agents, workers) as descendants of the sweep process. A sweep
that ends normally stops them with ``ray.shutdown()``; one killed with
SIGKILL cannot, and some of them (``ray::DashboardAgent``,
``ray::RuntimeEnvAgent``) then live on for minutes under PID 1.

So before starting Ray the sweep starts this watchdog in its own session (a
signal sent to the sweep's process group does not reach it), connected by a
pipe only the sweep holds. The watchdog notes the sweep's descendants twice
a second (pid and start time, so a reused pid is never mistaken for one).
When the pipe closes without the sweep saying it is done (the sweep died,
however), it kills every process it noted, and their children, and exits.

Linux only (it reads ``/proc``); elsewhere it is not started.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

#: Seconds between two looks at the sweep's descendants.
POLL_S = 0.5
#: What the sweep writes before closing the pipe when it shut Ray down itself.
DONE = b"done"


def _stat(pid: int) -> tuple[int, int] | None:
    """``(parent pid, start time)`` of ``pid`` from ``/proc``; ``None`` when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _processes() -> Iterator[tuple[int, int, int]]:
    """``(pid, parent pid, start time)`` of every process."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                yield int(entry.name), *found


def descendants(roots: dict[int, int]) -> dict[int, int]:
    """Every process below ``roots`` (pid → start time), found through parent pids."""
    table = {pid: (parent, start) for pid, parent, start in _processes()}
    found: dict[int, int] = {}
    frontier = [pid for pid, start in roots.items() if table.get(pid, (0, None))[1] == start]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, start) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = start
                frontier.append(pid)
    return found


def kill_all(noted: dict[int, int]) -> None:
    """SIGKILL every noted process that is still the same process, and what it started."""
    for _ in range(3):  # children started while the first ones died
        alive = {pid: start for pid, start in noted.items()
                 if (_stat(pid) or (0, None))[1] == start}
        alive.update(descendants(alive))
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        noted = alive


def watch(parent: int, pipe: int) -> None:
    """Note ``parent``'s descendants until ``pipe`` closes; kill them unless told :data:`DONE`."""
    start = (_stat(parent) or (0, 0))[1]
    noted: dict[int, int] = {}
    said = b""
    while True:
        ready, _, _ = select.select([pipe], [], [], POLL_S)
        if ready:
            chunk = os.read(pipe, 64)
            if not chunk:
                break
            said += chunk
        noted.update(descendants({parent: start, **noted}))
    noted.pop(os.getpid(), None)
    if said != DONE:
        kill_all(noted)


class Reaper:
    """The sweep's end of the watchdog: :meth:`done` once Ray was shut down."""

    def __init__(self, process: subprocess.Popen[bytes], pipe: int):
        self.process, self.pipe = process, pipe

    def done(self) -> None:
        """Ray was shut down: the watchdog exits without killing anything."""
        with contextlib.suppress(OSError):
            os.write(self.pipe, DONE)
        with contextlib.suppress(OSError):
            os.close(self.pipe)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start_reaper() -> Reaper | None:
    """Start the watchdog of this process's descendants (``None`` off Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    read, write = os.pipe()  # not inherited by the children Ray starts (PEP 446)
    process = subprocess.Popen([sys.executable, "-m", "ganlab.sweep.reaper", str(os.getpid()),
                                str(read)], pass_fds=(read,), start_new_session=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    os.close(read)
    return Reaper(process, write)


if __name__ == "__main__":
    watch(int(sys.argv[1]), int(sys.argv[2]))
