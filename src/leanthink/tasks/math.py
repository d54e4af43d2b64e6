r"""Competition math with LaTeX answers: MATH-500 and AIME, graded by symbolic equivalence.

MATH-500 lines hold `problem`, `solution` (ending in `\boxed{answer}`), `answer`, and optionally
`subject`, `level`, `unique_id`. AIME lines hold `problem`, `answer` (an integer 0-999, sometimes
zero-padded as "025") and optionally `solution` and `id`. AIME solutions are community write-ups
that often end in `\framebox{}` or `\textbf{(113)}` rather than `\boxed{}`, so the reference output
appends `\boxed{answer}` when the solution has no box of its own.
"""

from __future__ import annotations

from .base import Problem, last_boxed
from .files import FileTask, Record
from .grading import grade_math


class Math500Task(FileTask):
    name = "math500"
    answer_kind = "expression"
    default_file = "math500_test.jsonl"
    required = ("problem", "solution", "answer")

    def to_problem(self, record: Record) -> Problem:
        meta = {"line": record.line}
        for key in ("subject", "level", "unique_id"):
            if record.data.get(key) is not None:
                meta[key] = record.data[key]
        # the PRM800K copy has unique_id ("test/precalculus/807.json"); other copies may not
        uid = record.text("unique_id")
        return Problem(id=f"math500-{uid or record.index}", question=record.text("problem"),
                       answer=record.text("answer"), solution=record.text("solution"), meta=meta)

    def grade(self, predicted: str | None, problem: Problem) -> bool:
        return grade_math(predicted, problem.answer)


class AimeTask(FileTask):
    name = "aime"
    answer_kind = "number"
    default_file = "aime2024_test.jsonl"
    required = ("problem", "answer")

    def to_problem(self, record: Record) -> Problem:
        answer = record.text("answer")
        solution = record.text("solution")
        if solution is not None and last_boxed(solution) is None:
            solution = solution.rstrip() + f"\n\nThe final answer is $\\boxed{{{answer}}}$."
        uid = record.text("id")
        return Problem(id=f"aime-{uid if uid is not None else record.index}",
                       question=record.text("problem"), answer=answer, solution=solution,
                       meta={"line": record.line})

    def grade(self, predicted: str | None, problem: Problem) -> bool:
        return grade_math(predicted, problem.answer)

    def reference_output(self, problem: Problem) -> str:
        # without a solution the base class would write "Answer: X"; a box is what models are asked for
        return problem.solution or f"The final answer is $\\boxed{{{problem.answer}}}$."
