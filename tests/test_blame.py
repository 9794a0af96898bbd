"""An exception raised in plugin code is blamed on the plugin (exit 3), never 'internal error'."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import run_cli, write_experiment

from ganlab.errors import PluginError

FAULTY = '''
import click
import numpy as np
from ganlab import hookimpl
from ganlab.data import ImageExample, TFRecordImageDataset


class Faulty(TFRecordImageDataset):
    """Four images; decode() fails on the third."""

    default_split = "train"
    image_shape = (8, 8, 1)

    def options(self):
        return {}

    def source_available(self):
        return True

    def describe_source(self):
        return "four synthetic images"

    def plan(self):
        return {"train": [0, 1, 2, 3]}

    def decode(self, item):
        if item == 2:
            raise IndexError("row 2 of the index is missing")
        return ImageExample(image=np.zeros((8, 8, 1), np.uint8), filename=str(item))


@hookimpl
def register_datasets(register):
    register("faulty", Faulty)


@hookimpl
def register_commands(cli):
    @cli.command("explode")
    def explode():
        """A plugin command with a bug."""
        {}["missing key"]
'''


@pytest.fixture
def plugin(tmp_path: Path) -> Path:
    path = tmp_path / "faulty_plugin.py"
    path.write_text(textwrap.dedent(FAULTY))
    return path


def assert_blamed(output: str, *details: str) -> None:
    message = " ".join(output.split())
    assert "plugin 'faulty_plugin'" in message, message
    assert "internal error" not in message and "Traceback" not in message
    for detail in details:
        assert detail in message, message


def test_plugin_command_bug_is_blamed_on_the_plugin(plugin: Path) -> None:
    result = run_cli(["-p", str(plugin), "explode"])
    assert result.exit_code == PluginError.exit_code
    assert_blamed(result.output, "KeyError: 'missing key'", "in explode()")


@pytest.mark.parametrize("workers", [1, 2])
def test_decode_bug_is_blamed_on_the_plugin_in_process_and_in_workers(
        tmp_path: Path, plugin: Path, workers: int) -> None:
    config = {"name": "faulty", "run_dir": str(tmp_path / "run"), "plugins": [str(plugin)],
              "dataset": {"name": "faulty", "params": {"source": None,
                                                       "tfrecords": str(tmp_path / "tfr")}},
              "architecture": {"name": "dcgan"}, "loss": {"name": "bce"},
              "train": {"epochs": 1, "batch_size": 2}}
    path = write_experiment(tmp_path / "exp.yaml", config)
    result = run_cli(["prepare", str(path), "--workers", str(workers)])
    assert result.exit_code == PluginError.exit_code, result.output
    assert_blamed(result.output, "IndexError", "row 2 of the index is missing", "decode()")
    assert not (tmp_path / "tfr" / "dataset.json").exists()


def test_list_plugins_warns_about_a_module_without_hooks_and_lists_commands(
        tmp_path: Path, plugin: Path) -> None:
    empty = tmp_path / "no_hooks.py"
    empty.write_text("def register_datasets(register):\n    pass  # forgot @hookimpl\n")
    result = run_cli(["-p", str(plugin), "-p", str(empty), "list-plugins", "--components"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("no_hooks"))
    assert "WARNING: implements no ganlab hook" in row
    commands = [line.split() for line in result.output.splitlines()
                if line.startswith("command")]
    assert ["command", "explode", "faulty_plugin"] in [c[:3] for c in commands]
    assert ["command", "arithmetic", "latent"] in [c[:3] for c in commands]


def test_metric_bug_during_training_is_blamed_on_the_plugin(tmp_path: Path) -> None:
    from author_plugin import experiment

    plugin = str(Path(__file__).resolve().parent / "author_plugin.py")
    config = experiment(tmp_path, plugin, metrics=[{"name": "broken_metric"}])
    result = run_cli(["run", str(write_experiment(tmp_path / "exp.yaml", config))])
    assert result.exit_code == PluginError.exit_code, result.output
    message = " ".join(result.output.split())
    assert "plugin 'author_plugin'" in message and "ZeroDivisionError" in message
    assert "in compute()" in message and "internal error" not in message
