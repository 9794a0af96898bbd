"""No silent exits: a plugin that calls ``sys.exit`` or raises ``KeyboardInterrupt`` is a broken
plugin, named, and the command still does its work; a real Ctrl-C at any point (a slow plugin
import at start-up included) ends with exit 130 and one line, never a traceback.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from reliability_support import (
    cli_env,
    ganlab_command,
    output,
    prepare_tiny_data,
    run_cli,
    tiny_experiment_file,
    wait_for,
)

EXITING = {
    "exit0": "import sys\nsys.exit(0)\n",
    "interrupt": "raise KeyboardInterrupt\n",
    "hook_exit": ("import sys\nfrom ganlab import hookimpl\n\n\n@hookimpl\n"
                  "def register_losses(register):\n    sys.exit(0)\n"),
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("silence")
    prepare_tiny_data(root)
    experiment, _ = tiny_experiment_file(root, "quiet")
    return root, experiment


@pytest.mark.parametrize("kind", sorted(EXITING))
def test_a_plugin_that_exits_or_interrupts_is_a_named_broken_plugin(
        tiny: tuple[Path, str], kind: str) -> None:
    root, experiment = tiny
    plugin = root / f"{kind}.py"
    plugin.write_text(EXITING[kind])
    checked = run_cli("-p", str(plugin), "validate", experiment)
    text = " ".join(output(checked).split())
    assert checked.returncode == 0, text
    assert f"{experiment}: OK" in text  # the command did its work
    assert f"'{kind}'" in text and "a plugin must never stop ganlab" in text, text
    assert "Traceback" not in text
    if kind != "exit0":
        return
    strict = run_cli("--strict-plugins", "-p", str(plugin), "validate", experiment)
    assert strict.returncode == 3, output(strict)
    assert "a plugin must never stop ganlab" in " ".join(output(strict).split())


def test_an_exiting_plugin_does_not_end_a_sweep_before_its_work(tiny: tuple[Path, str]) -> None:
    root, experiment = tiny
    plugin = root / "exit_sweep.py"
    plugin.write_text(EXITING["exit0"])
    listed = run_cli("-p", str(plugin), "sweep", experiment, "--dry-run", "--grid", "seed=1,2")
    assert listed.returncode == 0, output(listed)
    assert listed.stdout.splitlines() == ["seed-1: seed=1", "seed-2: seed=2"]


def test_a_plugin_exiting_while_the_command_runs_is_blamed(tiny: tuple[Path, str]) -> None:
    root, experiment = tiny
    plugin = root / "exits_later.py"
    plugin.write_text("import sys\nfrom ganlab import hookimpl\n\n\nclass Quitter:\n"
                      "    def __init__(self):\n        sys.exit(0)\n\n\n@hookimpl\n"
                      "def register_losses(register):\n    register('quitter', Quitter)\n")
    result = run_cli("-p", str(plugin), "validate", experiment, "--set", "loss.name=quitter")
    text = " ".join(output(result).split())
    assert result.returncode == 3, text
    assert "'exits_later'" in text and "sys.exit(0)" in text and "Traceback" not in text


def test_ctrl_c_during_a_slow_plugin_import_exits_130_with_one_line(
        tiny: tuple[Path, str]) -> None:
    root, experiment = tiny
    started = root / "importing"
    plugin = root / "slow.py"
    plugin.write_text(f"import pathlib, time\npathlib.Path({str(started)!r}).touch()\n"
                      "time.sleep(60)\n")
    process = subprocess.Popen(ganlab_command("-p", str(plugin), "validate", experiment),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=cli_env(), cwd=root)
    try:
        wait_for(started.exists, timeout=60, what="the plugin import to start")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stdout + stderr
    assert stderr.strip().splitlines() == ["Interrupted."], stderr
    assert stdout == ""


def test_ctrl_c_at_start_up_exits_130_with_one_line(tiny: tuple[Path, str]) -> None:
    root, experiment = tiny
    # The SIGINT arrives while the entry point imports the command line (its plugin loader).
    code = ("import os, signal, sys\n"
            "class Trip:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'ganlab.plugins':\n"
            "            os.kill(os.getpid(), signal.SIGINT)\n"
            "sys.meta_path.insert(0, Trip())\n"
            f"sys.argv = ['ganlab', 'validate', {experiment!r}]\n"
            "from ganlab.__main__ import main\n"
            "main()\n")
    result = subprocess.run([ganlab_command()[0], "-c", code], capture_output=True,
                            text=True, env=cli_env(), cwd=root, timeout=60)
    assert result.returncode == 130, output(result)
    assert result.stderr.strip().splitlines() == ["Interrupted."], result.stderr
