"""The typed experiment configuration: frozen dataclasses produced by validation.

:func:`ganlab.experiment.experiment_from_data` validates the YAML document
against :data:`ganlab.experiment.EXPERIMENT_SCHEMA` (every problem with its
key path and line), then builds :class:`ExperimentSettings` from the
validated document with :func:`settings_from_document`. The core reads the
experiment through it (``experiment.settings.train.deterministic``); the
resolved document itself stays a plain mapping, as written to a run's
``config.yaml`` and given to plugins as ``RunContext.config``.

Every class mirrors one mapping of the schema, key for key (a test checks
that they stay in step), and is frozen: lists become tuples and component
params read-only mappings.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ComponentSettings:
    """A component chosen by name: ``{name: ..., params: {...}}``.

    Attributes:
        name: The registered name, or ``plugin:name``.
        params: Keyword arguments of the component's factory (read-only).

    """

    name: str
    params: Mapping[str, Any]

    def as_block(self) -> dict[str, Any]:
        """The block as the plain mapping the YAML holds (params copied)."""
        return {"name": self.name, "params": thaw(self.params)}


@dataclass(frozen=True)
class AdamSettings:
    """One Adam optimizer."""

    learning_rate: float
    beta_1: float
    beta_2: float
    epsilon: float


@dataclass(frozen=True)
class ScheduleSettings:
    """Piecewise-constant learning-rate factors by epoch (one more factor than boundaries)."""

    boundaries_epochs: tuple[int, ...]
    factors: tuple[float, ...]


@dataclass(frozen=True)
class OptimizerSettings:
    """Both optimizers and their shared schedule."""

    generator: AdamSettings
    discriminator: AdamSettings
    schedule: ScheduleSettings | None


@dataclass(frozen=True)
class EmaSettings:
    """The generator EMA (``train.ema``): a shadow generator averaging G's weights.

    Attributes:
        decay: The EMA decay, in (0, 1) (BigGAN: 0.9999; 0.999 for short runs).
        start_step: Generator updates during which the shadow copies G.

    """

    decay: float
    start_step: int


@dataclass(frozen=True)
class TrainSettings:
    """The training loop (meanings: the schema's ``train`` docs, docs/experiments.md)."""

    epochs: int
    batch_size: int
    steps_per_epoch: int | None
    d_steps: int
    shuffle_buffer: int
    augment: tuple[str, ...]
    cache: bool | None
    deterministic: bool
    jit_compile: bool
    steps_per_execution: int
    precision: str
    strategy: str
    devices: tuple[str, ...] | None
    verbose: int
    metrics_every_n_epochs: int
    ema: EmaSettings | None


@dataclass(frozen=True)
class LatentSettings:
    """The run's fixed latent bank."""

    bank_size: int


@dataclass(frozen=True)
class CheckpointSettings:
    """When checkpoints are written and which are kept."""

    every_n_epochs: int
    every_n_steps: int | None
    keep_last: int
    keep_every_n_epochs: int | None


@dataclass(frozen=True)
class ExperimentSettings:
    """A whole validated experiment, typed."""

    name: str
    description: str
    seed: int
    run_dir: str | None
    plugins: tuple[str, ...]
    requires: tuple[str, ...]
    dataset: ComponentSettings
    architecture: ComponentSettings | None
    generator: ComponentSettings | None
    discriminator: ComponentSettings | None
    loss: ComponentSettings
    regularizers: tuple[ComponentSettings, ...]
    optimizers: OptimizerSettings
    train: TrainSettings
    latents: LatentSettings
    checkpoint: CheckpointSettings
    callbacks: tuple[ComponentSettings, ...]
    metrics: tuple[ComponentSettings, ...]

    @property
    def generator_block(self) -> ComponentSettings:
        """The component the generator comes from (``generator``, else ``architecture``)."""
        block = self.generator or self.architecture
        assert block is not None  # validation requires one of them
        return block

    @property
    def discriminator_block(self) -> ComponentSettings:
        """The component the discriminator comes from."""
        block = self.discriminator or self.architecture
        assert block is not None  # validation requires one of them
        return block


def settings_from_document(document: Mapping[str, Any]) -> ExperimentSettings:
    """The typed settings of a validated experiment document.

    Args:
        document: The output of schema validation (every key present, types
            checked).

    """
    return _build(ExperimentSettings, document)


def _build(cls: type, data: Mapping[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{field.name: _convert(hints[field.name], data[field.name])
                  for field in dataclasses.fields(cls)})


def _convert(hint: Any, value: Any) -> Any:
    """``value`` as the type ``hint`` names (dataclasses built, lists frozen)."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (hint,) = [part for part in typing.get_args(hint) if part is not type(None)]
        return _convert(hint, value)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, part) for part in value)
    if origin is Mapping:
        return freeze(value)
    return value


def freeze(value: Any) -> Any:
    """A read-only deep copy of YAML data (mappings become read-only, lists tuples)."""
    if isinstance(value, Mapping):
        return types.MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """The plain YAML data of a :func:`freeze` result (dicts and lists again)."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value
