"""Step-level beam search and diverse verifier tree search (DVTS), as in HF's search-and-learn.

Beam search keeps the N/M best partial solutions after every step and expands each M ways.
DVTS splits the budget into N/M independent subtrees; each keeps only its best candidate after every
step and expands it M ways, so the subtrees stay diverse. In both, a candidate that finishes is set
aside (its rows leave the batch) and the answer is the best-scored finished candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ... import checks
from .base import Particles, Scaling, State


@dataclass(frozen=True)
class Beam(Scaling):
    """Step-level beam search: keep the N/M best, expand each M ways."""

    name = "beam"
    width: int = 4
    """M: how many ways each kept candidate is expanded."""

    compressible: ClassVar[bool] = True

    def __post_init__(self):
        super().__post_init__()
        checks.integer("width", self.width, 1, 4096)

    def shape(self) -> tuple[int, int]:
        """(candidates kept, expansions of each) with kept * expansions <= budget."""
        keep = max(1, self.budget // self.width)
        return keep, max(1, self.budget // keep)

    def solve_batch(self, batch):
        keep, expand = self.shape()
        particles = batch.start(self.budget)
        group = [0] * len(particles)          # DVTS: the subtree of each row (beam: one group)
        if self.name == "dvts":
            group = [i % self.budget // expand for i in range(len(particles))]
        finished: dict[int, list[State]] = {p: [] for p in range(len(batch.problems))}
        for _ in range(self.max_steps):
            moved = particles.advance()
            if not moved:
                break
            particles.weigh(moved)
            index, new_group = [], []
            for p in range(len(batch.problems)):
                for g in sorted({group[r] for r in particles.rows_of(p)}):
                    rows = [r for r in particles.rows_of(p) if group[r] == g]
                    kept = self.prune(particles, rows, finished[p], keep)
                    index += [r for r in kept for _ in range(expand)]
                    new_group += [g] * (len(kept) * expand)
            particles.select(index)
            group = new_group
            if not index:
                break
        return [self.answer(particles, p, finished[p]) for p in range(len(batch.problems))]

    def prune(self, particles: Particles, rows: list[int], finished: list[State], keep: int) -> list[int]:
        """The rows of one group to expand: set finished ones aside, keep the best `keep` live ones."""
        finished += [particles.states[r].copy() for r in rows if particles.states[r].done]
        if len(finished) >= self.budget:
            return []
        live = [r for r in rows if not particles.states[r].done]
        return sorted(live, key=lambda r: -particles.states[r].score)[:keep]

    def answer(self, particles: Particles, p: int, finished: list[State]):
        pool = finished + [particles.states[r] for r in particles.rows_of(p)]   # cut off at the step cap
        best = max(pool, key=lambda s: s.score if s.score is not None else -1.0)
        b = particles.b
        answers = [b.task.extract(b.prefix + s.text) for s in pool]
        return b.result(p, best.text, b.task.extract(b.prefix + best.text), b.engine.usage(particles.seqs)[p],
                        {"chosen": pool.index(best), "answers": answers,
                         "scores": [None if s.score is None else round(s.score, 6) for s in pool]})


@dataclass(frozen=True)
class DVTS(Beam):
    """Diverse verifier tree search: N/M subtrees, each greedy on the PRM over M expansions."""

    name = "dvts"

    def shape(self) -> tuple[int, int]:
        expand = min(self.width, self.budget)
        return 1, expand

    def prune(self, particles: Particles, rows: list[int], finished: list[State], keep: int) -> list[int]:
        """A subtree's best candidate: if it has finished, the subtree is done."""
        best = max(rows, key=lambda r: particles.states[r].score)
        if particles.states[best].done:
            finished.append(particles.states[best].copy())
            return []
        return [best]
