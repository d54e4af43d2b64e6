"""The task interface: problems, prompts, answer extraction, grading, gold steps where known.

Real files (GSM8K, MATH-500, AIME, ProsQA) and synthetic generators (arith, prosqa) share it, so
methods and the harness never special-case a data source.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LeanthinkError


@dataclass(frozen=True)
class Problem:
    """One question with its gold answer.

    `steps` are the gold reasoning steps (synthetic tasks and ProsQA know them; GSM8K's worked solution
    is split into lines); `solution` is the dataset's own worked solution, used by the `reference`
    method to check extraction and grading end to end.
    """

    id: str
    question: str
    answer: str
    steps: tuple[str, ...] = ()
    solution: str | None = None
    meta: dict = field(default_factory=dict, compare=False, hash=False)


#: problems a generated split gives by default, and at most (each is built up front, in memory)
GENERATED_DEFAULT = 500
GENERATED_MAX = 100_000


def generated_count(limit: int | None) -> int:
    """How many problems to generate for `limit` (None: the default), refusing what would not fit."""
    if limit is None:
        return GENERATED_DEFAULT
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise LeanthinkError(f"limit must be an integer >= 0, got {limit!r}")
    if limit > GENERATED_MAX:
        raise LeanthinkError(f"--limit {limit}: a generated split gives at most {GENERATED_MAX} problems per seed "
                             "(use several --data-seed values for more)")
    return limit


class Task(ABC):
    """A source of problems plus the rules to grade answers to them."""

    name: str = ""
    #: splits a generator can produce without a data file (e.g. "easy", "hard"); empty for file tasks
    splits: tuple[str, ...] = ()
    #: training-only splits that have no direct form (e.g. ProsQA's lookup drills)
    cot_only_splits: tuple[str, ...] = ()
    #: what the question asks for, used by prompts of real models ("number", "expression", "entity")
    answer_kind: str = "number"

    @abstractmethod
    def load(self, split: str | None = None, data: Path | None = None, limit: int | None = None,
             seed: int = 0) -> list[Problem]:
        """Problems of a generated split or of a data file (`data` wins when both are given)."""

    @abstractmethod
    def grade(self, predicted: str | None, problem: Problem) -> bool:
        """Whether an extracted answer is correct for this problem."""

    def extract(self, output: str) -> str | None:
        """The final answer in a model output (\\boxed{} first, then `Answer:`, then `####`)."""
        return extract_answer(output)

    def reference_output(self, problem: Problem) -> str:
        """The dataset's own gold solution, written as a model output would be."""
        if problem.solution:
            return problem.solution
        body = "\n".join(problem.steps)
        return (body + "\n" if body else "") + f"Answer: {problem.answer}"

    def direct_target(self, problem: Problem) -> str:
        """What a built-in reasoner writes after `Answer:` when asked to answer directly."""
        return problem.answer

    def cot_target(self, problem: Problem) -> str:
        """Training target for built-in reasoners: gold steps one per line, then `Answer: X`."""
        return self.reference_output(problem)

    #: whether `cot_target` is the one right trace, so each step of a solution can be checked exactly
    exact_steps: bool = False

    def step_labels(self, problem: Problem, steps: list[str]) -> list[bool] | None:
        """Whether each step keeps a solution on a right path: step i is right iff steps 1..i are the
        first i lines of the gold trace (tasks with `exact_steps`); None when the task cannot tell
        (real data: a PRM for it needs Monte-Carlo labels)."""
        if not self.exact_steps:
            return None
        gold = [line.strip() for line in self.cot_target(problem).splitlines() if line.strip()]
        ok, out = True, []
        for i, s in enumerate(steps):
            ok = ok and i < len(gold) and s.strip() == gold[i]
            out.append(ok)
        return out

    def loss_spans(self, problem: Problem, target: str) -> list[tuple[int, int]] | None:
        """Character spans of a training target that the loss covers (None: all of it, and the EOS)."""
        return None

    def added_tokens(self) -> tuple[str, ...]:
        """Words a new built-in model for this task should have as single tokens (`leanthink train
        --task-tokens`); the tokenizer keeps only those its BPE splits."""
        return ()


_BOXED = "\\boxed"
# \framebox appears in AIME write-ups; (?![A-Za-z]) keeps \boxedfoo from counting
_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox|framebox)(?![A-Za-z])")


def last_boxed(text: str) -> str | None:
    r"""Content of the last \boxed{...} (or \fbox, \framebox), with nested braces balanced.

    Escaped braces (`\{`, `\}`) do not count, so `\boxed{\left\{ 1 \right.}` stays whole. An
    unclosed last box gives None rather than a guess.
    """
    matches = list(_BOX_COMMAND.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end():]
    body = rest.lstrip()
    if not body.startswith("{"):
        m = re.match(r"\s+([^\s$]+)", rest)  # "\boxed 5" form
        return m.group(1) if m else None
    depth, i = 0, 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return body[1:i].strip()
        i += 1
    return None


_ANSWER_RE = re.compile(r"(?:final answer|answer)\s*(?:is)?\s*[:：]\s*(.+)", re.IGNORECASE)
# "The answer is 18." without a colon: the habit of few-shot GSM8K prompts; tried last
_ANSWER_IS_RE = re.compile(r"\banswer is\s+(.+)", re.IGNORECASE)


def extract_answer(output: str) -> str | None:
    """Final answer of a model output: last \\boxed{}, else last `Answer: X` line, else `#### X`,
    else the last `the answer is X`."""
    boxed = last_boxed(output)
    if boxed is not None:
        return boxed
    matches = _ANSWER_RE.findall(output)
    if matches:
        ans = matches[-1].strip().splitlines()[0].strip() if matches[-1].strip() else ""
        return ans.rstrip(".").strip() or None
    if "####" in output:
        tail = output.rsplit("####", 1)[1].strip()
        return tail.splitlines()[0].strip() if tail else None
    matches = _ANSWER_IS_RE.findall(output)
    if matches:
        ans = matches[-1].strip().rstrip(".").strip()
        if ans.startswith("$") and ans.endswith("$") and len(ans) > 1:
            ans = ans[1:-1].strip()  # "$\frac{1}{2}$" but not a lone "$18"
        return ans or None
    return None
