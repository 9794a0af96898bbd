"""The ``local`` backend: N ``ganlab run`` processes at once on this machine.

CPU threads are split between the concurrent runs (``OMP_NUM_THREADS``,
``TF_NUM_INTRAOP_THREADS``) and, where there are GPUs, each process gets one
through ``CUDA_VISIBLE_DEVICES``. SIGINT/SIGTERM stop the sweep: every run is
asked to stop (it saves a checkpoint at its next step boundary) and recorded
as interrupted. If the sweep process itself is killed (SIGKILL), Linux sends
each run SIGTERM (``PR_SET_PDEATHSIG``), so runs stop cleanly all the same.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ganlab.atomic import pid_alive
from ganlab.rundir import LOCK_NAME
from ganlab.sweep.launch import RunLaunch
from ganlab.sweep.state import RunRecord

Echo = Callable[[str], None]
#: How long to wait for a run directory's previous writer (a killed sweep's run saving).
PREVIOUS_WRITER_WAIT_S = 120.0
POLL_S = 0.2


@dataclass
class SweepEvents:
    """What a backend reports: a run started, a run ended (with its exit status)."""

    started: Callable[[RunRecord], None]
    ended: Callable[[RunRecord, int, bool], None]
    echo: Echo


def die_with_parent() -> None:
    """In the child before exec: receive SIGTERM when the sweep process dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def wait_for_previous_writer(run_dir: Path, echo: Echo,
                             timeout: float = PREVIOUS_WRITER_WAIT_S) -> None:
    """Wait while a live process on this host holds ``run_dir``'s lock.

    A run of a killed sweep gets SIGTERM and saves a checkpoint before it
    exits; the rerun waits for it instead of failing on the lock.
    """
    lock = run_dir / LOCK_NAME
    deadline, said = time.monotonic() + timeout, False
    while time.monotonic() < deadline:
        try:
            owner = json.loads(lock.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        pid = owner.get("pid") if isinstance(owner, dict) else None
        if not isinstance(pid, int) or not pid_alive(pid):
            return
        if not said:
            echo(f"  waiting for process {pid} (an earlier run of {run_dir.name}) to finish "
                 "saving ...")
            said = True
        time.sleep(0.5)


@contextmanager
def stop_requests() -> Iterator[list[int]]:
    """Collect SIGINT/SIGTERM (the list of signals received) instead of dying on them."""
    received: list[int] = []

    def note(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def start(launch: RunLaunch, gpu: str | None, attempt: int) -> tuple[subprocess.Popen, IO]:
    """Start one ``ganlab run`` with its output appended to its log."""
    env = {**os.environ, **launch.env}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    log = open(launch.log, "a", encoding="utf-8")  # noqa: SIM115 - closed when the run ends
    log.write(f"\n=== attempt {attempt} at {time.strftime('%Y-%m-%d %H:%M:%S')}"
              f"{f' on GPU {gpu}' if gpu is not None else ''}: ganlab "
              f"{' '.join(launch.args)}\n")
    log.flush()
    process = subprocess.Popen([sys.executable, "-m", "ganlab", *launch.args], cwd=launch.cwd,
                               env=env, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    return process, log


def run_local(jobs: Sequence[tuple[RunRecord, RunLaunch]], parallel: int, gpus: Sequence[str],
              events: SweepEvents) -> bool:
    """Run ``jobs``, ``parallel`` at a time; whether the sweep was stopped by a signal.

    Processes are started from this (the main) thread: the parent-death
    signal fires when the thread that started a child ends.
    """
    queue = list(jobs)
    active: dict[subprocess.Popen, tuple[RunRecord, IO, str | None]] = {}
    gpu_load: Counter[str] = Counter(dict.fromkeys(gpus, 0))
    forwarded = 0
    with stop_requests() as received:
        while queue or active:
            while queue and len(active) < parallel and not received:
                record, launch = queue.pop(0)
                wait_for_previous_writer(Path(launch.run_dir), events.echo)
                gpu = min(gpus, key=lambda g: gpu_load[g]) if gpus else None
                if gpu is not None:
                    gpu_load[gpu] += 1
                events.started(record)
                process, log = start(launch, gpu, record.attempts)
                active[process] = (record, log, gpu)
            for process in [p for p in active if p.poll() is not None]:
                record, log, gpu = active.pop(process)
                log.close()
                if gpu is not None:
                    gpu_load[gpu] -= 1
                events.ended(record, process.returncode, bool(received))
            if len(received) > forwarded and active:
                forward_stop(active, received, events.echo)
                forwarded = len(received)
            if received and not active:
                break
            time.sleep(POLL_S)
    return bool(received)


def forward_stop(active: dict[subprocess.Popen, Any], received: list[int], echo: Echo) -> None:
    """Ask every run to stop: SIGTERM first (checkpoint, then exit), SIGINT after that (abort)."""
    first = len(received) == 1
    if first:
        echo(f"{signal.Signals(received[0]).name} received: stopping {len(active)} running "
             "run(s); each saves a checkpoint first (signal again to abort them).")
    for process in active:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM if first else signal.SIGINT)
