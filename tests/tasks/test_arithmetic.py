"""The arith generator: deterministic, well-formed, steps that recompute the answer, knobs that work."""

from __future__ import annotations

import re

import pytest

from leanthink.errors import LeanthinkError
from leanthink.tasks import get_task
from leanthink.tasks.arithmetic import SPLITS, ArithConfig, ArithTask

STEP = re.compile(r"^([a-z])=(\d+)([+\-*])(\d+)=(\d+)$")
RESTATED = re.compile(r"^([a-z])=([a-z])([+\-*])(\d+)=(\d+)([+\-*])(\d+)=(\d+)$")


def clauses(question: str) -> dict[str, str]:
    body = question.rsplit(". What is", 1)[0]
    return dict(c.split("=", 1) for c in body.split(". "))


@pytest.mark.parametrize("split", list(SPLITS))
def test_steps_follow_the_question_and_compute_the_answer(split):
    task = get_task("arith")
    cfg = SPLITS[split]
    for p in task.load(split, limit=200, seed=1):
        defs = clauses(p.question)
        asked = re.search(r"What is ([a-z])\?$", p.question).group(1)
        values = {v: int(d) for v, d in defs.items() if d.isdigit()}
        assert len(values) == 1 and cfg.min_steps <= len(p.steps) <= cfg.max_steps
        for step in p.steps:
            var, a, op, b, result = STEP.match(step).groups()
            src, sop, sb = re.match(r"([a-z])([+\-*])(\d+)", defs[var]).groups()
            assert values[src] == int(a) and (sop, sb) == (op, b)
            assert int(result) == eval(f"{a}{op}{b}") and 0 <= int(result) <= cfg.max_value
            values[var] = int(result)
        assert var == asked and str(values[asked]) == p.answer
        assert task.grade(task.extract(task.reference_output(p)), p)


def test_generation_is_deterministic_and_eval_seeds_differ_from_train():
    t = get_task("arith")
    assert t.load("easy", limit=20, seed=3) == t.load("easy", limit=20, seed=3)
    assert t.load("easy", limit=20, seed=3) != t.load("easy", limit=20, seed=4)
    train_q = {p.question for p in t.load("train", limit=2000, seed=0)}
    hard_q = {p.question for p in t.load("hard", limit=200, seed=0)}
    assert not train_q & hard_q


def test_distractors_are_in_the_question_but_not_in_the_steps():
    t = ArithTask(ArithConfig(min_steps=3, max_steps=3, distractors=2))
    for p in t.load("custom", limit=50):
        defs = clauses(p.question)
        assert len(defs) == 3 + 1 + 2
        used = {s[0] for s in p.steps}
        assert len(used) == 3 and len(set(defs) - used) == 3  # the start value and two distractors


def test_grading_is_numeric():
    t = get_task("arith")
    p = t.load("easy", limit=1)[0]
    assert t.grade(p.answer, p) and t.grade(f"{p.answer}.0", p)
    assert not t.grade(str(int(p.answer) + 1), p) and not t.grade(None, p)


@pytest.mark.parametrize("bad", [dict(min_steps=0), dict(min_steps=5, max_steps=4), dict(max_steps=21),
                                 dict(distractors=9), dict(ops="/"), dict(max_value=5)])
def test_bad_knobs_are_errors(bad):
    with pytest.raises(LeanthinkError):
        ArithTask(ArithConfig(**bad)).load("x", limit=1)


def test_unknown_split_and_data_file_are_errors(tmp_path):
    with pytest.raises(LeanthinkError, match="unknown split"):
        get_task("arith").load("tough")
    with pytest.raises(LeanthinkError, match="reads no --data"):
        get_task("arith").load(data=tmp_path / "x.jsonl")


def test_restated_trace_copies_the_clause_then_computes():
    plain = ArithTask(SPLITS["hard"]).load("hard", limit=30)
    restated = ArithTask(SPLITS["hard"], trace="restate").load("hard", limit=30)
    for p, r in zip(plain, restated):
        assert p.question == r.question and p.answer == r.answer
        defs = clauses(r.question)
        for short, long in zip(p.steps, r.steps):
            var, src, sop, sb, a, op, b, result = RESTATED.match(long).groups()
            assert defs[var] == f"{src}{sop}{sb}" and short == f"{var}={a}{op}{b}={result}"
    with pytest.raises(LeanthinkError, match="unknown trace"):
        ArithTask(trace="wordy")


def test_verbose_trace_restates_then_checks_every_step_in_order_by_its_inverse_restating_the_answer():
    restated = ArithTask(SPLITS["hard"], trace="restate").load("hard", limit=30)
    verbose = ArithTask(SPLITS["hard"], trace="verbose").load("hard", limit=30)
    inverse = {"+": lambda a, b: a - b, "-": lambda a, b: a + b, "*": lambda a, b: a // b}
    for r, v in zip(restated, verbose):
        n = len(r.steps)
        assert v.question == r.question and v.answer == r.answer and v.steps[:n] == r.steps
        checks = v.steps[n:]
        assert len(checks) == n
        for step, check in zip(r.steps, checks):   # checked in chain order: the last line starts with the answer
            var, src, op, b, result = re.match(r"(\w)=(\w)([-+*])(\d+)=\d+[-+*]\d+=(\d+)", step).groups()
            back = inverse[op](int(result), int(b))
            assert check == (f"check {var}: {result}{dict(zip('+-*', '-+/'))[op]}{b}={back}={src}, "
                             f"so {r.steps[-1][0]}={r.answer}")
