"""Plugin discovery and loading.

Discovery (reading entry points) is separate from loading (importing), and
every plugin loads in its own ``try``: a broken plugin becomes an error row,
never a crash. The built-in plugins are found through ganlab's own entry
points, exactly like a third-party package.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from ganlab import hookspecs, interrupts
from ganlab.errors import PluginError
from ganlab.registry import KIND_HOOKS, Component, LazyFactory, Registry

ENTRY_POINT_GROUP = "ganlab"
DISABLE_ENV_VAR = "GANLAB_DISABLE_PLUGINS"
CORE_DISTRIBUTION = "ganlab"


@dataclass
class PluginRecord:
    """What is known about one plugin, loaded or not.

    Attributes:
        name: Entry-point name, or the module name of a local plugin.
        origin: ``builtin`` (shipped in ganlab), ``installed`` (another
            distribution) or ``local`` (``-p`` / an experiment's ``plugins:``).
        target: What is imported: ``module`` or a file path.
        distribution: Distribution name for entry-point plugins.
        version: Distribution version.
        hooks: Hook names the plugin implements.
        error: Why the plugin failed to load, or ``None``.
        warnings: Problems that did not stop it loading (misspelled hooks).
        modules: Names of the modules that hold the plugin's code: its own
            module and those of its factories (errors raised there are blamed
            on the plugin).

    """

    name: str
    origin: str
    target: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    modules: set[str] = field(default_factory=set)

    @property
    def describe(self) -> str:
        """``name (distribution version)`` for messages."""
        if self.distribution:
            return f"'{self.name}' ({self.distribution} {self.version})"
        return f"'{self.name}' ({self.target})"


@dataclass
class LoadedPlugins:
    """The result of loading plugins: the manager, per-plugin records, the registry."""

    manager: pluggy.PluginManager
    records: list[PluginRecord]
    registry: Registry

    def record(self, name: str) -> PluginRecord | None:
        """The record of the plugin called ``name``, if any."""
        return next((r for r in self.records if r.name == name), None)

    @property
    def errors(self) -> list[PluginRecord]:
        """Plugins that failed to load."""
        return [r for r in self.records if r.error]

    def provenance(self) -> dict[str, Any]:
        """JSON-ready description of the plugins and the components they provide."""
        return {
            "plugins": [plugin_as_dict(r) for r in self.records],
            "components": [component_as_dict(c) for c in self.registry.components()],
        }


def plugin_as_dict(record: PluginRecord) -> dict[str, Any]:
    """JSON-ready form of a :class:`PluginRecord`."""
    return {
        "name": record.name,
        "origin": record.origin,
        "target": record.target,
        "distribution": record.distribution,
        "version": record.version,
        "hooks": record.hooks,
        "error": record.error,
        "warnings": record.warnings,
    }


def component_as_dict(component: Component) -> dict[str, Any]:
    """JSON-ready form of a :class:`Component`."""
    return {
        "kind": component.kind,
        "name": component.name,
        "description": component.description,
        "plugin": component.plugin,
        "distribution": component.distribution,
        "version": component.version,
    }


def new_plugin_manager() -> pluggy.PluginManager:
    """A fresh plugin manager with ganlab's hookspecs and nothing registered."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def disabled_from_environment() -> set[str]:
    """Plugin names listed (comma-separated) in ``GANLAB_DISABLE_PLUGINS``."""
    raw = os.environ.get(DISABLE_ENV_VAR, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def discover_entry_points() -> list[tuple[importlib.metadata.EntryPoint, PluginRecord]]:
    """Entry points of the ``ganlab`` group, without importing anything."""
    found = []
    seen: set[tuple[str, str]] = set()
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        dist_name = dist.metadata["Name"] if dist is not None else None
        key = (entry_point.name, entry_point.value)
        if key in seen:  # the same distribution visible twice on sys.path
            continue
        seen.add(key)
        origin = "builtin" if dist_name == CORE_DISTRIBUTION else "installed"
        record = PluginRecord(
            name=entry_point.name,
            origin=origin,
            target=entry_point.value,
            distribution=dist_name,
            version=dist.version if dist is not None else None,
        )
        found.append((entry_point, record))
    return found


def is_plugin_path(target: str) -> bool:
    """Whether a one-off plugin ``target`` names a file (else a module)."""
    return target.endswith(".py") or os.sep in target or "/" in target


def import_local_plugin(target: str, base_dir: Path | None = None) -> ModuleType:
    """Import a one-off plugin given as a module name or a ``.py`` file path.

    Args:
        target: ``package.module`` or a path to a Python file.
        base_dir: Folder that relative file paths are relative to.

    """
    if not is_plugin_path(target):
        return importlib.import_module(target)
    path = Path(target)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a plugin file: give the .py file "
                                "(or the folder's module name, with the folder on the path)")
    if not path.is_file():
        raise FileNotFoundError(f"no such plugin file: {path}")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    module_name = f"ganlab_local_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def load_plugins(
    local: Sequence[str] = (),
    *,
    disabled: Iterable[str] = (),
    base_dir: Path | None = None,
    strict: bool = False,
    include_entry_points: bool = True,
) -> LoadedPlugins:
    """Discover, load and register every plugin, then fill the registry.

    Args:
        local: One-off plugins (module names or ``.py`` paths).
        disabled: Plugin or distribution names to skip; ``GANLAB_DISABLE_PLUGINS``
            is added to these.
        base_dir: Folder relative local plugin paths are relative to.
        strict: Raise :class:`PluginError` on the first broken plugin or
            misspelled hook instead of recording it.
        include_entry_points: Load installed plugins (turned off by tests that
            want an empty manager).

    Returns:
        The plugin manager, a record per plugin and the registry.

    """
    blocked = set(disabled) | disabled_from_environment()
    manager = new_plugin_manager()
    records: list[PluginRecord] = []
    candidates: list[tuple[Any, PluginRecord]] = []
    if include_entry_points:
        candidates.extend(discover_entry_points())
    candidates.extend(
        (target, PluginRecord(name=_local_name(target), origin="local", target=target))
        for target in local
    )
    for loader, record in candidates:
        if record.name in blocked or (record.distribution and record.distribution in blocked):
            continue
        records.append(record)
        _load_one(manager, loader, record, base_dir)
    registry = _build_registry(manager, records)
    if strict:
        _raise_if_broken(records)
    return LoadedPlugins(manager=manager, records=records, registry=registry)


