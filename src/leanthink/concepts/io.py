"""JSON, JSONL and PNG files of the concepts module, written atomically (see leanthink.fileio)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from leanthink.errors import DataError
from leanthink.fileio import atomic, write_bytes, write_text  # noqa: F401  (part of this module's API)


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_figure(fig, path: Path, dpi: int = 110) -> None:
    """PNG via a temp file; closes the figure so long runs do not pile up memory."""
    import matplotlib.pyplot as plt

    atomic(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))
    plt.close(fig)


def append_jsonl(path: Path, record: dict) -> None:
    """One line per record in a single write, flushed, so a killed run leaves only whole lines.

    A torn last line left by an earlier kill is cut off first: otherwise the new record would be glued
    onto it and both would become one malformed line in the middle of the file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
    with open(path, "a+b") as f:
        _drop_torn_tail(f)
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _drop_torn_tail(f) -> None:
    f.seek(0)
    data = f.read()  # results files are small: one short line per run
    if not data or data.endswith(b"\n"):
        return
    start = data.rfind(b"\n") + 1
    if _parse(data[start:]) is not None:  # a whole record that only lacks its newline: keep it
        f.write(b"\n")
    else:
        f.truncate(start)


def _parse(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def iter_jsonl(path: Path):
    """(line number, record) for each line of a JSONL file, 1-based; blank lines are skipped.

    A malformed line is an error naming the file and line: skipping it would quietly drop a result.
    The one exception is a last line without its newline that does not parse: that is what a run
    killed mid-write leaves, and `append_jsonl` replaces it on the next append."""
    path = Path(path)
    if not path.exists():
        return
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn_allowed = not data.endswith(b"\n")
    for i, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        last = i == len(lines)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            if last and torn_allowed:
                return
            raise DataError(path, f"not UTF-8 text (byte {e.start + 1} of the line)", i) from None
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            if last and torn_allowed:
                return
            raise DataError(path, f"not valid JSON ({e.msg} at column {e.colno})", i) from None
        if not isinstance(record, dict):
            raise DataError(path, f"expected a JSON object, got {type(record).__name__}", i)
        yield i, record


def read_jsonl(path: Path) -> list[dict]:
    """Records of a JSONL file (see `iter_jsonl` for what is an error)."""
    return [rec for _, rec in iter_jsonl(path)]
