"""``ganlab new-plugin``: scaffold a plugin package."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("new-plugin")
@click.argument("name")
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
              type=click.Choice(["dataset", "architecture", "loss", "regularizer", "callback",
                                 "metric", "command"]),
              help="A component to include (repeatable; default: all seven).")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=".",
              show_default=True, help="Where to create the package folder.")
def new_plugin(name: str, kinds: tuple[str, ...], directory: str) -> None:
    """Write a ready plugin package NAME: pyproject, components, tests, README."""
    from ganlab.scaffold import write_package

    root, names = write_package(Path(directory), name, kinds)
    click.echo(f"Wrote the plugin package {names.dist} to {root}.")
    click.echo(f"  cd {root} && pip install -e '.[test]' && pytest")
    click.echo("  ganlab list-plugins --components   # its components, once installed")


COMMANDS: list[click.Command] = [new_plugin]
