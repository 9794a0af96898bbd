"""The tables a run writes, read as hostile input.

``history.csv``, ``metrics.csv``, ``score_specs.json`` and ``metrics.json``:
each reader takes the file's path and a ``warn`` callback; a bad row or
record is skipped with a warning naming the file, a bad file is skipped
whole, and nothing raises. Files are read through :mod:`ganlab.compare.files`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganlab.compare.files import MAX_SMALL_FILE, MAX_TABLE_FILE, read_json_object, read_text
from ganlab.contracts import ScoreSpec
from ganlab.evaluation.scores import spec_from_json

#: Most ``metric/score`` curves (``metrics.csv``) and evaluated scores kept per run.
MAX_SCORES_PER_RUN = 100
#: Most ``history.csv`` rows read (epochs).
MAX_HISTORY_ROWS = 100_000
#: Longest metric, score or config text kept (characters).
MAX_NAME = 200

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Evaluation:
    """One ``metrics.json`` record, checked.

    Attributes:
        metric: The metric's name.
        scores: Score name → finite value.
        protocol: How the scores were measured (plain JSON data).
        specs: Score name → what it means (direction, range), when recorded.
        generator: ``ema`` or ``raw`` when the record says which generator it scored.

    """

    metric: str
    scores: dict[str, float]
    protocol: dict[str, Any]
    specs: dict[str, ScoreSpec] = field(default_factory=dict)
    generator: str = ""


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite int or float (not a bool), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _number(text: Any) -> float | None:
    """A CSV cell as a number (``nan`` and ``inf`` included); ``None`` when it is not one."""
    if not isinstance(text, str) or not text.strip() or len(text) > 64:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _csv_rows(path: Path, warn: Warn) -> list[dict[Any, Any]] | None:
    text = read_text(path, MAX_TABLE_FILE, warn)
    if text is None:
        return None
    try:
        return list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        warn(f"{path} is not a readable CSV file ({exc}); skipped it.")
        return None


def read_history(path: Path, warn: Warn) -> list[dict[str, float]]:
    """``history.csv`` rows with their numeric fields, in epoch order.

    A row without a whole, positive epoch, or with more fields than the
    header, is skipped (with a warning); non-numeric cells are left out of
    their row. A diverged loss (``nan``) stays: it is what happened.
    """
    rows = _csv_rows(path, warn)
    if rows is None:
        return []
    history, skipped = [], 0
    for row in rows[:MAX_HISTORY_ROWS]:
        epoch = _number(row.get("epoch"))
        if None in row or epoch is None or not math.isfinite(epoch) or epoch < 0 \
                or epoch != int(epoch) or epoch >= 10**9:
            skipped += 1
            continue
        numbers = {str(k)[:MAX_NAME]: n for k, n in ((k, _number(v)) for k, v in row.items())
                   if n is not None}
        history.append(numbers)
    if skipped:
        warn(f"{path}: skipped {skipped} row(s) without a whole epoch number or with more "
             "fields than the header.")
    if len(rows) > MAX_HISTORY_ROWS:
        warn(f"{path}: read the first {MAX_HISTORY_ROWS:,} of its {len(rows):,} rows.")
    return sorted(history, key=lambda row: row["epoch"])


def read_curves(path: Path, warn: Warn) -> dict[str, list[tuple[int, float]]]:
    """``metrics.csv`` as ``metric/score`` → ``[(epoch, value), ...]`` in epoch order.

    Rows whose epoch is not whole or whose value is not a finite number are
    skipped; after :data:`MAX_SCORES_PER_RUN` distinct scores the rest are left out.
    """
    rows = _csv_rows(path, warn)
    if rows is None:
        return {}
    curves: dict[str, list[tuple[int, float]]] = {}
    skipped, dropped = 0, set()
    for row in rows:
        value, epoch = _number(row.get("value")), _number(row.get("epoch"))
        metric, score = row.get("metric"), row.get("score")
        if None in row or value is None or epoch is None or not math.isfinite(value) \
                or not math.isfinite(epoch) or epoch != int(epoch) \
                or not isinstance(metric, str) or not isinstance(score, str):
            skipped += 1
            continue
        key = f"{metric[:MAX_NAME]}/{score[:MAX_NAME]}"
        if key not in curves and len(curves) >= MAX_SCORES_PER_RUN:
            dropped.add(key)
            continue
        curves.setdefault(key, []).append((int(epoch), value))
    if skipped:
        warn(f"{path}: skipped {skipped} row(s) without a whole epoch, a finite value, a "
             "metric and a score.")
    if dropped:
        warn(f"{path}: kept the first {MAX_SCORES_PER_RUN} scores, left out {len(dropped)} "
             "more.")
    return {key: sorted(points) for key, points in curves.items()}


def read_specs(path: Path, warn: Warn) -> dict[str, ScoreSpec]:
    """``score_specs.json`` (``{"metrics": {metric: {score: spec}}}``): ``metric/score`` → spec."""
    data = read_json_object(path, MAX_SMALL_FILE, warn)
    metrics = data.get("metrics", {})
    if not isinstance(metrics, dict):
        warn(f"{path}: 'metrics' is not a mapping; ignored it.")
        return {}
    specs = {}
    for metric, scores in list(metrics.items())[:MAX_SCORES_PER_RUN]:
        for score, raw in (scores.items() if isinstance(scores, dict) else []):
            spec = spec_from_json(raw)
            if spec is None:
                warn(f"{path}: the spec of {metric}/{score} is damaged; ignored it.")
            else:
                specs[f"{str(metric)[:MAX_NAME]}/{str(score)[:MAX_NAME]}"] = spec
    return specs


def read_evaluations(path: Path, warn: Warn) -> list[Evaluation]:
    """``metrics.json``: the newest checked record per metric (bad records skipped)."""
    data = read_json_object(path, MAX_TABLE_FILE, warn)
    if not data:
        return []
    records = data.get("records")
    if not isinstance(records, list):
        warn(f"{path}: 'records' is not a list; skipped the file.")
        return []
    checked, skipped = [], 0
    for record in records:
        evaluation = _evaluation(record)
        if evaluation is None:
            skipped += 1
        else:
            checked.append((record, evaluation))
    if skipped:
        warn(f"{path}: skipped {skipped} record(s) that are not a metric name with finite "
             "scores and a protocol mapping.")
    newest = newest_records(checked)
    kept, total = [], 0
    for evaluation in newest:
        total += len(evaluation.scores)
        if total > MAX_SCORES_PER_RUN:
            warn(f"{path}: kept the first {MAX_SCORES_PER_RUN} scores, left out the rest.")
            break
        kept.append(evaluation)
    return kept


def _evaluation(record: Any) -> Evaluation | None:
    """A ``metrics.json`` record checked field by field; ``None`` when it is not usable."""
    if not isinstance(record, dict) or not isinstance(record.get("metric"), str):
        return None
    scores, protocol = record.get("scores"), record.get("protocol", {})
    if not isinstance(scores, dict) or not isinstance(protocol, dict):
        return None
    values = {str(k)[:MAX_NAME]: v for k, v in scores.items()
              if finite(v) is not None}
    if not values or len(values) != len(scores) or len(values) > MAX_SCORES_PER_RUN:
        return None
    raw_specs = record.get("score_specs", {})
    specs = {str(k): s for k, s in ((k, spec_from_json(v)) for k, v in
                                    (raw_specs.items() if isinstance(raw_specs, dict) else []))
             if s is not None}
    generator = record.get("generator", protocol.get("generator", ""))
    truncation = protocol.get("truncation")
    if isinstance(generator, str) and finite(truncation) is not None:
        # Truncated samples are another measurement: their own column and record.
        generator = f"{generator or 'raw'} T={float(truncation):g}"
    return Evaluation(record["metric"][:MAX_NAME], {k: float(v) for k, v in values.items()},
                      protocol, specs, generator if isinstance(generator, str) else "")


def _rank(record: Mapping[str, Any], evaluation: Evaluation) -> tuple[int, str]:
    epoch = evaluation.protocol.get("epoch")
    at = record.get("evaluated_at", "")
    return (epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else 0,
            at if isinstance(at, str) else "")


def newest_records(records: list[tuple[dict[str, Any], Evaluation]]) -> list[Evaluation]:
    """One evaluation per metric (and generator): the latest epoch, then the latest evaluation."""
    newest: dict[tuple[str, str], tuple[tuple[int, str], Evaluation]] = {}
    for record, evaluation in records:
        key = (evaluation.metric, evaluation.generator)
        rank = _rank(record, evaluation)
        held = newest.get(key)
        if held is None or rank >= held[0]:
            newest[key] = (rank, evaluation)
    return [evaluation for _, evaluation in newest.values()]


# -- directions and protocols ------------------------------------------------------------------
def best_of(spec: ScoreSpec | None, points: list[tuple[int, float]]) -> tuple[int, float] | None:
    """The best ``(epoch, value)`` of a curve, for scores with a known direction."""
    if not points or spec is None or spec.higher_is_better is None:
        return None
    pick = max if spec.higher_is_better else min
    return pick(points, key=lambda p: p[1])


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_protocol(protocol: Mapping[str, Any]) -> str:
    """A record's protocol in one line (extractor, samples, split, size, seed, epoch)."""
    if not protocol:
        return ""

    def field_(key: str) -> str:
        value = protocol.get(key, "?")
        return str(value)[:MAX_NAME] if value not in (None, "") else "?"

    size = protocol.get("image_size", [])
    size = "x".join(str(s) for s in size[:4]) if isinstance(size, list) else "?"
    weights = str(protocol.get("weights_sha256", "") or "")[:8]
    generator = protocol.get("generator")
    return (f"{field_('extractor')}" + (f" ({weights})" if weights else "")
            + f", {field_('num_fake')} fake vs {field_('num_real')} {field_('real_split')}, "
            f"{size}, resize {field_('resize')}, seed {field_('seed')}, epoch {field_('epoch')}"
            + (f", {str(generator)[:20]} generator" if generator else ""))
