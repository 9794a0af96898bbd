"""Start-up: --help, --version and list-plugins answer without importing TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ganlab.quiet import filter_noise

REPO = Path(__file__).resolve().parent.parent

HEAVY = ("tensorflow", "keras")

LAZY_COMMAND_PLUGIN = '''
import click
from ganlab import hookimpl

@hookimpl
def register_commands(cli):
    @cli.command("hello-lazy")
    def hello_lazy():
        """Say hello after importing TensorFlow (only when run)."""
        import tensorflow as tf
        click.echo(f"hello {tf.constant(2).numpy()}")
'''


def imported_modules(args: list[str], tmp_path: Path) -> tuple[set[str], str]:
    """Top-level modules ``python -X importtime -m ganlab ARGS`` imported, and its stdout."""
    env = {k: v for k, v in os.environ.items() if k != "GANLAB_DISABLE_PLUGINS"}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ganlab", *args],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return modules, done.stdout


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["list-plugins"],
                                  ["list-plugins", "--components"]])
def test_cli_answers_without_importing_tensorflow(args: list[str], tmp_path: Path) -> None:
    plugin = tmp_path / "lazy_command.py"
    plugin.write_text(textwrap.dedent(LAZY_COMMAND_PLUGIN))
    modules, out = imported_modules(["-p", str(plugin), *args], tmp_path)
    assert "ganlab" in modules and "click" in modules  # the measurement works
    assert not modules & set(HEAVY), f"{args} imported {modules & set(HEAVY)}"
    if args == ["--help"]:
        assert "hello-lazy" in out and "list-plugins" in out
    if args == ["--version"]:
        assert "ganlab, version" in out
    if args[0] == "list-plugins":
        assert "dcgan" in out
        assert ("sample_grid" in out) == ("--components" in args)


def test_every_builtin_plugin_registers_without_tensorflow(tmp_path: Path) -> None:
    from ganlab.plugins import discover_entry_points

    builtins = [record.target for _, record in discover_entry_points()
                if record.origin == "builtin"]
    assert len(builtins) >= 5
    script = ("import sys, importlib\n"
              "from ganlab.plugins import load_plugins\n"
              "loaded = load_plugins()\n"
              "assert not loaded.errors, loaded.errors\n"
              f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_plugin_commands_are_listed_in_help(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "ganlab", "--help"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0
    assert "arithmetic" in done.stdout and "interpolate" in done.stdout


def test_lazy_plugin_command_runs_and_tensorflow_start_up_noise_is_filtered(
        tmp_path: Path) -> None:
    plugin = tmp_path / "lazy_command.py"
    plugin.write_text(textwrap.dedent(LAZY_COMMAND_PLUGIN))
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "GANLAB_DISABLE_PLUGINS")}
    done = subprocess.run([sys.executable, "-m", "ganlab", "-p", str(plugin), "hello-lazy"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello 2"
    for noise in ("absl::InitializeLog", "cuda drivers", "oneDNN custom operations", "cuInit"):
        assert noise not in done.stderr


def test_noise_filter_keeps_real_messages() -> None:
    text = ("WARNING: All log messages before absl::InitializeLog() is called are written to "
            "STDERR\nI0000 cudart_stub.cc:31] Could not find cuda drivers on your machine\n"
            "E0000 something real went wrong\n")
    assert filter_noise(text) == "E0000 something real went wrong\n"
