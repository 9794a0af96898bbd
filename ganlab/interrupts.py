"""Telling a real Ctrl-C from code that raises ``KeyboardInterrupt`` or calls ``sys.exit``.

The ``ganlab`` script installs :func:`install` first: a SIGINT then records
that the user pressed Ctrl-C before raising ``KeyboardInterrupt`` as Python
does. A ``KeyboardInterrupt`` without that record was raised by code, e.g. a
plugin at import: a broken plugin, not a user's stop.

This module imports nothing but the standard library.
"""

from __future__ import annotations

import signal
from typing import Any

#: Exit status of a command stopped by Ctrl-C.
INTERRUPTED_EXIT = 130
_received = False
_installed = False


def _on_sigint(signum: int, frame: Any) -> None:
    global _received
    _received = True
    raise KeyboardInterrupt


def install() -> None:
    """Record every SIGINT before it raises ``KeyboardInterrupt`` (main thread only)."""
    global _installed
    signal.signal(signal.SIGINT, _on_sigint)
    _installed = True


def received() -> bool:
    """Whether a ``KeyboardInterrupt`` may be the user's Ctrl-C.

    True when a SIGINT arrived since :func:`install`, and whenever
    :func:`install` was not called (ganlab used as a library, where a real
    Ctrl-C cannot be told apart and must never be swallowed).
    """
    return _received or not _installed


def describe_exit(exc: SystemExit) -> str:
    """``sys.exit(CODE)`` as a plugin called it, for messages."""
    return f"sys.exit({exc.code!r})"
