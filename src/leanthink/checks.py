"""Checks of user input, in one place: every command validates its flags here before any work starts,
and every failure is a `LeanthinkError` whose message names the flag or field, the value, and what is
allowed. Nothing here writes a file.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

from .errors import LeanthinkError


def integer(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """An int in [low, high] (either bound optional); bools are not ints here."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LeanthinkError(f"{name} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise LeanthinkError(f"{name} must be {_range(low, high)}, got {value}")
    return value


def number(name: str, value, low: float | None = None, high: float | None = None, low_open: bool = False) -> float:
    """A finite float in [low, high] (or (low, high] with `low_open`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LeanthinkError(f"{name} must be a finite number, got {value!r}")
    if (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high):
        raise LeanthinkError(f"{name} must be {_range(low, high, low_open)}, got {value}")
    return float(value)


def choice(name: str, value, allowed) -> str:
    if value not in allowed:
        raise LeanthinkError(f"{name} {value!r} is not one of: {', '.join(map(str, allowed))}")
    return value


def seed(name: str, value) -> int:
    """Seeds go into numpy/torch generators, which take 0 <= seed < 2**63."""
    return integer(name, value, 0, 2**63 - 1)


def _range(low, high, low_open: bool = False) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}]"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    return f"<= {high}"


def input_file(flag: str, path) -> Path:
    """An existing regular file that can be read."""
    path = Path(path)
    if not path.exists():
        raise LeanthinkError(f"{flag} {path}: no such file")
    if path.is_dir():
        raise LeanthinkError(f"{flag} {path}: is a directory, expected a file")
    if not stat.S_ISREG(path.stat().st_mode):
        raise LeanthinkError(f"{flag} {path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise LeanthinkError(f"{flag} {path}: not readable (permission denied)")
    return path


def output_file(flag: str, path, exists_ok: bool = True) -> Path:
    """A path a command may write (or append to): a regular file or nothing yet, in a directory that
    exists or can be made and is writable. Special files (/dev/full, FIFOs) are refused: reading them
    to resume never ends."""
    path = Path(path)
    if path.is_dir():
        raise LeanthinkError(f"{flag} {path}: is a directory, expected a file path")
    if path.exists():
        if not stat.S_ISREG(path.stat().st_mode):
            raise LeanthinkError(f"{flag} {path}: not a regular file")
        if not exists_ok:
            raise LeanthinkError(f"{flag} {path}: already exists")
        if not os.access(path, os.W_OK):
            raise LeanthinkError(f"{flag} {path}: not writable (permission denied)")
        return path
    _writable_parent(flag, path)
    return path


def output_dir(flag: str, path) -> Path:
    """A directory a command may create or write into (not an existing file)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise LeanthinkError(f"{flag} {path}: is a file, expected a directory")
    if path.exists():
        if not os.access(path, os.W_OK | os.X_OK):
            raise LeanthinkError(f"{flag} {path}: not writable (permission denied)")
        return path
    _writable_parent(flag, path)
    return path


def _writable_parent(flag: str, path: Path) -> None:
    parent = path.parent
    while not parent.exists():   # the nearest existing ancestor decides whether it can be made
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise LeanthinkError(f"{flag} {path}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise LeanthinkError(f"{flag} {path}: cannot write in {parent} (permission denied)")


def distinct(flag_a: str, a, flag_b: str, b) -> None:
    """Two paths that must not be the same file (results appended into the data set)."""
    if a is None or b is None:
        return
    pa, pb = Path(a), Path(b)
    same = pa.exists() and pb.exists() and os.path.samefile(pa, pb)
    if same or pa.resolve() == pb.resolve():
        raise LeanthinkError(f"{flag_a} and {flag_b} are the same file ({a}); results would be written into it")
