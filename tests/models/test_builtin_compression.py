"""The shipped thought-compression and latent checkpoints still do what docs/builtin-models.md says
(regression guards on small samples; the full measurements are in the docs)."""

from __future__ import annotations

import pytest

from leanthink.engine.hf import HFEngine
from leanthink.methods import get_method
from leanthink.models.registry import builtin_names
from leanthink.tasks import get_task


def _solve(spec: str, method: str, task, problems, **settings):
    engine = HFEngine.load(spec)
    results = get_method(method, batch_size=16, **settings).solve(engine, task, problems)
    right = [task.grade(r.answer if r.answer is not None else task.extract(r.output), p)
             for r, p in zip(results, problems)]
    return results, sum(right) / len(right)


@pytest.mark.skipif("iterate-lightthinker" not in builtin_names(), reason="not shipped")
def test_iterate_lightthinker_holds_a_fraction_of_vanillas_context_at_no_loss():
    task = get_task("iterate")
    problems = task.load("long", limit=16, seed=0)
    vanilla, acc_v = _solve("builtin:iterate", "cot", task, problems)
    lt, acc_lt = _solve("builtin:iterate-lightthinker", "lightthinker", task, problems)
    # measured on 100 problems: vanilla 69%, LightThinker above it, Peak well under half of vanilla's
    assert acc_lt >= acc_v - 0.125
    assert all(r.trace["thoughts"] >= 9 for r in lt)
    assert sum(r.usage.peak_tokens for r in lt) < 0.5 * sum(r.usage.peak_tokens for r in vanilla)


@pytest.mark.skipif("prosqa-lightthinker" not in builtin_names(), reason="not shipped")
def test_prosqa_lightthinker_compresses_its_search_lines():
    task = get_task("prosqa")
    problems = task.load("small", limit=16, seed=0)
    lt, acc = _solve("builtin:prosqa-lightthinker", "lightthinker", task, problems)
    # measured: 75% of 100 `small` problems (vanilla 97%), 74.3% of the real valid file (96.7%)
    assert acc >= 0.6 and all(r.trace["thoughts"] >= 2 for r in lt)


@pytest.mark.skipif("arith-coconut" not in builtin_names(), reason="not shipped")
def test_arith_coconut_answers_one_step_chains_from_its_latents_alone():
    # measured on `easy`: 34/34 one-step chains right, 24% of two- and three-step chains (docs/methods/coconut.md)
    task = get_task("arith").with_config(min_steps=1, max_steps=1)
    problems = task.load("easy", limit=16, seed=0)
    res, acc = _solve("builtin:arith-coconut", "coconut", task, problems)
    assert acc >= 0.9 and all(r.usage.latent_tokens == 6 for r in res)
    assert all(r.output.startswith("Answer:") for r in res)   # no language step left: all six latents


@pytest.mark.skipif("prosqa-coconut" not in builtin_names(), reason="not shipped")
def test_prosqa_coconut_answers_from_twelve_thoughts_better_than_a_direct_guess():
    # measured: 73% of 100 `small` problems, 72% of the real valid file (direct: 45%; docs/methods/coconut.md)
    task = get_task("prosqa")
    problems = task.load("small", limit=16, seed=0)
    res, acc = _solve("builtin:prosqa-coconut", "coconut", task, problems)
    assert acc >= 0.55 and all(r.usage.latent_tokens == 12 for r in res)
    assert all(r.output.startswith("Answer:") for r in res)


@pytest.mark.skipif("arith-litereason" not in builtin_names(), reason="not shipped")
def test_arith_litereason_thinks_its_rechecking_latently_and_keeps_most_of_cots_accuracy():
    # measured on 300 `easy` problems: 86.7% at 37.1 generated + 5.0 latent tokens, against the verbose
    # reasoner's CoT at 91.0% and 81.4 tokens (docs/methods/litereason.md)
    task = get_task("arith")
    problems = task.load("easy", limit=16, seed=0)
    res, acc = _solve("builtin:arith-litereason", "litereason", task, problems)
    cot, acc_cot = _solve("builtin:arith-verbose", "cot", task, problems)
    assert acc >= acc_cot - 0.25
    assert sum(bool(r.trace["implicit_thoughts"]) for r in res) >= 12   # it writes the marker
    assert sum(r.usage.generated_tokens for r in res) < 0.6 * sum(r.usage.generated_tokens for r in cot)
