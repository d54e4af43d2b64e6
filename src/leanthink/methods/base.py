"""The method interface: a frozen dataclass of settings and one batched entry point.

`Method.solve(engine, task, problems, scorer)` returns one `Result` per problem. Methods speak in prompts,
sequences, steps and scores; they never index tensors (that is the engine's job).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

from ..engine.base import BASIC
from ..engine.usage import Usage
from ..tasks.base import Problem, Task

#: field metadata of settings that change how a run executes, not what it outputs (batch size: every
#: row samples from its own stream, so outputs do not depend on batching); left out of the run id
EXECUTION = {"execution": True}


@dataclass
class Result:
    """What a method produced for one problem. The harness extracts and grades `output` with the task,
    unless the method already chose an `answer` (e.g. a majority vote over samples)."""

    problem_id: str
    output: str
    usage: Usage
    answer: str | None = None
    trace: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Method(ABC):
    """Base class of every method; subclasses are frozen dataclasses whose fields are the settings."""

    name = ""
    #: engine verbs the method uses (checked against the engine's capabilities before loading)
    requires: ClassVar[frozenset[str]] = BASIC
    #: whether the method needs a scorer (a PRM or verifier) to run: "no", "optional" or "yes"
    scorer: ClassVar[str] = "no"

    def settings(self) -> dict:
        return asdict(self)

    def identity(self) -> dict:
        """The settings that define the method's outputs (what the run id hashes)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata.get("execution")}

    def needs_scorer(self) -> bool:
        """Whether this instance (its settings) scores with a scorer the caller must give."""
        return self.scorer == "yes"

    @abstractmethod
    def solve(self, engine, task: Task, problems: list[Problem], scorer=None) -> list[Result]:
        """Solve a batch of problems; one Result per problem, in order. `scorer` is the PRM or
        verifier the run was given (methods that score nothing ignore it)."""



@dataclass(frozen=True)
class Decoding(Method):
    """The settings every method that decodes one answer per problem shares (cot, direct, LightThinker,
    H2O), validated before any work."""

    max_new_tokens: int = 512
    """Cap on sampled tokens per problem."""
    temperature: float = 0.0
    """0 = greedy."""
    top_p: float = 1.0
    batch_size: int = field(default=16, metadata=EXECUTION)
    """Problems decoded together in one batch (outputs do not depend on it)."""
    seed: int = 0
    """Run seed: problem p samples from the stream seeded by (seed, p.id)."""

    def __post_init__(self):
        from .. import checks

        checks.integer("batch_size", self.batch_size, 1)
        checks.seed("seed", self.seed)
        self.sampling()   # validates max_new_tokens, temperature, top_p

    def sampling(self, **changes):
        """The SamplingParams of these settings (with `changes`, e.g. a per-call token cap)."""
        from ..engine import SamplingParams

        return SamplingParams(**{"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                                 "top_p": self.top_p, **changes})

    def prefilled(self, engine, problems, mode: str = "cot"):
        """(batch of problems, their rows prefilled with the prompt of `mode`), batch by batch; row p
        samples from the stream seeded by (seed, p.id)."""
        from ..engine import stream_seed

        style = engine.prompt_style
        for start in range(0, len(problems), self.batch_size):
            chunk = problems[start:start + self.batch_size]
            yield chunk, engine.prefill([style.render(p, mode, engine.tokenizer) for p in chunk],
                                        seeds=[stream_seed(self.seed, p.id) for p in chunk])
