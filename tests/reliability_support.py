"""Helpers shared by the reliability tests: a tiny experiment, real CLI runs, checkpoint reads."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
PLUGIN = HERE / "reliability_plugin.py"
REPO = HERE.parent
#: Epochs × steps of the standard tiny run: 64 images, batch 8 → 8 steps per epoch.
EPOCHS = 3
STEPS_PER_EPOCH = 8


def tiny_config(root: Path, name: str = "rel", **sections: Any) -> dict[str, Any]:
    """The tiny deterministic experiment (64 8×8 images, Dense G/D), run dir under ``root``."""
    config = {
        "name": name,
        "seed": 7,
        "run_dir": str(root / "runs" / name),
        "plugins": [str(PLUGIN)],
        "dataset": {"name": "tiny_images",
                    "params": {"source": str(root / "tiny.npy"),
                               "tfrecords": str(root / "tfrecords")}},
        "architecture": {"name": "tiny_dense", "params": {"latent_dim": 8}},
        "loss": {"name": "tiny_bce"},
        "train": {"epochs": EPOCHS, "batch_size": 8, "deterministic": True, "verbose": 0,
                  "shuffle_buffer": 64},
        "checkpoint": {"every_n_steps": 3, "keep_last": 2},
        "latents": {"bank_size": 16},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**copy.deepcopy(config[key]), **value}
        else:
            config[key] = value
    return config


def write_experiment(path: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as YAML to ``path``."""
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def tiny_experiment_file(root: Path, name: str, **sections: Any) -> tuple[str, Path]:
    """:func:`tiny_config` written to ``root/<name>.yaml``: the file's path and the run dir."""
    config = tiny_config(root, name, **sections)
    return str(write_experiment(root / f"{name}.yaml", config)), Path(config["run_dir"])


def prepare_tiny_data(root: Path) -> None:
    """Write the tiny source and its TFRecords under ``root`` (in-process, once)."""
    from reliability_plugin import TinyImages, write_tiny_source

    write_tiny_source(root / "tiny.npy")
    TinyImages(source=str(root / "tiny.npy"), tfrecords=str(root / "tfrecords")).prepare()


def cli_env(fault: str | None = None) -> dict[str, str]:
    """Environment of a CLI subprocess (quiet TF, optional fault injection)."""
    env = {k: v for k, v in os.environ.items() if k != "GANLAB_FAULT"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    if fault:
        env["GANLAB_FAULT"] = fault
    return env


def ganlab_command(*args: str) -> list[str]:
    """``python -m ganlab ARGS``."""
    return [sys.executable, "-m", "ganlab", *args]


def run_cli(*args: str, fault: str | None = None, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess and wait for it."""
    return subprocess.run(ganlab_command(*args), capture_output=True, text=True,
                          env=cli_env(fault), cwd=cwd or REPO, timeout=timeout, check=False)


def start_cli(*args: str, fault: str | None = None) -> subprocess.Popen[str]:
    """Start the real CLI in a subprocess (stdout/stderr piped)."""
    return subprocess.Popen(ganlab_command(*args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(fault), cwd=REPO)


def wait_for(predicate: Any, timeout: float = 90, what: str = "condition") -> None:
    """Poll ``predicate`` until true or fail."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def checkpoint_names(run_dir: Path) -> list[str]:
    """Checkpoint file names present, sorted."""
    folder = run_dir / "checkpoints"
    return sorted(p.name for p in folder.glob("ckpt-*.npz")) if folder.is_dir() else []


def final_state(run_dir: Path) -> dict[str, np.ndarray]:
    """Arrays of the newest checkpoint (the whole training state)."""
    names = checkpoint_names(run_dir)
    assert names, f"no checkpoint in {run_dir}"
    with np.load(run_dir / "checkpoints" / names[-1], allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files if k != "__meta__"}


def differing_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[str]:
    """Names of arrays that are not bit-identical (or present in only one)."""
    different = sorted(set(a) ^ set(b))
    for key in sorted(set(a) & set(b)):
        if a[key].dtype != b[key].dtype or a[key].tobytes() != b[key].tobytes():
            different.append(key)
    return different


def resumed_run_matches(whole: tuple[str, Path], killed: tuple[str, Path],
                        fault: str, timeout: float = 120) -> dict[str, np.ndarray]:
    """Train ``whole`` through, and ``killed`` killed at ``fault`` then resumed: same state.

    Args:
        whole: ``(experiment file, run dir)`` of the uninterrupted run.
        killed: ``(experiment file, run dir)`` of the same experiment, killed and resumed.
        fault: Where the kill happens (``GANLAB_FAULT``, e.g. ``"step:4"``).
        timeout: Seconds each of the three runs may take (larger networks trace longer).

    Returns:
        The uninterrupted run's final state.

    """
    finished = run_cli("run", whole[0], timeout=timeout)
    assert finished.returncode == 0, output(finished)
    stopped = run_cli("run", killed[0], fault=fault, timeout=timeout)
    assert stopped.returncode == -signal.SIGKILL, output(stopped)
    resumed = run_cli("run", killed[0], timeout=timeout)
    assert resumed.returncode == 0, output(resumed)
    assert "Resuming from" in resumed.stdout
    state = final_state(whole[1])
    assert not differing_arrays(final_state(killed[1]), state)
    return state


def flat(text: str) -> str:
    """``text`` with every run of whitespace made one space (messages are wrapped)."""
    return " ".join(text.split())


def output(result: subprocess.CompletedProcess[str] | Any) -> str:
    """stdout + stderr of a finished process."""
    return (result.stdout or "") + (result.stderr or "")


def invoke(args: list[str], env: dict[str, str] | None = None) -> Any:
    """Run ``ganlab ARGS`` in-process (click's CliRunner) the way the console script does."""
    from click.testing import CliRunner

    from ganlab import cli

    cli._register_core_commands()
    return CliRunner().invoke(cli.cli, [str(a) for a in args], env=env, catch_exceptions=True)


def assert_clean_failure(result: Any, code: int, *fragments: str) -> str:
    """A handled user error: exit ``code``, each fragment in the message, no traceback."""
    text = flat(result.output)
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}:\n{text}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"unhandled {result.exception!r}:\n{text}")
    assert "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    return text
