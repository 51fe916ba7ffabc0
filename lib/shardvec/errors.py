"""The few failures shardvec names.

Every error a user can cause (a bad key, a missing path, incomplete input) is a
:class:`ShardvecError`: the CLI prints its one-line message and exits 2, with no
traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ShardvecError(Exception):
    """A user-facing failure with a one-line message; the CLI exits 2."""

    exit_code = 2


class ConfigError(ShardvecError):
    """An unknown key, a wrong type or an impossible value in the configuration."""


class InputError(ShardvecError):
    """An input path is missing, unreadable or not the output of the stage before."""


class OutputError(ShardvecError):
    """The output location exists already (without --overwrite) or cannot be written."""


class EnvironmentProblem(ShardvecError):
    """Something outside Python is missing, e.g. Java for Spark."""
