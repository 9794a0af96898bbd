"""A local plugin for test_multi_worker.py: a callback that says which worker ran it.

``worker_marker`` writes ``ran-on-<task>-<pid>`` into the run directory at
the start of training: under ``multi_worker`` only the chief runs plugin
callbacks, so only one such file (the chief's) may appear per run.
"""

from __future__ import annotations

import json
import os
from typing import Any

import keras

from ganlab import hookimpl


class WorkerMarker(keras.callbacks.Callback):
    """Leaves a file naming the TF_CONFIG task and process that ran it."""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Write the marker."""
        task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
        name = f"ran-on-{task.get('type', 'local')}{task.get('index', '')}-{os.getpid()}"
        (self.model.run.run_dir / name).write_text("")


@hookimpl
def register_callbacks(register: Any) -> None:
    """The marker callback."""
    register("worker_marker", WorkerMarker, description="Marks which worker ran callbacks")
