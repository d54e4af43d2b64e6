"""What every inference-time scaling method shares: settings, particles and their weights.

A *particle* is one partial solution: an engine row plus its Python state (its steps, whether it is
done, its score and log-weight). `Particles` keeps both in lockstep: selecting rows (resampling,
keeping the best beams) moves the engine row, the scorer's cache row and the Python state together.
All problems of a batch step together: one handle holds every particle of every problem, and one
`extend` call decodes the next step of all live particles at once.

Scores come from a process reward model (`weights="prm"`, the paper's choice) or from the policy
itself (`weights="self-certainty"`: exp of the mean log-probability of the particle's tokens, no PRM).
A score r in (0, 1) becomes the log-weight logit(r), so resampling is proportional to r / (1 - r).

With `compress="lightthinker"` (particle filtering, beam, DVTS on a LightThinker model), a step is a
thought: the particle decodes until the splitter `<w>`, and the thought is compressed into the cache
tokens and evicted from its row (methods/thoughts.py) before it is weighed and resampled, so each
particle holds the prompt, one summary per finished thought and at most one live thought, and
resampling copies those compressed rows.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from ... import checks
from ...engine import SamplingParams, stream_seed
from ...errors import LeanthinkError
from ..base import EXECUTION, Method, Result
from ..thoughts import compress, thought_markers, thought_text

WEIGHT_SOURCES = ("prm", "self-certainty")
AGGREGATIONS = ("last", "min", "prod", "model")
COMPRESSIONS = ("none", "lightthinker")
_EPS = 1e-7


def logit(r: float) -> float:
    r = min(max(r, _EPS), 1 - _EPS)   # PRM scores of exactly 0 or 1 would give infinite weights
    return math.log(r / (1 - r))


def softmax(x, tau: float = 1.0) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64) / tau
    z = np.exp(z - z.max())
    return z / z.sum()


@dataclass(frozen=True)
class Scaling(Method):
    """Settings every scaling method has; subclasses add their own and implement `solve_batch`."""

    budget: int = 8
    """Samples / particles per problem (× iterations for particle Gibbs)."""
    temperature: float = 0.8
    """Sampling temperature of the policy (the particle-filtering paper: 0.8)."""
    weights: str = "prm"
    """Where scores come from: "prm" (the run's --prm) or "self-certainty" (the policy's own logprobs)."""
    aggregation: str = "model"
    """How a PRM's step scores become a solution's score: last, min, prod, or model (the whole prefix
    read as one step; the paper's best)."""
    max_steps: int = 48
    """A particle is done after this many steps."""
    step_tokens: int = 128
    """Most tokens in one step (a step normally ends at the prompt style's step delimiter)."""
    max_new_tokens: int = 512
    """Most tokens a particle generates in all."""
    batch_size: int = field(default=4, metadata=EXECUTION)
    """Problems solved together (outputs do not depend on it)."""
    seed: int = 0
    compress: str = "none"
    """lightthinker: every finished thought is compressed into the model's cache tokens and evicted
    (a LightThinker model; particle-filter, beam and dvts); none: particles keep their whole text."""

    requires: ClassVar[frozenset[str]] = frozenset({"prefill", "extend", "fork", "select", "drop", "logprobs"})
    scorer: ClassVar[str] = "optional"
    #: whether the method's steps can be compressed thoughts (it only advances, weighs and selects)
    compressible: ClassVar[bool] = False

    def __post_init__(self):
        checks.integer("budget", self.budget, 1, 4096)
        checks.number("temperature", self.temperature, 0.0, 100.0)
        checks.choice("weights", self.weights, WEIGHT_SOURCES)
        checks.choice("aggregation", self.aggregation, AGGREGATIONS)
        checks.integer("max_steps", self.max_steps, 1, 10_000)
        checks.integer("step_tokens", self.step_tokens, 1, 1 << 20)
        checks.integer("max_new_tokens", self.max_new_tokens, 1, 1 << 20)
        checks.integer("batch_size", self.batch_size, 1, 4096)
        checks.seed("seed", self.seed)
        checks.choice("compress", self.compress, COMPRESSIONS)
        if self.compress != "none" and not self.compressible:
            raise LeanthinkError(f"method {self.name!r} cannot run on compressed thoughts; compress=lightthinker "
                                 "works with particle-filter, beam and dvts")

    def identity(self) -> dict:
        # uncompressed runs keep the run id they had before the setting existed (their results files resume)
        out = super().identity()
        if out.get("compress") == "none":
            del out["compress"]
        return out

    def needs_scorer(self) -> bool:
        return self.weights == "prm"

    def solve(self, engine, task, problems, scorer=None) -> list[Result]:
        if self.needs_scorer() and scorer is None:
            raise LeanthinkError(f"method {self.name!r} weighs particles with a PRM: give --prm (a PRM directory, "
                                 "builtin:arith-prm) or --set weights=self-certainty")
        markers = thought_markers(engine) if self.compress == "lightthinker" else None
        out = []
        for start in range(0, len(problems), self.batch_size):
            batch = Batch(self, engine, task, problems[start:start + self.batch_size], scorer, markers)
            out += self.solve_batch(batch)
        return out

    @abstractmethod
    def solve_batch(self, batch: "Batch") -> list[Result]:
        """Solve the problems of one batch; one Result per problem, in order."""


class Batch:
    """One batch of problems being solved: the engine, task and scorer, and per-problem randomness."""

    def __init__(self, method: Scaling, engine, task, problems, scorer, markers=None):
        self.m, self.engine, self.task, self.problems, self.scorer = method, engine, task, problems, scorer
        self.markers = markers   # ThoughtMarkers when thoughts are compressed
        style = engine.prompt_style
        self.prompts = [style.render(p, "cot", engine.tokenizer) for p in problems]
        self.prefix = style.response_prefix("cot")
        self.delimiter = style.step_delimiter
        self._rngs: dict = {}
        self.requests = None

    def rng(self, p: int, *tag) -> np.random.Generator:
        """Problem p's generator for `tag` (resampling, ...): seeded by the run seed and the problem's
        id, so a problem's choices do not depend on its batch."""
        key = (p, *tag)
        if key not in self._rngs:
            self._rngs[key] = np.random.default_rng(stream_seed(self.m.seed, self.problems[p].id, *tag))
        return self._rngs[key]

    def start(self, n: int, scored: bool = True) -> "Particles":
        """n particles per problem, sharing each problem's prefilled prompt (and PRM prefix)."""
        e = self.engine
        # every start of a batch (particle Gibbs iterations, tempering chains) counts into one Usage per
        # problem: the first creates the requests, later ones hand them back in
        seqs = e.prefill(self.prompts, seeds=[stream_seed(self.m.seed, p.id) for p in self.problems],
                         requests=self.requests)
        self.requests = [row.request for row in seqs.rows]
        if scored and self.m.weights == "prm":
            self.scorer.attach(seqs, self.problems, self.task, aggregation=self.m.aggregation)
        e.fork(seqs, n)
        particles = Particles(self, seqs, [p for p in range(len(self.problems)) for _ in range(n)])
        for r, s in enumerate(particles.states):
            s.begin = seqs.num_tokens(r)
        return particles

    def result(self, p: int, text: str, answer: str | None, usage, trace: dict) -> Result:
        return Result(problem_id=self.problems[p].id, output=self.prefix + text, usage=usage, answer=answer,
                      trace={"oracle": bool(getattr(self.scorer, "oracle", False)), **trace})


@dataclass
class State:
    """The Python side of one particle."""

    steps: list[str] = field(default_factory=list)
    done: bool = False
    score: float | None = None
    logw: float = 0.0
    tokens: int = 0
    logprob_sum: float = 0.0
    begin: int = 0
    """Compressed thoughts: where the live thought starts among the row's held tokens."""
    thoughts: int = 0
    """Compressed thoughts so far."""

    def copy(self) -> "State":
        return replace(self, steps=list(self.steps))

    @property
    def text(self) -> str:
        return "".join(self.steps)


class Particles:
    """Engine rows and their States, kept in lockstep. `owner[i]` is the problem of row i."""

    def __init__(self, batch: Batch, seqs, owner: list[int]):
        self.b, self.seqs, self.owner = batch, seqs, owner
        self.states = [State() for _ in owner]

    def __len__(self) -> int:
        return len(self.owner)

    def rows_of(self, p: int) -> list[int]:
        return [i for i, o in enumerate(self.owner) if o == p]

    def select(self, rows: list[int]) -> None:
        """Rows become `rows` of the old set (repeats: copies; left out: dropped), states alike."""
        self.b.engine.select(self.seqs, rows)
        self.owner = [self.owner[r] for r in rows]
        self.states = [self.states[r].copy() for r in rows]

    def live(self) -> list[int]:
        return [i for i, s in enumerate(self.states) if not s.done]

    def advance(self, whole: bool = False, rows: list[int] | None = None) -> list[int]:
        """Decode the next step of every live particle (or of `rows`; or, `whole`, the rest of each
        solution); returns the rows that got one. A particle is done at EOS, once a step holds a final
        answer, or at the step or token cap."""
        m, e, mk = self.b.m, self.b.engine, self.b.markers
        rows = self.live() if rows is None else rows
        if not rows:
            return []
        params = []
        for r in rows:
            left = min(m.max_new_tokens - self.states[r].tokens, self._room(r) - 2)
            cap = left if whole else min(m.step_tokens, left)
            if mk and not whole:   # a compressed particle's step is a thought: up to the splitter
                stops = {"stop_token_ids": (mk.splitter,)}
            else:
                stops = {"stop": () if whole else (self.b.delimiter,)}
            params.append(SamplingParams(max_new_tokens=max(1, cap), temperature=m.temperature, **stops))
        outs = e.extend(self.seqs, params, rows=rows)
        thought_ends = []
        for r, c in zip(rows, outs):
            s = self.states[r]
            s.steps.append(thought_text(c.text, c.finish_reason) if mk else c.text)
            s.tokens += len(c.logprobs)
            s.logprob_sum += sum(c.logprobs)
            s.done = (whole or c.finish_reason == "eos" or self.b.task.extract(s.steps[-1]) is not None
                      or len(s.steps) >= m.max_steps or s.tokens >= m.max_new_tokens or self._room(r) < 4)
            if mk and not s.done and c.finish_reason == "stop":
                thought_ends.append(r)
        # a step that ran into step_tokens before <w> leaves its thought open; the next step continues it
        for r, b in zip(thought_ends, compress(e, self.seqs, thought_ends, [self.states[r].begin for r in thought_ends],
                                               mk) if thought_ends else []):
            self.states[r].begin, self.states[r].thoughts = b, self.states[r].thoughts + 1
        return rows

    def _room(self, r: int) -> int:
        """Tokens row r may still add. Compressed rows: positions only grow (evictions leave gaps), and
        each thought needs room for its compression (C and [o]) after it."""
        e, mk = self.b.engine, self.b.markers
        if mk is None:
            return e.max_context - self.seqs.num_tokens(r)
        return e.max_context - self.seqs.next_position(r) - mk.room()

    def weigh(self, rows: list[int], steps: list[str] | None = None) -> None:
        """Score rows that just got a step (its text, or `steps[i]` for row rows[i]) and set their
        log-weights: logit of the PRM's score of the solution so far, or of exp(mean token logprob)."""
        if not rows:
            return
        if self.b.m.weights == "prm":
            texts = [None] * len(self)
            for i, r in enumerate(rows):
                texts[r] = steps[i] if steps is not None else self.states[r].steps[-1]
            scores = self.b.scorer.score(self.seqs, texts)
            for r in rows:
                self.states[r].score = scores[r]
        else:
            for r in rows:
                s = self.states[r]
                s.score = math.exp(s.logprob_sum / max(1, s.tokens))
        for r in rows:
            self.states[r].logw = logit(self.states[r].score)

    def answer(self, r: int) -> str | None:
        return self.b.task.extract(self.b.prefix + self.states[r].text)

    def finish_best(self, p: int, trace: dict | None = None) -> Result:
        """Problem p's Result from its highest-weight particle (the first, on a tie)."""
        rows = self.rows_of(p)
        chosen = max(rows, key=lambda r: self.states[r].logw)
        return self.finish(p, chosen, self.answer(chosen), trace)

    def finish(self, p: int, chosen: int, answer: str | None, trace: dict | None = None) -> Result:
        """Problem p's Result from row `chosen` (and `answer`, e.g. a vote), with what its particles did."""
        rows = self.rows_of(p)
        usage = self.b.engine.usage(self.seqs)[p]
        info = {"chosen": rows.index(chosen) if chosen in rows else None,
                "answers": [self.answer(r) for r in rows],
                "scores": [None if self.states[r].score is None else round(self.states[r].score, 6) for r in rows],
                **({"thoughts": [self.states[r].thoughts for r in rows]} if self.b.markers else {}),
                **(trace or {})}
        return self.b.result(p, self.states[chosen].text, answer, usage, info)


def vote(answers: list[str | None], weights: list[float] | None = None) -> str | None:
    """The answer with the most (weighted) votes; ties go to the answer seen first."""
    totals: dict[str, float] = {}
    for i, a in enumerate(answers):
        if a is not None:
            totals[a] = totals.get(a, 0.0) + (1.0 if weights is None else weights[i])
    return max(totals, key=totals.get) if totals else None
