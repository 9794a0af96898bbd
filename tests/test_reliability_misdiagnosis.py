"""Each failure gets the right diagnosis: a full disk while exporting names generator.keras, a
folder where a file is expected says it is a folder, an experiment file name that is not UTF-8
is refused before a run directory exists, and new-plugin refuses a name with a newline.
(A classifier file replaced by another model: tests/test_classifier.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from reliability_support import (
    assert_clean_failure,
    flat,
    invoke,
    output,
    prepare_tiny_data,
    run_cli,
    tiny_experiment_file,
)

from ganlab.errors import ConfigError


def test_a_full_disk_while_exporting_the_generator_names_the_file(tmp_path: Path) -> None:
    prepare_tiny_data(tmp_path)
    experiment, run_dir = tiny_experiment_file(tmp_path, "export", train={"epochs": 1})
    full = run_cli("run", experiment, fault="export:1:enospc")
    text = flat(output(full))
    assert full.returncode == 5, text
    assert f"Exporting the model to {run_dir / 'generator.keras'} failed" in text
    assert "the disk is full" in text and "checkpoints are intact" in text
    assert "Traceback" not in text
    assert not (run_dir / "generator.keras").exists()
    assert not [p.name for p in run_dir.iterdir() if p.name.startswith(".generator")]
    again = run_cli("run", experiment)
    assert again.returncode == 0, output(again)
    assert "nothing to train" in flat(output(again))
    assert (run_dir / "generator.keras").is_file()


def test_a_folder_given_as_a_plugin_file_says_it_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "myplugin"
    folder.mkdir()
    (folder / "plugin.py").write_text("")
    result = invoke(["-p", f"{folder}{os.sep}", "list-plugins"])
    assert "is a folder, not a plugin file" in flat(result.output), result.output
    assert "no such plugin file" not in result.output


def test_a_folder_given_as_the_inception_weights_says_it_is_a_folder(tmp_path: Path) -> None:
    from ganlab_builtins.metrics.inception import InceptionV3Features

    with pytest.raises(ConfigError, match=f"weights path {tmp_path} is a folder, not the "
                                          "weights file"):
        InceptionV3Features(image_shape=(32, 32, 3), weights=str(tmp_path))


@pytest.mark.skipif(os.name != "posix", reason="file names as bytes")
def test_an_experiment_file_name_that_is_not_utf8_is_refused_before_any_run_dir(
        tmp_path: Path) -> None:
    prepare_tiny_data(tmp_path)
    experiment, run_dir = tiny_experiment_file(tmp_path, "plain")
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.yaml")  # Latin-1, not UTF-8
    os.rename(experiment, odd)
    for command in (["run", odd], ["validate", odd], ["prepare", odd]):
        result = invoke(command)
        assert_clean_failure(result, 2, "is not valid UTF-8", "caf\\xe9.yaml", "Rename")
    assert not run_dir.exists()


@pytest.mark.parametrize("name", ["foo\n", "foo\nbar", "foo\r"])
def test_new_plugin_refuses_a_name_with_a_line_break(tmp_path: Path, name: str) -> None:
    result = invoke(["new-plugin", name, "--dir", tmp_path])
    assert_clean_failure(result, 2, "is not a usable plugin name")
    assert list(tmp_path.iterdir()) == []
