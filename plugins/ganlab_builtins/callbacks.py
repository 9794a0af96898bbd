"""Built-in per-epoch image callbacks: the fixed-latent sample grid.

Registration imports nothing heavy: the callback class lives in
:mod:`ganlab_builtins.sample_grid`, imported when an experiment uses it.
"""

from __future__ import annotations

from typing import Any

from ganlab import hookimpl


@hookimpl
def register_callbacks(register: Any) -> None:
    """The built-in image callbacks."""
    register("sample_grid", "ganlab_builtins.sample_grid:SampleGrid",
             description="Fixed-latent sample grid every N epochs (PNG, TensorBoard, GIF)")
