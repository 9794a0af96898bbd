"""Experiment files: loading, ``--set`` overrides, validation.

An experiment is YAML read with ``yaml.safe_load`` semantics only (tags that
would construct Python objects are rejected). It is validated in full before
TensorFlow does any work; every problem names the file, key path and line.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganlab.config_yaml import (  # noqa: F401 - parse_yaml and the bounds are public here too
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_VALUES,
    compose_bounded,
    load_yaml_data,
    parse_command_line_value,
    parse_yaml,
)
from ganlab.contracts import AUGMENTATIONS
from ganlab.errors import ConfigError, GanlabError
from ganlab.schema import (
    MAX_BANK_SIZE,
    MAX_COUNT,
    MAX_LATENT_DIM,
    MAX_SEED,
    REQUIRED,
    Field,
    Problem,
    between,
    describe_type,
    describe_value,
    greater_than,
    in_open_unit_interval,
    in_unit_interval,
    join_path,
    matches,
    validate_mapping,
)
from ganlab.settings import ExperimentSettings, settings_from_document

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
#: Discriminator updates per generator update.
MAX_D_STEPS = 100
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def _component(doc: str, required: bool = True) -> Field:
    return Field(
        (dict,),
        default=REQUIRED if required else None,
        nullable=not required,
        doc=doc,
        schema={
            "name": Field((str,), doc="registered name, or plugin:name"),
            "params": Field((dict,), default={}, open_mapping=True,
                            doc="keyword arguments of the component's factory"),
        },
    )


def _increasing(values: list[int]) -> str | None:
    ok = all(b > a for a, b in zip(values, values[1:], strict=False))
    return None if ok else "expected strictly increasing epochs"


def _adam(lr: float) -> Field:
    return Field((dict,), default={}, doc="Adam settings", schema={
        "learning_rate": Field((float,), default=lr, check=greater_than(0)),
        "beta_1": Field((float,), default=0.5, check=in_unit_interval),
        "beta_2": Field((float,), default=0.999, check=in_unit_interval),
        "epsilon": Field((float,), default=1e-7, check=greater_than(0)),
    })


SCHEDULE = Field((dict,), default=None, nullable=True,
                 doc="piecewise-constant learning-rate factors by epoch", schema={
    "boundaries_epochs": Field((list,), items=Field((int,), check=between(1, MAX_COUNT)),
                               check=_increasing, doc="epochs where the factor changes"),
    "factors": Field((list,), items=Field((float,), check=greater_than(0)),
                     doc="one factor more than boundaries"),
})

EXPERIMENT_SCHEMA: dict[str, Field] = {
    "name": Field((str,), doc="run name; the run directory is runs/<name>",
                  check=matches(r"[A-Za-z0-9][A-Za-z0-9_.-]*",
                                "letters, digits, '_', '.', '-' (a folder name)")),
    "description": Field((str,), default=""),
    "seed": Field((int,), default=0, check=between(0, MAX_SEED)),
    "run_dir": Field((str,), default=None, nullable=True,
                     doc="run directory (default runs/<name>)"),
    "plugins": Field((list,), default=[], items=Field((str,)),
                     doc="local plugin modules or .py files this experiment needs"),
    "requires": Field((list,), default=[], items=Field((str,)),
                      doc="plugin distributions this experiment needs, e.g. ganlab-foo>=0.2"),
    "dataset": _component("the dataset"),
    "architecture": _component("generator and discriminator", required=False),
    "generator": _component("generator from another architecture", required=False),
    "discriminator": _component("discriminator from another architecture", required=False),
    "loss": _component("the paired GAN loss"),
    "regularizers": Field((list,), default=[], items=_component("a regularizer"),
                          doc="penalties added to D's (or G's) loss, e.g. "
                              "[{name: r1, params: {gamma: 1.0, interval: 16}}]"),
    "optimizers": Field((dict,), default={}, schema={
        "generator": _adam(2e-4),
        "discriminator": _adam(2e-4),
        "schedule": SCHEDULE,
    }),
    "train": Field((dict,), doc="training loop settings", schema={
        "epochs": Field((int,), check=between(1, MAX_COUNT)),
        "batch_size": Field((int,), check=between(1, MAX_COUNT)),
        "steps_per_epoch": Field((int,), default=None, nullable=True,
                                 check=between(1, MAX_COUNT),
                                 doc="cap on steps per epoch (default: one pass)"),
        "d_steps": Field((int,), default=1, check=between(1, MAX_D_STEPS),
                         doc="discriminator updates per generator update"),
        "shuffle_buffer": Field((int,), default=10000, check=between(0, MAX_COUNT)),
        "augment": Field((list,), default=[], items=Field((str,), choices=AUGMENTATIONS),
                         doc="DiffAugment transformations of every image D sees, real and "
                             "generated (for small datasets), e.g. [translation, cutout]"),
        "cache": Field((bool,), default=None, nullable=True,
                       doc="cache decoded images in memory (default: when small)"),
        "deterministic": Field((bool,), default=False,
                               doc="op determinism and fixed data order (bit-identical resume)"),
        "jit_compile": Field((bool,), default=False, doc="XLA-compile the train step"),
        "steps_per_execution": Field((int,), default=1, check=between(1, 10_000),
                                     doc="train steps per call to TensorFlow (one host wait "
                                         "each); cut short at epoch ends and step checkpoints"),
        "precision": Field((str,), default="float32", choices=PRECISIONS),
        "strategy": Field((str,), default="default", choices=STRATEGIES),
        "devices": Field((list,), default=None, nullable=True, items=Field((str,)),
                         doc="devices for the mirrored strategy"),
        "verbose": Field((int,), default=1, choices=(0, 1, 2)),
        "metrics_every_n_epochs": Field((int,), default=1, check=between(1, MAX_COUNT),
                                        doc="how often the experiment's metrics are scored"),
        "ema": Field((dict,), default=None, nullable=True,
                     doc="generator EMA: a shadow generator averaging G's weights, "
                         "sampled from and scored by default (null: none)",
                     schema={
                         "decay": Field((float,), default=0.999, check=in_open_unit_interval,
                                        doc="EMA decay per generator update"),
                         "start_step": Field((int,), default=0, check=between(0, MAX_COUNT),
                                             doc="generator updates during which the "
                                                 "shadow copies G"),
                     }),
    }),
    "latents": Field((dict,), default={}, schema={
        "bank_size": Field((int,), default=64, check=between(1, MAX_BANK_SIZE),
                           doc="fixed, numbered latents saved with the run"),
    }),
    "checkpoint": Field((dict,), default={}, schema={
        "every_n_epochs": Field((int,), default=1, check=between(1, MAX_COUNT)),
        "every_n_steps": Field((int,), default=None, nullable=True, check=between(1, MAX_COUNT),
                               doc="also checkpoint every N steps, mid-epoch (crash recovery)"),
        "keep_last": Field((int,), default=3, check=between(1, MAX_COUNT)),
        "keep_every_n_epochs": Field((int,), default=None, nullable=True,
                                     check=between(1, MAX_COUNT)),
    }),
    "callbacks": Field((list,), default=[], items=_component("a callback")),
    "metrics": Field((list,), default=[], items=_component("a metric")),
}

#: Keys that may change when an existing run directory is resumed.
RESUMABLE_CHANGES = ("train.epochs", "train.verbose", "train.metrics_every_n_epochs",
                     "train.steps_per_execution",
                     "callbacks", "metrics", "checkpoint",
                     "dataset.params.source", "dataset.params.tfrecords", "dataset.params.workers",
                     "description", "plugins", "requires", "run_dir")


@dataclass(frozen=True)
class Experiment:
    """A validated experiment.

    Attributes:
        path: The file it came from (``None`` when built from data).
        config: The resolved document: defaults filled in, overrides applied
            (plain YAML data: what a run's ``config.yaml`` holds and plugins
            see as ``RunContext.config``).
        settings: The same, typed (:mod:`ganlab.settings`): what the core reads.
        overrides: The ``--set`` strings applied.

    """

    path: Path | None
    config: dict[str, Any]
    settings: ExperimentSettings
    overrides: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The experiment name."""
        return self.settings.name

    @property
    def base_dir(self) -> Path:
        """Folder relative plugin paths in the file are relative to."""
        return self.path.parent if self.path else Path.cwd()

    def run_dir(self) -> Path:
        """The run directory: ``run_dir`` if given, else ``runs/<name>``."""
        return Path(self.settings.run_dir or Path("runs") / self.name)


