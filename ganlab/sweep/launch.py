"""How one sweep run is started: the ``ganlab run`` command line and its environment.

Every run is an ordinary ``ganlab run EXPERIMENT --set ... --set run_dir=...``
in its own process, so resume, the run directory's lock and checkpoints work
exactly as for a run started by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ganlab.errors import ConfigError
from ganlab.sweep.spec import RunSpec

#: Environment variables that cap a TensorFlow process's CPU threads.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")


@dataclass(frozen=True)
class RunLaunch:
    """Everything needed to start one run, on this machine or a cluster node.

    Attributes:
        name: The run's name.
        args: ``ganlab`` arguments (``[global options] run EXPERIMENT --set ...``),
            run as ``python -m ganlab ARGS`` by the interpreter of the process
            that starts it.
        cwd: Working directory (relative data paths in the experiment resolve here).
        run_dir: The run directory.
        log: File the run's output is appended to.
        env: Variables added to the environment (thread caps).

    """

    name: str
    args: list[str]
    cwd: str
    run_dir: str
    log: str
    env: dict[str, str] = field(default_factory=dict)


def run_arguments(global_options: Sequence[str], experiment: Path,
                  base_overrides: Sequence[str], run: RunSpec, run_dir: Path) -> list[str]:
    """``ganlab`` arguments that train ``run`` into ``run_dir``."""
    sets = [*base_overrides, *run.set_options(), f"name={run.name}", f"run_dir={run_dir}"]
    return [*global_options, "run", str(experiment), *(arg for s in sets for arg in ("--set", s))]


def thread_env(threads: int | None) -> dict[str, str]:
    """Variables that cap a run at ``threads`` CPU threads (none when ``None``)."""
    if not threads:
        return {}
    env = dict.fromkeys(THREAD_VARIABLES, str(threads))
    env["TF_NUM_INTEROP_THREADS"] = str(min(2, threads))
    return env


def available_cpus() -> int:
    """CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


#: Most CPU threads a run on a Ray cluster may ask for (its nodes' cores are not known here).
MAX_CLUSTER_THREADS = 1024


def check_threads(threads: int | None, remote: bool) -> None:
    """Refuse more threads per run than there are cores to run them.

    Args:
        threads: ``--threads-per-run`` (``None``: not given).
        remote: The runs train on a Ray cluster joined with ``--address``,
            whose nodes' cores this machine cannot count (then at most
            :data:`MAX_CLUSTER_THREADS`).

    Raises:
        ConfigError: More threads than the cores (or the cluster bound).

    """
    if threads is None:
        return
    limit = MAX_CLUSTER_THREADS if remote else available_cpus()
    if threads > limit:
        where = ("a run on a Ray cluster may use" if remote
                 else "this machine has for a run to use")
        raise ConfigError(f"--threads-per-run is {threads:,}, more than the {limit:,} CPU cores "
                          f"{where}: threads beyond the cores only cost memory and time. Use "
                          f"--threads-per-run {limit} or fewer.")


def threads_per_run(parallel: int, cpus: int | None = None) -> int:
    """CPU threads each of ``parallel`` concurrent runs gets (at least 1)."""
    return max(1, (cpus or available_cpus()) // max(1, parallel))


def visible_gpus() -> list[str]:
    """GPU ids this process may hand out: ``CUDA_VISIBLE_DEVICES``, else ``nvidia-smi -L``."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu.strip() for gpu in listed.split(",") if gpu.strip() and gpu.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]
