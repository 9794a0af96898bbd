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
