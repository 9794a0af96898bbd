"""The shipped experiment files are valid and name only registered components."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from ganlab.components import build_callbacks, check_components
from ganlab.experiment import load_experiment
from ganlab.plugins import load_plugins

EXPERIMENTS = sorted((REPO / "experiments").glob("*.yaml"))
STUDY = {"dcgan_celeba_bbox.yaml", "dcgan_celeba.yaml", "dcgan_celeba_align.yaml",
         "dcgan_celeba_align_png.yaml", "dcgan_mnist.yaml", "quickstart.yaml"}


def test_the_study_experiments_are_all_there() -> None:
    assert STUDY <= {path.name for path in EXPERIMENTS}


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.name for p in EXPERIMENTS])
def test_experiment_is_valid(path: Path) -> None:
    experiment = load_experiment(path)
    registry = load_plugins().registry
    check_components(experiment, registry)
    names = [block["name"] for block in experiment.config["callbacks"]]
    assert "sample_grid" in names and "latent_arithmetic" in names
    assert len(build_callbacks(experiment, registry)) == len(names)
    if path.name in STUDY and path.name.startswith("dcgan_"):  # the DCGAN study's five
        config = experiment.config
        assert config["optimizers"]["generator"]["learning_rate"] == 2e-4
        assert config["optimizers"]["discriminator"]["beta_1"] == 0.5
        assert config["optimizers"]["schedule"]["boundaries_epochs"] == [10, 20, 25]
        assert config["dataset"]["params"]["image_size"] == 64
