"""The part every config-driven generator shares (arith, iterate): named splits of configs, seeds
offset for evaluation splits, problems built up front, exact numeric grading."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from ..errors import LeanthinkError
from .base import Problem, Task, generated_count
from .grading_numeric import numbers_equal


class GeneratedTask(Task):
    """Subclasses set `name`, `SPLITS` (split -> config with `.validate()`), `EVAL_SEED_OFFSET`, and
    implement `generate(cfg, rng, split) -> (question, steps, answer)`."""

    exact_steps = True
    answer_kind = "number"
    SPLITS: dict = {}
    EVAL_SEED_OFFSET = 1

    def __init__(self, config=None):
        self.config = config

    def generate(self, cfg, rng: random.Random, split: str) -> tuple[str, list[str], int]:
        raise NotImplementedError

    def load(self, split: str | None = None, data: Path | None = None, limit: int | None = None,
             seed: int = 0) -> list[Problem]:
        if data is not None:
            raise LeanthinkError(f"{self.name} is generated, it reads no --data file; choose --split "
                                 f"({', '.join(self.SPLITS)})")
        split = split or "easy"
        if self.config is None and split not in self.SPLITS:
            raise LeanthinkError(f"{self.name}: unknown split {split!r}; choose one of {', '.join(self.SPLITS)}")
        cfg = (self.config or self.SPLITS[split]).validate()
        n = generated_count(limit)
        # train problems come from the seed itself, evaluation splits from an offset seed
        base = seed if split.startswith("train") else seed + self.EVAL_SEED_OFFSET
        rng = random.Random(f"{self.name}/{split}/{base}")
        out = []
        for i in range(n):
            question, steps, answer = self.generate(cfg, rng, split)
            out.append(Problem(id=f"{self.name}-{split}-{seed}-{i}", question=question, answer=str(answer),
                               steps=tuple(steps), meta={"n_steps": len(steps)}))
        return out

    def grade(self, predicted: str | None, problem: Problem) -> bool:
        return numbers_equal(predicted, problem.answer)

    def with_config(self, **changes):
        """The same task with a changed generator config (e.g. `min_steps=10, max_steps=10`)."""
        twin = self.__class__.__new__(self.__class__)
        twin.__dict__.update(self.__dict__)
        twin.config = replace(self.config or self.SPLITS["easy"], **changes)
        return twin
