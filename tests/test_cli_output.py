"""What a person sees when a command fails: one clean line, never glued onto a progress bar."""

from __future__ import annotations

import textwrap
from pathlib import Path

from conftest import run_cli

PLUGIN = textwrap.dedent('''
    import sys

    import click

    from ganlab import hookimpl
    from ganlab.errors import DataError


    @click.command("half-a-line")
    def half_a_line():
        """Draw part of a progress bar, then fail as a user error."""
        sys.stdout.write("12/78 [=====>......")
        sys.stdout.flush()
        raise DataError("the data went away")


    @hookimpl
    def register_commands(cli):
        cli.add_command(half_a_line)
''')


def test_an_error_starts_its_own_line_after_a_progress_bar(tmp_path: Path) -> None:
    plugin = tmp_path / "half.py"
    plugin.write_text(PLUGIN)
    result = run_cli(["-p", str(plugin), "half-a-line"])
    assert result.exit_code != 0
    assert "12/78 [=====>......\nError: the data went away" in result.output, result.output
    assert result.output.count("Error:") == 1
