"""Continuous batching, turn by turn (no HTTP): requests join a batch that is decoding, leave it when
they finish, and get exactly what they would get alone, counters included."""

from __future__ import annotations

import pytest

from conftest import MODEL, QUESTION

from leanthink.engine import stream_seed
from leanthink.serve.jobs import Job
from leanthink.serve.protocol import Context, parse_request
from leanthink.serve.prompts import RequestPromptStyle
from leanthink.serve.scheduler import DecodeScheduler, _partial_stop

OTHER = "v=28. x=v-2. h=x-9. What is h?"


@pytest.fixture(scope="module")
def engine(arith_engine):
    arith_engine.prompt_style = RequestPromptStyle.of(arith_engine.prompt_style)
    return arith_engine


def job(engine, question=QUESTION, **body):
    ctx = Context(MODEL, engine, 1000, 8, False)
    spec = parse_request({"model": MODEL, "messages": [{"role": "user", "content": question}], **body}, "chat", ctx)
    events = []
    return Job(spec, timeout_s=600, sink=events.append), events


def alone(engine, j: Job):
    """The request decoded by itself, in one extend call."""
    seqs = engine.prefill([j.spec.prompt], seeds=[stream_seed(0, j.spec.problem.id)])
    c = engine.extend(seqs, j.spec.params)[0]
    return c, engine.usage(seqs)[0]


def drive(sched, until, limit=2000):
    for _ in range(limit):
        if until():
            return
        sched.run_once()
    raise AssertionError("the scheduler did not get there")


def done(events):
    return events and events[-1][0] == "done"


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_a_request_joins_a_decoding_batch_and_gets_what_it_gets_alone(engine, temperature):
    a, ea = job(engine, temperature=temperature, seed=1)
    b, eb = job(engine, OTHER, temperature=temperature, seed=2)
    sched = DecodeScheduler(engine, max_batch=8, step_tokens=1)
    sched.submit(a)
    for _ in range(5):
        sched.run_once()
    assert sched.stats()["decoding"] == 1 and not done(ea)
    sched.submit(b)                      # joins while a is mid-way
    sched.run_once()
    assert sched.stats()["decoding"] == 2
    drive(sched, lambda: done(ea) and done(eb))
    assert sched.stats()["decoding"] == 0 and sched.stats()["max_rows"] == 2
    for j, events in ((a, ea), (b, eb)):
        c, u = alone(engine, j)
        out = events[-1][1]
        assert out.text == c.text
        assert out.finish_reason == "stop" and c.finish_reason == "eos"
        for name in ("prompt_tokens", "generated_tokens", "forward_tokens", "peak_tokens", "dep", "model_calls"):
            assert getattr(out.usage, name) == getattr(u, name), name
        L_P, L_O = u.prompt_tokens, u.generated_tokens
        assert out.usage.forward_tokens == L_P + L_O - 1
        assert out.usage.dep == L_P * L_O + L_O * (L_O - 1) // 2


def test_a_finished_request_leaves_while_the_other_keeps_decoding(engine):
    short, es = job(engine, max_tokens=3)
    long, el = job(engine, OTHER)
    sched = DecodeScheduler(engine, max_batch=8)
    sched.submit(short)
    sched.submit(long)
    drive(sched, lambda: done(es))
    assert es[-1][1].finish_reason == "length" and es[-1][1].usage.generated_tokens == 3
    assert sched.stats()["decoding"] == 1 and not done(el)
    drive(sched, lambda: done(el))
    assert el[-1][1].text == alone(engine, long)[0].text


def test_the_batch_is_capped_and_waiting_requests_join_as_rows_leave(engine):
    jobs = [job(engine, max_tokens=4, seed=i) for i in range(5)]
    sched = DecodeScheduler(engine, max_batch=2)
    for j, _ in jobs:
        sched.submit(j)
    drive(sched, lambda: all(done(e) for _, e in jobs))
    assert sched.stats()["max_rows"] == 2 and sched.stats()["admitted"] == 5


