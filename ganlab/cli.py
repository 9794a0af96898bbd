"""The ``ganlab`` command line.

Every command runs inside :class:`GanlabGroup`, which turns a
:class:`~ganlab.errors.GanlabError` into a one-paragraph message and a
non-zero exit (``--debug`` re-raises with the traceback).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ganlab import __version__, interrupts
from ganlab.errors import GanlabError, describe_os_error
from ganlab.plugins import (
    LoadedPlugins,
    PluginRecord,
    is_plugin_path,
    load_plugins,
    plugin_warnings,
)

INTERNAL_ERROR_EXIT = 70
INTERRUPTED_EXIT = interrupts.INTERRUPTED_EXIT
#: The one line a Ctrl-C outside training prints (training says what it saved).
INTERRUPTED_MESSAGE = "Interrupted."
#: sysexits' EX_IOERR: an operating-system error on a user's path.
OS_ERROR_EXIT = 74
#: The modules of ``ganlab.commands`` whose ``COMMANDS`` list the core adds. Each is
#: imported at start-up for ``--help``, so none may import TensorFlow at module level.
CORE_COMMAND_MODULES: tuple[str, ...] = (
    "run", "plugins", "data", "new_plugin", "evaluate", "sweep", "compare",
)
#: Plugins loaded at start-up to add their commands (kept to blame errors on them).
_startup_records: list[PluginRecord] = []


@dataclass
class CliState:
    """Global options shared by every subcommand (``ctx.obj``)."""

    plugins: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    strict_plugins: bool = False
    debug: bool = False
    _loaded: dict[tuple[str, ...], LoadedPlugins] = field(default_factory=dict)

    def load(self, extra: Sequence[str] = (), base_dir: Path | None = None) -> LoadedPlugins:
        """Load (once per set of local plugins) and return the plugins."""
        local = tuple(self.plugins) + tuple(extra)
        if local not in self._loaded:
            self._loaded[local] = load_plugins(
                local, disabled=self.disabled, base_dir=base_dir, strict=self.strict_plugins
            )
        return self._loaded[local]

    def load_for_experiment(self, experiment: Any) -> LoadedPlugins:
        """The plugins ``experiment`` needs, after checking its ``requires:`` (before any work).

        Raises:
            PluginError: A required plugin distribution is missing or too old.

        """
        from ganlab.requirements import check_requirements

        check_requirements(experiment.settings.requires)
        return self.load_and_warn(experiment.settings.plugins, experiment.base_dir)

    def load_and_warn(
        self, extra: Sequence[str] = (), base_dir: Path | None = None
    ) -> LoadedPlugins:
        """Like :meth:`load`, printing a warning per broken plugin to stderr."""
        loaded = self.load(extra, base_dir)
        for line in plugin_warnings(loaded):
            click.echo(line, err=True)
        return loaded


def fail_message(message: str) -> str:
    """Format a user error as one paragraph (one line; the terminal wraps it)."""
    return "Error: " + " ".join(message.split())


class LineTracker:
    """Standard output, remembering whether its last write left a line open.

    Keras' progress bar redraws its line in place and ends it only at the
    end of an epoch; an error printed meanwhile would be glued onto it.
    """

    def __init__(self, stream: Any):
        self._stream = stream
        self.line_open = False

    def write(self, text: str) -> int:
        """Write ``text`` through, noting whether it ended its line."""
        if text:
            self.line_open = not text.endswith("\n")
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def end_open_line() -> None:
    """End a line that standard output left open (a progress bar's) before a message."""
    if isinstance(sys.stdout, LineTracker) and sys.stdout.line_open:
        sys.stdout.write("\n")
        sys.stdout.flush()


class GanlabGroup(click.Group):
    """A click group that reports user errors without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, converting errors to messages and exit codes."""
        debug = bool(ctx.params.get("debug")) or os.environ.get("GANLAB_DEBUG") == "1"
        if not isinstance(sys.stdout, LineTracker):
            sys.stdout = LineTracker(sys.stdout)
        try:
            return super().invoke(ctx)
        except BaseException:
            end_open_line()
            return self._report(ctx, debug)

    def _report(self, ctx: click.Context, debug: bool) -> None:
        """Re-raise the error being handled, as a message and an exit code."""
        try:
            raise
        except GanlabError as exc:
            if debug:
                raise
            click.echo(fail_message(str(exc)), err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo(INTERRUPTED_MESSAGE, err=True)
            ctx.exit(INTERRUPTED_EXIT)
        except SystemExit as exc:  # ganlab exits through click; this is code it ran
            blamed = _blame_plugin(ctx, exc)
            if blamed is None or debug:
                raise
            click.echo(fail_message(f"{blamed} (It called sys.exit({exc.code!r}), which "
                                    "would have ended ganlab as if the command had "
                                    "finished.)"), err=True)
            ctx.exit(blamed.exit_code)
        except OSError as exc:  # a path the user chose: missing, a file, read-only, full
            if debug:
                raise
            click.echo(fail_message(describe_os_error(exc)), err=True)
            ctx.exit(OS_ERROR_EXIT)
        except Exception as exc:
            if debug:
                raise
            blamed = _blame_plugin(ctx, exc)
            if blamed is not None:
                click.echo(fail_message(str(blamed)), err=True)
                ctx.exit(blamed.exit_code)
            click.echo(
                fail_message(
                    f"internal error {type(exc).__name__}: {exc}. This is a bug in ganlab or "
                    "a plugin; run again with --debug for the traceback and report it."
                ),
                err=True,
            )
            ctx.exit(INTERNAL_ERROR_EXIT)


@click.group(cls=GanlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-p", "--plugin", "plugins", multiple=True, metavar="MODULE_OR_PATH",
              help="Load a one-off plugin (module name or .py file). Repeatable.")
@click.option("--disable-plugin", "disabled", multiple=True, metavar="NAME",
              help="Do not load this plugin (built-ins included). Repeatable.")
@click.option("--strict-plugins", is_flag=True, help="Fail if any plugin fails to load.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="ganlab")
@click.pass_context
def cli(ctx: click.Context, plugins: tuple[str, ...], disabled: tuple[str, ...],
        strict_plugins: bool, debug: bool) -> None:
    """ganlab: plugin-based GAN experiments on TensorFlow 2 / Keras 3."""
    ctx.obj = CliState([from_working_directory(plugin) for plugin in plugins], list(disabled),
                       strict_plugins, debug)


def from_working_directory(target: str) -> str:
    """A ``-p`` plugin file path made absolute against the working directory.

    A path typed on the command line means what the shell means by it; the
    experiment's own ``plugins:`` entries stay relative to the experiment file.
    Module names are kept as they are.
    """
    return str(Path(target).expanduser().absolute()) if is_plugin_path(target) else target


def _blame_plugin(ctx: click.Context, exc: BaseException) -> GanlabError | None:
    """A :class:`PluginError` naming the plugin whose code raised ``exc``, if one did."""
    from ganlab.blame import plugin_error_for

    records = list(_startup_records)
    state = ctx.obj
    if isinstance(state, CliState):
        for loaded in state._loaded.values():
            records += loaded.records
    return plugin_error_for(exc, records)


def _register_core_commands() -> None:
    for name in CORE_COMMAND_MODULES:
        module = importlib.import_module(f"ganlab.commands.{name}")
        for command in module.COMMANDS:
            cli.add_command(command)


def _register_plugin_commands(argv: Sequence[str]) -> None:
    """Let installed plugins add subcommands before click parses ``argv``."""
    disabled = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--disable-plugin"]
    local = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in ("-p", "--plugin")]
    try:
        loaded = load_plugins(local, disabled=disabled)
    except GanlabError:
        return  # reported again, properly, by the command itself
    _startup_records[:] = loaded.records
    for impl in loaded.manager.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:  # a plugin's bug must not break the CLI
            click.echo(f"warning: plugin '{impl.plugin_name}' failed to add commands: {exc}",
                       err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``ganlab`` script.

    Ctrl-C at any moment, start-up and plugin imports included, ends it with
    one line and exit status 130.
    """
    interrupts.install()
    try:
        args = list(sys.argv[1:] if argv is None else argv)
        quiet_tensorflow()
        _register_core_commands()
        if args[:1] != ["--version"]:  # the version needs no plugin
            _register_plugin_commands(args)
        cli.main(args=args, prog_name="ganlab")
    except KeyboardInterrupt:
        end_open_line()
        sys.stderr.write(INTERRUPTED_MESSAGE + "\n")
        sys.exit(INTERRUPTED_EXIT)


def quiet_tensorflow() -> None:
    """Keep TensorFlow's start-up chatter (CUDA probing on a CPU machine) out of the output.

    Done before TensorFlow is imported, which ganlab does only inside the
    commands that need it. ``GANLAB_TF_LOG=1`` shows everything again.
    """
    from ganlab import quiet

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    quiet.install()