# -- loading ---------------------------------------------------------------------------------
def refuse_undecodable_path(path: Path) -> None:
    """Refuse an experiment path that is not valid UTF-8, before anything is read or written.

    The path is written into the run directory (``config.yaml``, ``run.json``)
    and shown in messages; bytes that are no text cannot be.

    Raises:
        ConfigError: The path (file or folder names) is not UTF-8.

    """
    text = os.fspath(path.absolute())
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise ConfigError(f"The experiment file's path {shown} is not valid UTF-8 (a file "
                          "or folder name in another encoding): ganlab records it in the run "
                          "directory as text. Rename the file (or its folder) to a UTF-8 "
                          "name, e.g. with `convmv`, and run again.") from None


def load_experiment(path: str | Path, overrides: Sequence[str] = ()) -> Experiment:
    """Read, override and validate an experiment file.

    Raises:
        ConfigError: The file is missing, not YAML, or invalid; the message
            lists every problem with key path and line.

    """
    path = Path(path)
    refuse_undecodable_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Experiment file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read experiment file {path}: {exc}.") from None
    data, lines = parse_yaml(text, str(path))
    return experiment_from_data(data, path=path, overrides=overrides, lines=lines)


def experiment_from_data(data: Any, *, path: Path | None = None, overrides: Sequence[str] = (),
                         lines: Mapping[str, int] | None = None) -> Experiment:
    """Validate already-parsed experiment data (see :func:`load_experiment`)."""
    where = str(path) if path else "<experiment>"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the experiment must be a YAML mapping of keys "
                          f"(name, dataset, ...), received {type(data).__name__}.")
    data = copy.deepcopy(data)
    lines = dict(lines or {})
    for override in overrides:
        key_path = apply_override(data, override)
        lines[key_path] = -1
    problems: list[Problem] = []
    config = validate_mapping(data, EXPERIMENT_SCHEMA, "", problems)
    if not problems:
        problems.extend(_cross_checks(config))
    if problems:
        raise ConfigError(format_problems(where, problems, lines))
    return Experiment(path=path, config=config, settings=settings_from_document(config),
                      overrides=tuple(overrides))


