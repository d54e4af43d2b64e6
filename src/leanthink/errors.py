"""User-facing errors.

Anything the user can fix (a bad flag, a malformed data line, a missing model directory) raises
`LeanthinkError` with a message that names what is wrong and what would be right. The CLI prints it
as one line and exits with status 2, without a traceback.
"""


class LeanthinkError(Exception):
    """An error caused by input the user controls; its message is shown as-is."""


class DataError(LeanthinkError):
    """A data file is missing, malformed, or lacks a field."""

    def __init__(self, path, message: str, line: int | None = None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line


class UnsupportedVerb(LeanthinkError):
    """An engine was asked for a verb it cannot perform (e.g. KV eviction on a remote server)."""
