"""The engine's loop: K steps per execution keep every reliability promise; the run's
files agree with its checkpoints; ganlab's modules import without cycles."""

from __future__ import annotations

import ast
import json
import signal
from pathlib import Path

import numpy as np
import pytest
from reliability_support import (
    REPO,
    assert_clean_failure,
    checkpoint_names,
    differing_arrays,
    final_state,
    invoke,
    output,
    prepare_tiny_data,
    run_cli,
    start_cli,
    tiny_experiment_file,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("loop")
    prepare_tiny_data(folder)
    return folder


def history_means(run_dir: Path) -> list[list[str]]:
    return [row.split(",")[:5] for row in (run_dir / "history.csv").read_text().splitlines()]


def test_k_steps_per_execution_killed_and_resumed_is_bit_identical_to_one_step(
        root: Path) -> None:
    """K=5 (cut at step checkpoints every 3 steps and epoch ends) against K=1."""
    reference_path, reference_dir = tiny_experiment_file(
        root, "k1", train={"steps_per_execution": 1}, checkpoint={"every_n_steps": None})
    reference = start_cli("run", reference_path)
    path, run_dir = tiny_experiment_file(root, "k5", train={"steps_per_execution": 5})
    killed = run_cli("run", path, fault="step:5")
    assert killed.returncode == -signal.SIGKILL, output(killed)
    assert checkpoint_names(run_dir) == ["ckpt-e0000-s000003.npz"]
    metadata = json.loads((run_dir / "run.json").read_text())
    assert metadata["latest_checkpoint"] == "ckpt-e0000-s000003.npz"
    assert metadata["epochs_completed"] == 0 and metadata["global_step"] == 3
    resumed = run_cli("run", path)
    assert resumed.returncode == 0, output(resumed)
    assert "(epoch 1, after step 3)" in resumed.stdout
    stdout, stderr = reference.communicate(timeout=300)
    assert reference.returncode == 0, stdout + stderr
    assert not differing_arrays(final_state(run_dir), final_state(reference_dir))
    assert history_means(run_dir) == history_means(reference_dir)
    metadata = json.loads((run_dir / "run.json").read_text())
    assert metadata["epochs_completed"] == 3 and metadata["status"] == "completed"
    assert metadata["latest_checkpoint"] == checkpoint_names(run_dir)[-1]


def test_first_non_finite_step_inside_an_execution_is_named(root: Path) -> None:
    path, run_dir = tiny_experiment_file(root, "k-nan", train={"deterministic": False,
                                                     "steps_per_execution": 8},
                               loss={"name": "tiny_bce", "params": {"poison_after": 10}},
                               checkpoint={"every_n_steps": None})
    result = invoke(["run", path])
    good = run_dir / "checkpoints" / "ckpt-e0001-s000000.npz"
    text = assert_clean_failure(
        result, 6, "A loss became non-finite at epoch 2, step 3 (global step 11; d_loss=nan",
        "Last finite values: d_loss=", f"the last good checkpoint is {good} (end of epoch 1)")
    assert "nan" not in text.split("Last finite values:")[1].split(".")[0]
    assert checkpoint_names(run_dir) == [good.name]
    metadata = json.loads((run_dir / "run.json").read_text())
    assert metadata["status"] == "failed" and metadata["epochs_completed"] == 1


def test_sigterm_stops_at_the_execution_boundary(root: Path) -> None:
    path, run_dir = tiny_experiment_file(root, "k-term", train={"deterministic": False,
                                                      "steps_per_execution": 4},
                               checkpoint={"every_n_steps": None})
    stopped = invoke(["run", path], env={"GANLAB_FAULT": "step:10:sigterm"})
    assert_clean_failure(stopped, 130, "SIGTERM received",
                         "Training stopped at the epoch 2, after step 2 (global step 10)")
    assert checkpoint_names(run_dir)[-1] == "ckpt-e0001-s000002.npz"
    metadata = json.loads((run_dir / "run.json").read_text())
    assert metadata["status"] == "interrupted"
    assert metadata["latest_checkpoint"] == "ckpt-e0001-s000002.npz"


def test_a_latent_bank_with_nan_is_refused_before_training(root: Path) -> None:
    path, run_dir = tiny_experiment_file(root, "bank", train={"deterministic": False, "epochs": 1})
    assert invoke(["run", path]).exit_code == 0
    bank = np.load(run_dir / "latents.npy")
    bank[3, 1] = np.nan
    np.save(run_dir / "latents.npy", bank)
    before = checkpoint_names(run_dir)
    result = invoke(["run", path, "--set", "train.epochs=2"])
    assert_clean_failure(result, 5, "latents.npy (the run's fixed latent bank) holds 1 NaN/Inf")
    assert checkpoint_names(run_dir) == before
    np.save(run_dir / "latents.npy", np.nan_to_num(bank).astype(np.int32))
    assert_clean_failure(invoke(["run", path, "--set", "train.epochs=2"]), 5,
                         "holds int32 values, not floating-point latents")


# -- the module graph ----------------------------------------------------------------------
def module_imports(path: Path, package_root: Path) -> set[str]:
    """ganlab modules ``path`` imports at module level (not in functions or TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in ast.walk(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                break
            if isinstance(child, ast.Import):
                found |= {alias.name for alias in child.names}
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.add(child.module)
                found |= {f"{child.module}.{alias.name}" for alias in child.names}
    return {name for name in found if name.split(".")[0] == "ganlab"}


def test_ganlab_has_no_import_cycles() -> None:
    package = REPO / "ganlab"
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {name: {m for m in module_imports(path, package) if m in modules and m != name}
             for name, path in modules.items()}
    for name, imported in graph.items():  # importing a.b runs a/__init__ first ...
        imported |= {".".join(m.split(".")[:i]) for m in imported
                     for i in range(2, m.count(".") + 1)} & set(modules)
        # ... except for a module inside a: a/__init__ is already running when it runs.
        own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        imported -= own_packages | {name}
    visiting, done, cycles = [], set(), []

    def visit(node: str) -> None:
        if node in done:
            return
        if node in visiting:
            cycles.append(visiting[visiting.index(node):] + [node])
            return
        visiting.append(node)
        for target in sorted(graph[node]):
            visit(target)
        visiting.pop()
        done.add(node)

    for name in sorted(graph):
        visit(name)
    assert "ganlab.engine.runner" in graph and graph["ganlab.engine.runner"]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_prepare_shards_option_divides_the_data_among_workers(tmp_path: Path) -> None:
    from reliability_plugin import TinyImages, write_tiny_source

    from ganlab.data.pipeline import worker_shares
    from ganlab.data.writer import prepare

    write_tiny_source(tmp_path / "tiny.npy")
    dataset = TinyImages(source=str(tmp_path / "tiny.npy"), tfrecords=str(tmp_path / "tf"))
    prepare(dataset, workers=1)
    assert worker_shares(dataset, 2) is None  # one shard: every worker reads it all
    report = prepare(dataset, workers=1, shards=3)
    assert not report.reused  # same options, too few shards: written again
    assert len(dataset.manifest()["splits"]["train"]["shards"]) == 3
    assert prepare(dataset, workers=1, shards=3).reused
    shares = worker_shares(dataset, 2)
    assert shares is not None and sum(shares) == 64 and min(shares) >= 21
    assert worker_shares(dataset, 4) is None


BATCH_LOG_PLUGIN = '''
import json

import keras

from ganlab import hookimpl


class BatchLog(keras.callbacks.Callback):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def _log(self, hook, batch):
        with open(self.path, "a") as stream:
            stream.write(json.dumps([hook, batch]) + "\\n")

    def on_train_batch_begin(self, batch, logs=None):
        self._log("begin", batch)

    def on_train_batch_end(self, batch, logs=None):
        self._log("end", batch)


@hookimpl
def register_callbacks(register):
    register("batch_log", BatchLog)
'''


def test_batch_hooks_run_once_per_execution_with_its_first_and_last_step(root: Path) -> None:
    from reliability_support import PLUGIN

    plugin = root / "batch_log.py"
    plugin.write_text(BATCH_LOG_PLUGIN)
    log = root / "batches.jsonl"
    path, _ = tiny_experiment_file(
        root, "batch_hooks", plugins=[str(PLUGIN), str(plugin)],
        train={"epochs": 1, "steps_per_execution": 3}, checkpoint={"every_n_steps": None},
        callbacks=[{"name": "batch_log", "params": {"path": str(log)}}])
    result = invoke(["run", path])
    assert result.exit_code == 0, result.output
    calls = [tuple(json.loads(line)) for line in log.read_text().splitlines()]
    # 64 images in batches of 8: 8 steps, run as executions of 3, 3 and 2 steps (docs/plugins.md).
    assert calls == [("begin", 0), ("end", 2), ("begin", 3), ("end", 5), ("begin", 6), ("end", 7)]
