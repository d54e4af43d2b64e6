"""The scorer interface: reward models and verifiers that score partial solutions in lockstep with
the policy's rows.

A scorer attaches to a policy handle. From then on it keeps per-row state (for a reward model, its
own KV cache, so each step costs only the new step's tokens) that follows every row operation on the
handle: fork, select, drop, split, copy and merge. Methods never manage that state; they call
`score(seqs, steps)` after each step and get one number per row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..errors import LeanthinkError


def _copy(d):
    """A row's value for a copy of the row: dicts and their lists are copied, other values shared."""
    if isinstance(d, dict):
        return {k: list(v) if isinstance(v, list) else v for k, v in d.items()}
    return list(d) if isinstance(d, list) else d


class RowData:
    """One Python value per policy row, kept in lockstep with the handle it follows."""

    def __init__(self, owner, data: list):
        self.owner = owner
        self.data = data

    def reindex(self, rows: list[int]) -> None:
        self.data = [_copy(self.data[r]) for r in rows]

    def take(self, rows: list[int], move: bool) -> "RowData":
        taken = self._taken(rows, move)
        if move:
            moved = set(rows)
            self.data = [d for r, d in enumerate(self.data) if r not in moved]
        return taken

    def _taken(self, rows, move):
        return RowData(self.owner, [_copy(self.data[r]) for r in rows])

    def merge(self, other: "RowData") -> None:
        self.data += other.data


class EngineFollower(RowData):
    """RowData plus a handle on the scorer's own engine whose rows mirror the policy's."""

    def __init__(self, owner, engine, seqs, data: list):
        super().__init__(owner, data)
        self.engine, self.seqs = engine, seqs

    def reindex(self, rows: list[int]) -> None:
        self.engine.select(self.seqs, rows)
        super().reindex(rows)

    def _taken(self, rows, move):
        seqs = self.engine.split(self.seqs, rows) if move else self.engine.copy(self.seqs, rows)
        return EngineFollower(self.owner, self.engine, seqs, [_copy(self.data[r]) for r in rows])

    def merge(self, other: "EngineFollower") -> None:
        self.engine.merge(self.seqs, other.seqs)
        super().merge(other)


class Scorer(ABC):
    """Scores the solution so far of each policy row."""

    name: str = "scorer"
    #: True for scorers that read the gold answer (oracle experiments); results say so
    oracle: bool = False

    @abstractmethod
    def attach(self, seqs, problems, task=None, aggregation: str | None = None) -> None:
        """Start following every row of the policy handle `seqs`; row i solves `problems[i]`.
        `aggregation` overrides how a PRM turns step scores into a solution's score."""

    @abstractmethod
    def score(self, seqs, steps: list[str | None]) -> list[float | None]:
        """Append `steps[r]` (a step's text; None: row r has no new step) to row r's solution and
        return the score of the whole solution so far, in [0, 1] (None for rows without a step)."""

    def identity(self) -> str:
        """What identifies the scorer in a run id (its name and content hash)."""
        return self.name

    def step_scores(self, seqs) -> list[list[float]]:
        """Every score each row has received, in order (per-step scores for a PRM)."""
        return [list(d["scores"]) for d in self.state(seqs).data]

    def state(self, seqs) -> RowData:
        for f in seqs.followers:
            if getattr(f, "owner", None) is self:
                return f
        raise LeanthinkError(f"scorer {self.name!r} is not attached to this handle; call attach(seqs, ...) first")

    def _check(self, seqs, steps) -> RowData:
        if len(steps) != len(seqs):
            raise LeanthinkError(f"score got {len(steps)} steps for {len(seqs)} rows")
        return self.state(seqs)
