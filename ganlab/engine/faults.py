"""Fault injection for reliability tests and ``benchmarks/kill_resume.py``.

**Test-only.** Nothing here does anything unless the environment variable
``GANLAB_FAULT`` is set, which no user should do. It lets a test make a real
``ganlab run`` process die (or fail) at an exact point, which a signal sent
from outside cannot hit reliably:

``GANLAB_FAULT="POINT:N[:ACTION]"`` (several separated by commas), where

- ``POINT`` is a named place in the engine:

  - ``step``: after global step ``N`` has been trained (and after any
    checkpoint due at that step was written);
  - ``checkpoint-write``: during the ``N``-th checkpoint written by this
    process, after its temporary file was written and before it is renamed
    into place;
  - ``checkpoint-rename``: during the ``N``-th checkpoint, after the rename
    but before ``latest.json`` is updated and old checkpoints are pruned;
  - ``epoch-end``: at the end of the ``N``-th epoch (1-based), after the
    epoch callbacks (sample grids) ran and before its checkpoint is written;
  - ``export``: during the ``N``-th model export (``generator.keras``), after
    its temporary file was written and before it is renamed into place.

- ``ACTION`` is ``kill`` (default: ``SIGKILL`` to this process, no clean-up
  of any kind runs), ``torn`` (at ``checkpoint-write`` only: cut the
  temporary file to half its length, as a kill in the middle of the write
  would leave it, then ``SIGKILL``), ``enospc`` (raise
  ``OSError(ENOSPC)``, as a full disk would), ``sigint`` or ``sigterm``
  (send that signal to this process, exercising the real handlers).

For ``step`` the count is the global step; for the other points it counts
the times the current run (or, outside a run, this process since the
variable last changed) passed the point.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter
from pathlib import Path

ENV_VAR = "GANLAB_FAULT"
POINTS = ("step", "checkpoint-write", "checkpoint-rename", "epoch-end", "export")
ACTIONS = ("kill", "torn", "enospc", "sigint", "sigterm")

_passes: Counter[str] = Counter()
_counted_for: list[str] = [""]  # the spec the counts belong to


def reset() -> None:
    """Start counting passes afresh (at the start of every run)."""
    _passes.clear()


def _parse(spec: str) -> list[tuple[str, int, str]]:
    """``"step:3,checkpoint-write:2:torn"`` → ``[(point, n, action), ...]``."""
    faults = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        fields = part.split(":")
        if len(fields) not in (2, 3) or fields[0] not in POINTS or not fields[1].isdigit():
            raise ValueError(f"{ENV_VAR}: cannot parse {part!r} (expected POINT:N[:ACTION] "
                             f"with POINT one of {', '.join(POINTS)})")
        action = fields[2] if len(fields) == 3 else "kill"
        if action not in ACTIONS:
            raise ValueError(f"{ENV_VAR}: unknown action {action!r} in {part!r} "
                             f"(expected one of {', '.join(ACTIONS)})")
        faults.append((fields[0], int(fields[1]), action))
    return faults


def due_steps(point: str) -> list[int]:
    """The counts ``N`` the configured faults name for ``point`` (none when unset).

    The training loop ends an execution of several steps at each of them,
    so that a ``step`` fault fires exactly after its step.
    """
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return []
    return [count for wanted, count, _ in _parse(spec) if wanted == point]


def fault_point(point: str, count: int | None = None, path: Path | None = None) -> None:
    """Fire the fault configured for ``point`` if this is its moment.

    Args:
        point: One of :data:`POINTS`.
        count: The position to compare with ``N`` (the global step for
            ``step``); default: how many times this process passed ``point``.
        path: The file being written (for the ``torn`` action).

    Raises:
        OSError: The ``enospc`` action.

    """
    spec = os.environ.get(ENV_VAR)
    if not spec:
        return
    if spec != _counted_for[0]:
        reset()
        _counted_for[0] = spec
    _passes[point] += 1
    position = _passes[point] if count is None else count
    for wanted_point, wanted, action in _parse(spec):
        if wanted_point == point and wanted == position:
            _fire(action, point, path)


def _fire(action: str, point: str, path: Path | None) -> None:
    if action == "enospc":
        raise OSError(errno.ENOSPC, f"No space left on device (injected by {ENV_VAR} at "
                                    f"{point})")
    if action == "torn" and path is not None and path.exists():
        with open(path, "r+b") as stream:
            stream.truncate(path.stat().st_size // 2)
    if action in ("sigint", "sigterm"):
        os.kill(os.getpid(), signal.SIGINT if action == "sigint" else signal.SIGTERM)
        return
    os.kill(os.getpid(), signal.SIGKILL)
