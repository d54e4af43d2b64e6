"""Particle Gibbs and parallel tempering (Puri et al. 2025, §3.2-3.3).

Particle Gibbs runs I particle-filter iterations of N = budget / I particles. After an iteration a
reference particle is drawn by its final weight; the next iteration conditions on it: one slot per
problem replays the reference's steps (forced text, never overwritten), and the N - 1 free slots are
resampled among all N particles, the reference included, so free particles may continue from the
reference's prefix.

Ancestor sampling (`ancestor=true`; its_hub raises NotImplementedError for it): before each step
the reference's past is redrawn among the current particles, with probability proportional to
w_j · p_LM(reference's remaining steps | particle j's prefix). The engine's `score` verb gives that
likelihood in one batched pass; the reference's future is then grafted onto the chosen prefix. The
PRM's potentials of the grafted future are left out of the ancestor weight (they would need a PRM
pass per particle per step), which the docs state as the approximation it is.

Parallel tempering runs M chains of particle Gibbs whose resampling uses softmax(logw / T_k), and
after each iteration proposes to swap the references of neighbouring chains (Metropolis acceptance
min(1, exp((1/T_i - 1/T_j)(logw_j - logw_i)))); the answer comes from the T = 1 chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ... import checks
from .base import Particles, Scaling, State, softmax


@dataclass(frozen=True)
class ParticleGibbs(Scaling):
    name = "particle-gibbs"
    requires: ClassVar[frozenset[str]] = Scaling.requires | {"append", "score"}
    iterations: int = 2
    """I: particle-filter iterations; each gets budget / I particles."""
    ancestor: bool = False
    """Ancestor sampling for the reference particle (see the module docstring)."""
    tau: float = 1.0
    """Softmax temperature of the resampling weights."""

    def __post_init__(self):
        super().__post_init__()
        checks.integer("iterations", self.iterations, 1, 64)
        checks.number("tau", self.tau, 0.0, 1000.0, low_open=True)
        if self.budget % self.iterations:
            from ...errors import LeanthinkError

            raise LeanthinkError(f"particle-gibbs: budget {self.budget} must be a multiple of iterations "
                                 f"{self.iterations}")

    def solve_batch(self, batch):
        n = self.budget // self.iterations
        refs: list[State | None] = [None] * len(batch.problems)
        particles = None
        for it in range(self.iterations):
            particles = None   # the last iteration's caches go before this one's are built
            particles = run_iteration(self, batch, n, refs, self.tau, it)
            refs = [draw_reference(particles, p, batch.rng(p, "reference", it), self.tau)
                    for p in range(len(batch.problems))]
        return [particles.finish_best(p) for p in range(len(batch.problems))]


def run_iteration(m: Scaling, batch, n: int, refs: list[State | None], tau: float, it: int, tag=()) -> Particles:
    """One conditional particle filter: n particles per problem; the last slot of a problem with a
    reference replays it. Returns the final particles."""
    particles = batch.start(n)
    is_ref = [refs[p] is not None and i % n == n - 1 for i, p in enumerate(particles.owner)]
    for step in range(m.max_steps):
        if getattr(m, "ancestor", False) and step > 0:
            _sample_ancestors(particles, refs, is_ref, batch, (*tag, it, step))
        moved = _replay(particles, refs, is_ref, step) + particles.advance(
            rows=[r for r in particles.live() if not is_ref[r]])
        if not moved:
            break
        particles.weigh(sorted(moved))
        index, new_ref = [], []
        for p in range(len(batch.problems)):
            rows = particles.rows_of(p)
            probs = softmax([particles.states[r].logw for r in rows], tau)
            ref_rows = [r for r in rows if is_ref[r]]
            free = len(rows) - len(ref_rows)
            # the first iteration of a lone chain draws exactly what a particle filter would
            key = ("resample", step) if it == 0 and not tag else ("resample", *tag, it, step)
            pick = batch.rng(p, *key).choice(len(rows), size=free, p=probs)
            index += [rows[i] for i in pick] + ref_rows
            new_ref += [False] * free + [True] * len(ref_rows)
        particles.select(index)   # a free copy of the reference continues freely from its prefix
        is_ref = new_ref
    return particles


def _replay(particles: Particles, refs, is_ref, step: int) -> list[int]:
    """Force the next step of each reference slot; returns the slots that got one."""
    e, texts, moved = particles.b.engine, [None] * len(particles), []
    for r in range(len(particles)):
        s = particles.states[r]
        if not is_ref[r] or s.done:
            continue
        ref = refs[particles.owner[r]]
        if len(s.steps) < len(ref.steps):
            texts[r] = ref.steps[len(s.steps)]
            moved.append(r)
    if moved:
        e.append(particles.seqs, texts)
        for r in moved:
            s = particles.states[r]
            s.steps.append(texts[r])
            s.done = len(s.steps) >= len(refs[particles.owner[r]].steps) and refs[particles.owner[r]].done
    return moved


def _sample_ancestors(particles: Particles, refs, is_ref, batch, tag) -> None:
    """Redraw each reference slot's past among the problem's particles (see the module docstring)."""
    e = batch.engine
    for p in range(len(batch.problems)):
        rows = particles.rows_of(p)
        ref_rows = [r for r in rows if is_ref[r] and not particles.states[r].done]
        if not ref_rows:
            continue
        r0 = ref_rows[0]
        k = len(particles.states[r0].steps)
        future = "".join(refs[p].steps[k:])
        if not future:
            continue
        cands = [r for r in rows if not particles.states[r].done and len(particles.states[r].steps) == k]
        texts = [future if r in cands else None for r in range(len(particles))]
        lp = e.score(particles.seqs, texts)
        logits = [particles.states[r].logw + sum(lp[r]) for r in cands]
        a = cands[int(batch.rng(p, "ancestor", *tag).choice(len(cands), p=softmax(logits)))]
        if a == r0:
            continue
        # the reference keeps its future but takes particle a's past
        index = list(range(len(particles)))
        index[r0] = a
        particles.select(index)
        refs[p] = State(particles.states[r0].steps + refs[p].steps[k:], refs[p].done)


def draw_reference(particles: Particles, p: int, rng: np.random.Generator, tau: float = 1.0) -> State:
    rows = particles.rows_of(p)
    probs = softmax([particles.states[r].logw for r in rows], tau)
    return particles.states[rows[int(rng.choice(len(rows), p=probs))]].copy()


@dataclass(frozen=True)
class ParallelTempering(Scaling):
    name = "parallel-tempering"
    requires: ClassVar[frozenset[str]] = Scaling.requires | {"append"}
    chains: int = 2
    """M chains of particle Gibbs."""
    iterations: int = 2
    """Iterations of each chain."""
    max_temperature: float = 4.0
    """The hottest chain's softmax temperature; chains are spaced geometrically from 1."""

    def __post_init__(self):
        super().__post_init__()
        checks.integer("chains", self.chains, 1, 16)
        checks.integer("iterations", self.iterations, 1, 64)
        checks.number("max_temperature", self.max_temperature, 1.0, 1000.0)
        if self.budget % (self.chains * self.iterations):
            from ...errors import LeanthinkError

            raise LeanthinkError(f"parallel-tempering: budget {self.budget} must be a multiple of chains x iterations "
                                 f"({self.chains} x {self.iterations})")

    def temperatures(self) -> list[float]:
        if self.chains == 1:
            return [1.0]
        return [float(self.max_temperature ** (k / (self.chains - 1))) for k in range(self.chains)]

    def solve_batch(self, batch):
        n = self.budget // (self.chains * self.iterations)
        temps = self.temperatures()
        refs = [[None] * len(batch.problems) for _ in temps]
        final = None
        for it in range(self.iterations):
            final = None
            for k, t in enumerate(temps):   # chains run one after another; only the T = 1 chain's last is kept
                parts = run_iteration(self, batch, n, refs[k], t, it, tag=("chain", k))
                refs[k] = [draw_reference(parts, p, batch.rng(p, "reference", k, it), t)
                           for p in range(len(batch.problems))]
                if k == 0:
                    final = parts
                parts = None
            for k in range(len(temps) - 1):   # swap neighbouring references, Metropolis style
                for p in range(len(batch.problems)):
                    a, b = refs[k][p], refs[k + 1][p]
                    accept = np.exp(min(0.0, (1 / temps[k] - 1 / temps[k + 1]) * (b.logw - a.logw)))
                    if batch.rng(p, "swap", k, it).random() < accept:
                        refs[k][p], refs[k + 1][p] = b, a
        return [final.finish_best(p) for p in range(len(batch.problems))]
