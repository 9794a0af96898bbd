"""Experiment files: loading, ``--set`` overrides, validation.

An experiment is YAML read with ``yaml.safe_load`` semantics only (tags that
would construct Python objects are rejected). It is validated in full before
TensorFlow does any work; every problem names the file, key path and line.
"""

from __future__ import annotations

import copy
import difflib
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ganlab.errors import ConfigError, GanlabError
from ganlab.schema import (
    REQUIRED,
    Field,
    Problem,
    at_least,
    greater_than,
    in_unit_interval,
    join_path,
    matches,
    validate_mapping,
)

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
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
    "boundaries_epochs": Field((list,), items=Field((int,), check=at_least(1)),
                               check=_increasing, doc="epochs where the factor changes"),
    "factors": Field((list,), items=Field((float,), check=greater_than(0)),
                     doc="one factor more than boundaries"),
})

EXPERIMENT_SCHEMA: dict[str, Field] = {
    "name": Field((str,), doc="run name; the run directory is runs/<name>",
                  check=matches(r"[A-Za-z0-9][A-Za-z0-9_.-]*",
                                "letters, digits, '_', '.', '-' (a folder name)")),
    "description": Field((str,), default=""),
    "seed": Field((int,), default=0, check=at_least(0)),
    "run_dir": Field((str,), default=None, nullable=True,
                     doc="run directory (default runs/<name>)"),
    "plugins": Field((list,), default=[], items=Field((str,)),
                     doc="local plugin modules or .py files this experiment needs"),
    "dataset": _component("the dataset"),
    "architecture": _component("generator and discriminator", required=False),
    "generator": _component("generator from another architecture", required=False),
    "discriminator": _component("discriminator from another architecture", required=False),
    "loss": _component("the paired GAN loss"),
    "optimizers": Field((dict,), default={}, schema={
        "generator": _adam(2e-4),
        "discriminator": _adam(2e-4),
        "schedule": SCHEDULE,
    }),
    "train": Field((dict,), doc="training loop settings", schema={
        "epochs": Field((int,), check=at_least(1)),
        "batch_size": Field((int,), check=at_least(1)),
        "steps_per_epoch": Field((int,), default=None, nullable=True, check=at_least(1),
                                 doc="cap on steps per epoch (default: one pass)"),
        "d_steps": Field((int,), default=1, check=at_least(1),
                         doc="discriminator updates per generator update"),
        "shuffle_buffer": Field((int,), default=10000, check=at_least(0)),
        "cache": Field((bool,), default=None, nullable=True,
                       doc="cache decoded images in memory (default: when small)"),
        "deterministic": Field((bool,), default=False,
                               doc="op determinism and fixed data order (bit-identical resume)"),
        "jit_compile": Field((bool,), default=False, doc="XLA-compile the train step"),
        "steps_per_execution": Field((int,), default=1, check=at_least(1),
                                     doc="train steps per call to TensorFlow (one host wait "
                                         "each); cut short at epoch ends and step checkpoints"),
        "precision": Field((str,), default="float32", choices=PRECISIONS),
        "strategy": Field((str,), default="default", choices=STRATEGIES),
        "devices": Field((list,), default=None, nullable=True, items=Field((str,)),
                         doc="devices for the mirrored strategy"),
        "verbose": Field((int,), default=1, choices=(0, 1, 2)),
        "metrics_every_n_epochs": Field((int,), default=1, check=at_least(1),
                                        doc="how often the experiment's metrics are scored"),
    }),
    "latents": Field((dict,), default={}, schema={
        "bank_size": Field((int,), default=64, check=at_least(1),
                           doc="fixed, numbered latents saved with the run"),
    }),
    "checkpoint": Field((dict,), default={}, schema={
        "every_n_epochs": Field((int,), default=1, check=at_least(1)),
        "every_n_steps": Field((int,), default=None, nullable=True, check=at_least(1),
                               doc="also checkpoint every N steps, mid-epoch (crash recovery)"),
        "keep_last": Field((int,), default=3, check=at_least(1)),
        "keep_every_n_epochs": Field((int,), default=None, nullable=True, check=at_least(1)),
    }),
    "callbacks": Field((list,), default=[], items=_component("a callback")),
    "metrics": Field((list,), default=[], items=_component("a metric")),
}

#: Keys that may change when an existing run directory is resumed.
RESUMABLE_CHANGES = ("train.epochs", "train.verbose", "train.metrics_every_n_epochs",
                     "train.steps_per_execution",
                     "callbacks", "metrics", "checkpoint",
                     "dataset.params.source", "dataset.params.tfrecords", "dataset.params.workers",
                     "description", "plugins", "run_dir")


@dataclass
class Experiment:
    """A validated experiment.

    Attributes:
        path: The file it came from (``None`` when built from data).
        config: The resolved config: defaults filled in, overrides applied.
        overrides: The ``--set`` strings applied.

    """

    path: Path | None
    config: dict[str, Any]
    overrides: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The experiment name."""
        return self.config["name"]

    @property
    def base_dir(self) -> Path:
        """Folder relative plugin paths in the file are relative to."""
        return self.path.parent if self.path else Path.cwd()

    def run_dir(self) -> Path:
        """The run directory: ``run_dir`` if given, else ``runs/<name>``."""
        return Path(self.config["run_dir"] or Path("runs") / self.name)

    def generator_block(self) -> dict[str, Any]:
        """The component block the generator comes from."""
        return self.config["generator"] or self.config["architecture"]

    def discriminator_block(self) -> dict[str, Any]:
        """The component block the discriminator comes from."""
        return self.config["discriminator"] or self.config["architecture"]


# -- loading ---------------------------------------------------------------------------------
def load_experiment(path: str | Path, overrides: Sequence[str] = ()) -> Experiment:
    """Read, override and validate an experiment file.

    Raises:
        ConfigError: The file is missing, not YAML, or invalid; the message
            lists every problem with key path and line.

    """
    path = Path(path)
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
    return Experiment(path=path, config=config, overrides=tuple(overrides))


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


# -- YAML with line numbers --------------------------------------------------------------------
def parse_yaml(text: str, where: str) -> tuple[Any, dict[str, int]]:
    """``yaml.safe_load`` the text and map each key path to its line (1-based).

    Raises:
        ConfigError: Not valid YAML, or a tag that would build a Python object.

    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{where}: unsupported YAML tag{line} ({exc.problem}). Experiment "
                          "files are plain data: tags that construct Python objects are "
                          "refused.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: not valid YAML{line}: {problem}.") from None
    lines: dict[str, int] = {}
    if node is not None:
        _collect_lines(node, "", lines, where)
    return data, lines


def _collect_lines(node: yaml.Node, path: str, lines: dict[str, int],
                   where: str = "<experiment>") -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = join_path(path, str(key_node.value))
            if child in lines and key_node.value != "<<":
                # yaml.safe_load silently keeps the last of duplicate keys.
                raise ConfigError(f"{where}: key '{child}' appears twice (lines {lines[child]} "
                                  f"and {key_node.start_mark.line + 1}); YAML would silently "
                                  "keep only the last one. Merge them into one.")
            lines[child] = key_node.start_mark.line + 1
            _collect_lines(value_node, child, lines, where)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = join_path(path, index)
            lines[child] = item.start_mark.line + 1
            _collect_lines(item, child, lines, where)


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
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {override!r}: the value is not valid YAML ({exc}).") from None
    parts = key.strip().split(".")
    node: Any = data
    shown = ""
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
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
    problems = []
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
