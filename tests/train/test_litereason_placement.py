"""LiteReason's settled placement (train/placement.py): the settled line from forced answers, which traces
are kept, the markers on the lines after it; on the real verbose reasoner; end to end through the CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from leanthink.prompting import PromptStyle
from leanthink.tasks import get_task
from leanthink.train.litereason import IGNORE, LATENT, latent_count
from leanthink.train.placement import settled_example, settled_traces

from cli_helpers import run_cli


class ScriptedEngine:
    """Greedy traces and forced answers from a script: trace[problem] is (text, finish reason);
    forced[problem][i] says whether the answer forced after line i is right."""

    def __init__(self, task, problems, traces, forced):
        self.prompt_style, self.tokenizer = PromptStyle("plain"), None
        self.by_prompt = {self.prompt_style.render(p, "cot"): p for p in problems}
        self.task, self.traces, self.forced = task, traces, forced

    def generate(self, prompts, params):
        out = []
        for text in prompts:
            if text in self.by_prompt:
                body, reason = self.traces[self.by_prompt[text].id]
                out.append(SimpleNamespace(text=body, finish_reason=reason))
                continue
            prompt = next(k for k in self.by_prompt if text.startswith(k))
            p = self.by_prompt[prompt]
            i = text[len(prompt):].count("\n") - 1
            out.append(SimpleNamespace(text=f" {p.answer if self.forced[p.id][i] else -1}", finish_reason="eos"))
        return out, []


def test_settled_is_the_first_line_from_which_every_forced_answer_is_right_and_wrong_traces_are_dropped():
    task = get_task("arith")
    a, b, c, d, e = task.load("easy", limit=5)
    lines = "x=1\ny=2\nz=3\nw=4\n"
    traces = {a.id: (lines + f"Answer: {a.answer}", "eos"),      # right at line 0, wrong at 1, right from 2
              b.id: (lines + f"Answer: {b.answer}", "eos"),      # the last forced answer wrong: never settles
              c.id: (lines + "Answer: -5", "eos"),              # a wrong trace is not kept
              d.id: (lines + f"Answer: {d.answer}", "length"),   # nor one cut at the token cap
              e.id: (lines + f"Answer: {e.answer}", "eos")}      # right after every line: settled at 0
    forced = {a.id: [True, False, True, True], b.id: [True, True, True, False], c.id: [True] * 4,
              d.id: [True] * 4, e.id: [True] * 4}
    engine = ScriptedEngine(task, [a, b, c, d, e], traces, forced)
    out = settled_traces(engine, task, [a, b, c, d, e], batch_size=3)
    assert [t.problem.id for t in out] == [a.id, b.id, e.id]
    assert [t.settled for t in out] == [2, 4, 0]
    assert [sorted(t.latent) for t in out] == [[3], [], [1, 2, 3]]
    assert out[0].lines == ["x=1\n", "y=2\n", "z=3\n", "w=4\n"] and out[0].final == f"Answer: {a.answer}"


@pytest.fixture(scope="module")
def verbose():
    from leanthink.engine.hf import HFEngine
    from leanthink.train.litereason import add_litereason_tokens
    from leanthink.train.data import base_task

    engine = HFEngine.load("builtin:arith-verbose", dtype="float32")
    add_litereason_tokens(engine.model, engine.tokenizer)
    return engine, base_task("arith", "builtin:arith-verbose")


def test_on_the_verbose_reasoner_forced_answers_agree_with_the_settled_line_and_markers_follow_it(verbose):
    from leanthink.engine import SamplingParams

    engine, task = verbose
    problems = task.load("easy", limit=8, seed=3)
    out = settled_traces(engine, task, problems)
    assert out and all(task.grade(task.extract(t.final), t.problem) for t in out)
    greedy = SamplingParams(max_new_tokens=12, temperature=0.0)
    for t in out:
        prompt = engine.prompt_style.render(t.problem, "cot", engine.tokenizer)
        after = range(max(0, t.settled - 1), len(t.lines))   # the line before the settled one, and all after
        forced, _ = engine.generate([prompt + "".join(t.lines[:i + 1]) + "Answer:" for i in after], greedy)
        right = [task.grade(task.extract("Answer:" + c.text), t.problem) for c in forced]
        assert right == [i >= t.settled for i in after]
        ex = settled_example(engine, t)   # one marker for all the lines after the settled one
        suffix = "".join(t.lines[i] for i in sorted(t.latent))
        assert ex.items.count(LATENT) == (latent_count(len(engine.encode(suffix))) if t.latent else 0)
        assert sum(ex.marker) == (3 if t.latent else 0)   # <implicit_thought>, N, </implicit_thought>
        kept = [x for line in t.lines[:t.settled + 1] for x in engine.encode(line)]
        assert [lab for lab in ex.labels if lab != IGNORE][:len(kept)] == kept   # the lines up to it, explicit
    # the verbose reasoner re-checks after it knows the answer: most of its traces have lines to replace
    assert sum(bool(t.latent) for t in out) >= len(out) // 2


def test_train_litereason_settled_end_to_end_and_a_base_that_solves_nothing_is_refused(tmp_path, capsys):
    out = tmp_path / "settled"
    code, _, err = run_cli(["train-litereason", "--init", "builtin:arith-verbose", "--placement", "settled",
                            "--traces", "8", "--steps", "1", "--policy-steps", "1", "--batch-size", "4",
                            "--eval-limit", "4", "--out", out, "--no-progress"], capsys)
    assert code == 0, err
    meta = json.loads((out / "leanthink.json").read_text())["litereason"]
    assert meta["sft"]["placement"] == "settled" and [h["stage"] for h in meta["history"]] == [
        "projector", "projector", "policy"]
    base = tmp_path / "base"
    code, _, err = run_cli(["train", "--task", "arith", "--split", "train", "--size", "micro", "--steps", "1",
                            "--batch-size", "2", "--eval-limit", "0", "--no-compile", "--out", base, "--no-progress"],
                           capsys)
    assert code == 0, err
    code, _, err = run_cli(["train-litereason", "--init", base, "--placement", "settled", "--traces", "4",
                            "--eval-limit", "2", "--steps", "1", "--out", tmp_path / "x", "--no-progress"], capsys)
    assert code != 0 and "solves none of the problems" in err
    code, _, err = run_cli(["train-litereason", "--init", base, "--placement", "sometimes", "--out", tmp_path / "y",
                            "--no-progress"], capsys)
    assert code != 0 and "--placement" in err
