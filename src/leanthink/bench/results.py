"""Results files: JSONL, one line per (run, problem), shared safely by interrupted, resumed and
concurrent writers.

  * Each line is written with one `write()` under an exclusive lock on the file (`flock`), then
    fsynced; if the write fails (a full disk) the file is cut back to where it was, so a line is
    either whole or absent, except for a process killed inside its write, which leaves a torn last
    line without its newline.
  * A writer re-reads what others appended (only the new bytes) under the same lock before writing,
    and never writes a (run, problem) that is already there: two processes running the same command
    on the same file share the work and produce each line once.
  * A torn last line is cut off, under the lock, before anything is appended. Any other bad line (not
    JSON, not UTF-8, not an object, no run_id/problem_id) is an error naming file and line, and the
    file is left untouched.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

from ..errors import DataError

#: fields every results line has (the rest depends on the run)
REQUIRED = ("run_id", "problem_id")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_line(path: Path, number: int, raw: bytes) -> dict:
    """One results line as a dict, or a DataError naming file and line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(path, f"not UTF-8 text (byte {e.start} of the line)", line=number) from None
    try:
        row = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise DataError(path, "JSON nested too deeply", line=number) from None
    except ValueError as e:
        raise DataError(path, f"not a valid results line ({getattr(e, 'msg', e)}); fix or remove it",
                        line=number) from None
    if not isinstance(row, dict):
        raise DataError(path, f"not a results line (a JSON {type(row).__name__}, expected an object)", line=number)
    missing = [k for k in REQUIRED if k not in row]
    if missing:
        raise DataError(path, f"not a results line (no {', '.join(missing)}); is this a results file?", line=number)
    return row


class ResultsFile:
    """A results file, read incrementally: `rows` holds every complete line read so far."""

    def __init__(self, path):
        self.path = Path(path)
        self.rows: list[dict] = []
        self.numbers: list[int] = []     # line number of each row
        self._offset = 0                 # bytes read so far (always at a line start)
        self._lines = 0

    def refresh(self, repair: bool = False) -> list[dict]:
        """Read lines appended since the last call. A torn last line is left for later, or cut off
        when `repair` (only under the lock: then no writer is inside its write)."""
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        new = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            self._lines += 1
            raw = data[start:end]
            if raw.strip():
                row = parse_line(self.path, self._lines, raw)
                new.append(row)
                self.numbers.append(self._lines)
            start = end + 1
        self._offset += start
        tail = data[start:]
        if tail.strip():
            try:   # a whole object that lost only its newline is a line; anything else is torn
                row = parse_line(self.path, self._lines + 1, tail)
            except DataError:
                row = None
            if repair:
                with open(self.path, "r+b") as f:
                    if row is None:
                        f.truncate(self._offset)
                    else:
                        f.seek(0, os.SEEK_END)
                        f.write(b"\n")
                if row is not None:
                    self._lines += 1
                    self._offset += len(tail) + 1
                    self.numbers.append(self._lines)
                    new.append(row)
        self.rows += new
        return new

    def done(self, run_id: str) -> set[str]:
        return {r["problem_id"] for r in self.rows if r.get("run_id") == run_id}

    @contextlib.contextmanager
    def locked(self):
        """Exclusive access for a read-then-append (other leanthink processes wait)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.refresh(repair=True)
            self._fd = fd
            yield self
        finally:
            self._fd = None
            os.close(fd)   # closing releases the lock

    def append(self, record: dict) -> None:
        """Write one line (inside `locked`). On failure the file is cut back: no partial line."""
        try:
            data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
        except UnicodeEncodeError:   # a lone surrogate from the data: keep it, escaped
            data = (json.dumps(record, ensure_ascii=True) + "\n").encode()
        size = os.fstat(self._fd).st_size
        try:
            os.write(self._fd, data)
            os.fsync(self._fd)
        except OSError:
            os.ftruncate(self._fd, size)
            raise
        self.rows.append(record)
        self._lines += 1
        self.numbers.append(self._lines)
        self._offset = size + len(data)


def read_results(path, repair: bool = False) -> list[dict]:
    """All complete lines of a results file ([] if it does not exist)."""
    f = ResultsFile(path)
    if repair:
        with f.locked():
            pass
    else:
        f.refresh()
    return f.rows
