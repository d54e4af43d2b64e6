"""`iterate`: a short seed and a rule applied many times, deterministic by seed.

The testbed of thought compression (LightThinker): the prompt is short and the reasoning long (a
line per application of the rule), and every line carries the state forward, so a method that drops
finished thoughts from the context must keep the state in what it keeps.

    question: "x=47. 4 times: x=(x*3+5)%100. What is x?"
    steps:    "1: 47*3+5=146, x=46", "2: 46*3+5=143, x=43", "3: 43*3+5=134, x=34", "4: 34*3+5=107, x=7"
              then "Answer: 7"

The variable is a random letter. Evaluation splits draw their starts (seed, multiplier, offset)
from a fixed tenth of all starts and `train` from the rest, so held-out problems are unseen
trajectories, not just unseen seeds.

Each line is the same small skill (multiply a two-digit number by one digit, add one digit, keep the
last two digits) plus the count, so difficulty grows with the number of applications. The answer is
checked exactly; `step_labels` can check every line (the gold trace is the only right one).
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from ..errors import LeanthinkError
from .generated import GeneratedTask


@dataclass(frozen=True)
class IterateConfig:
    """Knobs of the generator."""

    min_steps: int = 1
    """Fewest applications of the rule."""
    max_steps: int = 12
    """Most applications of the rule (at most 99)."""
    multipliers: str = "379"
    """Digits the rule's multiplier is drawn from. Coprime with 100, so the rule is a bijection on
    0-99: x never collapses onto the fixed points and 2-cycles an even multiplier or 5 falls into
    (which would let the answer be guessed from the parity of the count)."""
    max_offset: int = 9
    """The rule's offset is drawn from [1, max_offset]."""

    def validate(self) -> "IterateConfig":
        if not 1 <= self.min_steps <= self.max_steps <= 99:
            raise LeanthinkError(f"iterate: need 1 <= min_steps <= max_steps <= 99, got {self.min_steps}..{self.max_steps}")
        if not self.multipliers or set(self.multipliers) - set("23456789"):
            raise LeanthinkError(f"iterate: multipliers must be digits 2-9, got {self.multipliers!r}")
        if not 1 <= self.max_offset <= 9:
            raise LeanthinkError(f"iterate: max_offset must be in [1, 9], got {self.max_offset}")
        return self


#: Named splits. `train` is what built-in reasoners for the task are trained on; `easy` is the sanity
#: check; `long` is the thought-compression testbed: the longest trained lengths, where the reasoning
#: is at least 5x the prompt (docs/tasks.md has the measured lengths).
SPLITS: dict[str, IterateConfig] = {
    "easy": IterateConfig(min_steps=1, max_steps=4),
    "long": IterateConfig(min_steps=10, max_steps=12),
    "train": IterateConfig(min_steps=1, max_steps=12),
}

#: Seeds of the evaluation splits are offset so no evaluation problem is drawn from a training seed.
EVAL_SEED_OFFSET = 2_000_003


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def held_out(x: int, a: int, b: int) -> bool:
    """Whether a start (seed, multiplier, offset) belongs to the evaluation splits: one in ten, by a
    fixed hash, so no trajectory an evaluation problem follows (nor any prefix of it) is ever trained."""
    return zlib.crc32(f"{x},{a},{b}".encode()) % 10 == 0


def generate(cfg: IterateConfig, rng: random.Random, evaluation: bool) -> tuple[str, list[str], int]:
    """One problem: (question, gold steps, answer), from the evaluation or the training starts."""
    n = rng.randint(cfg.min_steps, cfg.max_steps)
    while True:
        x, a, b = rng.randint(0, 99), int(rng.choice(sorted(set(cfg.multipliers)))), rng.randint(1, cfg.max_offset)
        if held_out(x, a, b) == evaluation:
            break
    v = rng.choice(_LETTERS)
    question = f"{v}={x}. {n} times: {v}=({v}*{a}+{b})%100. What is {v}?"
    steps = []
    for i in range(1, n + 1):
        full = x * a + b
        steps.append(f"{i}: {x}*{a}+{b}={full}, {v}={full % 100}")
        x = full % 100
    return question, steps, x


class IterateTask(GeneratedTask):
    name = "iterate"
    splits = tuple(SPLITS)
    SPLITS = SPLITS
    EVAL_SEED_OFFSET = EVAL_SEED_OFFSET

    def generate(self, cfg, rng, split):
        return generate(cfg, rng, evaluation=split != "train")