def with_plugin_objects(loaded: LoadedPlugins, plugins: dict[str, object]) -> LoadedPlugins:
    """``loaded`` plus plugin objects (modules or classes with hook implementations).

    For tests: registers each object under its name, as if it were installed,
    and returns new plugins with a registry rebuilt from all of them.
    """
    manager = new_plugin_manager()
    records = []
    for record in loaded.records:
        plugin = loaded.manager.get_plugin(record.name)
        if plugin is not None:
            manager.register(plugin, name=record.name)
        records.append(record)
    for name, plugin in plugins.items():
        record = PluginRecord(name=name, origin="local", target=repr(plugin))
        records.append(record)
        _load_one(manager, _Given(plugin), record, None)
    return LoadedPlugins(manager=manager, records=records,
                         registry=_build_registry(manager, records))


@dataclass(frozen=True)
class _Given:
    """A loader that returns an object already in hand."""

    plugin: object

    def load(self) -> object:
        return self.plugin


def _local_name(target: str) -> str:
    return Path(target).stem if target.endswith(".py") else target


def _load_one(
    manager: pluggy.PluginManager, loader: Any, record: PluginRecord, base_dir: Path | None
) -> None:
    try:
        if isinstance(loader, str):
            module = import_local_plugin(loader, base_dir)
        else:
            module = loader.load()
        if manager.is_registered(module):
            record.error = f"already registered as '{manager.get_name(module)}'"
            return
        manager.register(module, name=record.name)
        record.modules.add(getattr(module, "__name__", None) or type(module).__module__)
    except Exception as exc:  # a broken plugin must never break ganlab
        record.error = f"{type(exc).__name__}: {exc}"
        return
    except (SystemExit, KeyboardInterrupt) as exc:  # neither may end ganlab from a plugin
        if isinstance(exc, KeyboardInterrupt) and interrupts.received():
            raise  # the user pressed Ctrl-C while it was importing
        record.error = _exited_at_import(exc)
        return
    record.hooks = sorted(caller.name for caller in manager.get_hookcallers(module) or [])
    record.warnings = _misspelled_hooks(manager, module)
    if not record.hooks:
        record.warnings.append("implements no ganlab hook (no @ganlab.hookimpl function named "
                               "register_*), so it provides nothing")


