"""The method interface: a frozen dataclass of settings and one batched entry point.

`Method.solve(engine, task, problems)` returns one `Result` per problem. Methods speak in prompts,
sequences, steps and scores; they never index tensors (that is the engine's job).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field

from ..engine.usage import Usage
from ..tasks.base import Problem, Task


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

    def settings(self) -> dict:
        return asdict(self)

    @abstractmethod
    def solve(self, engine, task: Task, problems: list[Problem]) -> list[Result]:
        """Solve a batch of problems; one Result per problem, in order."""
