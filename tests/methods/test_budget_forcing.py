"""`budget-forcing`: reasoning never exceeds the budget, the marker is forced when it is spent, and a
marker the model writes is suppressed `extend` times with the cue in its place; `engine.rewind`."""

from __future__ import annotations

from dataclasses import replace

import pytest

from leanthink.engine import SamplingParams
from leanthink.engine.hf import HFEngine
from leanthink.errors import LeanthinkError
from leanthink.methods import get_method
from leanthink.prompting import PromptStyle
from leanthink.tasks import get_task

from helpers import micro_llama


class EndingEngine(HFEngine):
    """A random micro model made to write the `Answer` token after four tokens of reasoning."""

    def extend(self, seqs, params, rows=None):
        rows = list(range(len(seqs))) if rows is None else rows
        plist = params if isinstance(params, list) else [params] * len(rows)
        a = self.token_id("Answer")
        plist = [replace(p, min_new_tokens=4, logit_bias={a: 1e4}, ignore_eos=True) if a in p.stop_token_ids
                 else replace(p, ignore_eos=True) for p in plist]
        return super().extend(seqs, plist, rows)


def test_rewind_takes_back_a_pending_stop_token(engine):
    a = engine.token_id("Answer")
    seqs = engine.prefill(["x=1. What is x?\nReasoning:\n"])
    c = engine.extend(seqs, SamplingParams(max_new_tokens=3, logit_bias={a: 1e4}, stop_token_ids=(a,)))[0]
    assert c.finish_reason == "stop" and c.token_ids[-1] == a
    before = seqs.token_ids(0)
    engine.rewind(seqs, 0, len("Answer"))
    assert seqs.token_ids(0) == before[:-1]
    with pytest.raises(LeanthinkError, match="rewind"):
        engine.rewind(seqs, 0, 10_000)


def test_the_budget_caps_reasoning_and_forces_the_answer_marker(engine):
    task = get_task("arith")
    problems = task.load("easy", limit=3, seed=0)
    for budget in (5, 12):
        res = get_method("budget-forcing", budget=budget, answer_tokens=4, batch_size=3).solve(engine, task, problems)
        alone = [get_method("budget-forcing", budget=budget, answer_tokens=4, batch_size=1).solve(engine, task, [p])[0]
                 for p in problems]
        for r, a in zip(res, alone):
            assert r.output == a.output
            assert r.trace["reasoning_tokens"] <= budget
            # a random model does not write `Answer` on its own: every row spends the budget and is forced
            assert r.trace["finish_reason"] == "budget" and r.trace["reasoning_tokens"] == budget
            assert r.output.count("Answer") == 1 and "\nAnswer" in r.output


def test_extend_suppresses_the_marker_and_appends_the_cue():
    model, tok = micro_llama()
    engine = EndingEngine.from_model(model, tok, PromptStyle("plain"))
    task = get_task("arith")
    problems = task.load("easy", limit=2, seed=0)
    res = get_method("budget-forcing", extend=2, cue=" Wait", answer_tokens=3, batch_size=2).solve(engine, task,
                                                                                                   problems)
    for r in res:
        assert r.trace["suppressed"] == 2 and r.output.count(" Wait") == 2 and r.output.count("Answer") == 1
        assert r.output.index("Answer") > r.output.rindex(" Wait")
        assert r.trace["reasoning_tokens"] == 3 * 4 + 2   # 3 rounds of 4 tokens and the 2 suppressed markers



class NewlineEngine(HFEngine):
    """A random micro model nudged to end lines often (newline logit +6), never `Answer` or EOS."""

    def extend(self, seqs, params, rows=None):
        rows = list(range(len(seqs))) if rows is None else rows
        plist = params if isinstance(params, list) else [params] * len(rows)
        bias = {self.token_id("\n"): 6.0, self.token_id("Answer"): -1e4}
        return super().extend(seqs, [replace(p, ignore_eos=True, logit_bias=bias) if p.stop_token_ids else p
                                     for p in plist], rows)


def test_cut_step_takes_back_the_unfinished_step_before_the_marker():
    model, tok = micro_llama()
    engine = NewlineEngine.from_model(model, tok, PromptStyle("plain"))
    task = get_task("arith")
    problems = task.load("easy", limit=6, seed=0)
    taken_back = 0
    for budget in (7, 11):
        token = get_method("budget-forcing", budget=budget, answer_tokens=3, batch_size=6).solve(engine, task, problems)
        step = get_method("budget-forcing", budget=budget, cut="step", answer_tokens=3, batch_size=6).solve(
            engine, task, problems)
        for t, s in zip(token, step):
            assert s.trace["reasoning_tokens"] == t.trace["reasoning_tokens"] == budget   # sampled tokens count
            reason_t, reason_s = t.output[:t.output.index("Answer")], s.output[:s.output.index("Answer")]
            assert reason_s.endswith("\n") and reason_t.startswith(reason_s)
            rest = reason_t[len(reason_s):]
            assert "\n" not in rest.rstrip("\n")   # what was taken back is at most the unfinished step
            if "\n" in reason_t.rstrip("\n"):
                assert reason_s == reason_t.rstrip("\n")[:reason_t.rstrip("\n").rfind("\n") + 1] or rest == ""
            taken_back += rest.strip("\n") != ""
    assert taken_back > 0
    with pytest.raises(LeanthinkError, match="cut"):
        get_method("budget-forcing", cut="line")