def test_streamed_deltas_hold_back_a_possible_stop_and_add_up_to_the_text(engine):
    j, events = job(engine, stop=["\nt="], stream=True)
    sched = DecodeScheduler(engine)
    sched.submit(j)
    drive(sched, lambda: done(events))
    deltas = [e[1] for e in events if e[0] == "delta"]
    out = events[-1][1]
    assert len(deltas) > 3                       # streamed as produced, not at the end
    assert "".join(deltas) == out.text
    assert out.stop_reason == "\nt=" and out.text == "s=4+2=6\nm=6*6=36"
    assert not any(d.endswith("\n") for d in deltas[:-1] if d)   # "\n" might start the stop: held back


def test_partial_stop():
    assert _partial_stop("abc\nt", ["\nt="]) == 2
    assert _partial_stop("abc\n", ["\nt=", "xy"]) == 1
    assert _partial_stop("abc", ["\nt="]) == 0
    assert _partial_stop("", ["ab"]) == 0


def test_cancelled_and_expired_requests_leave_with_errors(engine):
    gone, eg = job(engine)
    late, el = job(engine, OTHER)
    stay, est = job(engine, OTHER)
    sched = DecodeScheduler(engine)
    for j in (gone, late, stay):
        sched.submit(j)
    sched.run_once()
    gone.cancelled = True
    late.deadline = 0.0
    sched.run_once()
    assert eg[-1][0] == "error" and eg[-1][1].status == 499
    assert el[-1][0] == "error" and el[-1][1].status == 408
    assert sched.stats()["decoding"] == 1
    drive(sched, lambda: done(est))
    assert est[-1][1].text == alone(engine, stay)[0].text


def test_a_prompt_over_the_context_is_refused_without_disturbing_the_batch(engine):
    ok, eo = job(engine)
    big, eb = job(engine, "n=1. " * 300 + "What is n?")
    sched = DecodeScheduler(engine)
    sched.submit(ok)
    sched.run_once()
    sched.submit(big)
    drive(sched, lambda: done(eo))
    assert eb[-1][0] == "error" and eb[-1][1].status == 400 and eb[-1][1].code == "context_length_exceeded"
    assert eo[-1][1].text == alone(engine, ok)[0].text


def test_an_engine_failure_fails_the_batch_and_the_scheduler_goes_on(engine, monkeypatch, capsys):
    a, ea = job(engine)
    sched = DecodeScheduler(engine)
    sched.submit(a)
    sched.run_once()
    real = engine.extend
    monkeypatch.setattr(engine, "extend", lambda *args, **kw: (_ for _ in ()).throw(RuntimeError("boom")))
    sched.run_once()
    assert ea[-1][0] == "error" and ea[-1][1].status == 500 and "boom" in ea[-1][1].message
    assert sched.stats()["decoding"] == 0
    monkeypatch.setattr(engine, "extend", real)
    b, eb = job(engine)
    sched.submit(b)
    drive(sched, lambda: done(eb))
    assert eb[-1][1].text == alone(engine, b)[0].text
    assert "boom" in capsys.readouterr().err   # the traceback is logged


def test_min_tokens_spans_steps(engine):
    j, events = job(engine, "d=10. z=d-6. o=z-4. What is o?", reasoning={"method": "direct"}, min_tokens=6,
                    max_tokens=6)
    sched = DecodeScheduler(engine, step_tokens=1)
    sched.submit(j)
    drive(sched, lambda: done(events))
    assert events[-1][1].usage.generated_tokens == 6          # EOS banned until the 6th token, over 6 steps
    free, ef = job(engine, "d=10. z=d-6. o=z-4. What is o?", reasoning={"method": "direct"}, max_tokens=6)
    sched.submit(free)
    drive(sched, lambda: done(ef))
    assert ef[-1][1].usage.generated_tokens < 6               # without it the answer ends sooner
