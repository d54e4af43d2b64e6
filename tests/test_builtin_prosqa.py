"""The shipped builtin:prosqa: its role tokens and that it still solves ProsQA `small` through the engine
(a regression guard for the checkpoint; docs/builtin-models.md has the full measurements)."""

from __future__ import annotations

import re

from leanthink.engine.hf import HFEngine
from leanthink.methods import get_method
from leanthink.tasks import get_task


def test_builtin_prosqa_writes_who_traces_whose_lookups_are_right():
    engine = HFEngine.load("builtin:prosqa")
    tok = engine.tokenizer
    assert len(tok(" is a tumpus", add_special_tokens=False)["input_ids"]) == 1
    task = get_task("prosqa", trace="who")
    problems = task.load("small", limit=40, seed=0)
    results = get_method("cot").solve(engine, task, problems)
    correct = [task.grade(r.answer if r.answer is not None else task.extract(r.output), p)
               for r, p in zip(results, problems)]
    lines = lookups = 0
    for r, p in zip(results, problems):
        sentences = set(re.findall(r"(?:Every )?(\w+) is an? (\w+)\.", p.question))
        for node, subject in re.findall(r"^Who is an? (\w+) (\w+)\.$", r.output, re.MULTILINE):
            lines += 1
            lookups += (subject, node) in sentences
    # measured: 72% of 500 problems and every lookup right; chance is about 50%
    assert sum(correct) / len(correct) >= 0.6
    assert lines >= len(problems) and lookups / lines >= 0.95
