"""``train.strategy: multi_worker``: two real workers on 127.0.0.1 train one run.

Each test starts two processes with ``TF_CONFIG`` naming a two-worker
cluster on free local ports, runs them to the end (killing both on a
timeout) and checks what they did. Worker 0 is the chief: it alone may
write the run directory. Worker 1 runs with ``GANLAB_FAULT`` set to kill it
the moment it starts writing a checkpoint, so a non-chief that ever tried
would not exit cleanly; the ``worker_marker`` plugin callback
(multi_worker_plugin.py) leaves a file naming each worker that ran plugin
callbacks.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO, run_cli, tiny_experiment, write_experiment

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
#: Seconds both workers may take together; a run takes about 10-15 s here.
TIMEOUT = 150
#: Kills worker 1 if it ever reaches the write of a checkpoint.
NO_CHECKPOINT_WRITES = "checkpoint-write:1,checkpoint-rename:1"


@dataclass
class Worker:
    """A finished worker process."""

    pid: int
    returncode: int
    output: str


def free_ports(count: int) -> list[int]:
    """``count`` ports on 127.0.0.1 that were free a moment ago."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def run_workers(tmp_path: Path, arguments: Callable[[int], Sequence[str]],
                faults: dict[int, str] | None = None, count: int = 2) -> list[Worker]:
    """Run ``python ARGS`` as each worker of a local cluster; both killed after TIMEOUT s."""
    ports = free_ports(count)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for index in range(count):
            env = {k: v for k, v in os.environ.items() if k != "GANLAB_FAULT"}
            env.update(TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}))
            if faults and index in faults:
                env["GANLAB_FAULT"] = faults[index]
            log = tmp_path / f"worker{index}-{time.monotonic_ns()}.log"
            with log.open("wb") as stream:
                process = subprocess.Popen([sys.executable, *arguments(index)], cwd=REPO,
                                           env=env, stdout=stream, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            processes.append((process, log))
        deadline = time.monotonic() + TIMEOUT
        for process, _ in processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 1))
            except subprocess.TimeoutExpired:
                logs = "\n".join(f"--- worker {i}:\n{log.read_text()[-3000:]}"
                                 for i, (_, log) in enumerate(processes))
                pytest.fail(f"the workers did not finish within {TIMEOUT} s:\n{logs}")
    finally:
        for process, _ in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return [Worker(p.pid, p.returncode, log.read_text()) for p, log in processes]


def ganlab_run(path: Path) -> Callable[[int], list[str]]:
    """The same ``ganlab run`` command line for every worker."""
    return lambda index: ["-m", "ganlab", "run", str(path)]


def explain(workers: list[Worker]) -> str:
    """Both workers' exit codes and output tails, for assertion messages."""
    return "\n".join(f"--- worker {i} (exit {w.returncode}):\n{w.output[-3000:]}"
                     for i, w in enumerate(workers))


def cluster_experiment(tmp_path: Path, name: str, shards: int | None = 2
                       ) -> tuple[Path, Path]:
    """A tiny DCGAN experiment (2 epochs of 3 global batches of 16) for two workers.

    Its data is prepared in ``shards`` shards (``None``: as many as prepare picks, one
    for this small sample), so by default each worker reads its own shard.
    """
    config = tiny_experiment(tmp_path, name=name, run_dir=str(tmp_path / "runs" / name),
                             plugins=[str(HERE / "multi_worker_plugin.py")])
    config["dataset"]["params"]["tfrecords"] = str(tmp_path / "tfrecords")
    # Two steps per execution: the workers run executions of 2 and 1 steps, and vote
    # on stopping between them.
    config["train"].update({"strategy": "multi_worker", "epochs": 2, "steps_per_epoch": 3,
                            "steps_per_execution": 2})
    config["callbacks"].append({"name": "worker_marker"})
    path = write_experiment(tmp_path / f"{name}.yaml", config)
    # The data is prepared first: workers find the shared TFRecords ready.
    prepared = run_cli(["prepare", str(path)]
                       + (["--shards", str(shards)] if shards else []))
    assert prepared.exit_code == 0, prepared.output
    return path, Path(config["run_dir"])


def files_in(run_dir: Path) -> set[str]:
    """Every file under ``run_dir`` (hidden ones included), relative."""
    return {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}


def history_epochs(run_dir: Path) -> list[int]:
    with (run_dir / "history.csv").open() as stream:
        return [int(row["epoch"]) for row in csv.DictReader(stream)]


