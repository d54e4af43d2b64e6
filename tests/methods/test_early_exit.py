"""`early-exit`: probes at step boundaries on copies of the rows; exits by confidence or by agreement;
with a threshold no probe reaches, the reasoning is exactly CoT's (the probes cost extra tokens)."""

from __future__ import annotations

from dataclasses import replace

from leanthink.engine.hf import HFEngine
from leanthink.methods import get_method
from leanthink.prompting import PromptStyle
from leanthink.tasks import get_task

from helpers import micro_llama


class SteppingEngine(HFEngine):
    """A random micro model made to end a line every 3 tokens (so step boundaries come), never EOS."""

    def extend(self, seqs, params, rows=None):
        rows = list(range(len(seqs))) if rows is None else rows
        plist = params if isinstance(params, list) else [params] * len(rows)
        nl = self.token_id("\n")
        plist = [replace(p, min_new_tokens=min(3, p.max_new_tokens), logit_bias={nl: 1e4}, ignore_eos=True)
                 if "\n" in p.stop else replace(p, ignore_eos=True) for p in plist]
        return super().extend(seqs, plist, rows)


def _setup():
    model, tok = micro_llama()
    engine = SteppingEngine.from_model(model, tok, PromptStyle("plain"))
    return engine, get_task("arith"), get_task("arith").load("easy", limit=3, seed=0)


def test_a_threshold_no_probe_reaches_leaves_the_reasoning_as_it_was_and_pays_for_the_probes():
    engine, task, problems = _setup()
    cot = get_method("early-exit", min_steps=100, max_new_tokens=16, batch_size=3).solve(engine, task, problems)
    ee = get_method("early-exit", threshold=1.0, max_new_tokens=16, answer_tokens=3, batch_size=3).solve(
        engine, task, problems)
    for c, e in zip(cot, ee):
        assert e.output == c.output and e.trace["finish_reason"] != "early exit"
        assert len(e.trace["probes"]) == e.trace["steps"] >= 4
        assert e.usage.generated_tokens == c.usage.generated_tokens + 3 * len(e.trace["probes"])


def test_exit_at_the_first_probe_and_by_agreement():
    engine, task, problems = _setup()
    first = get_method("early-exit", threshold=0.0, min_steps=2, max_new_tokens=40, answer_tokens=3).solve(
        engine, task, problems)
    for r in first:
        assert r.trace["finish_reason"] == "early exit" and r.trace["steps"] == 2 and len(r.trace["probes"]) == 1
        head, _, tail = r.output.rpartition("Answer:")
        assert head.endswith("\n") and tail.strip() == r.trace["probes"][0]["answer"]   # the probed answer, kept
    agree = get_method("early-exit", agree=2, max_new_tokens=60, answer_tokens=2).solve(engine, task, problems)
    alone = [get_method("early-exit", agree=2, max_new_tokens=60, answer_tokens=2, batch_size=1).solve(
        engine, task, [p])[0] for p in problems]
    for r, a in zip(agree, alone):
        assert r.output == a.output
        answers = [p["answer"] for p in r.trace["probes"]]
        repeats = [i for i in range(1, len(answers)) if answers[i] == answers[i - 1]]
        # it exits exactly at the first repeat of a trial answer, and runs on while there is none
        assert repeats == ([len(answers) - 1] if r.trace["finish_reason"] == "early exit" else [])
        assert len(answers) >= 2
