r"""GSM8K: grade-school word problems with a numeric answer (openai/grade-school-math JSONL).

Each line holds `question` and `answer`; `answer` is a worked solution whose last line is
`#### <final answer>`, with calculator annotations such as `<<16-3-4=9>>` inside the text. The
annotations were tool calls for the original data collection, not reasoning a model should copy, so
they are removed from `steps` and `solution`. The reference output ends in `\boxed{X}` so the same
extractor that reads model outputs reads it.
"""

from __future__ import annotations

import re

from .base import Problem
from .files import FileTask, Record
from .grading import grade_number

_CALCULATOR = re.compile(r"<<[^<>]*>>")


def split_solution(answer: str) -> tuple[list[str], str | None]:
    """(cleaned worked-solution lines, final answer) of a GSM8K `answer` field."""
    body, sep, final = answer.rpartition("####")
    if not sep:
        return [], None
    lines = [_CALCULATOR.sub("", line).strip() for line in body.splitlines()]
    return [line for line in lines if line], final.strip() or None


class GSM8KTask(FileTask):
    name = "gsm8k"
    answer_kind = "number"
    default_file = "gsm8k_test.jsonl"
    required = ("question", "answer")

    def to_problem(self, record: Record) -> Problem:
        steps, final = split_solution(record.text("answer"))
        if final is None:
            raise record.error("field 'answer' has no final '#### <number>' line")
        solution = "\n".join(steps + [f"The final answer is \\boxed{{{final}}}."])
        return Problem(id=f"gsm8k-{record.index}", question=record.text("question"), answer=final,
                       steps=tuple(steps), solution=solution, meta={"line": record.line})

    def grade(self, predicted: str | None, problem: Problem) -> bool:
        return grade_number(predicted, problem.answer)
