"""The errors that mean bad user input, in a module that imports nothing heavy, so that
a command can catch them (one line, exit code 2) without importing torch first. Each is
re-exported by the module that raises it."""
from __future__ import annotations


class UsageError(ValueError):
    """Bad command-line input (re-exported by ``monas.cli.common``)."""


class ArchitectureError(ValueError):
    """An architecture string or genome that the space cannot represent."""


class DatasetError(ValueError):
    """A dataset that cannot be found or read; the message says what to do."""


class RunDirError(ValueError):
    """A run directory that cannot be used as asked; the message says what to do."""


class ClusterError(ValueError):
    """Workers that cannot be started as configured; the message says what to change."""
