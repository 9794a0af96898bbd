"""The example plugin package (examples/ganlab-example-plugin): installed, a real `ganlab run`."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ganlab-example-plugin"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


@pytest.fixture(scope="module")
def installed() -> Iterator[None]:
    """CI (scripts/test) installs the example; elsewhere it is installed for these tests."""
    if importlib.util.find_spec("ganlab_example_plugin") is not None:
        yield
        return
    done = subprocess.run([*PIP, "install", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-e", str(EXAMPLE)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    try:
        yield
    finally:
        subprocess.run([*PIP, "uninstall", "-y", "-q", "ganlab-example-plugin"],
                       capture_output=True, timeout=300)


def ganlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ganlab", *args], capture_output=True,
                          text=True, timeout=900, cwd=cwd)


@pytest.mark.slow
def test_ganlab_run_with_the_example_plugin(installed: None, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = ganlab("run", str(EXAMPLE / "experiment.yaml"), "--set", f"run_dir={run_dir}",
                  "--set", "train.steps_per_epoch=2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run_dir / "generator.keras").is_file()
    rows = (run_dir / "example_plugin_losses.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["epoch", "1", "2"]
    assert ",mean_gap," in (run_dir / "metrics.csv").read_text()
    assert "example_plugin" in (run_dir / "plugins.json").read_text()
    described = ganlab("example-plugin-describe", str(run_dir), cwd=tmp_path)
    assert described.returncode == 0, described.stderr
    assert described.stdout.strip() == "example-plugin: completed, 2 epochs"
    for noise in ("absl::InitializeLog", "cuda drivers"):
        assert noise not in done.stderr
