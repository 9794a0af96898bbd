"""The ``ray`` backend: each run is a Ray task with its CPU/GPU resources.

Ray is an optional extra (``pip install 'ganlab[ray]'``) imported only here,
when the backend is used. Without ``--address`` the sweep starts a local Ray
(or uses the one already started in this process); with one it joins an
existing cluster. Every task runs the same ``ganlab run`` command the local
backend runs, with the experiment, data paths and run directories as absolute
paths: they must be on a filesystem every node mounts at the same path.

A local Ray started here is ended with the sweep: by ``ray.shutdown()``, or,
when the sweep is SIGKILLed, by a watchdog (:mod:`ganlab.sweep.reaper`).

A task whose ``ganlab run`` crashed or was killed raises, so Ray retries it
(``max_retries``); a task on a node that died is retried by Ray itself. Either
way the new attempt resumes the run directory from its last checkpoint. User
errors (a bad experiment, missing data, a NaN loss) are not retried: they
would fail the same way again.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ganlab.errors import ConfigError
from ganlab.rundir import LOCK_NAME
from ganlab.sweep.launch import RunLaunch
from ganlab.sweep.local import SweepEvents, die_with_parent
from ganlab.sweep.reaper import start_reaper
from ganlab.sweep.state import RunRecord

#: ``ganlab run`` exit statuses that another attempt would not change
#: (config, plugin, data, run directory and training errors).
FINAL_EXITS = (0, 2, 3, 4, 5, 6)


class RunCrashed(Exception):
    """A ``ganlab run`` ended in a way another attempt may get past (Ray retries it)."""

    def __init__(self, name: str, exit_code: int):
        super().__init__(name, exit_code)  # the args rebuild it when Ray unpickles it
        self.name, self.exit_code = name, exit_code

    def __str__(self) -> str:
        return f"ganlab run {self.name} exited with {self.exit_code}"


def release_lost_attempt(run_dir: Path) -> None:
    """Remove a lock left by an earlier attempt of this task on another node.

    Ray starts a retry only once the earlier attempt's worker is gone, and
    the sweep's own lock keeps other sweeps out, so a lock naming another
    host is that lost attempt's (a lock of this host is checked by the run
    itself: a dead pid is taken over).
    """
    lock = run_dir / LOCK_NAME
    try:
        owner = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(owner, dict) and owner.get("host") not in (None, socket.gethostname()):
        lock.unlink(missing_ok=True)


def train_run(launch: RunLaunch) -> int:
    """Body of a Ray task: run ``ganlab run`` to its end; raise :class:`RunCrashed` to retry."""
    release_lost_attempt(Path(launch.run_dir))
    env = {**os.environ, **launch.env}
    with open(launch.log, "a", encoding="utf-8") as log:
        log.write(f"\n=== Ray task on {socket.gethostname()} at "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S')}: ganlab {' '.join(launch.args)}\n")
        log.flush()
        code = subprocess.run([sys.executable, "-m", "ganlab", *launch.args], cwd=launch.cwd,
                              env=env, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, preexec_fn=die_with_parent).returncode
    if code not in FINAL_EXITS:
        raise RunCrashed(launch.name, code)
    return code


def import_ray() -> Any:
    """The ``ray`` module, or a message saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install 'ganlab[ray]' (on every node of "
                          "the cluster), or use --backend local.") from None
    return ray


def run_ray(jobs: Sequence[tuple[RunRecord, RunLaunch]], events: SweepEvents, *,
            address: str | None, cpus_per_run: float, gpus_per_run: float, max_retries: int,
            num_cpus: int | None = None) -> bool:
    """Run ``jobs`` as Ray tasks; whether the sweep was stopped (Ctrl-C/SIGTERM).

    Args:
        jobs: The runs and their commands.
        events: Where starts and ends are reported.
        address: A cluster to join (``None``: local Ray, unless already started).
        cpus_per_run: CPUs each task reserves.
        gpus_per_run: GPUs each task reserves (Ray sets ``CUDA_VISIBLE_DEVICES``).
        max_retries: Attempts after the first for a crashed or lost task.
        num_cpus: CPUs of a local Ray started here (default: all cores).

    """
    ray = import_ray()
    started_here = not ray.is_initialized()
    # A local Ray started here must not outlive a SIGKILLed sweep (see reaper).
    reaper = start_reaper() if started_here and address is None else None
    try:
        if started_here:
            ray.init(address=address, num_cpus=None if address else num_cpus,
                     include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            return _run_tasks(ray, jobs, events, cpus_per_run, gpus_per_run, max_retries)
        finally:
            if started_here:
                ray.shutdown()
    finally:
        if reaper is not None:
            reaper.done()


def _run_tasks(ray: Any, jobs: Sequence[tuple[RunRecord, RunLaunch]], events: SweepEvents,
               cpus_per_run: float, gpus_per_run: float, max_retries: int) -> bool:
    task = ray.remote(train_run).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
                                         max_retries=max_retries, retry_exceptions=[RunCrashed])
    pending: dict[Any, RunRecord] = {}
    for record, launch in jobs:
        events.started(record)  # queued on the cluster; Ray starts it when resources free up
        pending[task.remote(launch)] = record
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                events.ended(pending.pop(ref), task_exit_code(ray, ref), False)
    except KeyboardInterrupt:
        for ref, record in pending.items():
            ray.cancel(ref, force=False)
            events.ended(record, 130, True)
        return True
    return False


def task_exit_code(ray: Any, ref: Any) -> int:
    """The run's exit status (a crash that exhausted its retries: its last status, or 1)."""
    try:
        return int(ray.get(ref))
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        return cause.exit_code if isinstance(cause, RunCrashed) else 1
    except ray.exceptions.RayError:
        return 1