def with_defaults(document: Mapping[str, Any]) -> dict[str, Any]:
    """A resolved document with the keys it lacks (added to ganlab since) set to their defaults.

    The keys it has keep their values, whatever they are; nothing is checked.
    """
    return _merge_defaults(document, validate_mapping(document, EXPERIMENT_SCHEMA, "", []))


def _merge_defaults(document: Any, filled: Any) -> Any:
    """``document``'s values where it has them, ``filled``'s (the defaults) elsewhere."""
    if not (isinstance(document, Mapping) and isinstance(filled, Mapping)):
        return document
    merged = {key: _merge_defaults(document[key], value) if key in document else value
              for key, value in filled.items()}
    merged.update({key: value for key, value in document.items() if key not in filled})
    return merged


def _cross_checks(config: dict[str, Any]) -> list[Problem]:
    problems = []
    if config["architecture"] is None and not (config["generator"] and config["discriminator"]):
        problems.append(Problem("architecture", "missing: give 'architecture', or both "
                                                "'generator' and 'discriminator'"))
    schedule = config["optimizers"]["schedule"]
    if schedule and len(schedule["factors"]) != len(schedule["boundaries_epochs"]) + 1:
        problems.append(Problem("optimizers.schedule.factors",
                                f"expected {len(schedule['boundaries_epochs']) + 1} factors "
                                "(one more than boundaries_epochs), received "
                                f"{len(schedule['factors'])}"))
    return problems


def format_problems(where: str, problems: Sequence[Problem], lines: Mapping[str, int]) -> str:
    """One paragraph listing every problem as ``path (line N): message``."""
    parts = []
    for problem in problems:
        line = problem.line if problem.line is not None else _line_for(problem.path, lines)
        at = " (from --set)" if line == -1 else (f" (line {line})" if line else "")
        parts.append(f"{problem.path or '<top>'}{at}: {problem.message}")
    noun = "problem" if len(problems) == 1 else "problems"
    return f"{where}: {len(problems)} {noun} in the experiment: " + "; ".join(parts) + "."


def _line_for(path: str, lines: Mapping[str, int]) -> int | None:
    """The line of ``path`` or of its nearest parent that has one."""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None


