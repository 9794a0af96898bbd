"""Keep TensorFlow's native start-up chatter out of ganlab's output.

TensorFlow's C++ runtime logs through absl *before* absl is initialised, so
``TF_CPP_MIN_LOG_LEVEL`` cannot hide those lines: on a machine without a GPU
every command that trains printed "Could not find cuda drivers", the oneDNN
notice and absl's own warning, twice. :func:`install` adds an import hook that
captures the process's stderr (file descriptor 2) while ``tensorflow`` is
first imported and writes back every captured line except those known
start-up notices, so real errors still show. ``GANLAB_TF_LOG=1`` turns the
filter off.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from types import ModuleType
from typing import Any

#: Native start-up lines that say nothing to a ganlab user.
NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|Could not find cuda drivers"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|failed call to cuInit"
    r"|TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions.*rebuild TensorFlow"
)


def filter_noise(text: str) -> str:
    """``text`` without the lines :data:`NOISE` matches."""
    kept = [line for line in text.splitlines(keepends=True) if not NOISE.search(line)]
    return "".join(kept)


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader with fd 2 captured, then replays the filtered capture."""

    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with tempfile.TemporaryFile(mode="w+b") as capture:
            sys.stderr.flush()
            saved = os.dup(2)
            os.dup2(capture.fileno(), 2)
            try:
                self._loader.exec_module(module)
                # The GPU platform is probed on first device use, not at import
                # ("failed call to cuInit" on a machine without one): probe it
                # here, inside the capture, so that line is filtered too.
                with contextlib.suppress(Exception):
                    module.config.list_physical_devices()
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                kept = filter_noise(capture.read().decode("utf-8", "replace"))
                if kept:
                    sys.stderr.write(kept)
                    sys.stderr.flush()


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the top-level ``tensorflow`` package (once)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> Any:
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # find the real spec, and never wrap twice
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Filter TensorFlow's start-up lines from the next ``import tensorflow`` (idempotent)."""
    if os.environ.get("GANLAB_TF_LOG") == "1" or "tensorflow" in sys.modules:
        return
    if any(isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        return
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (a test runner's capture)
        return
    sys.meta_path.insert(0, _QuietFinder())