def _exited_at_import(exc: BaseException) -> str:
    """A plugin's error row when its import called ``sys.exit`` or raised ``KeyboardInterrupt``."""
    what = (interrupts.describe_exit(exc) if isinstance(exc, SystemExit)
            else "raised KeyboardInterrupt")
    return (f"{what} while being imported: a plugin must never stop ganlab (it would end "
            "the command having done nothing); fix or remove that call")


def _note_factory_module(record: PluginRecord, factory: Any) -> None:
    """Remember the module of a factory from the plugin's own package (for blame)."""
    if isinstance(factory, LazyFactory):
        module = factory.target.partition(":")[0]
    else:
        module = getattr(factory, "__module__", None) or ""
    own_packages = {name.partition(".")[0] for name in record.modules}
    if module.partition(".")[0] in own_packages - {CORE_DISTRIBUTION}:
        record.modules.add(module)


def _misspelled_hooks(manager: pluggy.PluginManager, plugin: object) -> list[str]:
    """Hook implementations whose name matches no hookspec (pluggy's check_pending)."""
    known = [name for name in dir(hookspecs) if name.startswith("register_")]
    warnings = []
    for caller in manager.get_hookcallers(plugin) or []:
        if caller.spec is not None:
            continue
        close = difflib.get_close_matches(caller.name, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known hooks: {', '.join(known)}"
        warnings.append(f"hook '{caller.name}' matches no ganlab hook{hint}")
    return warnings


def _build_registry(manager: pluggy.PluginManager, records: list[PluginRecord]) -> Registry:
    registry = Registry()
    by_name = {r.name: r for r in records}
    for kind, hook in KIND_HOOKS.items():
        caller = getattr(manager.hook, hook)
        for impl in caller.get_hookimpls():
            record = by_name[impl.plugin_name]
            _call_register_hook(registry, kind, impl, record)
    registry.broken_plugins = [f"{r.name} ({r.error})" for r in records if r.error]
    return registry


def _call_register_hook(registry: Registry, kind: str, impl: Any, record: PluginRecord) -> None:
    added: list[Component] = []

    def register(name: str, factory: Any, *, description: str | None = None) -> None:
        if not isinstance(name, str) or not name or ":" in name:
            raise ValueError(f"invalid {kind} name {name!r} (a non-empty string without ':')")
        if isinstance(factory, str):
            factory = LazyFactory(factory, description)
            factory.owner = f"plugin {record.describe}"
        if not callable(factory):
            raise ValueError(f"the factory for {kind} '{name}' is not callable")
        _note_factory_module(record, factory)
        added.append(
            Component(
                kind=kind,
                name=name,
                factory=factory,
                description=description or _first_doc_line(factory),
                plugin=record.name,
                distribution=record.distribution,
                version=record.version,
            )
        )

    try:
        impl.function(**{arg: register for arg in impl.argnames})
    except Exception as exc:  # the plugin's bug, reported as its error row
        record.error = f"{KIND_HOOKS[kind]} raised {type(exc).__name__}: {exc}"
        return
    except (SystemExit, KeyboardInterrupt) as exc:
        if isinstance(exc, KeyboardInterrupt) and interrupts.received():
            raise
        record.error = (f"{KIND_HOOKS[kind]} called "
                        + (interrupts.describe_exit(exc) if isinstance(exc, SystemExit)
                           else "raised KeyboardInterrupt")
                        + ": a plugin must never stop ganlab")
        return
    for component in added:
        registry.add(component)


def _first_doc_line(factory: Any) -> str | None:
    doc = getattr(factory, "__doc__", None)
    return doc.strip().splitlines()[0] if doc and doc.strip() else None


def _raise_if_broken(records: list[PluginRecord]) -> None:
    problems = [f"plugin {r.describe} failed to load: {r.error}" for r in records if r.error]
    problems += [f"plugin {r.describe}: {w}" for r in records for w in r.warnings]
    if problems:
        raise PluginError(
            "Plugin problems (--strict-plugins turns these into errors): " + "; ".join(problems)
        )


def plugin_warnings(loaded: LoadedPlugins) -> list[str]:
    """One line per broken plugin or misspelled hook, for ``ganlab run`` to print."""
    lines = [f"warning: plugin {r.describe} failed to load: {r.error}" for r in loaded.errors]
    lines += [f"warning: plugin {r.describe}: {w}" for r in loaded.records for w in r.warnings]
    return lines
