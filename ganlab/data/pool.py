"""Running shard jobs in a pool of worker processes that never outlive the prepare.

Workers are ``spawn``-ed (TensorFlow is not fork-safe). However the parent
ends, its workers end too:

- Ctrl-C and ``SIGTERM``: the parent stops the workers, waits for them and
  lets the caller remove its partial output (``SIGTERM`` is turned into
  :class:`PrepareTerminated` while a prepare runs);
- ``SIGKILL`` or a crash of the parent: on Linux each worker asked the
  kernel for ``SIGKILL`` when its parent dies (``prctl(PR_SET_PDEATHSIG)``),
  and a worker whose parent is already gone when it starts exits at once.
  With the workers gone, multiprocessing's resource tracker sees its pipe
  close and exits as well.

This module does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ganlab.errors import DataError, GanlabError

#: ``prctl`` option: the signal a process gets when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1

_WORKER_STATE: tuple[Any, Callable[[Any, Any], Any]] | None = None


class PrepareTerminated(GanlabError):
    """The prepare got ``SIGTERM``; its workers were stopped and its partial output removed."""

    exit_code = 128 + signal.SIGTERM


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` (its parent) ends, however it ends."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(dataset: Any, write: Callable[[Any, Any], Any], parent_pid: int) -> None:
    """Worker set-up: die with the parent; Ctrl-C is the parent's to handle."""
    global _WORKER_STATE
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _WORKER_STATE = (dataset, write)


def _worker_job(job: Any) -> Any:
    assert _WORKER_STATE is not None
    dataset, write = _WORKER_STATE
    return write(dataset, job)


@contextlib.contextmanager
def sigterm_stops_prepare() -> Iterator[None]:
    """While the block runs, ``SIGTERM`` raises :class:`PrepareTerminated`.

    Only in the main thread and only where nobody else handles ``SIGTERM``
    (a caller that installed its own handler keeps it).
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: let the clean-up finish
        raise PrepareTerminated("The prepare was stopped by SIGTERM: its workers were stopped "
                                "and its partial output removed; finished TFRecords (if any) "
                                "were left as they were. Run the same command to prepare "
                                "again.")

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_in_pool(dataset: Any, jobs: list[Any], processes: int,
                write: Callable[[Any, Any], Any],
                on_result: Callable[[Any], None]) -> list[Any]:
    """``write(dataset, job)`` for every job in ``processes`` spawned workers.

    Raises:
        DataError: A worker died (killed, out of memory).

    """
    executor = ProcessPoolExecutor(max_workers=processes,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker,
                                   initargs=(dataset, write, os.getpid()))
    results: list[Any] = []
    try:
        futures = [executor.submit(_worker_job, job) for job in jobs]
        for future in as_completed(futures):
            results.append(future.result())
            on_result(results[-1])
    except BrokenProcessPool:
        stop_workers(executor)
        raise DataError("A prepare worker process died unexpectedly (killed, or out of "
                        "memory?). Nothing was changed at the TFRecord folder. Try again with "
                        "fewer workers (--workers 1 writes in-process).") from None
    except BaseException:
        stop_workers(executor)
        raise
    executor.shutdown(wait=True)
    return results


def stop_workers(executor: ProcessPoolExecutor) -> None:
    """Stop the workers now (not after their shards) and wait for them.

    ``ProcessPoolExecutor`` has no public terminate before Python 3.14; the
    workers must be gone before the partial folder is removed.
    """
    processes = list((getattr(executor, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)
