"""The baselines that sample N whole solutions: self-consistency, best-of-N and weighted best-of-N
(as in HF's search-and-learn): majority vote, the PRM's best, and PRM scores summed per answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Particles, Scaling, vote


def score_solutions(particles: Particles) -> None:
    """PRM (or self-certainty) score of each whole solution. With `model` aggregation the solution is
    read as one step; otherwise it is fed step by step, as the PRM was trained, and aggregated."""
    b = particles.b
    rows = list(range(len(particles)))
    if b.m.weights != "prm" or b.m.aggregation == "model":
        particles.weigh(rows, [particles.states[r].text for r in rows])
        return
    split = {r: _steps(particles.states[r].text, b.delimiter) for r in rows}
    for k in range(max(len(s) for s in split.values())):
        todo = [r for r in rows if k < len(split[r])]
        particles.weigh(todo, [split[r][k] for r in todo])


def _steps(text: str, delimiter: str) -> list[str]:
    parts = text.split(delimiter)
    steps = [p + delimiter for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return steps or [text]   # an empty solution is still scored (as one empty step)


@dataclass(frozen=True)
class SelfConsistency(Scaling):
    """N samples, majority vote over their answers (no scorer)."""

    name = "self-consistency"
    scorer: ClassVar[str] = "no"

    def needs_scorer(self) -> bool:
        return False

    def solve_batch(self, batch):
        particles = batch.start(self.budget, scored=False)
        particles.advance(whole=True)
        out = []
        for p in range(len(batch.problems)):
            rows = particles.rows_of(p)
            answer = vote([particles.answer(r) for r in rows])
            chosen = next((r for r in rows if particles.answer(r) == answer), rows[0])
            out.append(particles.finish(p, chosen, answer))
        return out


@dataclass(frozen=True)
class BestOfN(Scaling):
    """N samples; the answer of the one the PRM scores highest."""

    name = "best-of-n"

    def solve_batch(self, batch):
        particles = batch.start(self.budget)
        particles.advance(whole=True)
        score_solutions(particles)
        return [self.pick(particles, p) for p in range(len(batch.problems))]

    def pick(self, particles: Particles, p: int):
        return particles.finish_best(p)   # logw = logit(score): the same order as the score


@dataclass(frozen=True)
class WeightedBestOfN(BestOfN):
    """N samples; PRM scores summed over samples with the same answer; the answer with the most."""

    name = "weighted-best-of-n"

    def pick(self, particles: Particles, p: int):
        rows = particles.rows_of(p)
        answer = vote([particles.answer(r) for r in rows], [particles.states[r].score for r in rows])
        chosen = max((r for r in rows if particles.answer(r) == answer), key=lambda r: particles.states[r].score,
                     default=rows[0])
        return particles.finish(p, chosen, answer)
