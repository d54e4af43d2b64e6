"""`arith`: synthetic multi-step arithmetic chains, deterministic by seed.

A problem defines variables one per clause, each from an earlier one by a single operation, and asks
for the last one on the chain:

    question: "x=47. k=x+8. m=k-5. q=m*2. What is q?"
    steps:    "k=47+8=55", "m=55-5=50", "q=50*2=100"   (one per line), then "Answer: 100"
    restated: "k=x+8=47+8=55", ...                            (trace="restate")
    verbose:  the restated steps, then every step checked, in order, by its inverse, each check
              restating the answer: "check k: 55-8=47=x, so q=50", "check m: 50+5=55=k, so q=50",
              "check q: 100/2=50=m, so q=50"  (trace="verbose")

Why this design: every step is the same small skill (look up the defining clause of the next
variable by name, copy the previous result, apply one +, - or * with a one-digit operand, values kept
in [0, max_value]), so a tiny transformer learns single steps almost perfectly and difficulty comes
from chain length: a chain is right only if every step is. The `restate` trace first copies the
clause verbatim ("k=x+8", a pure copy from the question) before substituting the value, which turns
the lookup into plain induction-style copying; it is longer, and offered as an option. The `verbose`
trace is a reasoner that over-thinks: after the answer is known it re-checks every step (about twice
the tokens of `restate`), so compact-reasoning methods have something to remove. Every check ends by
restating the answer, as reasoning models re-assert theirs while they verify: the answer is then
the last number of every line from the last step on, so an answer forced or probed after any check
is right (budget forcing, early exit). A first version checked backwards without restating, and a
2.7M model trained on it (600 steps from builtin:arith) lost the answer behind the checks (2% on
`search`, answers copied from the wrong line).
Variable names are random letters, so the
lookup is by content, not by position. Distractors are extra clauses that hang off the chain but are
not needed for the asked variable; the gold steps skip them.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from ..errors import LeanthinkError
from .generated import GeneratedTask

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class ArithConfig:
    """Knobs of the generator."""

    min_steps: int = 1
    """Fewest operations on the chain to the asked variable."""
    max_steps: int = 3
    """Most operations on the chain (at most 20: variables are distinct letters)."""
    max_value: int = 99
    """Every intermediate value stays in [0, max_value]."""
    max_operand: int = 9
    """Operands are drawn from [1, max_operand]."""
    distractors: int = 0
    """Extra clauses, not needed for the answer, mixed into the question."""
    ops: str = "+-*"
    """Operations to draw from."""

    def validate(self) -> "ArithConfig":
        if not 1 <= self.min_steps <= self.max_steps <= 20:
            raise LeanthinkError(f"arith: need 1 <= min_steps <= max_steps <= 20, got {self.min_steps}..{self.max_steps}")
        if self.max_value < 10 or self.max_operand < 1 or self.max_operand > self.max_value:
            raise LeanthinkError("arith: need max_value >= 10 and 1 <= max_operand <= max_value")
        if not 0 <= self.distractors <= 5:
            raise LeanthinkError(f"arith: distractors must be in [0, 5], got {self.distractors}")
        if not self.ops or set(self.ops) - set("+-*"):
            raise LeanthinkError(f"arith: ops must be a non-empty subset of '+-*', got {self.ops!r}")
        return self


#: Named splits. `easy` is short chains (the reasoner's sanity check); `hard` is where builtin:arith's
#: greedy CoT lands between 30% and 70%: 10 operations (the longest it was trained on, ~90% right)
#: and 11 (one past its training lengths, where it fails); docs/builtin-models.md has the per-length
#: curve. `search` is the testbed of inference-time scaling: 4-operation chains, where
#: builtin:arith-weak's greedy CoT is right 30-60% of the time and one of 32 samples at temperature
#: 0.8 almost always (docs/methods/particle-filter.md). `train` is what the built-ins were trained on;
#: `train-easy` is training problems of `easy`'s lengths (Coconut's curriculum on short chains);
#: `medium` (6 operations, the longest `train-short` chains) is where the compact-reasoning methods are
#: compared: builtin:arith-verbose's greedy CoT is right 78% of the time there (92% at 4, 8% at 7).
#: `train-short` is chains of 1-6 operations, what the compact-reasoning built-ins train on (their
#: verbose chains are ~3x longer, so training on `train`'s lengths would cost ~3x more per step).
#: `mixed` (1-7 operations, uniform) is the mixed-difficulty set a router is measured on: from chains a
#: direct answer gets right to one past builtin:arith-verbose's training lengths.
SPLITS: dict[str, ArithConfig] = {
    "easy": ArithConfig(min_steps=1, max_steps=3),
    "hard": ArithConfig(min_steps=10, max_steps=11),
    "search": ArithConfig(min_steps=4, max_steps=4),
    "medium": ArithConfig(min_steps=6, max_steps=6),
    "train": ArithConfig(min_steps=1, max_steps=10),
    "train-easy": ArithConfig(min_steps=1, max_steps=3),
    "train-short": ArithConfig(min_steps=1, max_steps=6),
    "mixed": ArithConfig(min_steps=1, max_steps=7),
}

#: Seeds of the evaluation splits are offset so no evaluation problem is drawn from a training seed.
EVAL_SEED_OFFSET = 1_000_003


def _apply(value: int, op: str, operand: int) -> int:
    return value + operand if op == "+" else value - operand if op == "-" else value * operand


def _draw_op(rng: random.Random, value: int, cfg: ArithConfig) -> tuple[str, int]:
    """A random operation whose result stays in [0, max_value], uniform over the valid ones."""
    valid = [(op, k) for op in cfg.ops for k in range(1 if op != "*" else 2, cfg.max_operand + 1)
             if 0 <= _apply(value, op, k) <= cfg.max_value]
    if not valid:
        raise LeanthinkError(f"arith: no operation in {cfg.ops!r} keeps {value} within [0, {cfg.max_value}]")
    # draw the operation first, then its operand, so +, - and * stay equally likely
    op = rng.choice(sorted({op for op, _ in valid}))
    return rng.choice([v for v in valid if v[0] == op])


TRACES = ("compact", "restate", "verbose")
_INVERSE = {"+": "-", "-": "+", "*": "/"}


def generate(cfg: ArithConfig, rng: random.Random, trace: str = "compact") -> tuple[str, list[str], int]:
    """One problem: (question, gold steps, answer)."""
    n = rng.randint(cfg.min_steps, cfg.max_steps)
    names = rng.sample(_LETTERS, n + 1 + cfg.distractors)
    chain, extra = names[: n + 1], names[n + 1:]
    value = rng.randint(0, cfg.max_value)
    clauses = [(chain[0], f"{chain[0]}={value}")]
    steps, values, checks = [], {chain[0]: value}, []
    for prev, var in zip(chain, chain[1:]):
        op, operand = _draw_op(rng, values[prev], cfg)
        new = _apply(values[prev], op, operand)
        clauses.append((var, f"{var}={prev}{op}{operand}"))
        restated = f"{prev}{op}{operand}=" if trace in ("restate", "verbose") else ""
        steps.append(f"{var}={restated}{values[prev]}{op}{operand}={new}")
        values[var] = new
        checks.append(f"check {var}: {new}{_INVERSE[op]}{operand}={values[prev]}={prev}")
    # each check ends by restating the answer, as reasoning models re-assert theirs while verifying
    checks = [f"{c}, so {chain[-1]}={values[chain[-1]]}" for c in checks]
    # distractors hang off a random chain variable and are placed after it, so the question still
    # reads top to bottom; they never feed the asked variable.
    for var in extra:
        src = rng.randrange(len(chain))
        op, operand = _draw_op(rng, values[chain[src]], cfg)
        pos = rng.randint(src + 1, len(clauses))
        clauses.insert(pos, (var, f"{var}={chain[src]}{op}{operand}"))
    question = ". ".join(c for _, c in clauses) + f". What is {chain[-1]}?"
    if trace == "verbose":
        steps += checks
    return question, steps, values[chain[-1]]


def chain_variants(question: str, steps) -> list[str]:
    """Every correct chain of one problem from terse to verbose: the steps compact or restated, then the
    first k of the checks (k = 0..n), as reasoning text (lines, no answer line). Rebuilt from the
    question and the steps of any trace, so the lengths span what the three traces write."""
    clauses = dict(c.split("=", 1) for c in question.split(". ")[:-1])
    forms: dict[str, list[str]] = {"compact": [], "restate": []}
    checks = []
    for line in steps:
        if line.startswith("check "):
            continue
        var, *_, calc, result = line.split("=")
        a, op, b = re.fullmatch(r"(\d+)([-+*])(\d+)", calc).groups()
        src = clauses[var][0]
        forms["compact"].append(f"{var}={calc}={result}")
        forms["restate"].append(f"{var}={clauses[var]}={calc}={result}")
        checks.append(f"check {var}: {result}{_INVERSE[op]}{b}={a}={src}")
    if checks:
        last, answer = forms["compact"][-1].split("=")[0], forms["compact"][-1].split("=")[-1]
        checks = [f"{c}, so {last}={answer}" for c in checks]
    return ["\n".join(lines + checks[:k]) for lines in forms.values() for k in range(len(checks) + 1)]


class ArithTask(GeneratedTask):
    name = "arith"
    splits = tuple(SPLITS)
    SPLITS = SPLITS
    EVAL_SEED_OFFSET = EVAL_SEED_OFFSET

    def __init__(self, config: ArithConfig | None = None, trace: str = "compact"):
        if trace not in TRACES:
            raise LeanthinkError(f"arith: unknown trace {trace!r}; choose one of {', '.join(TRACES)}")
        super().__init__(config)
        self.trace = trace

    def generate(self, cfg, rng, split):
        return generate(cfg, rng, self.trace)

    def chain_variants(self, problem) -> list[str]:
        """Correct chains of several lengths (the L1 warm start, train/l1.py); see `chain_variants`."""
        return chain_variants(problem.question, problem.steps)
