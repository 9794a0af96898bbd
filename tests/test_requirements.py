"""requires: in an experiment, and list-plugins --requirements RUN_DIR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli, tiny_experiment, write_experiment

from ganlab.plugins import load_plugins


@pytest.mark.parametrize(("requires", "code", "message"), [
    (["ganlab-nonexistent-plugin>=0.2"], 3,
     "ganlab-nonexistent-plugin is not installed. Install them with: pip install "
     "'ganlab-nonexistent-plugin>=0.2'"),
    (["ganlab>=99"], 3, "ganlab 0.1.0 is installed, ganlab>=99 is required"),
    (["ganlab >= zero"], 2, "is not a package requirement"),
])
def test_unmet_requirements_stop_before_any_work(tmp_path: Path, requires: list[str],
                                                 code: int, message: str) -> None:
    config = tiny_experiment(tmp_path, requires=requires)
    config["dataset"]["params"]["tfrecords"] = str(tmp_path / "never-written")
    path = write_experiment(tmp_path / "exp.yaml", config)
    for command in (["validate"], ["prepare"], ["run"]):
        result = run_cli([*command, str(path)])
        assert result.exit_code == code, result.output
        assert message in " ".join(result.output.split())
    assert not (tmp_path / "never-written").exists()
    assert not (tmp_path / "runs").exists()


def test_met_requirements_pass(tmp_path: Path) -> None:
    from ganlab.requirements import check_requirements

    check_requirements(["ganlab>=0.1", "click"])


def test_requirements_of_a_run_are_its_plugin_pins(tmp_path: Path) -> None:
    provenance = load_plugins().provenance()
    provenance["plugins"].append({"name": "mine", "origin": "local", "target": "my_plugin.py",
                                  "distribution": None, "version": None})
    (tmp_path / "plugins.json").write_text(json.dumps(provenance))
    result = run_cli(["list-plugins", "--requirements", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "ganlab==0.1.0" in lines
    assert "# local plugin (not a distribution): my_plugin.py" in lines
    missing = run_cli(["list-plugins", "--requirements", str(tmp_path / "nowhere")])
    assert missing.exit_code == 5 and "plugins.json" in missing.output
