"""The model study's sweep (experiments/study_models.yaml) resolves for all three families.

A sweep over ``architecture.name`` must run unchanged across dcgan, sngan and biggan: the
study's one block of shared params is accepted by each, with each regularizer. Nothing is
trained: the runs are listed (``--dry-run``), resolved and checked, and ``ganlab
validate`` builds the networks of each family and runs the contract checks on them.
"""

from __future__ import annotations

import pytest
from conftest import REPO
from reliability_support import invoke

from ganlab.components import check_components
from ganlab.experiment import load_experiment
from ganlab.plugins import load_plugins
from ganlab.sweep.spec import expand, format_value, make_axes

STUDY = REPO / "experiments" / "study_models.yaml"
FAMILIES = ("dcgan", "sngan", "biggan")
GRID = ("architecture.name=" + ",".join(FAMILIES),
        "regularizers=[],[{name: r1, params: {gamma: 1.0}}],"
        "[{name: lecam, params: {weight: 0.3}}]")


def test_the_header_command_lists_nine_runs() -> None:
    args = ["sweep", STUDY, "--dry-run"]
    for axis in GRID:
        args += ["--grid", axis]
    result = invoke(args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 9
    for family in FAMILIES:
        assert sum(line.startswith(f"architecture-{family}_") for line in lines) == 3
    header = STUDY.read_text().split("\nname:")[0]
    assert "--grid architecture.name=dcgan,sngan,biggan" in header


def test_every_run_of_the_sweep_resolves() -> None:
    registry = load_plugins().registry
    runs = expand(make_axes(GRID, (), 0, 0))
    assert len(runs) == 9
    for run in runs:
        overrides = [f"{key}={format_value(value)}" for key, value in run.overrides.items()]
        experiment = load_experiment(STUDY, overrides)
        check_components(experiment, registry)
        config = experiment.config
        assert config["architecture"]["name"] == run.overrides["architecture.name"]
        assert config["train"]["ema"]["decay"] == 0.99
        assert config["loss"]["name"] == "hinge"
        assert [block["name"] for block in config["regularizers"]] == \
            [block["name"] for block in run.overrides["regularizers"]]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_validates(family: str) -> None:
    result = invoke(["validate", STUDY, "--set", f"architecture.name={family}",
                     "--set", "regularizers=[{name: r1, params: {gamma: 1.0}}]"])
    assert result.exit_code == 0, result.output
    assert "latent: 110" in result.output and "10 classes" in result.output
    assert "losses, regularizers and their gradients OK" in result.output
