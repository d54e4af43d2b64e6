"""The shipped builtin:prosqa: its role tokens and that it still solves ProsQA `small` through the engine
(a regression guard for the checkpoint; docs/builtin-models.md has the full measurements)."""

from __future__ import annotations

import re

from leanthink.engine.hf import HFEngine
from leanthink.methods import get_method
from leanthink.tasks import get_task
from leanthink.tasks.prosqa import question_parents


def test_builtin_prosqa_writes_both_traces_whose_lookups_and_so_lines_are_right():
    engine = HFEngine.load("builtin:prosqa")
    tok = engine.tokenizer
    assert len(tok(" is a tumpus", add_special_tokens=False)["input_ids"]) == 1
    task = get_task("prosqa", trace="both")
    problems = task.load("small", limit=40, seed=0)
    results = get_method("cot").solve(engine, task, problems)
    correct = [task.grade(r.answer if r.answer is not None else task.extract(r.output), p)
               for r, p in zip(results, problems)]
    lines = lookups = so_lines = so_right = 0
    for r, p in zip(results, problems):
        parents = question_parents(p.question)
        last = None
        for line in r.output.splitlines():
            if m := re.fullmatch(r"Who is an? (\w+) (\w+)\.", line):
                lines += 1
                lookups += m.group(2) in parents.get(m.group(1), ())
                last = m.group(2)
            elif m := re.fullmatch(r"So (\w+) (\w+)\.", line):  # names where the chain just ended
                so_lines += 1
                so_right += m.group(1) == last and not parents.get(last)
    # measured: 97.8% of 500 problems, every lookup right; chance is about 50%
    assert sum(correct) / len(correct) >= 0.85
    assert lines >= len(problems) and lookups / lines >= 0.95
    assert so_lines >= 2 * len(problems) * 0.95 and so_right / so_lines >= 0.95
