"""Building an experiment's components from the registry.

The core knows components only by kind and name: it resolves the names the
experiment gives and calls the factories with the experiment's params.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganlab.errors import ConfigError, GanlabError, PluginError
from ganlab.experiment import Experiment, check_params, raise_if_problems
from ganlab.registry import Registry
from ganlab.schema import Problem


@dataclass(frozen=True)
class Selection:
    """One component block of the experiment: where it is and what it names."""

    kind: str
    path: str
    block: dict[str, Any]
    context: tuple[str, ...] = ()


def selections(experiment: Experiment) -> list[Selection]:
    """Every component block of the experiment, with its key path."""
    config = experiment.config
    arch_context = ("image_shape",)
    chosen = [Selection("dataset", "dataset", config["dataset"]),
              Selection("loss", "loss", config["loss"])]
    for key in ("architecture", "generator", "discriminator"):
        if config[key]:
            chosen.append(Selection("architecture", key, config[key], arch_context))
    chosen += [Selection("callback", f"callbacks[{i}]", block)
               for i, block in enumerate(config["callbacks"])]
    chosen += [Selection("metric", f"metrics[{i}]", block)
               for i, block in enumerate(config["metrics"])]
    return chosen


def check_components(experiment: Experiment, registry: Registry) -> None:
    """Resolve every component name and check its params against its factory.

    Raises:
        PluginError: A name is unknown or ambiguous.
        ConfigError: Params that the factory does not accept, or missing ones.

    """
    problems: list[Problem] = []
    for selection in selections(experiment):
        component = registry.resolve(selection.kind, selection.block["name"])
        problems += check_params(component.factory, selection.block["params"],
                                 f"{selection.path}.params", selection.context)
    raise_if_problems(experiment, problems)


def build_dataset(experiment: Experiment, registry: Registry) -> Any:
    """The experiment's dataset object (see the dataset hook's contract)."""
    block = experiment.config["dataset"]
    return registry.create("dataset", block["name"], block["params"])


def build_architectures(experiment: Experiment, registry: Registry,
                        image_shape: tuple[int, int, int]) -> tuple[Any, Any]:
    """The architecture objects providing the generator and the discriminator."""
    g_block = experiment.generator_block()
    d_block = experiment.discriminator_block()
    g_arch = registry.create("architecture", g_block["name"], g_block["params"],
                             image_shape=tuple(image_shape))
    d_arch = g_arch if d_block is g_block else registry.create(
        "architecture", d_block["name"], d_block["params"], image_shape=tuple(image_shape))
    for arch, path in ((g_arch, "generator"), (d_arch, "discriminator")):
        if not hasattr(arch, f"build_{path}"):
            raise ConfigError(f"The architecture chosen for the {path} has no build_{path}().")
    return g_arch, d_arch


def build_networks(experiment: Experiment, registry: Registry, g_arch: Any, d_arch: Any
                   ) -> tuple[Any, Any]:
    """``build_generator()`` and ``build_discriminator()``, errors blamed on their plugin."""
    built = []
    for arch, role, block in ((g_arch, "generator", experiment.generator_block()),
                              (d_arch, "discriminator", experiment.discriminator_block())):
        try:
            built.append(getattr(arch, f"build_{role}")())
        except GanlabError:
            raise
        except Exception as exc:
            component = registry.resolve("architecture", block["name"])
            raise PluginError(
                f"The architecture '{component.name}' from {component.provider} raised "
                f"{type(exc).__name__}: {exc} in build_{role}(). Check its params; --debug "
                "shows the traceback.") from exc
    return built[0], built[1]


def build_loss(experiment: Experiment, registry: Registry) -> Any:
    """The experiment's paired loss."""
    block = experiment.config["loss"]
    return registry.create("loss", block["name"], block["params"])


def build_callbacks(experiment: Experiment, registry: Registry) -> list[Any]:
    """The experiment's plugin callbacks, in file order."""
    return [registry.create("callback", block["name"], block["params"])
            for block in experiment.config["callbacks"]]


def build_metrics(experiment: Experiment, registry: Registry) -> list[Any]:
    """The experiment's metrics, in file order."""
    return [registry.create("metric", block["name"], block["params"])
            for block in experiment.config["metrics"]]