# -- overrides ---------------------------------------------------------------------------------
def apply_override(data: dict[str, Any], override: str) -> str:
    """Apply ``a.b.c=value`` (value parsed as YAML) to ``data``; return the key path.

    List items are addressed by index: ``callbacks.0.params.rows=4``.

    Raises:
        ConfigError: The override is malformed or walks through a non-container.

    """
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected KEY.PATH=VALUE, e.g. "
                          "--set train.epochs=5.")
    try:
        value = parse_command_line_value(raw, f"--set {override!r}")
    except ConfigError as exc:
        raise ConfigError(f"--set {override!r}: the value is not valid YAML ({exc}).") from None
    parts = key.strip().split(".")
    node: Any = data
    shown = ""
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(node, list):
            # isdigit() accepts '²'; only ASCII digits are an index.
            if not (part.isascii() and part.isdigit()) or int(part) >= len(node):
                raise ConfigError(f"--set {override!r}: '{shown}' is a list of {len(node)} "
                                  f"items; '{part}' is not a valid index.")
            index = int(part)
            shown = join_path(shown, index)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"--set {override!r}: '{shown}' is not a mapping, cannot set "
                              f"'{part}' inside it.")
        shown = join_path(shown, part)
        if last:
            node[part] = value
        else:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
    return shown


# -- component params, checked against factory signatures --------------------------------------
def check_params(factory: Any, params: Mapping[str, Any], path: str,
                 context: Sequence[str] = ()) -> list[Problem]:
    """Problems binding ``params`` (plus ``context`` names) to the factory's signature."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return []
    accepted = [p for p in signature.parameters.values() if p.name not in context]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted):
        return []
    names = [p.name for p in accepted if p.kind is not inspect.Parameter.VAR_POSITIONAL
             and p.name != "self"]
    problems = _annotation_problems(factory, params, path, names)
    for key in params:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(Problem(join_path(path, key),
                                    f"unknown parameter '{key}'{hint}; expected one of: "
                                    f"{', '.join(names) or 'none'}"))
    for parameter in accepted:
        if (parameter.default is inspect.Parameter.empty and parameter.name not in params
                and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL,)):
            problems.append(Problem(join_path(path, parameter.name),
                                    f"missing required parameter '{parameter.name}'"))
    return problems


#: Plain annotation types whose values ``check_params`` checks (others are the factory's job).
_PLAIN_TYPES: dict[Any, tuple[type, ...]] = {
    int: (int,), float: (float, int), str: (str,), bool: (bool,), type(None): (type(None),),
    Path: (str,), list: (list,), dict: (dict,),
}


def _annotation_problems(factory: Any, params: Mapping[str, Any], path: str,
                         names: Sequence[str]) -> list[Problem]:
    """Params whose value has the wrong plain type for the factory's annotation.

    ``image_size: int`` given ``32.0`` would pass a ``value in (28, 32, 64)``
    test and fail later, inside TensorFlow; it is refused here. Params named
    ``latent_dim`` are bounded by :data:`~ganlab.schema.MAX_LATENT_DIM`.
    """
    hints = _type_hints(factory)
    problems = []
    for key, value in params.items():
        if key not in names:
            continue
        if key == "latent_dim" and isinstance(value, int) and not isinstance(value, bool) \
                and not 1 <= value <= MAX_LATENT_DIM:
            problems.append(Problem(join_path(path, key), f"expected a latent size from 1 to "
                                    f"{MAX_LATENT_DIM:,}, received {describe_value(value)}"))
        accepted = _accepted_types(hints.get(key))
        if accepted is None or _plain_type_ok(value, accepted):
            continue
        plain = tuple(t for t in accepted if t is not type(None))
        problems.append(Problem(join_path(path, key),
                                f"expected {describe_type(plain, len(plain) < len(accepted))}, "
                                f"received {describe_value(value)}"))
    return problems


def _type_hints(factory: Any) -> dict[str, Any]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # noqa: BLE001 - annotations a plugin cannot resolve: not checked
        return {}


def _accepted_types(hint: Any) -> tuple[type, ...] | None:
    """The plain types ``hint`` allows, or ``None`` when it is not only plain types."""
    if hint is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = typing.get_args(hint)
    elif origin in (list, dict):
        parts = (origin,)
    else:
        parts = (hint,)
    if not all(part in _PLAIN_TYPES for part in parts):
        return None
    return tuple(dict.fromkeys(t for part in parts for t in _PLAIN_TYPES[part]))


def _plain_type_ok(value: Any, accepted: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in accepted
    return isinstance(value, accepted)


def raise_if_problems(experiment: Experiment, problems: Sequence[Problem]) -> None:
    """Raise a :class:`ConfigError` listing ``problems`` with their lines, if any."""
    if not problems:
        return
    lines: dict[str, int] = {}
    if experiment.path is not None:
        try:
            _, lines = parse_yaml(experiment.path.read_text(encoding="utf-8"), "")
        except GanlabError:
            lines = {}
    for override in experiment.overrides:
        lines[override.partition("=")[0].strip()] = -1
    raise ConfigError(format_problems(str(experiment.path or "<experiment>"), problems, lines))
