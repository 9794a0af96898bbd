"""Shared test helpers: run the real CLI in-process, build experiment files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parent.parent


def run_cli(args: Sequence[str], env: dict[str, str] | None = None) -> Result:
    """Invoke ``ganlab ARGS`` in-process the way the console script does."""
    from ganlab import cli

    cli._register_core_commands()
    cli._register_plugin_commands(list(args))
    return CliRunner().invoke(cli.cli, list(args), env=env, catch_exceptions=True)


def tiny_experiment(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A real, tiny experiment: built-in MNIST (embedded sample) at 32 px, small DCGAN."""
    config: dict[str, Any] = {
        "name": "tiny",
        "seed": 7,
        "run_dir": str(tmp_path / "runs" / "tiny"),
        "dataset": {"name": "mnist", "params": {
            "source": "embedded", "tfrecords": str(shared_mnist_tfrecords()),
            "image_size": 32}},
        "architecture": {"name": "dcgan", "params": {
            "latent_dim": 16, "base_filters": 4, "kernel_size": 4}},
        "loss": {"name": "bce"},
        "train": {"epochs": 2, "batch_size": 16, "steps_per_epoch": 3, "verbose": 0,
                  "shuffle_buffer": 64},
        "latents": {"bank_size": 16},
        "callbacks": [{"name": "sample_grid", "params": {"rows": 4}}],
    }
    for key, value in overrides.items():
        config[key] = value
    return config


def shared_mnist_tfrecords() -> Path:
    """One prepared copy of the embedded MNIST sample, shared by the whole session."""
    return Path(os.environ["GANLAB_TEST_SHARED"]) / "mnist-embedded-32"


def write_experiment(path: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as YAML to ``path``."""
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="session", autouse=True)
def _shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = tmp_path_factory.mktemp("shared")
    os.environ["GANLAB_TEST_SHARED"] = str(shared)
    return shared
