"""What the benchmarks share: measurements in a fresh process, and the results file.

A measurement that needs its own peak memory (``ru_maxrss``) or a clean
TensorFlow runs in a child: the benchmark script runs itself again with
``--child MEASURE ARGS_JSON`` and prints one JSON line, which the parent reads.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

Child = Callable[[dict[str, Any]], dict[str, Any]]


def in_child(script: str, measure: str, args: Mapping[str, Any],
             env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``script --child measure args`` in a fresh Python process; its JSON result."""
    done = subprocess.run([sys.executable, script, "--child", measure, json.dumps(args)],
                          capture_output=True, text=True, check=False,
                          env=dict(env) if env is not None else None)
    if done.returncode:
        raise SystemExit(f"{measure} {dict(args)} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def answer_child(children: Mapping[str, Child], child: list[str]) -> None:
    """In the child: run the measurement ``--child`` names and print its JSON line."""
    measure, args = child
    print(json.dumps(children[measure](json.loads(args))))


def write_results(results: dict[str, Any], table: str, out: Path, quick: bool) -> None:
    """Add the machine to ``results``, print ``table`` and write ``results`` to ``out``."""
    results["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(), "quick": quick}
    print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")
