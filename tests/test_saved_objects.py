"""A .keras archive's plugin layers are imported before loading, and only a plugin's modules."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

from ganlab.saved_objects import import_saved_object_modules


def archive_naming(path: Path, *modules: str) -> Path:
    layers = [{"module": module, "class_name": "Thing", "registered_name": f"pkg>Thing{i}",
               "config": {}} for i, module in enumerate(modules)]
    config = {"module": "keras.src.models.functional", "class_name": "Functional",
              "registered_name": "Functional", "config": {"layers": layers}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    return path


def test_only_modules_of_installed_plugin_packages_are_imported(tmp_path: Path) -> None:
    path = archive_naming(tmp_path / "g.keras", "ganlab_builtins.layers.spectral",
                          "antigravity", "ganlab_builtins.no_such_module")
    assert import_saved_object_modules(path) == ["ganlab_builtins.layers.spectral"]
    assert "ganlab_builtins.layers.spectral" in sys.modules
    assert "antigravity" not in sys.modules  # not a plugin's: never imported


def test_a_disabled_plugin_package_is_not_trusted(tmp_path: Path, monkeypatch) -> None:
    from ganlab.plugins import discover_entry_points

    names = ",".join(record.name for entry_point, record in discover_entry_points()
                     if entry_point.value.startswith("ganlab_builtins"))
    monkeypatch.setenv("GANLAB_DISABLE_PLUGINS", names)
    path = archive_naming(tmp_path / "g.keras", "ganlab_builtins.layers.spectral")
    assert import_saved_object_modules(path) == []


def test_unreadable_archives_import_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    assert import_saved_object_modules(tmp_path / "bad.keras") == []
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as archive:
        archive.writestr("other.json", "{}")
    assert import_saved_object_modules(tmp_path / "empty.keras") == []
