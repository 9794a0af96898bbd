"""A ganlab plugin for the benchmarks: each epoch's wall and CPU seconds, to a JSON file.

Loaded with ``ganlab -p benchmarks/epoch_clock.py run EXPERIMENT.yaml`` and
named in the experiment's ``callbacks:`` as ``epoch_clock`` with ``path``.
CPU seconds are the whole process's (every thread: TensorFlow's pools and
tf.data's), from ``time.process_time``. On a machine shared with other jobs
they measure the work an epoch took, where wall seconds also measure the
share of the cores the process got. The callback acts only at epoch
boundaries, so it adds nothing to the steps.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import keras

from ganlab import hookimpl


class EpochClock(keras.callbacks.Callback):
    """Record ``{"wall": [...], "cpu": [...]}`` seconds per epoch into ``path``.

    Args:
        path: The JSON file written at the end of training.

    """

    def __init__(self, path: str):
        super().__init__()
        self.path = Path(path)
        self.wall: list[float] = []
        self.cpu: list[float] = []
        self.started = (0.0, 0.0)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Note both clocks."""
        self.started = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Keep the epoch's seconds on both clocks."""
        self.wall.append(time.perf_counter() - self.started[0])
        self.cpu.append(time.process_time() - self.started[1])

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Write the file."""
        self.path.write_text(json.dumps({"wall": self.wall, "cpu": self.cpu}))


@hookimpl
def register_callbacks(register: Any) -> None:
    """Register ``epoch_clock``."""
    register("epoch_clock", EpochClock, description="epoch wall and CPU seconds to a JSON file")
