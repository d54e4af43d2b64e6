"""TokenSkip and L1 training: the pruning, the importance it ranks by, the chains of every length and
the prompts that carry the control; end to end from `leanthink train` to the methods."""

from __future__ import annotations

import json
import re

import pytest
import torch

from leanthink.errors import LeanthinkError
from leanthink.prompting import PromptStyle
from leanthink.tasks.arithmetic import SPLITS, ArithTask
from leanthink.train.config import SFTConfig
from leanthink.train.l1 import L1Config, Recipe as L1Recipe, reward
from leanthink.train.tokenskip import importance, line_of, parse_ratios, prune, tokenskip_recipe

from cli_helpers import run_cli
from helpers import micro_llama


def test_prune_keeps_the_highest_scoring_share_in_their_original_order():
    ids, scores = [10, 11, 12, 13, 14], [0.1, 0.9, 0.5, 0.9, 0.0]
    assert prune(ids, scores, 0.6) == [11, 12, 13]
    assert prune(ids, scores, 0.4) == [11, 13]
    assert prune(ids, scores, 1.0) == ids
    assert prune(ids, scores, 0.01) == [11]   # at least one token; ties go to the earlier


def test_importance_is_attention_from_later_lines_only():
    model, tok = micro_llama()
    model.set_attn_implementation("eager")
    prompt, target = [5, 6, 7], [20, 21, 22, 23]
    lines = [0, 0, 1, 2]
    got = importance(model, prompt, target, lines)
    with torch.no_grad():
        att = model(input_ids=torch.tensor([prompt + target]), output_attentions=True).attentions
    a = torch.stack([x[0] for x in att]).mean(dim=(0, 1))[3:, 3:]
    want = [a[2, 0] + a[3, 0], a[2, 1] + a[3, 1], a[3, 2], 0.0]   # same-line readers never count
    assert got == pytest.approx([float(w) for w in want], abs=1e-6)


def test_line_of_counts_newlines_before_each_token():
    assert line_of("ab\ncd\ne", [(0, 1), (1, 2), (2, 3), (3, 5), (5, 6), (6, 7)]) == [0, 0, 0, 1, 1, 2]


def test_tokenskip_examples_prune_the_reasoning_keep_the_answer_and_name_the_ratio():
    model, tok = micro_llama()
    cfg = SFTConfig(task="arith", init="x", recipe="tokenskip", ratios="0.5,1.0")
    recipe = tokenskip_recipe(cfg, model, tok)
    task, style = ArithTask(SPLITS["search"], trace="verbose"), PromptStyle("plain")
    seen = set()
    for p in task.load("search", limit=12):
        ids, labels = recipe.example(task, p, "cot", tok, style)
        ratio = recipe.ratio_for(p)
        seen.add(ratio)
        text = tok.decode(ids)
        assert f"Keep {ratio:.2f} of the reasoning." in text
        full = style.completion(task, p, "cot")
        answer = tok(f"Answer: {p.answer}", add_special_tokens=False)["input_ids"]
        learned = [t for t in labels if t != -100]
        assert learned[-1] == tok.eos_token_id and learned[-1 - len(answer):-1] == answer
        n_full = len(tok(full, add_special_tokens=False)["input_ids"]) - len(answer)
        assert len(learned) - len(answer) - 1 == max(1, round(ratio * n_full))
        if ratio == 1.0:
            assert tok.decode(learned[:-1]) == full
    assert seen == {0.5, 1.0}
    direct = recipe.example(task, p, "direct", tok, style)
    assert "Keep" not in tok.decode(direct[0])


def test_chain_variants_span_compact_to_verbose_and_are_all_correct():
    verbose = ArithTask(SPLITS["search"], trace="verbose").load("search", limit=5)
    compact = ArithTask(SPLITS["search"], trace="compact").load("search", limit=5)
    for v, c in zip(verbose, compact):
        variants = ArithTask(trace="verbose").chain_variants(v)
        assert len(variants) == 2 * (4 + 1)
        assert variants[0] == "\n".join(c.steps) and variants[-1] == "\n".join(v.steps)
        assert ArithTask().chain_variants(c) == variants   # rebuilt from any trace
        for body in variants:   # every step and check is arithmetic that holds
            for a, op, b, r in re.findall(r"(\d+)([-+*/])(\d+)=(\d+)", body):
                a, b, r = int(a), int(b), int(r)
                assert {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b else -1}[op] == r


