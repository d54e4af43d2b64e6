"""The handle verbs of the in-process engine that only rearrange rows (no model work): fork, select,
drop, split, copy, merge. Kept apart from hf.py, which holds the verbs that run the model."""

from __future__ import annotations

from ..errors import LeanthinkError
from .handle import Sequences


class RowOps:
    def fork(self, seqs: Sequences, n: int) -> Sequences:
        """In place: each row becomes n consecutive rows sharing its prefix (copied, never recomputed);
        the copies get fresh, deterministic random streams. Returns `seqs`."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise LeanthinkError(f"fork needs an integer n >= 1, got {n!r}")
        seqs.reindex([r for r in range(len(seqs)) for _ in range(n)])
        return seqs

    def select(self, seqs: Sequences, rows: list[int]) -> Sequences:
        """In place: the rows become `rows` of the old batch, in that order (repeats allowed:
        resampling; rows left out are freed). Returns `seqs`."""
        seqs.reindex(seqs.check_rows(rows, "select"))
        return seqs

    def drop(self, seqs: Sequences, rows: list[int]) -> Sequences:
        """In place: remove `rows` (their memory is freed). Returns `seqs`."""
        gone = set(seqs.check_rows(rows, "drop"))
        seqs.reindex([r for r in range(len(seqs)) if r not in gone])
        return seqs

    def split(self, seqs: Sequences, rows: list[int]) -> Sequences:
        """Move `rows` out of `seqs` into a new handle (a request leaving a live batch)."""
        return seqs.take(seqs.check_rows(rows, "split"), move=True)

    def copy(self, seqs: Sequences, rows: list[int] | None = None) -> Sequences:
        """A new handle with copies of `rows` (default all); `seqs` is unchanged and stays usable
        (a probe that must not disturb its parent). Copies get fresh random streams."""
        return seqs.take(seqs.check_rows(rows, "copy"), move=False)

    def merge(self, seqs: Sequences, other: Sequences) -> Sequences:
        """Append `other`'s rows to `seqs` (a request joining a live batch); `other` is left empty."""
        seqs.merge(other)
        return seqs
