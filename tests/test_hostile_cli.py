"""Every CLI entry point, fed hostile input, ends in a user error: never exit 70, never a traceback.

The commands are read from the real ``ganlab`` group after core and plugin
commands are registered (what ``ganlab --help`` lists). Each argument and
each value-taking option of each command is given, in turn, every hostile
value, while the other arguments are good ones: a real tiny experiment with
prepared TFRecords and a real tiny trained run (shared by the module), so
hostile option values reach the code that uses them.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from reliability_support import flat, invoke, prepare_tiny_data, tiny_config, write_experiment

from ganlab import cli


def bomb() -> str:
    lines = ["name: bomb", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def hostile_values(root: Path) -> dict[str, str]:
    """Name → a hostile command-line value (files made under ``root``)."""
    (root / "bomb.yaml").write_text(bomb())
    (root / "deep.yaml").write_text("x: " + "[" * 3000 + "]" * 3000 + "\n")
    (root / "binary.bin").write_bytes(bytes(range(256)))
    (root / "a-folder").mkdir()
    (root / "loop").symlink_to(root / "loop")
    return {"bomb": str(root / "bomb.yaml"), "deep": str(root / "deep.yaml"),
            "binary": str(root / "binary.bin"), "folder": str(root / "a-folder"),
            "loop": str(root / "loop"), "missing": str(root / "nowhere" / "x"),
            "superscript": "²", "negative": "-1", "huge": str(10**40), "empty": "",
            "under-a-file": str(root / "binary.bin" / "x.png")}


def commands() -> list[tuple[str, click.Command]]:
    cli._register_core_commands()
    cli._register_plugin_commands([])
    return sorted(cli.cli.commands.items())


#: Good values of options, given whenever a command has the option (and it is not under test).
GOOD_OPTIONS = {"--concept": "first=0,1", "--expr": "first", "--from": "0", "--to": "1",
                "--num": "4"}


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A tiny experiment with prepared data and its finished run (trained once)."""
    root = tmp_path_factory.mktemp("good")
    prepare_tiny_data(root)
    config = tiny_config(root, "good", train={"epochs": 1, "deterministic": False},
                         checkpoint={"every_n_steps": None})
    experiment = str(write_experiment(root / "exp.yaml", config))
    result = invoke(["run", experiment])
    assert result.exit_code == 0, result.output
    return {"experiment_file": experiment, "run_dir": str(root / "runs" / "good")}


def invocations(name: str, command: click.Command, values: dict[str, str],
                good: dict[str, str], out: str) -> list[list[str]]:
    """Argument lists: each parameter given each hostile value, the others good ones."""
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    options = [p for p in command.params if isinstance(p, click.Option)
               and not p.is_flag and not p.count and p.name != "help"]
    base = [good.get(str(p.name), values["bomb"]) for p in arguments]
    required = {o.opts[0]: GOOD_OPTIONS.get(o.opts[0], out) for o in options
                if o.required or o.opts[0] in GOOD_OPTIONS}
    calls = []
    for index, argument in enumerate(arguments):
        for value in _fitting(argument, values):
            calls.append([name, *base[:index], value, *base[index + 1:], *_pairs(required)])
    for option in options:
        for value in _fitting(option, values):
            calls.append([name, *base, *_pairs({**required, option.opts[0]: value})])
    return calls or [[name, value] for value in values.values()]


#: Hostile values worth giving a parameter of each click type (click itself
#: refuses the rest before ganlab sees them).
_NUMBERS = ("superscript", "negative", "huge", "empty")
_PATHS = ("bomb", "deep", "binary", "folder", "loop", "missing", "under-a-file", "empty")


def _fitting(parameter: click.Parameter, values: dict[str, str]) -> list[str]:
    kind = parameter.type
    if isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        names = _NUMBERS
    elif isinstance(kind, click.Path):
        names = _PATHS
    else:
        names = tuple(values)
    return [values[name] for name in names]


def _pairs(options: dict[str, str]) -> list[str]:
    return [part for option, value in options.items() for part in (option, value)]


def test_the_walk_covers_every_command() -> None:
    names = [name for name, _ in commands()]
    for expected in ("run", "validate", "sample", "prepare", "inspect", "list-plugins",
                     "arithmetic", "interpolate"):
        assert expected in names


@pytest.mark.parametrize("name", [name for name, _ in commands()])
def test_no_hostile_input_is_an_internal_error(name: str, tmp_path: Path,
                                               good: dict[str, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # outputs named by hostile values land here, not in the repo
    command = dict(commands())[name]
    values = hostile_values(tmp_path)
    for args in invocations(name, command, values, good, str(tmp_path / "out.png")):
        result = invoke(args)
        text = flat(result.output)
        assert result.exit_code != 70 and "internal error" not in text, (args, text)
        assert "Traceback" not in text, (args, text)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args, repr(result.exception), text)
