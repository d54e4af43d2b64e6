"""Search methods decode in the shared continuous batch (their extend calls are lent to the scheduler):
the results are exactly those of the method on the engine alone, counters included."""

from __future__ import annotations

import pytest

from conftest import QUESTION

from leanthink.engine import SamplingParams
from leanthink.methods import get_method
from leanthink.serve.scheduler import DecodeScheduler, Lease
from leanthink.serve.search import _Shared
from leanthink.tasks import get_task

COUNTERS = ("prompt_tokens", "generated_tokens", "forward_tokens", "peak_tokens", "dep", "model_calls",
            "scorer_tokens", "scorer_calls", "latent_tokens")


@pytest.fixture(scope="module")
def scheduler(arith_engine):
    s = DecodeScheduler(arith_engine, max_batch=64)
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def prm():
    from leanthink.scorers import load_scorer

    return load_scorer("builtin:arith-prm")


CASES = [
    ("self-consistency", {"budget": 3}, False),
    ("best-of-n", {"budget": 3}, True),
    ("particle-filter", {"budget": 3, "weights": "self-certainty", "max_steps": 5}, False),
    ("particle-filter", {"budget": 2, "max_steps": 4}, True),
    ("beam", {"budget": 4, "weights": "self-certainty", "max_steps": 4}, False),
    ("early-exit", {"threshold": 0.5}, False),
]


@pytest.mark.parametrize("name,settings,with_prm", CASES, ids=[f"{c[0]}{'+prm' if c[2] else ''}" for c in CASES])
def test_a_method_through_the_shared_batch_is_the_method_alone(arith_engine, scheduler, prm, name, settings, with_prm):
    task = get_task("arith")
    problems = task.load(split="easy", limit=3, seed=4)
    m = get_method(name, **settings)
    scorer = prm if with_prm else None
    alone = m.solve(arith_engine, task, problems, scorer=scorer)
    before = scheduler.stats()["leases"]
    shared = m.solve(_Shared(arith_engine, lambda: None, scheduler), task, problems, scorer=scorer)
    assert scheduler.stats()["leases"] > before          # it did go through the scheduler
    for a, b in zip(alone, shared):
        assert (b.output, b.answer) == (a.output, a.answer)
        for counter in COUNTERS:
            assert getattr(b.usage, counter) == getattr(a.usage, counter), counter


def test_a_lease_decodes_beside_a_request_and_comes_back_in_order(arith_engine):
    e = arith_engine
    prompts = [QUESTION + "\nReasoning:\n", "v=28. x=v-2. h=x-9. What is h?\nReasoning:\n"]
    params = [SamplingParams(max_new_tokens=40, stop=("\n",)), SamplingParams(max_new_tokens=40)]
    ref = e.prefill(prompts)
    expected = e.extend(ref, params)
    sched = DecodeScheduler(e)
    lease = Lease(e.prefill(prompts), params)
    sched.lend(lease)
    while not lease.done.is_set():
        sched.run_once()
    assert sched.stats()["max_rows"] == 2 and lease.error is None
    for got, want in zip(lease.completions, expected):
        assert (got.text, got.finish_reason, got.stop, got.token_ids) == (want.text, want.finish_reason, want.stop,
                                                                           want.token_ids)
        assert got.logprobs == pytest.approx(want.logprobs, abs=1e-5)
    # the first row stopped first and left first; the rows are back in their order
    assert [lease.back.num_tokens(i) for i in range(2)] == [ref.num_tokens(i) for i in range(2)]
    assert [lease.back.token_ids(i) for i in range(2)] == [ref.token_ids(i) for i in range(2)]


def test_an_abandoned_lease_is_cut_short(arith_engine):
    e = arith_engine
    gone = {"now": False}
    sched = DecodeScheduler(e)
    lease = Lease(e.prefill([QUESTION + "\nReasoning:\n"]), [SamplingParams(max_new_tokens=500, ignore_eos=True)],
                  abandoned=lambda: gone["now"])
    sched.lend(lease)
    for _ in range(3):
        sched.run_once()
    gone["now"] = True
    sched.run_once()
    assert lease.done.is_set() and lease.completions[0].finish_reason == "length"
    assert len(lease.completions[0].logprobs) == 4


def test_methods_that_rewind_decode_on_their_own(arith_engine, scheduler):
    """budget forcing's rewind re-spells the latest decoded chunk, whose extent depends on how decoding
    was cut into calls; through the search worker it decodes alone and matches the engine alone."""
    from leanthink.serve.jobs import Job
    from leanthink.serve.prompts import RequestPromptStyle
    from leanthink.serve.protocol import Context, parse_request
    from leanthink.serve.search import SearchWorker

    arith_engine.prompt_style = RequestPromptStyle.of(arith_engine.prompt_style)
    ctx = Context("builtin:arith", arith_engine, 1000, 8, False)
    task = get_task("arith")
    jobs = []
    for i, p in enumerate(task.load(split="easy", limit=3, seed=4)):
        events = []
        spec = parse_request({"model": "builtin:arith", "messages": [{"role": "user", "content": p.question}],
                              "seed": i, "reasoning": {"method": "budget-forcing", "settings": {"extend": 1}}},
                             "chat", ctx)
        jobs.append((Job(spec, 600, sink=events.append), events))
    before = scheduler.stats()["leases"]
    SearchWorker(arith_engine, task, scheduler=scheduler).run([j for j, _ in jobs])
    assert scheduler.stats()["leases"] == before
    m = jobs[0][0].spec.method
    for (job, events), want in zip(jobs, m.solve(arith_engine, task, [j.spec.problem for j, _ in jobs])):
        assert events[-1][0] == "done" and events[-1][1].text == want.output
        assert events[-1][1].trace["suppressed"] == 1
