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


# -- injection: advice that is safe to paste (issue: reliability III) ---------------------------
def _advice(specs: list[str]) -> str:
    from ganlab.errors import PluginError
    from ganlab.requirements import check_requirements

    with pytest.raises(PluginError) as caught:
        check_requirements(specs)
    return str(caught.value)


def test_a_url_requirement_gets_no_command_to_paste() -> None:
    message = _advice(["evil @ https://host/x';touch${IFS}PWNED;'"])
    assert "pip install" not in message and "touch" not in message
    assert "evil is required from a URL the experiment names; ganlab gives no command" in message


def test_install_advice_quotes_each_requirement_for_the_shell(tmp_path: Path) -> None:
    import shlex
    import subprocess

    message = _advice(["ganlab-missing-x[a,b]>=1,<2", "ganlab-missing-y"])
    command = message.split("Install them with: ", 1)[1].rstrip(".")
    assert command == "pip install 'ganlab-missing-x[a,b]<2,>=1' ganlab-missing-y"
    # What a shell makes of the advice: exactly the two requirements, nothing run.
    echoed = subprocess.run(["sh", "-c", command.replace("pip install", "printf '%s\\n'")],
                            capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert echoed.splitlines() == ["ganlab-missing-x[a,b]<2,>=1", "ganlab-missing-y"]
    assert shlex.split(command)[2:] == echoed.splitlines()


@pytest.mark.parametrize("spec", ["./x", "git+https://host/x.git", "/abs/path",
                                  "x'; touch PWNED; '"])
def test_paths_and_vcs_links_are_not_requirements(spec: str) -> None:
    from ganlab.errors import ConfigError
    from ganlab.requirements import check_requirements

    with pytest.raises(ConfigError, match="is not a package requirement"):
        check_requirements([spec])


def test_environment_markers_are_honoured() -> None:
    from ganlab.requirements import check_requirements

    check_requirements(['ganlab-missing-z; python_version < "3"'])  # not for this Python
    assert "ganlab-missing-z is not installed" in _advice(
        ['ganlab-missing-z; python_version >= "3"'])
