"""``RUN_DIR/metrics.json``: every evaluation of a run, each with its protocol.

The file (format 1)::

    {"format": 1,
     "records": [
       {"metric": "fid",
        "scores": {"fid": 12.34},
        "details": {},
        "protocol": {"metric": "fid", "extractor": "domain", "weights_sha256": "...",
                     "num_fake": 10000, "num_real": 10000, "real_split": "test",
                     "image_size": [32, 32, 1], "resize": "none", "seed": 0, "epoch": 20,
                     "samples": "generator"},
        "score_specs": {"fid": {"higher_is_better": false, "minimum": 0.0, "maximum": null}},
        "evaluated_at": "2026-12-01T20:00:00Z"}]}

``score_specs`` (written when the metric declares them, see
:class:`ganlab.ScoreSpec`) says which way each score is better and its range.

A new record replaces an older one with an identical protocol (the same
measurement, taken again); records of any other protocol are kept. The file
is rewritten atomically, so a failed evaluation never damages it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ganlab.contracts import ScoreSpec
from ganlab.errors import RunDirectoryError
from ganlab.evaluation.results import MetricResult
from ganlab.rundir import write_json_atomic

#: File name inside a run directory.
METRICS_JSON = "metrics.json"
#: Value of the file's ``format`` key.
FORMAT = 1


def utc_timestamp(moment: datetime | None = None) -> str:
    """``2026-12-01T20:00:00Z``: UTC, whole seconds."""
    moment = (moment or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_record(result: MetricResult, evaluated_at: str | None = None,
                specs: Mapping[str, ScoreSpec] | None = None) -> dict[str, Any]:
    """One ``metrics.json`` record for ``result`` (with its metric's score specs, if any)."""
    record = {"metric": result.protocol.metric,
              "scores": {name: float(value) for name, value in result.scores.items()},
              "details": _plain(result.details),
              "protocol": result.protocol.as_dict(),
              "evaluated_at": evaluated_at or utc_timestamp()}
    if specs:
        record["score_specs"] = {name: spec.as_dict() for name, spec in specs.items()
                                 if name in result.scores}
    return record


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``metrics.json`` (none when the file does not exist).

    Raises:
        RunDirectoryError: The file is unreadable, not JSON, or of another format.

    """
    path = Path(path)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirectoryError(f"Cannot read {path}: {exc}. Move it aside (it is rewritten "
                                "from scratch then) or repair it.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT \
            or not isinstance(data.get("records"), list):
        raise RunDirectoryError(f"{path} is not a ganlab metrics file of format {FORMAT} "
                                "(expected {\"format\": 1, \"records\": [...]}). Move it aside "
                                "to let 'ganlab evaluate' start a new one.")
    return [record for record in data["records"] if isinstance(record, dict)]


def merge_records(existing: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]]
                  ) -> list[dict[str, Any]]:
    """``existing`` without the records ``new`` measures again, then ``new``.

    Two records measure the same thing when their protocols are identical.
    """
    replaced = {_protocol_key(record) for record in new}
    kept = [record for record in existing if _protocol_key(record) not in replaced]
    return kept + list(new)


def write_records(path: str | Path, new: Sequence[dict[str, Any]]) -> Path:
    """Merge ``new`` into the ``metrics.json`` at ``path`` and write it atomically."""
    path = Path(path)
    records = merge_records(read_records(path), new)
    write_json_atomic(path, {"format": FORMAT, "records": records})
    return path


def _protocol_key(record: dict[str, Any]) -> str:
    return json.dumps(record.get("protocol"), sort_keys=True)


def _plain(value: Any) -> Any:
    """``value`` as plain JSON data (numpy scalars and arrays, tuples → lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    return value