def checkpoint_meta(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(archive["__meta__"].tobytes())


def test_two_workers_train_one_run_that_only_the_chief_writes(tmp_path: Path) -> None:
    path, run_dir = cluster_experiment(tmp_path, "mw")
    chief, other = run_workers(tmp_path, ganlab_run(path), faults={1: NO_CHECKPOINT_WRITES})
    assert chief.returncode == 0 and other.returncode == 0, explain([chief, other])
    assert f"Done: 2 epochs in {run_dir}" in chief.output
    assert "[worker 1] Done: 2 epochs as worker 1 (of 2 workers)" in other.output
    assert "fewer TFRecord shards" not in chief.output + other.output  # FILE sharding
    events = [name for name in files_in(run_dir) if name.startswith("tensorboard/")]
    assert len(events) == 1 and f".{chief.pid}." in events[0]  # the chief's writer only
    assert files_in(run_dir) == {
        "config.yaml", "plugins.json", "run.json", "history.csv", "latents.npy",
        "generator.keras", "checkpoints/latest.json", "checkpoints/ckpt-e0001-s000000.npz",
        "checkpoints/ckpt-e0002-s000000.npz", "samples/epoch_0001.png",
        "samples/epoch_0002.png", "samples/progress.gif", f"ran-on-worker0-{chief.pid}",
        events[0]}
    assert history_epochs(run_dir) == [1, 2]  # one row per epoch: written once
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "completed" and meta["epochs_completed"] == 2
    # Three global batches of 16 per epoch, each split over the two workers.
    assert checkpoint_meta(run_dir / "checkpoints" / "ckpt-e0002-s000000.npz")[
        "global_step"] == 6


def test_a_signal_to_one_worker_stops_both_at_the_same_step_and_both_resume(
        tmp_path: Path) -> None:
    path, run_dir = cluster_experiment(tmp_path, "mw-stop")
    # SIGTERM reaches worker 1 alone, after global step 1; the workers vote at the end
    # of that execution (step 2) and stop there together.
    stopped = run_workers(tmp_path, ganlab_run(path),
                          faults={1: f"step:1:sigterm,{NO_CHECKPOINT_WRITES}"})
    assert [w.returncode for w in stopped] == [130, 130], explain(stopped)
    assert "Training stopped at the epoch 1, after step 2" in stopped[0].output
    saved = run_dir / "checkpoints" / "ckpt-e0000-s000002.npz"
    assert checkpoint_meta(saved)["global_step"] == 2
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"

    resumed = run_workers(tmp_path, ganlab_run(path), faults={1: NO_CHECKPOINT_WRITES})
    assert [w.returncode for w in resumed] == [0, 0], explain(resumed)
    for worker in resumed:  # both restored the chief's checkpoint, the non-chief read-only
        assert f"Resuming from {saved} (epoch 1, after step 2)" in worker.output
    assert history_epochs(run_dir) == [1, 2]
    assert checkpoint_meta(run_dir / "checkpoints" / "ckpt-e0002-s000000.npz")[
        "global_step"] == 6
    markers = sorted(name for name in files_in(run_dir) if name.startswith("ran-on-"))
    assert markers == sorted(f"ran-on-worker0-{run[0].pid}" for run in (stopped, resumed))


def test_fewer_shards_than_workers_falls_back_to_reading_everything(tmp_path: Path) -> None:
    path, run_dir = cluster_experiment(tmp_path, "mw-data", shards=None)
    workers = run_workers(tmp_path, ganlab_run(path), faults={1: NO_CHECKPOINT_WRITES})
    assert [w.returncode for w in workers] == [0, 0], explain(workers)
    for worker in workers:
        assert "fewer TFRecord shards than the 2 workers" in " ".join(worker.output.split())
        assert "--shards 2" in worker.output
    assert history_epochs(run_dir) == [1, 2]


def test_a_chief_that_cannot_start_stops_the_other_worker_too(tmp_path: Path) -> None:
    from ganlab.rundir import LOCK_NAME, RunLock

    path, run_dir = cluster_experiment(tmp_path, "mw-busy")
    lock = RunLock(run_dir / LOCK_NAME).acquire()  # another run holds the run directory
    try:
        chief, other = run_workers(tmp_path, ganlab_run(path))
    finally:
        lock.release()
    assert chief.returncode == 5 and "is in use by process" in chief.output, explain(
        [chief, other])
    assert other.returncode == 6, explain([chief, other])
    assert "The chief failed while taking the run directory" in " ".join(other.output.split())
    assert files_in(run_dir) == set()


def test_cluster_collectives_and_the_split_of_each_global_batch(tmp_path: Path) -> None:
    """The Cluster helpers agree across workers; each global batch is split, not repeated."""
    outputs = [tmp_path / f"probe{i}.json" for i in range(2)]
    workers = run_workers(tmp_path, lambda i: [str(HERE / "multi_worker_probe.py"),
                                               str(outputs[i])])
    assert [w.returncode for w in workers] == [0, 0], explain(workers)
    chief, other = (json.loads(out.read_text()) for out in outputs)
    assert (chief["is_chief"], other["is_chief"]) == (True, False)
    assert chief["num_workers"] == other["num_workers"] == chief["replicas"] == 2
    assert chief["broadcast"] == other["broadcast"] == [7, -3]
    assert chief["any_of"] == other["any_of"] == [True, False]
    assert (chief["chief_first"], other["chief_first"]) == ("ValueError", "ChiefFailed")
    # Both workers build the same global batches (8 of 64 numbers, 3 steps after
    # skipping one); each trains on half of every one, and the halves differ.
    assert chief["whole"] == other["whole"] and len(chief["whole"]) == 3
    for whole, mine, theirs in zip(chief["whole"], chief["batches"], other["batches"],
                                   strict=True):
        assert len(whole) == 8 and len(mine) == len(theirs) == 4
        assert sorted(mine + theirs) == whole


def test_one_process_is_a_cluster_of_one_chief() -> None:
    """Without a multi-worker strategy the Cluster helpers answer locally."""
    import tensorflow as tf

    from ganlab.engine.cluster import Cluster

    cluster = Cluster.of(tf.distribute.get_strategy())
    assert cluster.is_chief and not cluster.distributed and cluster.num_workers == 1
    assert cluster.broadcast([3, -1]) == [3, -1]
    assert cluster.any_of([True, False]) == [True, False]
    assert cluster.chief_first(lambda: "done", "testing") == "done"
    messages: list[str] = []
    cluster.prefixed(messages.append)("hello")
    assert messages == ["hello"]
