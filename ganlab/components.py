"""Building an experiment's components from the registry.

The core knows components only by kind and name: it resolves the names the
experiment gives and calls the factories with the experiment's params.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ganlab.contracts import REGULARIZED_NETWORKS
from ganlab.errors import ConfigError, GanlabError, PluginError
from ganlab.experiment import Experiment, check_params, raise_if_problems
from ganlab.registry import Registry
from ganlab.schema import Problem
from ganlab.settings import ComponentSettings, thaw


@dataclass(frozen=True)
class Selection:
    """One component block of the experiment: where it is and what it names."""

    kind: str
    path: str
    block: ComponentSettings
    context: tuple[str, ...] = ()


def selections(experiment: Experiment) -> list[Selection]:
    """Every component block of the experiment, with its key path."""
    settings = experiment.settings
    arch_context = ("image_shape",)
    chosen = [Selection("dataset", "dataset", settings.dataset),
              Selection("loss", "loss", settings.loss)]
    for key in ("architecture", "generator", "discriminator"):
        block = getattr(settings, key)
        if block:
            chosen.append(Selection("architecture", key, block, arch_context))
    chosen += [Selection("regularizer", f"regularizers[{i}]", block)
               for i, block in enumerate(settings.regularizers)]
    chosen += [Selection("callback", f"callbacks[{i}]", block)
               for i, block in enumerate(settings.callbacks)]
    chosen += [Selection("metric", f"metrics[{i}]", block)
               for i, block in enumerate(settings.metrics)]
    return chosen


def check_components(experiment: Experiment, registry: Registry) -> None:
    """Resolve every component name and check its params against its factory.

    Raises:
        PluginError: A name is unknown or ambiguous.
        ConfigError: Params that the factory does not accept, or missing ones.

    """
    problems: list[Problem] = []
    for selection in selections(experiment):
        component = registry.resolve(selection.kind, selection.block.name)
        problems += check_params(component.factory, thaw(selection.block.params),
                                 f"{selection.path}.params", selection.context)
    raise_if_problems(experiment, problems)


def build_dataset(experiment: Experiment, registry: Registry) -> Any:
    """The experiment's dataset object (see the dataset hook's contract)."""
    return create(registry, "dataset", experiment.settings.dataset)


def build_architectures(experiment: Experiment, registry: Registry,
                        image_shape: tuple[int, int, int]) -> tuple[Any, Any]:
    """The architecture objects providing the generator and the discriminator."""
    g_block = experiment.settings.generator_block
    d_block = experiment.settings.discriminator_block
    g_arch = create(registry, "architecture", g_block, image_shape=tuple(image_shape))
    d_arch = g_arch if d_block is g_block else create(registry, "architecture", d_block,
                                                      image_shape=tuple(image_shape))
    for arch, path in ((g_arch, "generator"), (d_arch, "discriminator")):
        if not hasattr(arch, f"build_{path}"):
            raise ConfigError(f"The architecture chosen for the {path} has no build_{path}().")
    return g_arch, d_arch


def build_networks(experiment: Experiment, registry: Registry, g_arch: Any, d_arch: Any
                   ) -> tuple[Any, Any]:
    """``build_generator()`` and ``build_discriminator()``, errors blamed on their plugin."""
    settings = experiment.settings
    return (build_network(registry, g_arch, "generator", settings.generator_block.name),
            build_network(registry, d_arch, "discriminator", settings.discriminator_block.name))


def build_network(registry: Registry, architecture: Any, role: str, name: str,
                  purpose: str = "") -> Any:
    """``architecture.build_<role>()``; anything it raises is blamed on its plugin.

    Args:
        registry: Where the architecture ``name`` was resolved.
        architecture: The architecture object.
        role: ``generator`` or ``discriminator``.
        name: The architecture's registered name (its experiment block's).
        purpose: Words for the message, e.g. ``building the EMA generator``.

    Raises:
        PluginError: The builder raised something other than a ganlab error.

    """
    try:
        return getattr(architecture, f"build_{role}")()
    except GanlabError:
        raise
    except Exception as exc:
        component = registry.resolve("architecture", name)
        where = f" ({purpose}). " if purpose else ". Check its params; "
        raise PluginError(
            f"The architecture '{component.name}' from {component.provider} raised "
            f"{type(exc).__name__}: {exc} in build_{role}(){where}--debug shows the "
            "traceback.") from exc


def build_loss(experiment: Experiment, registry: Registry) -> Any:
    """The experiment's paired loss."""
    return create(registry, "loss", experiment.settings.loss)


def build_regularizers(experiment: Experiment, registry: Registry) -> list[Any]:
    """The experiment's regularizers, in file order, their contract's attributes checked.

    Raises:
        PluginError: A regularizer lacks ``penalty()`` or has an invalid
            ``weight``, ``interval`` or ``applies_to``.

    """
    built = []
    for block in experiment.settings.regularizers:
        regularizer = create(registry, "regularizer", block)
        problem = regularizer_contract_problem(regularizer)
        if problem:
            component = registry.resolve("regularizer", block.name)
            raise PluginError(f"The regularizer '{component.name}' from {component.provider} "
                              f"breaks the regularizer contract: {problem}.")
        built.append(regularizer)
    return built


def regularizer_contract_problem(regularizer: Any) -> str | None:
    """What is wrong with a regularizer's ``weight``/``interval``/``applies_to``/``penalty``."""
    weight = getattr(regularizer, "weight", None)
    interval = getattr(regularizer, "interval", None)
    applies_to = getattr(regularizer, "applies_to", None)
    if not callable(getattr(regularizer, "penalty", None)):
        return "it has no penalty(inputs) method"
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
            or not math.isfinite(weight):
        return f"its weight must be a finite number, not {weight!r}"
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        return f"its interval must be a whole number >= 1, not {interval!r}"
    if applies_to not in REGULARIZED_NETWORKS:
        return (f"its applies_to must be one of {', '.join(REGULARIZED_NETWORKS)}, "
                f"not {applies_to!r}")
    return None


def build_callbacks(experiment: Experiment, registry: Registry) -> list[Any]:
    """The experiment's plugin callbacks, in file order."""
    return [create(registry, "callback", block) for block in experiment.settings.callbacks]


def build_metrics(experiment: Experiment, registry: Registry) -> list[Any]:
    """The experiment's metrics, in file order."""
    return [create(registry, "metric", block) for block in experiment.settings.metrics]


def create(registry: Registry, kind: str, block: ComponentSettings, **context: Any) -> Any:
    """Call the factory ``block`` names with its params (as plain, mutable YAML data)."""
    return registry.create(kind, block.name, thaw(block.params), **context)
