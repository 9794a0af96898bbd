"""The sweep's axes and their expansion into named runs.

A grid axis (``--grid loss.name=bce,hinge``) lists values; a range
(``--range optimizers.generator.learning_rate=1e-5:1e-3:log``) is sampled
``--random N`` times from a seeded generator, so the same command always
draws the same values. Every random draw is crossed with every grid point
(e.g. N learning rates × 3 seeds). Each run is a set of ``--set`` overrides
and a readable name made from them (``loss-hinge_seed-2``).
"""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ganlab.config_yaml import parse_command_line_value
from ganlab.errors import ConfigError

#: Range scales: uniform, log-uniform, uniform integers.
SCALES = ("linear", "log", "int")
#: Significant digits kept of a random draw (the value trained is the value shown).
DRAW_DIGITS = 4
#: Key parts too generic to name an axis on their own (``loss.name`` → ``loss``).
GENERIC_PARTS = ("name", "params", "value")
#: Most runs one sweep may have, counted before anything is expanded: each is a
#: training run, a folder and a row of ``sweep.json``.
MAX_RUNS = 10_000


@dataclass(frozen=True)
class RangeAxis:
    """A range sampled by ``--random N``.

    Attributes:
        key: The experiment key path.
        low: Lower bound (inclusive).
        high: Upper bound.
        scale: ``linear``, ``log`` or ``int``.

    """

    key: str
    low: float
    high: float
    scale: str = "linear"

    def draw(self, rng: random.Random) -> Any:
        """One value from the range."""
        if self.scale == "int":
            return rng.randint(int(self.low), int(self.high))
        if self.scale == "log":
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return float(f"{value:.{DRAW_DIGITS}g}")

    def to_json(self) -> dict[str, Any]:
        """The range as recorded in ``sweep.json``."""
        return {"key": self.key, "low": self.low, "high": self.high, "scale": self.scale}


@dataclass(frozen=True)
class SweepAxes:
    """Everything that decides a sweep's runs.

    Attributes:
        grid: ``(key, values)`` per grid axis, in command-line order.
        ranges: Ranges drawn ``random_count`` times.
        random_count: Number of random draws (0: grid only).
        random_seed: Seed of the draws.

    """

    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    ranges: tuple[RangeAxis, ...] = ()
    random_count: int = 0
    random_seed: int = 0

    def to_json(self) -> dict[str, Any]:
        """The axes as recorded in ``sweep.json``."""
        return {"grid": {key: list(values) for key, values in self.grid},
                "random": {"count": self.random_count, "seed": self.random_seed,
                           "ranges": [r.to_json() for r in self.ranges]}}


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep.

    Attributes:
        name: Folder name under the sweep directory.
        overrides: Experiment key path → value, in axis order.

    """

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)

    def set_options(self) -> list[str]:
        """The run's overrides as ``KEY=VALUE`` strings for ``ganlab run --set``."""
        return [f"{key}={format_value(value)}" for key, value in self.overrides.items()]


# -- parsing the command line ------------------------------------------------------------------
def parse_value(raw: str) -> Any:
    """A value as ``--set`` reads it (:func:`ganlab.config_yaml.parse_command_line_value`)."""
    try:
        return parse_command_line_value(raw.strip(), f"sweep value {raw!r}")
    except ConfigError as exc:
        raise ConfigError(f"Sweep value {raw!r} is not valid YAML ({exc}).") from None


def format_value(value: Any) -> str:
    """``value`` written so that YAML (``--set``) reads back exactly the same value."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    return text[:-3].strip() if text.endswith("...") else text


def split_values(text: str) -> list[str]:
    """Split on commas outside brackets and braces (``[1, 2],[3, 4]`` is two values)."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _key_and_rest(option: str, flag: str, example: str) -> tuple[str, str]:
    key, sep, rest = option.partition("=")
    key = key.strip()
    if not sep or not key or not rest.strip() or not re.fullmatch(r"[A-Za-z0-9_.-]+", key):
        raise ConfigError(f"{flag} {option!r}: expected KEY.PATH={example}.")
    if key in ("name", "run_dir"):
        raise ConfigError(f"{flag} {option!r}: the sweep names each run and gives it its own "
                          "run directory; sweep other keys.")
    return key, rest


def parse_grid(option: str) -> tuple[str, tuple[Any, ...]]:
    """``KEY=v1,v2,...`` → ``(key, values)``.

    Raises:
        ConfigError: Malformed, or a value repeated.

    """
    key, rest = _key_and_rest(option, "--grid", "V1,V2,... e.g. --grid loss.name=bce,hinge")
    raws = split_values(rest)
    if len(raws) > MAX_RUNS:  # before parsing each one
        raise ConfigError(f"--grid {key}=... lists {len(raws):,} values, more than the "
                          f"{MAX_RUNS:,} runs a sweep may have.")
    values = tuple(parse_value(raw) for raw in raws)
    if len({format_value(v) for v in values}) != len(values):
        raise ConfigError(f"--grid {option!r}: a value is listed twice.")
    return key, values


