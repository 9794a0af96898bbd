"""Attributing an unexpected exception to the plugin whose code raised it.

An exception that is not a :class:`~ganlab.errors.GanlabError` is a bug. When
any frame of its traceback (or of the traceback of its cause, or of a worker
process's traceback carried along by ``concurrent.futures``) runs code of a
loaded plugin, the bug is that plugin's: the CLI then names the plugin and its
distribution and exits with the plugin exit code instead of reporting an
internal error of ganlab.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType

from ganlab.errors import PluginError
from ganlab.plugins import PluginRecord

_REMOTE_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>\S+)')


@dataclass(frozen=True)
class Frame:
    """One frame of a traceback: where code ran."""

    module: str | None
    file: str
    line: int
    function: str


def plugin_error_for(exc: BaseException, records: Sequence[PluginRecord]) -> PluginError | None:
    """A :class:`PluginError` blaming the plugin whose code raised ``exc``, or ``None``.

    The innermost frame that belongs to a plugin decides: that is where the
    plugin's code was running when the error happened.
    """
    found = find_culprit(exc, records)
    if found is None:
        return None
    record, frame = found
    where = f"in {frame.function}() at {frame.file}:{frame.line}"
    reason = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    contact = (f"report it to the authors of {record.distribution}"
               if record.distribution and record.origin != "builtin" else "report it")
    return PluginError(
        f"The plugin {record.describe} failed: {reason} ({where}). This is a bug in the "
        f"plugin, not in your experiment: {contact}, or disable the plugin with "
        f"--disable-plugin {record.name}. Run again with --debug for the traceback.")


def find_culprit(exc: BaseException, records: Sequence[PluginRecord]
                 ) -> tuple[PluginRecord, Frame] | None:
    """The plugin record and the innermost frame of its code in ``exc``'s tracebacks."""
    owners = _module_owners(records)
    files = _file_owners(owners)
    culprit = None
    for frame in _frames(exc):
        record = _owner_of(frame, owners, files)
        if record is not None:
            culprit = (record, frame)
    return culprit


def _module_owners(records: Sequence[PluginRecord]) -> dict[str, PluginRecord]:
    return {module: record for record in records if not record.error
            for module in record.modules}


def _file_owners(owners: dict[str, PluginRecord]) -> dict[str, PluginRecord]:
    """Source file → plugin, for frames known only by file (worker processes)."""
    files = {}
    for name, module in list(sys.modules.items()):
        record = _match(name, owners)
        path = getattr(module, "__file__", None)
        if record is not None and path:
            files[path] = record
    return files


def _match(module: str | None, owners: dict[str, PluginRecord]) -> PluginRecord | None:
    while module:
        if module in owners:
            return owners[module]
        module = module.rpartition(".")[0]
    return None


def _owner_of(frame: Frame, owners: dict[str, PluginRecord],
              files: dict[str, PluginRecord]) -> PluginRecord | None:
    return _match(frame.module, owners) or files.get(frame.file)


def _frames(exc: BaseException) -> Iterator[Frame]:
    """Frames of ``exc`` and then of its causes: the root cause's frames come last."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        context = None if current.__suppress_context__ else current.__context__
        current = current.__cause__ or context
    for link in chain:
        yield from _local_frames(link.__traceback__)
        yield from _remote_frames(link)


def _local_frames(trace: TracebackType | None) -> Iterator[Frame]:
    while trace is not None:
        code = trace.tb_frame.f_code
        yield Frame(trace.tb_frame.f_globals.get("__name__"), code.co_filename,
                    trace.tb_lineno, code.co_name)
        trace = trace.tb_next


def _remote_frames(exc: BaseException) -> Iterator[Frame]:
    """Frames of a worker process, as ``concurrent.futures`` attaches them (text)."""
    if type(exc).__name__ != "_RemoteTraceback":
        return
    for match in _REMOTE_FRAME.finditer(str(exc)):
        yield Frame(None, match["file"], int(match["line"]), match["function"])