def test_l1_examples_name_their_own_length_in_generated_tokens():
    _, tok = micro_llama()
    task, style = ArithTask(SPLITS["search"], trace="verbose"), PromptStyle("plain")
    lengths = set()
    for p in task.load("search", limit=20):
        ids, labels = L1Recipe().example(task, p, "cot", tok, style)
        learned = [t for t in labels if t != -100]
        target = int(re.search(r"Think for (\d+) tokens\.", tok.decode(ids)).group(1))
        assert target == len(learned) and learned[-1] == tok.eos_token_id
        lengths.add(target)
    assert len(lengths) > 5


def test_reward_and_settings():
    assert reward(True, 50, 50, 1.0) == 1.0 and reward(True, 75, 50, 1.0) == 0.5
    assert reward(False, 25, 50, 2.0) == -1.0
    with pytest.raises(LeanthinkError, match="--high"):
        L1Config(low=100, high=50).validate()
    with pytest.raises(LeanthinkError, match="--eval-targets"):
        L1Config(eval_targets="60,x").validate()
    with pytest.raises(LeanthinkError, match="--ratios"):
        parse_ratios("0.5,1.5")
    with pytest.raises(LeanthinkError, match="--ratios"):
        SFTConfig(recipe="tokenskip", ratios="half").validate()


@pytest.mark.slow
def test_train_tokenskip_and_l1_then_their_methods_run(tmp_path, capsys):
    base = ["--task", "arith", "--task-option", "trace=verbose", "--split", "train-easy", "--steps", "2",
            "--batch-size", "4", "--eval-limit", "2", "--no-compile", "--no-progress"]
    plain = tmp_path / "plain"
    assert run_cli(["train", *base, "--size", "micro", "--out", plain], capsys)[0] == 0
    ts, l1 = tmp_path / "ts", tmp_path / "l1"
    code, _, err = run_cli(["train", *base, "--init", plain, "--recipe", "tokenskip", "--ratios", "0.5,0.7",
                            "--out", ts], capsys)
    assert code == 0, err
    assert json.loads((ts / "leanthink.json").read_text())["tokenskip"]["ratios"] == [0.5, 0.7]
    code, _, err = run_cli(["train", *base, "--init", plain, "--recipe", "l1", "--out", l1], capsys)
    assert code == 0, err
    code, _, err = run_cli(["train-l1", "--init", l1, "--steps", "1", "--prompts", "2", "--group", "2",
                            "--max-new-tokens", "12", "--low", "5", "--high", "10", "--eval-limit", "2",
                            "--eval-targets", "8", "--out", tmp_path / "lcpo", "--no-progress"], capsys)
    assert code == 0, err
    meta = json.loads((tmp_path / "lcpo" / "leanthink.json").read_text())
    assert meta["l1"]["lcpo"]["history"][-1]["8"]["produced"] > 0
    for method, model, setting in (("tokenskip", ts, "ratio=0.5"), ("l1", tmp_path / "lcpo", "target=8")):
        code, _, err = run_cli(["eval", "--task", "arith", "--split", "easy", "--limit", "2", "--method", method,
                                "--set", setting, "--model", model, "--max-new-tokens", "12",
                                "--out", tmp_path / f"{method}.jsonl", "--no-progress"], capsys)
        assert code == 0, err
        code, _, err = run_cli(["eval", "--task", "arith", "--split", "easy", "--limit", "1", "--method", method,
                                "--model", plain, "--out", tmp_path / f"{method}-x.jsonl", "--no-progress"], capsys)
        assert code != 0 and f"not trained for --method {method}" in err
