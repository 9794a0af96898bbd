"""``ganlab list-plugins``."""

from __future__ import annotations

import json
import textwrap

import click

from ganlab.plugins import LoadedPlugins


def _plugin_rows(loaded: LoadedPlugins) -> list[list[str]]:
    rows = []
    for record in loaded.records:
        if record.error:
            status = "ERROR: " + "; ".join([record.error, *record.warnings])
        elif record.warnings:
            status = "WARNING: " + "; ".join(record.warnings)
        else:
            status = "ok"
        rows.append([record.name, record.origin, record.distribution or record.target,
                     record.version or "-", ", ".join(record.hooks) or "-", status])
    return rows


def plugin_commands(loaded: LoadedPlugins) -> list[tuple[str, str, str]]:
    """``(command, plugin, description)`` of every command the plugins add to the CLI."""
    found = []
    for impl in loaded.manager.hook.register_commands.get_hookimpls():
        group = click.Group()
        try:
            impl.function(cli=group)
        except Exception as exc:  # reported as a warning at start-up already
            found.append(("?", impl.plugin_name, f"register_commands raised {exc!r}"))
            continue
        found += [(name, impl.plugin_name, command.get_short_help_str(60))
                  for name, command in sorted(group.commands.items())]
    return found


def _parameter_lines(loaded: LoadedPlugins) -> list[str]:
    """One wrapped ``kind name: param=default, ...`` entry per component."""
    from ganlab.factory_params import component_parameters

    lines = ["", "parameters (name=default; a name alone is required):"]
    for component in sorted(loaded.registry.components(), key=lambda c: (c.kind, c.name)):
        found = component_parameters(component)
        listed = ("none" if found == [] else "see its documentation" if found is None
                  else ", ".join(map(str, found)))
        lines += textwrap.wrap(f"{component.kind} {component.name}: {listed}", width=100,
                               initial_indent="  ", subsequent_indent="      ",
                               break_on_hyphens=False)
    return lines


def _with_parameters(loaded: LoadedPlugins, listed: list[dict]) -> list[dict]:
    """The JSON component entries, each with its ``params`` (``null`` when unreadable)."""
    from ganlab.factory_params import component_parameters

    found = {(c.kind, c.name, c.plugin): component_parameters(c)
             for c in loaded.registry.components()}
    for entry in listed:
        params = found.get((entry.get("kind"), entry.get("name"), entry.get("plugin")))
        entry["params"] = None if params is None else [p.as_dict() for p in params]
    return listed


def _format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows,
                                                                        strict=False)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
             for row in [header, ["-" * w for w in widths], *rows]]
    return "\n".join(lines)


@click.command("list-plugins")
@click.option("--components", is_flag=True, help="Also list what each plugin provides.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--requirements", "run_dir", type=click.Path(file_okay=False), default=None,
              metavar="RUN_DIR", help="Print the pins (name==version) of the plugin "
                                      "distributions RUN_DIR was trained with, for pip.")
@click.pass_obj
def list_plugins(state: object, components: bool, as_json: bool, run_dir: str | None) -> None:
    """Show every plugin (built-in, installed, local), its hooks and its status."""
    if run_dir is not None:
        from pathlib import Path

        from ganlab.requirements import run_pins

        click.echo("\n".join(run_pins(Path(run_dir))))
        return
    loaded = state.load()  # type: ignore[attr-defined]
    if as_json:
        data = loaded.provenance()
        if not components:
            data.pop("components")
        else:
            data["components"] = _with_parameters(loaded, data["components"])
            data["components"] += [
                {"kind": "command", "name": name, "description": description, "plugin": plugin}
                for name, plugin, description in plugin_commands(loaded)]
        click.echo(json.dumps(data, indent=2))
        return
    header = ["plugin", "origin", "distribution", "version", "hooks", "status"]
    click.echo(_format_table(header, _plugin_rows(loaded)))
    if components:
        rows = [[c.kind, c.name, c.plugin, c.description or ""]
                for c in sorted(loaded.registry.components(), key=lambda c: (c.kind, c.name))]
        rows += [["command", name, plugin, description]
                 for name, plugin, description in plugin_commands(loaded)]
        click.echo("")
        click.echo(_format_table(["kind", "name", "plugin", "description"], rows))
        click.echo("\n".join(_parameter_lines(loaded)))


COMMANDS: list[click.Command] = [list_plugins]
