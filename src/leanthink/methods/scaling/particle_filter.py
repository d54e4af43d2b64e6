"""Particle filtering for inference-time scaling (Puri et al. 2025, arXiv 2502.01618).

Defaults are the paper's: a step is the text up to the prompt style's step delimiter, sampled at
temperature 0.8; the log-weight of a particle is logit(PRM score of its whole prefix); resampling
probabilities are softmax(logw / tau) with tau = 1; multinomial resampling of the N particles after
every step; finished particles keep taking part (their copies stay finished); the answer is the
highest-weight particle's.

Variants beyond the paper are small strategy functions picked by a setting, not flags threaded
through the loop: `resampling` (multinomial, systematic, ess: resample only when the effective
sample size falls below half), `weighting` (prefix: the paper's; ratio: incremental weights that
multiply by each step's change in odds since the last resampling), `answer` (argmax, or vote: a
weighted majority vote over the final particles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ... import checks
from .base import Particles, Scaling, softmax, vote


def multinomial(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(len(p), size=len(p), p=p)


def systematic(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform draw, N evenly spaced pointers: lower variance than multinomial."""
    n = len(p)
    positions = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(p), positions, side="right"), n - 1)


def ess_triggered(p: np.ndarray, rng: np.random.Generator, threshold: float = 0.5) -> np.ndarray | None:
    """Resample (systematically) only when the effective sample size 1 / sum(p^2) < threshold * N;
    None keeps the particles (and their accumulated weights)."""
    return systematic(p, rng) if 1.0 / float((p ** 2).sum()) < threshold * len(p) else None


RESAMPLERS = {"multinomial": multinomial, "systematic": systematic, "ess": ess_triggered}
WEIGHTINGS = ("prefix", "ratio")
ANSWERS = ("argmax", "vote")


@dataclass(frozen=True)
class ParticleFilter(Scaling):
    """Particle filtering guided by a process reward model (or the policy's self-certainty)."""

    name = "particle-filter"
    tau: float = 1.0
    """Softmax temperature of the resampling weights."""
    resampling: str = "multinomial"
    """multinomial (the paper), systematic, or ess (only when the effective sample size is below N/2)."""
    weighting: str = "prefix"
    """prefix: logw = logit(score of the whole prefix) (the paper); ratio: incremental weights."""
    answer: str = "argmax"
    """argmax: the highest-weight particle (the paper); vote: weighted majority vote over particles."""

    scorer: ClassVar[str] = "optional"
    compressible: ClassVar[bool] = True

    def __post_init__(self):
        super().__post_init__()
        checks.number("tau", self.tau, 0.0, 1000.0, low_open=True)
        checks.choice("resampling", self.resampling, RESAMPLERS)
        checks.choice("weighting", self.weighting, WEIGHTINGS)
        checks.choice("answer", self.answer, ANSWERS)

    def solve_batch(self, batch):
        particles = batch.start(self.budget)
        resampled = [0] * len(batch.problems)
        base = [0.0] * len(particles)    # ratio weighting: each particle's logit at its last resampling
        for step in range(self.max_steps):
            moved = particles.advance()
            if not moved:
                break
            particles.weigh(moved)
            index, new_base = [], []
            for p in range(len(batch.problems)):
                rows = particles.rows_of(p)
                logw = np.array([self._logw(particles, r, base) for r in rows])
                pick = RESAMPLERS[self.resampling](softmax(logw, self.tau), batch.rng(p, "resample", step))
                if pick is None:          # not resampled: keep the particles and their running weights
                    index += rows
                    new_base += [base[r] for r in rows]
                    continue
                resampled[p] += 1
                index += [rows[i] for i in pick]
                new_base += [particles.states[rows[i]].logw for i in pick]   # weights restart equal
            particles.select(index)
            base = new_base
        return [self._answer(particles, p, resampled[p]) for p in range(len(batch.problems))]

    def _logw(self, particles: Particles, r: int, base: list[float]) -> float:
        s = particles.states[r]
        return s.logw - base[r] if self.weighting == "ratio" else s.logw

    def _answer(self, particles: Particles, p: int, resampled: int):
        if self.answer == "argmax":
            return particles.finish_best(p, {"resampled": resampled})
        rows = particles.rows_of(p)
        answers = [particles.answer(r) for r in rows]
        answer = vote(answers, list(softmax([particles.states[r].logw for r in rows])))
        chosen = max((r for r, a in zip(rows, answers) if a == answer), key=lambda r: particles.states[r].logw,
                     default=rows[0])
        return particles.finish(p, chosen, answer, {"resampled": resampled})
