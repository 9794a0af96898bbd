"""ganlab.testing: the checkers, the pytest fixtures (pytest11) and in-process training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from author_plugin import Blobs, ContractOnly, PlainLoss, Tiny

from ganlab import hookimpl
from ganlab.errors import PluginError
from ganlab.testing import (
    check_architecture,
    check_callback,
    check_dataset,
    check_loss,
    check_metric,
)

PLUGIN = str(Path(__file__).resolve().parent / "author_plugin.py")


class MeanMetric:
    """Mean pixel of the generated images (a toy metric)."""

    name = "mean"

    def __init__(self, nan: bool = False):
        self.nan = nan

    def compute(self, generate: Any, dataset: Any) -> dict[str, float]:
        value = float(generate(8).mean())
        return {"mean": float("nan") if self.nan else value}


class ToyPlugin:
    """A plugin given as a class, registered for one test."""

    @staticmethod
    @hookimpl
    def register_metrics(register: Any) -> None:
        register("toy_mean", MeanMetric)


def test_checkers_pass_good_components(tmp_path: Path) -> None:
    assert check_dataset(Blobs(count=8)).num_examples() == 8
    generator, discriminator = check_architecture("dcgan", image_shape=(32, 32, 1),
                                                  latent_dim=8, base_filters=4)
    assert generator.output_shape == (None, 32, 32, 1)
    _, conditional = check_architecture("dcgan", image_shape=(32, 32, 1), latent_dim=8,
                                        base_filters=4, num_classes=10)
    assert len(conditional.inputs) == 2  # tried on [images, labels]
    check_loss("bce")
    check_loss("wasserstein_gp")
    check_callback("sample_grid", run_dir=tmp_path, rows=2)
    assert (tmp_path / "samples" / "epoch_0002.png").is_file()
    assert (tmp_path / "samples" / "progress.gif").is_file()
    assert set(check_metric(MeanMetric())) == {"mean"}


@pytest.mark.parametrize(("check", "component", "detail"), [
    (check_dataset, ContractOnly(mistake="uint8"), "uint8"),
    (check_architecture, Tiny((16, 16, 1), d_outputs=3), "(4, 3)"),
    (check_loss, PlainLoss(mistake="detached"), "no gradient"),
    (check_metric, MeanMetric(nan=True), "finite"),
])
def test_checkers_name_the_broken_contract(check: Any, component: Any, detail: str) -> None:
    with pytest.raises(PluginError, match="under test") as caught:
        check(component)
    assert detail in str(caught.value)


def test_checker_rejects_bad_params_of_a_registered_name() -> None:
    with pytest.raises(Exception, match="base_filters"):
        check_architecture("dcgan", image_shape=(32, 32, 1), base_filters=-1)


def test_fixtures_from_the_pytest11_entry_point(ganlab_registry: Any,
                                                register_plugin: Any) -> None:
    assert "dcgan" in ganlab_registry.names("architecture")
    assert "toy_mean" not in ganlab_registry.names("metric")
    loaded = register_plugin(ToyPlugin, name="toy")
    assert loaded.registry.resolve("metric", "toy_mean").plugin == "toy"
    assert check_metric("toy_mean", registry=loaded.registry)["mean"] <= 1.0


def test_train_run_fixture_trains_a_dict_experiment(train_run: Any, tmp_path: Path) -> None:
    config = {"plugins": [PLUGIN], "dataset": {"name": "blobs", "params": {"count": 32}},
              "architecture": {"name": "tiny"}, "loss": {"name": "bce"}}
    result = train_run(config, epochs=2)
    assert result.epochs_completed == 2
    assert (tmp_path / "run" / "generator.keras").is_file()
    assert len((tmp_path / "run" / "history.csv").read_text().splitlines()) == 3


def test_pytest_plugin_is_registered_and_cheap(pytestconfig: pytest.Config) -> None:
    plugin = pytestconfig.pluginmanager.get_plugin("ganlab")  # the pytest11 entry point's name
    assert plugin is not None and plugin.__name__ == "ganlab.testing.pytest_plugin"
    script = ("import sys, ganlab.testing.pytest_plugin, ganlab.testing\n"
              "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "False False", done.stderr


def test_callbacks_learn_the_initial_epoch_of_a_resumed_run(train_run: Any,
                                                           tmp_path: Path) -> None:
    probe = tmp_path / "probe.txt"
    config = {"plugins": [PLUGIN], "dataset": {"name": "blobs", "params": {"count": 16}},
              "architecture": {"name": "tiny"}, "loss": {"name": "bce"},
              "callbacks": [{"name": "epoch_probe", "params": {"path": str(probe)}}]}
    train_run(config, epochs=1)
    train_run(config, epochs=3)
    assert probe.read_text().splitlines() == [
        "initial_epoch=0", "epoch 1", "initial_epoch=1", "epoch 2", "epoch 3"]
