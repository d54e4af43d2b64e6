"""Reading task data files (JSONL or one JSON list) with errors that name the file, line and field.

Every file-backed task reads through here, so a user who points `--data` at a wrong or damaged file
gets one line saying where and what, e.g. `data.jsonl:7: missing field 'answer' (expected keys:
question, answer)`, instead of a KeyError deep inside a task.

`FileTask` is the shared base of tasks whose problems come only from a file (GSM8K, MATH-500, AIME):
it checks the `load` arguments, reads the file and turns each record into a `Problem`.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, LeanthinkError
from .base import Problem, Task


@dataclass(frozen=True)
class Record:
    """One object of a data file and where it came from.

    Unpacks as `(where, data)`: `where` is the 1-based line of a JSONL file, or the 0-based item
    index of a JSON list. `index` is the 0-based position among the file's records either way
    (blank JSONL lines are skipped), which is what problem ids use.
    """

    path: Path
    index: int
    line: int | None
    data: dict

    @property
    def where(self) -> int:
        return self.line if self.line is not None else self.index

    def __iter__(self) -> Iterator:
        return iter((self.where, self.data))

    def error(self, message: str) -> DataError:
        """A DataError pointing at this record (`file:line: ...` or `file: item N: ...`)."""
        if self.line is not None:
            return DataError(self.path, message, line=self.line)
        return DataError(self.path, f"item {self.index}: {message}")

    def text(self, key: str, default: str | None = None) -> str | None:
        """Field `key` as a string; numbers are accepted (AIME stores some answers as integers)."""
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.error(f"field {key!r} must be a string, got {type(value).__name__}")
        text = str(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise self.error(f"field {key!r} holds an invalid character (lone surrogate "
                             f"\\u{ord(text[e.start]):04x} at {e.start})") from None
        return text


def _check_fields(record: Record, required: Sequence[str]) -> None:
    for key in required:
        if key not in record.data:
            raise record.error(f"missing field {key!r} (expected keys: {', '.join(required)})")
        if record.data[key] is None:
            raise record.error(f"field {key!r} is null")
        if isinstance(record.data[key], str) and not record.data[key].strip():
            raise record.error(f"field {key!r} is empty")


def _read_text(path: Path) -> str:
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file")
    if path.is_dir():
        raise DataError(path, "is a directory, expected a data file")
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: tolerate a byte-order mark
    except UnicodeDecodeError as e:
        raise DataError(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _loads(path: Path, line: int | None, text: str):
    """json.loads that refuses NaN/Infinity (a number no answer can be) and reports deep nesting as a
    JSON error instead of a RecursionError; errors name file and line."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        where = f" (column {e.colno})" if line is not None else ""
        raise DataError(path, f"not valid JSON: {e.msg}{where}", line=line if line is not None else e.lineno) from None
    except RecursionError:
        raise DataError(path, "not valid JSON: nested too deeply", line=line) from None
    except ValueError as e:
        raise DataError(path, f"not valid JSON: {e}", line=line) from None


def read_jsonl(path: Path | str, required: Sequence[str] = ()) -> list[Record]:
    """Objects of a JSONL file, one per non-blank line, each holding every `required` field."""
    path = Path(path)
    records: list[Record] = []
    for number, raw in enumerate(_read_text(path).splitlines(), start=1):
        if not raw.strip():
            continue
        obj = _loads(path, number, raw)
        record = Record(path, len(records), number, obj)
        if not isinstance(obj, dict):
            raise record.error(f"expected a JSON object, got {type(obj).__name__}")
        _check_fields(record, required)
        records.append(record)
    if not records:
        raise DataError(path, "file is empty, expected one JSON object per line")
    return records


def read_json_list(path: Path | str, required: Sequence[str] = ()) -> list[Record]:
    """Objects of a file holding one JSON list, each holding every `required` field."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise DataError(path, "file is empty, expected a JSON list of objects")
    items = _loads(path, None, text)
    if not isinstance(items, list):
        raise DataError(path, f"expected a JSON list of objects, got {type(items).__name__}")
    if not items:
        raise DataError(path, "the list is empty, expected at least one object")
    records = []
    for index, obj in enumerate(items):
        record = Record(path, index, None, obj)
        if not isinstance(obj, dict):
            raise record.error(f"expected a JSON object, got {type(obj).__name__}")
        _check_fields(record, required)
        records.append(record)
    return records


def unique_ids(problems: list[Problem], records: list[Record]) -> list[Problem]:
    """The problems, if their ids are unique: results are keyed by problem id, so a repeated id would
    make a resumed run skip a problem it never solved."""
    first: dict[str, Record] = {}
    for p, r in zip(problems, records):
        if p.id in first:
            where = f"line {first[p.id].line}" if r.line is not None else f"item {first[p.id].index}"
            raise r.error(f"problem id {p.id!r} repeats that of {where}; ids must be unique")
        first[p.id] = r
    return problems


class FileTask(Task):
    """A task whose problems come from a JSONL file given as `data` (no generated splits)."""

    #: the file in ../shared/data that holds this benchmark, named in the "needs --data" error
    default_file: str = ""
    #: fields every line must have
    required: tuple[str, ...] = ()

    def load(self, split: str | None = None, data: Path | None = None, limit: int | None = None,
             seed: int = 0) -> list[Problem]:
        """The first `limit` problems of `data`, in file order (`seed` is unused: nothing is sampled)."""
        if split is not None:
            # refusing beats silently ignoring a setting the user believes is in effect
            raise LeanthinkError(f"task {self.name!r} has no generated splits (got split {split!r}); "
                                 f"give a data file instead, e.g. --data ../shared/data/{self.default_file}")
        if data is None:
            raise LeanthinkError(f"task {self.name!r} needs --data FILE, "
                                 f"e.g. --data ../shared/data/{self.default_file}")
        if limit is not None and limit < 0:
            raise LeanthinkError(f"limit must be >= 0, got {limit}")
        records = read_jsonl(data, self.required)
        return unique_ids([self.to_problem(r) for r in records[:limit]], records)

    @abstractmethod
    def to_problem(self, record: Record) -> Problem:
        """The problem one record describes; raise `record.error(...)` for a bad value."""
