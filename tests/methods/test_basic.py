"""cot, direct and reference: prompts, seeds per problem, validation before any work."""

from __future__ import annotations

import pytest

from leanthink.errors import LeanthinkError
from leanthink.methods import get_method, method_settings
from leanthink.tasks import get_task


def test_cot_outputs_depend_on_the_problem_and_seed_not_on_batching(engine):
    task = get_task("arith")
    problems = task.load(split="hard", limit=5)
    one = get_method("cot", temperature=0.8, max_new_tokens=10, batch_size=1, seed=2).solve(engine, task, problems)
    many = get_method("cot", temperature=0.8, max_new_tokens=10, batch_size=5, seed=2).solve(engine, task, problems)
    assert [r.output for r in one] == [r.output for r in many]
    other = get_method("cot", temperature=0.8, max_new_tokens=10, seed=3).solve(engine, task, problems)
    assert [r.output for r in other] != [r.output for r in one]
    shuffled = get_method("cot", temperature=0.8, max_new_tokens=10, seed=2).solve(engine, task, problems[::-1])
    assert [r.output for r in shuffled] == [r.output for r in one][::-1]


def test_direct_output_starts_with_the_forced_prefix(engine):
    task = get_task("arith")
    res = get_method("direct", max_new_tokens=3).solve(engine, task, task.load(split="easy", limit=2))
    assert all(r.output.startswith("Answer:") and r.usage.generated_tokens >= 1 for r in res)


def test_settings_are_validated_when_the_method_is_made():
    for bad in ({"temperature": float("nan")}, {"temperature": -1.0}, {"top_p": 1.5}, {"max_new_tokens": 0},
                {"batch_size": 0}):
        with pytest.raises(LeanthinkError):
            get_method("cot", **bad)
    assert method_settings("cot", ["top_p=0.5", "max_new_tokens=7"]) == {"top_p": 0.5, "max_new_tokens": 7}
    with pytest.raises(LeanthinkError, match="finite"):
        method_settings("cot", ["temperature=inf"])
    assert get_method("cot", batch_size=4).identity() == {k: v for k, v in get_method("cot").settings().items()
                                                         if k != "batch_size"}


def test_reference_runs_no_model():
    task = get_task("arith")
    res = get_method("reference").solve(None, task, task.load(split="easy", limit=3))
    assert all(task.grade(task.extract(r.output), p) for r, p in zip(res, task.load(split="easy", limit=3)))
    assert all(r.usage.forward_tokens == 0 for r in res)
