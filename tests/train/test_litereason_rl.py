"""LiteReason GRPO: group-normalised advantages, the policy loss moves probability toward samples with
positive advantage, and `train-litereason-rl` end to end on a micro model."""

from __future__ import annotations

import json

import torch

from leanthink.models.projector import ReasoningProjector
from leanthink.train.grpo import advantages, policy_loss
from leanthink.train.litereason import LATENT

from cli_helpers import run_cli
from helpers import micro_llama


def test_advantages_are_normalised_within_each_group():
    adv = advantages([1.0, 0.0, 1.0, 0.0, 0.5, 0.5], group=2)
    assert adv[0] > 0 > adv[1] and abs(adv[0] + adv[1]) < 1e-9
    assert adv[4] == adv[5] == 0.0     # equal rewards teach nothing


def test_a_step_on_the_policy_loss_raises_the_log_prob_of_positive_samples_and_lowers_negative_ones():
    model, tok = micro_llama()
    torch.manual_seed(0)
    proj = ReasoningProjector(model, 1).requires_grad_(False)
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompt = enc("a=1. b=a+2. What is b?\nReasoning:\n")
    good = prompt + enc("<implicit_thought>1</implicit_thought>") + [LATENT] + enc("Answer: 3")
    bad = prompt + enc("b=1+2=4\nAnswer: 4")
    examples = [(good, len(prompt)), (bad, len(prompt))]
    opt = torch.optim.SGD(model.parameters(), lr=0.05)

    def logp(i):   # the summed log-prob of sample i's tokens: the loss with advantage 1 on it alone
        with torch.no_grad():
            n = sum(t != LATENT for t in examples[i][0][len(prompt):])
            return -policy_loss(model, proj, [examples[i]], [1.0], tok.pad_token_id).item() * n

    before = [logp(0), logp(1)]
    policy_loss(model, proj, examples, [1.0, -1.0], tok.pad_token_id).backward()
    opt.step()
    after = [logp(0), logp(1)]
    assert after[0] > before[0] and after[1] < before[1]


def test_train_litereason_rl_end_to_end(tmp_path, capsys):
    base, sft, rl = tmp_path / "base", tmp_path / "sft", tmp_path / "rl"
    code, _, err = run_cli(["train", "--task", "arith", "--size", "micro", "--steps", "2", "--batch-size", "4",
                            "--eval-limit", "0", "--no-compile", "--out", base, "--no-progress"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["train-litereason", "--init", base, "--steps", "2", "--policy-steps", "2",
                            "--batch-size", "4", "--blocks", "1", "--eval-limit", "4", "--out", sft, "--no-progress"],
                           capsys)
    assert code == 0, err
    code, _, err = run_cli(["train-litereason-rl", "--init", sft, "--rounds", "1", "--steps", "2", "--prompts", "2",
                            "--group", "2", "--max-new-tokens", "8", "--refresh-steps", "1", "--eval-limit", "2",
                            "--out", rl, "--no-progress"], capsys)
    assert code == 0, err
    meta = json.loads((rl / "leanthink.json").read_text())
    hist = meta["litereason"]["rl"]["history"]
    assert [h["round"] for h in hist] == [0, 1, 1, 1] and "eval_accuracy" in hist[-1]
    assert meta["litereason"]["blocks"] == 1 and (rl / "projector.safetensors").is_file()


def test_the_projector_refresh_learns_from_the_policys_own_latent_samples_markers_left_out():
    from leanthink.train.grpo import marker_mask, refresh_loss
    from leanthink.train.litereason import add_litereason_tokens

    model, tok = micro_llama()
    add_litereason_tokens(model, tok)
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompt = enc("a=1. b=a+2. What is b?\nReasoning:\n")
    marker = enc("<implicit_thought>2</implicit_thought>")
    items = prompt + enc("b=1+2=3\n") + marker + [LATENT, LATENT] + enc("Answer: 3")
    mask = marker_mask(items, *tok.convert_tokens_to_ids(["<implicit_thought>", "</implicit_thought>"]))
    at = len(prompt) + len(enc("b=1+2=3\n"))
    assert [i for i, m in enumerate(mask) if m] == list(range(at, at + len(marker)))
    proj = ReasoningProjector(model, 1).requires_grad_(True)
    model.requires_grad_(False)
    loss = refresh_loss(model, proj, [(items, len(prompt))], seed=0, rnd=0, step=0, tokenizer=tok)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in proj.parameters())
