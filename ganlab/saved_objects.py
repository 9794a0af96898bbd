"""Make the custom Keras layers of a saved ``.keras`` model loadable.

A generator built from plugin layers (spectral normalization, self-attention,
...) is saved with each layer's class *registered name* and *module*. Keras
finds a registered class only once its module has been imported, which a
command that loads an exported generator (``ganlab sample``, ``evaluate``)
never did: the plugin modules it loads register components, not layers.

Before loading an archive, :func:`import_saved_object_modules` imports the
modules its ``config.json`` names for registered (non-Keras) objects — only
modules inside a package that provides an installed, enabled ``ganlab``
plugin, i.e. code ganlab would load anyway. A module a hostile file names
elsewhere is never imported.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def import_saved_object_modules(archive: Path) -> list[str]:
    """Import the plugin modules that define the custom objects saved in ``archive``.

    Args:
        archive: A ``.keras`` file (a zip holding ``config.json``).

    Returns:
        The modules imported (already-imported ones included), sorted.
        Unreadable archives and modules that fail to import are skipped:
        Keras then reports the class it cannot find.

    """
    try:
        with zipfile.ZipFile(archive) as opened:
            config = json.loads(opened.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return []
    trusted = _plugin_packages()
    imported = []
    for module in sorted(set(_custom_modules(config))):
        if module.split(".", 1)[0] not in trusted:
            continue
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - Keras names the missing class instead
            continue
        imported.append(module)
    return imported


def _custom_modules(node: Any) -> Iterator[str]:
    """``module`` of every serialized object registered under a package (``"pkg>Name"``)."""
    if isinstance(node, dict):
        registered, module = node.get("registered_name"), node.get("module")
        if isinstance(registered, str) and ">" in registered and isinstance(module, str):
            yield module
        for value in node.values():
            yield from _custom_modules(value)
    elif isinstance(node, list):
        for value in node:
            yield from _custom_modules(value)


def _plugin_packages() -> set[str]:
    """Top-level packages of the installed, enabled ``ganlab`` entry-point plugins."""
    from ganlab.plugins import disabled_from_environment, discover_entry_points

    disabled = disabled_from_environment()
    return {entry_point.value.split(":", 1)[0].split(".", 1)[0]
            for entry_point, record in discover_entry_points() if record.name not in disabled}
