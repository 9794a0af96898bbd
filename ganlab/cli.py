"""The ``ganlab`` command line.

Every command runs inside :class:`GanlabGroup`, which turns a
:class:`~ganlab.errors.GanlabError` into a one-paragraph message and a
non-zero exit (``--debug`` re-raises with the traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from ganlab import __version__
from ganlab.errors import GanlabError, describe_os_error
from ganlab.plugins import LoadedPlugins, load_plugins, plugin_warnings

INTERNAL_ERROR_EXIT = 70
#: sysexits' EX_IOERR: an operating-system error on a user's path.
OS_ERROR_EXIT = 74


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


class GanlabGroup(click.Group):
    """A click group that reports user errors without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, converting errors to messages and exit codes."""
        debug = bool(ctx.params.get("debug")) or os.environ.get("GANLAB_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except GanlabError as exc:
            if debug:
                raise
            click.echo(fail_message(str(exc)), err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except OSError as exc:  # a path the user chose: missing, a file, read-only, full
            if debug:
                raise
            click.echo(fail_message(describe_os_error(exc)), err=True)
            ctx.exit(OS_ERROR_EXIT)
        except Exception as exc:
            if debug:
                raise
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
    ctx.obj = CliState(list(plugins), list(disabled), strict_plugins, debug)


def _register_core_commands() -> None:
    from ganlab.commands import data, plugins, run

    for module in (run, plugins, data):
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
    for impl in loaded.manager.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as exc:  # a plugin's bug must not break the CLI
            click.echo(f"warning: plugin '{impl.plugin_name}' failed to add commands: {exc}",
                       err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``ganlab`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    # TensorFlow's C++ start-up chatter hides ganlab's own messages.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _register_core_commands()
    _register_plugin_commands(args)
    cli.main(args=args, prog_name="ganlab")
