"""Name → component registry, with provenance.

Every component records which plugin (and distribution, version) provided
it, so that an ambiguous name can name both providers and ``list-plugins``
can say who provides what.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ganlab.errors import ConfigError, GanlabError, PluginError

#: Component kinds, each filled by the ``register_<kind>s`` hook.
KINDS: tuple[str, ...] = (
    "dataset", "architecture", "loss", "regularizer", "callback", "metric", "feature_extractor"
)
#: The registration hook of each kind.
KIND_HOOKS: dict[str, str] = {
    "dataset": "register_datasets",
    "architecture": "register_architectures",
    "loss": "register_losses",
    "regularizer": "register_regularizers",
    "callback": "register_callbacks",
    "metric": "register_metrics",
    "feature_extractor": "register_feature_extractors",
}


class LazyFactory:
    """A factory named by ``"module:attribute"``, imported only when it is used.

    Registering ``register("grid", "my_plugin.grid:SampleGrid")`` (a string
    factory) wraps it in this class, so that loading the plugin imports
    neither the module nor what it imports (TensorFlow, Keras). The module is
    imported when the component is built, or when its parameters are checked
    against the factory's signature.

    Args:
        target: ``"package.module:attribute"``.
        description: One line for ``list-plugins``.

    """

    def __init__(self, target: str, description: str | None = None):
        module, sep, attribute = target.partition(":")
        if not sep or not module or not attribute:
            raise ValueError(f"a lazy factory is 'package.module:attribute', got {target!r}")
        self.target = target
        self.__doc__ = description
        self.owner: str | None = None  # "plugin 'x' (dist 1.0)", set when registered

    def load(self) -> Callable[..., Any]:
        """Import and return the real factory.

        Raises:
            PluginError: The module cannot be imported or lacks the attribute.

        """
        module_name, _, attribute = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except Exception as exc:
            owner = f" of {self.owner}" if self.owner else ""
            raise PluginError(f"The factory '{self.target}'{owner} cannot be imported: "
                              f"{type(exc).__name__}: {exc}") from exc

    @property
    def __signature__(self) -> inspect.Signature:
        """The real factory's signature (imports it), for the params check."""
        return inspect.signature(self.load())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Build the component with the real factory."""
        return self.load()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyFactory({self.target!r})"


@dataclass(frozen=True)
class Component:
    """One registered component.

    Attributes:
        kind: One of :data:`KINDS`.
        name: The name experiments use.
        factory: Called with the experiment's params to build the component.
        description: One line for ``list-plugins``.
        plugin: The plugin (entry-point or local module name) that registered it.
        distribution: The Python distribution that ships the plugin, if any.
        version: The distribution's version, if any.

    """

    kind: str
    name: str
    factory: Callable[..., Any]
    description: str | None
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def provider(self) -> str:
        """Human-readable provenance, e.g. ``plugin 'dcgan' (ganlab 0.1.0)``."""
        where = f" ({self.distribution} {self.version})" if self.distribution else ""
        return f"plugin '{self.plugin}'{where}"


@dataclass
class Registry:
    """All components registered by the loaded plugins.

    Attributes:
        broken_plugins: ``name: reason`` of plugins that failed to load, so
            unknown-name errors can point at them.

    """

    _components: dict[str, dict[str, list[Component]]] = field(
        default_factory=lambda: {kind: {} for kind in KINDS}
    )
    broken_plugins: list[str] = field(default_factory=list)

    def add(self, component: Component) -> None:
        """Record a component; duplicates are kept and reported when used."""
        if component.kind not in self._components:
            raise ValueError(f"unknown component kind {component.kind!r}")
        providers = self._components[component.kind].setdefault(component.name, [])
        providers.append(component)

    def names(self, kind: str) -> list[str]:
        """Sorted names registered for ``kind``."""
        return sorted(self._components[kind])

    def components(self, kind: str | None = None) -> list[Component]:
        """Every registered component (of one kind, or all), duplicates included."""
        kinds: Iterable[str] = [kind] if kind else KINDS
        return [c for k in kinds for providers in self._components[k].values() for c in providers]

    def resolve(self, kind: str, ref: str) -> Component:
        """Find the component ``ref`` (``name`` or ``plugin:name``) of ``kind``.

        Raises:
            PluginError: The name is unknown (with suggestions) or provided by
                more than one plugin (naming both).

        """
        plugin, _, name = ref.rpartition(":")
        providers = self._components[kind].get(name, [])
        if plugin:
            providers = [c for c in providers if c.plugin == plugin]
        if len(providers) == 1:
            return providers[0]
        if not providers:
            raise PluginError(self._unknown_message(kind, ref, plugin, name))
        listed = " and ".join(c.provider for c in providers)
        choices = ", ".join(f"'{c.plugin}:{name}'" for c in providers)
        raise PluginError(
            f"The {kind} name '{name}' is provided by more than one plugin: {listed}. "
            f"Say which one you mean with {choices}, or disable one of the plugins "
            "with --disable-plugin."
        )

    def create(self, kind: str, ref: str, params: Mapping[str, Any], **context: Any) -> Any:
        """Resolve ``ref`` and call its factory with ``params`` (and ``context``).

        Raises:
            ConfigError: The factory rejected the params (``TypeError`` or
                ``ValueError`` from the factory).
            PluginError: The factory failed in any other way.

        """
        component = self.resolve(kind, ref)
        try:
            return component.factory(**context, **dict(params))
        except GanlabError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"The {kind} '{component.name}' from {component.provider} rejected its "
                f"params {dict(params)!r}: {exc}"
            ) from exc
        except Exception as exc:
            raise PluginError(
                f"The {kind} '{component.name}' from {component.provider} failed while "
                f"being created: {type(exc).__name__}: {exc}"
            ) from exc

    def _unknown_message(self, kind: str, ref: str, plugin: str, name: str) -> str:
        known = self.names(kind)
        message = f"Unknown {kind} '{ref}'."
        close = difflib.get_close_matches(name, known, n=3)
        if close:
            message += " Did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
        if plugin and name in self._components[kind]:
            owners = ", ".join(c.plugin for c in self._components[kind][name])
            message += f" '{name}' is provided by: {owners}."
        plural = "losses" if kind == "loss" else f"{kind}s"
        message += f" Known {plural}: {', '.join(known) if known else 'none'}."
        if self.broken_plugins:
            message += (
                " These plugins failed to load and may have provided it: "
                + "; ".join(self.broken_plugins)
                + "."
            )
        return message