def parse_range(option: str) -> RangeAxis:
    """``KEY=LOW:HIGH[:SCALE]`` → :class:`RangeAxis`.

    Raises:
        ConfigError: Malformed bounds or scale.

    """
    key, rest = _key_and_rest(option, "--range", "LOW:HIGH[:log|linear|int], e.g. "
                                                 "--range optimizers.generator.learning_rate="
                                                 "1e-5:1e-3:log")
    parts = rest.split(":")
    scale = parts[2].strip() if len(parts) == 3 else "linear"
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise ConfigError(f"--range {option!r}: expected LOW:HIGH[:SCALE] with numbers, e.g. "
                          "1e-5:1e-3:log.") from None
    if scale not in SCALES:
        raise ConfigError(f"--range {option!r}: scale {scale!r} is not one of "
                          f"{', '.join(SCALES)}.")
    if not low < high or (scale == "log" and low <= 0):
        raise ConfigError(f"--range {option!r}: need LOW < HIGH"
                          + (" and LOW > 0 on a log scale." if scale == "log" else "."))
    return RangeAxis(key, low, high, scale)


def make_axes(grid: tuple[str, ...], ranges: tuple[str, ...], random_count: int,
              random_seed: int) -> SweepAxes:
    """Parse and cross-check the sweep options.

    Raises:
        ConfigError: A key swept twice, ranges without ``--random``, or nothing to sweep.

    """
    grid_axes = tuple(parse_grid(option) for option in grid)
    range_axes = tuple(parse_range(option) for option in ranges)
    keys = [key for key, _ in grid_axes] + [r.key for r in range_axes]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ConfigError(f"The sweep sets {', '.join(repeated)} more than once: give each key "
                          "one --grid or one --range.")
    if range_axes and random_count < 1:
        raise ConfigError("--range needs --random N (how many values to draw).")
    if random_count and not range_axes:
        raise ConfigError("--random N needs at least one --range KEY=LOW:HIGH[:SCALE].")
    if not keys:
        raise ConfigError("Nothing to sweep: give --grid KEY=V1,V2,... and/or --random N with "
                          "--range KEY=LOW:HIGH[:SCALE].")
    axes = SweepAxes(grid_axes, range_axes, random_count, random_seed)
    check_size(axes)
    return axes


def run_count(axes: SweepAxes) -> int:
    """How many runs ``axes`` expand to (random draws × grid points), without expanding them."""
    return max(1, axes.random_count) * math.prod(len(values) for _, values in axes.grid)


def check_size(axes: SweepAxes) -> None:
    """Refuse a sweep of more than :data:`MAX_RUNS` runs before it is expanded.

    Raises:
        ConfigError: Too many runs; the message shows the product.

    """
    count = run_count(axes)
    if count <= MAX_RUNS:
        return
    factors = ([f"{axes.random_count:,} random draws"] if axes.random_count else []) + [
        f"{len(values):,} {key}" for key, values in axes.grid]
    raise ConfigError(f"The sweep would have {count:,} runs ({' × '.join(factors)}), more than "
                      f"the {MAX_RUNS:,} a sweep may have: each run is a whole training run. "
                      "Sweep fewer values (or fewer --random draws), or split the study into "
                      "several sweeps.")


# -- expansion ---------------------------------------------------------------------------------
def expand(axes: SweepAxes) -> list[RunSpec]:
    """Every run of the sweep: each random draw × each grid point, named from its values.

    Raises:
        ConfigError: More than :data:`MAX_RUNS` runs (checked before expanding).

    """
    check_size(axes)
    rng = random.Random(axes.random_seed)
    draws: list[dict[str, Any]] = [{}]
    if axes.random_count:
        draws = [{r.key: r.draw(rng) for r in axes.ranges} for _ in range(axes.random_count)]
    grid_keys = [key for key, _ in axes.grid]
    points = [dict(zip(grid_keys, combo, strict=True))
              for combo in itertools.product(*(values for _, values in axes.grid))]
    labels = key_labels(grid_keys + [r.key for r in axes.ranges])
    runs, used = [], set()
    for index, draw in enumerate(draws):
        prefix = f"r{index:0{len(str(len(draws) - 1))}d}_" if axes.random_count else ""
        for point in points:
            overrides = {**draw, **point}
            name = unique(prefix + run_label(overrides, labels), used)
            used.add(name)
            runs.append(RunSpec(name, overrides))
    return runs


def key_labels(keys: list[str]) -> dict[str, str]:
    """A short label per key: its last part (``loss.name`` → ``loss``), full when ambiguous."""
    def short(key: str) -> str:
        parts = key.split(".")
        while len(parts) > 1 and parts[-1] in GENERIC_PARTS:
            parts.pop()
        return parts[-1]

    shorts = [short(key) for key in keys]
    return {key: (label if shorts.count(label) == 1 else key)
            for key, label in zip(keys, shorts, strict=True)}


def value_token(value: Any) -> str:
    """A value as a folder-name fragment (``0.0002``, ``hinge``, ``True``)."""
    text = f"{value:g}".replace("e+", "e") if isinstance(value, float) else format_value(value)
    return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9_.-]", "-", text)).strip("-") or "empty"


def run_label(overrides: dict[str, Any], labels: dict[str, str]) -> str:
    """``loss-hinge_seed-2``: the run's overrides as a folder name."""
    return "_".join(f"{labels[key]}-{value_token(value)}" for key, value in overrides.items())


def unique(name: str, used: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3`` ... when it is taken."""
    candidate, number = name, 2
    while candidate in used:
        candidate, number = f"{name}-{number}", number + 1
    return candidate
