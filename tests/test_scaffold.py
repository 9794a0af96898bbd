"""ganlab new-plugin: the scaffolded package installs and passes its own tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


@pytest.mark.slow
def test_scaffolded_package_installs_and_passes_its_tests(tmp_path: Path) -> None:
    result = run_cli(["new-plugin", "scaffoldcheck", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "ganlab-scaffoldcheck"
    assert "[project.entry-points.ganlab]" in (root / "pyproject.toml").read_text()
    install = subprocess.run([*PIP, "install", "--no-deps", "--no-build-isolation", "--no-index",
                              "-q", "-e", str(root)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    try:
        listed = subprocess.run([sys.executable, "-m", "ganlab", "list-plugins", "--components"],
                                capture_output=True, text=True, timeout=300, cwd=tmp_path)
        for name in ("scaffoldcheck_blobs", "scaffoldcheck_mlp", "scaffoldcheck_loss",
                     "scaffoldcheck_drift", "scaffoldcheck_csv", "scaffoldcheck_mean_gap",
                     "scaffoldcheck-describe"):
            assert name in listed.stdout, listed.stdout
        tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                               capture_output=True, text=True, timeout=900, cwd=root)
        assert tests.returncode == 0, tests.stdout[-4000:]
        assert "12 passed" in tests.stdout, tests.stdout[-2000:]
    finally:
        subprocess.run([*PIP, "uninstall", "-y", "-q", "ganlab-scaffoldcheck"],
                       capture_output=True, timeout=300)


def test_a_subset_of_kinds_writes_only_those_and_valid_python(tmp_path: Path) -> None:
    result = run_cli(["new-plugin", "ganlab-r1-only", "--kind", "loss", "--kind", "command",
                      "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    package = tmp_path / "ganlab-r1-only" / "ganlab_r1_only"
    assert sorted(p.name for p in package.glob("*.py")) == [
        "__init__.py", "command.py", "loss.py", "plugin.py"]
    plugin = (package / "plugin.py").read_text()
    assert "register_losses" in plugin and "register_datasets" not in plugin
    for source in (tmp_path / "ganlab-r1-only").rglob("*.py"):
        compile(source.read_text(), str(source), "exec")
    experiment = (tmp_path / "ganlab-r1-only" / "tests" / "test_plugin.py").read_text()
    assert '"name": "dcgan"' in experiment and '"name": "r1_only_loss"' in experiment


def test_the_metric_template_takes_the_sample_count_evaluate_sets(tmp_path: Path) -> None:
    import importlib.util
    import inspect

    result = run_cli(["new-plugin", "ganlab-gap", "--kind", "metric", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    source = tmp_path / "ganlab-gap" / "ganlab_gap" / "metric.py"
    spec = importlib.util.spec_from_file_location("scaffolded_metric", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # `ganlab evaluate --num-samples N` passes num_samples to metrics that accept it.
    assert "num_samples" in inspect.signature(module.MeanGap).parameters
    assert "num_samples=8" in (tmp_path / "ganlab-gap" / "tests" / "test_metric.py").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["new-plugin", "Bad Name"], "is not a usable plugin name"),
    (["new-plugin", "x1", "--kind", "optimizer"], "Invalid value for '--kind'"),
])
def test_bad_names_and_kinds_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli([*args, "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert message in result.output
    assert not list(tmp_path.iterdir())


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "ganlab-taken").mkdir()
    (tmp_path / "ganlab-taken" / "keep.txt").write_text("mine")
    result = run_cli(["new-plugin", "taken", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "exists already" in result.output
    assert [p.name for p in (tmp_path / "ganlab-taken").iterdir()] == ["keep.txt"]
