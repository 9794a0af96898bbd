"""ganlab's pytest plugin (entry point ``pytest11``): fixtures for plugin tests.

Installed with ganlab, so a plugin's own tests can use the fixtures without
a ``conftest.py``:

- ``ganlab_plugins``: the installed plugins, freshly loaded for this test.
- ``ganlab_registry``: their component registry.
- ``register_plugin``: ``register_plugin(obj, name=None)`` adds a module or
  class with hook implementations for this test only, and returns the
  plugins (``.registry`` resolves its components).
- ``train_run``: ``train_run(config_dict, epochs=1, steps=2)`` trains the
  experiment in a temporary run directory and returns the run result.

Importing this module imports no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ganlab.plugins import LoadedPlugins, load_plugins, with_plugin_objects
from ganlab.registry import Registry


@pytest.fixture
def ganlab_plugins() -> LoadedPlugins:
    """The installed plugins, loaded anew (nothing is shared between tests)."""
    return load_plugins()


@pytest.fixture
def ganlab_registry(ganlab_plugins: LoadedPlugins) -> Registry:
    """The registry of the installed plugins."""
    return ganlab_plugins.registry


@pytest.fixture
def register_plugin(ganlab_plugins: LoadedPlugins) -> Callable[..., LoadedPlugins]:
    """Register a plugin object for this test: ``register_plugin(module_or_class, name=None)``."""
    current = [ganlab_plugins]

    def register(plugin: object, name: str | None = None) -> LoadedPlugins:
        label = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        current[0] = with_plugin_objects(current[0], {label: plugin})
        broken = [r for r in current[0].records if r.name == label and r.error]
        if broken:
            raise AssertionError(f"plugin {label!r} failed to register: {broken[0].error}")
        return current[0]

    return register


@pytest.fixture
def train_run(tmp_path: Path) -> Callable[..., Any]:
    """Train an experiment dict for a few steps in ``tmp_path/run``: ``train_run(config)``."""
    from ganlab.testing.training import train_experiment

    def train(config: dict[str, Any], **options: Any) -> Any:
        return train_experiment(config, options.pop("run_dir", tmp_path / "run"), **options)

    return train
