"""Contract checks before training, each naming the component and its plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
from author_plugin import experiment
from conftest import run_cli, write_experiment

from ganlab.errors import ConfigError, PluginError

PLUGIN = str(Path(__file__).resolve().parent / "author_plugin.py")
PROVIDER = "from plugin 'author_plugin'"

MISTAKES = [
    ("dataset", {"mistake": "range"}, "dataset 'contract_only'", "the contract is [-1, 1]"),
    ("dataset", {"mistake": "uint8"}, "dataset 'contract_only'", "yields uint8 images"),
    ("dataset", {"mistake": "shape"}, "dataset 'contract_only'", "static shape unknown"),
    ("dataset", {"mistake": "raise"}, "dataset 'contract_only'", "RuntimeError: cannot open"),
    ("architecture", {"d_outputs": 10}, "discriminator of the architecture 'tiny'",
     "returns shape (4, 10)"),
    ("architecture", {"mistake": "shape"}, "generator of 'tiny'",
     "produces images of shape (32, 2, 1)"),
    ("architecture", {"mistake": "raise"}, "architecture 'tiny'",
     "KeyError: 'generator_width' in build_generator()"),
    ("loss", {"mistake": "vector"}, "loss 'plain'", "returned (4, 1), not a scalar"),
    ("loss", {"mistake": "nan"}, "loss 'plain'", "returned nan"),
    ("loss", {"mistake": "detached"}, "loss 'plain'", "generator_loss() has no gradient"),
    ("loss", {"mistake": "raise"}, "loss 'plain'", "ZeroDivisionError: gamma is zero"),
]
NAMES = {"dataset": "contract_only", "architecture": "tiny", "loss": "plain"}


def mistaken(tmp_path: Path, kind: str, params: dict) -> Path:
    config = experiment(tmp_path, PLUGIN, **{kind: {"name": NAMES[kind], "params": params}})
    return write_experiment(tmp_path / "exp.yaml", config)


@pytest.mark.parametrize(("kind", "params", "component", "detail"), MISTAKES,
                         ids=[f"{m[0]}-{next(iter(m[1].values()))}" for m in MISTAKES])
def test_validate_names_the_component_that_breaks_its_contract(
        tmp_path: Path, kind: str, params: dict, component: str, detail: str) -> None:
    result = run_cli(["validate", str(mistaken(tmp_path, kind, params))])
    # A generator of the wrong size is usually a params mismatch: a configuration error.
    expected = ConfigError if component.startswith("generator of 'tiny'") else PluginError
    assert result.exit_code == expected.exit_code, result.output
    message = " ".join(result.output.split())
    assert f"{component}' {PROVIDER}" in message or f"{component} {PROVIDER}" in message
    assert detail in message
    assert "internal error" not in message and "Traceback" not in message


@pytest.mark.parametrize(("kind", "params"), [("architecture", {"d_outputs": 10}),
                                              ("dataset", {"mistake": "range"})])
def test_run_stops_before_the_first_step(tmp_path: Path, kind: str, params: dict) -> None:
    result = run_cli(["run", str(mistaken(tmp_path, kind, params))])
    assert result.exit_code == PluginError.exit_code, result.output
    assert PROVIDER in " ".join(result.output.split())
    run_dir = tmp_path / "runs" / "author"
    assert not (run_dir / "history.csv").exists()
    assert not list((run_dir / "checkpoints").glob("*")) if (run_dir / "checkpoints").exists() \
        else True


def test_valid_plugin_passes_the_checks(tmp_path: Path) -> None:
    result = run_cli(["validate", str(mistaken(tmp_path, "loss", {}))])
    assert result.exit_code == 0, result.output
    assert "contracts: dataset sample, generator and discriminator outputs" in result.output
