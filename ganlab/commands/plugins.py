"""``ganlab list-plugins``."""

from __future__ import annotations

import json

import click

from ganlab.plugins import LoadedPlugins


def _plugin_rows(loaded: LoadedPlugins) -> list[list[str]]:
    rows = []
    for record in loaded.records:
        status = f"ERROR: {record.error}" if record.error else "ok"
        if record.warnings:
            status += "; " + "; ".join(record.warnings)
        rows.append([record.name, record.origin, record.distribution or record.target,
                     record.version or "-", ", ".join(record.hooks) or "-", status])
    return rows


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows,
                                                                        strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
             for row in [header, ["-" * w for w in widths], *rows]]
    return "\n".join(lines)


@click.command("list-plugins")
@click.option("--components", is_flag=True, help="Also list what each plugin provides.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def list_plugins(state: object, components: bool, as_json: bool) -> None:
    """Show every plugin (built-in, installed, local), its hooks and its status."""
    loaded = state.load()  # type: ignore[attr-defined]
    if as_json:
        data = loaded.provenance()
        if not components:
            data.pop("components")
        click.echo(json.dumps(data, indent=2))
        return
    header = ["plugin", "origin", "distribution", "version", "hooks", "status"]
    click.echo(_format_table(header, _plugin_rows(loaded)))
    if components:
        rows = [[c.kind, c.name, c.plugin, c.description or ""]
                for c in sorted(loaded.registry.components(), key=lambda c: (c.kind, c.name))]
        click.echo("")
        click.echo(_format_table(["kind", "name", "plugin", "description"], rows))


COMMANDS: list[click.Command] = [list_plugins]
