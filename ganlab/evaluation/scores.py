"""A metric's scores checked against its contract, and what each score means.

A metric returns score name → finite real number, and may declare in
``score_specs`` which way each score is better and its range
(:class:`ganlab.ScoreSpec`). Anything else is the metric's bug: the same
checks run in training, in ``ganlab evaluate`` and in
``ganlab.testing.check_metric``, and raise a :class:`PluginError` naming
the metric and the plugin that provides it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ganlab.contracts import ScoreSpec
from ganlab.errors import PluginError

#: File beside ``metrics.csv``: what each training-time score means (direction, range).
SCORE_SPECS_JSON = "score_specs.json"
#: Most scores one metric may return.
MAX_SCORES = 64
#: Longest score name, in characters.
MAX_SCORE_NAME = 100
#: Slack on a declared range (floating-point rounding, e.g. a FID of -1e-12).
RANGE_TOLERANCE = 1e-6


def metric_label(metric: Any, registry: Any = None) -> str:
    """``The metric 'NAME' from PLUGIN`` (its provider found in ``registry`` when given)."""
    name = str(getattr(metric, "name", "") or type(metric).__name__)
    if registry is not None:
        for component in registry.components("metric"):
            if component.name == name or component.factory is type(metric):
                return f"The metric '{component.name}' from {component.provider}"
    kind = type(metric)
    return f"The metric '{name}' ({kind.__module__}.{kind.__qualname__})"


def declared_specs(metric: Any, who: str) -> dict[str, ScoreSpec]:
    """The metric's ``score_specs`` (empty when it declares none).

    Raises:
        PluginError: ``score_specs`` is not a mapping of score names to ``ScoreSpec``.

    """
    specs = getattr(metric, "score_specs", None)
    if specs is None:
        return {}
    if not isinstance(specs, Mapping) or not all(
            isinstance(k, str) and isinstance(v, ScoreSpec) for k, v in specs.items()):
        raise PluginError(f"{who}: score_specs is {_short(specs)}; it must map score names to "
                          "ganlab.ScoreSpec(higher_is_better=..., minimum=..., maximum=...).")
    return dict(specs)


def checked_scores(result: Any, who: str, specs: Mapping[str, ScoreSpec] | None = None
                   ) -> dict[str, float]:
    """The scores of a metric's return value, each a finite float within its declared range.

    Args:
        result: What ``compute`` returned: a mapping of scores or an object
            with a ``scores`` mapping (:class:`ganlab.evaluation.MetricResult`).
        who: The metric, for messages (:func:`metric_label`).
        specs: Its declared score specs.

    Raises:
        PluginError: Not a non-empty mapping of string names to finite real
            numbers, or a value outside its declared range.

    """
    scores = getattr(result, "scores", result)
    if not isinstance(scores, Mapping) or not scores:
        raise PluginError(f"{who} returned {_short(result)} from compute(); it must return a "
                          "non-empty dict of score name → number (or a MetricResult).")
    if len(scores) > MAX_SCORES:
        raise PluginError(f"{who} returned {len(scores)} scores; at most {MAX_SCORES} are "
                          "accepted (put the rest into a MetricResult's details).")
    checked: dict[str, float] = {}
    for name, value in scores.items():
        if not isinstance(name, str) or not name or len(name) > MAX_SCORE_NAME \
                or not name.isprintable():
            raise PluginError(f"{who} returned a score named {_short(name)}; score names are "
                              f"non-empty printable strings of at most {MAX_SCORE_NAME} "
                              "characters.")
        number = _finite(value)
        if number is None:
            raise PluginError(f"{who} returned {_short(value)} for the score '{name}'; scores "
                              "must be finite real numbers (int or float, not NaN or inf).")
        spec = (specs or {}).get(name)
        if spec is not None and not within(number, spec):
            raise PluginError(f"{who} returned {number:g} for the score '{name}', outside the "
                              f"range it declares ({describe_range(spec)}).")
        checked[name] = number
    return checked


def _finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite real number (numpy scalars included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        # A 0-d numpy array (``item``) or eager tensor (``numpy``) holds one number.
        if getattr(value, "shape", None) != ():
            return None
        for method in ("item", "numpy"):
            if callable(getattr(value, method, None)):
                inner = getattr(value, method)()
                return None if inner is value else _finite(inner)
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def within(value: float, spec: ScoreSpec) -> bool:
    """Whether ``value`` lies in the spec's range (with :data:`RANGE_TOLERANCE` slack)."""
    low, high = spec.minimum, spec.maximum
    return ((low is None or value >= low - RANGE_TOLERANCE * max(1.0, abs(low)))
            and (high is None or value <= high + RANGE_TOLERANCE * max(1.0, abs(high))))


def describe_range(spec: ScoreSpec) -> str:
    """``[0, inf)``-style text of a spec's range."""
    low = "-inf" if spec.minimum is None else f"{spec.minimum:g}"
    high = "inf" if spec.maximum is None else f"{spec.maximum:g}"
    opening = "(" if spec.minimum is None else "["
    closing = ")" if spec.maximum is None else "]"
    return f"{opening}{low}, {high}{closing}"


def write_score_specs(run_dir: Path, metrics: Sequence[Any], registry: Any = None
                      ) -> dict[int, tuple[str, dict[str, ScoreSpec]]]:
    """Write ``RUN_DIR/score_specs.json`` for a run's metrics; return each one's label and specs.

    The file: ``{"format": 1, "metrics": {metric: {score: {"higher_is_better": ...,
    "minimum": ..., "maximum": ...}}}}``.

    Raises:
        PluginError: A metric's ``score_specs`` is malformed.

    """
    from ganlab.rundir import write_json_atomic

    found: dict[int, tuple[str, dict[str, ScoreSpec]]] = {}
    written: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        who = metric_label(metric, registry)
        specs = declared_specs(metric, who)
        found[id(metric)] = (who, specs)
        written[str(getattr(metric, "name", type(metric).__name__))] = specs_json(specs)
    write_json_atomic(Path(run_dir) / SCORE_SPECS_JSON, {"format": 1, "metrics": written})
    return found


def specs_json(specs: Mapping[str, ScoreSpec]) -> dict[str, dict[str, Any]]:
    """Score specs as plain JSON data."""
    return {name: spec.as_dict() for name, spec in specs.items()}


def spec_from_json(data: Any) -> ScoreSpec | None:
    """A spec read back from a run directory; ``None`` when the data is not one."""
    if not isinstance(data, Mapping):
        return None
    try:
        return ScoreSpec(higher_is_better=data.get("higher_is_better"),
                         minimum=data.get("minimum"), maximum=data.get("maximum"))
    except (TypeError, ValueError):
        return None


def _short(value: Any, limit: int = 80) -> str:
    """``repr`` of a value, cut to ``limit`` characters (a plugin may return anything)."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit - 3] + "..."
