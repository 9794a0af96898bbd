"""A module's ``main`` run in a fresh Python process that answers with one JSON line.

The classifier trains in a child (on demand, and for the CAS metric) so that
the caller's TensorFlow state stays as it was: training seeds Keras' global
generators and turns on op determinism. The child filters TensorFlow's
start-up notices as the CLI does, and prints its outcome as its last stdout
line: ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChildOutcome:
    """What a child answered.

    Attributes:
        returncode: Its exit status.
        answer: Its last stdout line as JSON (``{}`` when there was none).
        stderr_tail: The last lines of its standard error, when captured.

    """

    returncode: int
    answer: dict[str, Any]
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether it exited 0 and said so."""
        return self.returncode == 0 and bool(self.answer.get("ok"))


def run_json_child(module: str, args: Sequence[str], *,
                   capture_stderr: bool = False) -> ChildOutcome:
    """Run ``module.main()`` with ``args`` as ``sys.argv[1:]`` in a fresh process.

    Args:
        module: The module whose ``main()`` to run.
        args: Its command-line arguments.
        capture_stderr: Keep its standard error (else it goes to ours, so its
            progress shows).

    """
    code = ("from ganlab.quiet import install; install(); "
            f"from {module} import main; raise SystemExit(main())")
    child = subprocess.run([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE if capture_stderr else None, text=True,
                           check=False)
    lines = child.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        answer = {}
    tail = (child.stderr or "").strip().splitlines()[-3:]
    return ChildOutcome(child.returncode, answer if isinstance(answer, dict) else {}, tail)
