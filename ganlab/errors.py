"""User-facing errors.

Everything a user can cause (a bad experiment file, a missing dataset, a
corrupt shard) is raised as a :class:`GanlabError`. The CLI prints its message
as one paragraph and exits non-zero; only ``--debug`` shows a traceback.
"""

from __future__ import annotations


class GanlabError(Exception):
    """An error caused by the user's input or environment, with a readable message."""

    exit_code: int = 1


class ConfigError(GanlabError):
    """The experiment file (or a ``--set`` override) is malformed or invalid."""

    exit_code = 2


class PluginError(GanlabError):
    """A plugin failed to load, or a component name cannot be resolved."""

    exit_code = 3


class DataError(GanlabError):
    """Raw data or TFRecords are missing, malformed or inconsistent."""

    exit_code = 4


class RunDirectoryError(GanlabError):
    """The run directory is locked, incompatible or damaged."""

    exit_code = 5


class TrainingError(GanlabError):
    """Training cannot go on (for example a loss became NaN)."""

    exit_code = 6


def describe_os_error(exc: OSError) -> str:
    """A user-facing message for an ``OSError`` on a path the user chose."""
    import errno

    where = exc.filename or "a path"
    remedies = {
        errno.ENOTDIR: "a part of that path is a file, not a folder",
        errno.EEXIST: "it exists and is not what ganlab needs there (a file for a folder?)",
        errno.EISDIR: "it is a folder where ganlab needs a file: move it away",
        errno.ELOOP: "it is a symlink loop: fix or remove the link",
        errno.EROFS: "it is on a read-only filesystem: choose a writable place",
        errno.EACCES: "ganlab may not use it: fix its permissions or choose another place",
        errno.EPERM: "ganlab may not use it: fix its permissions or choose another place",
        errno.ENOSPC: "the disk is full: free some space and run the command again",
        errno.ENAMETOOLONG: "the name is too long",
        errno.ENOENT: "it does not exist",
    }
    hint = remedies.get(exc.errno or 0, "check that path")
    return f"Cannot use {where}: {exc.strerror or exc}; {hint}."
