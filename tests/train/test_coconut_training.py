"""Coconut training: the curriculum's examples, the latent rollout against a by-hand computation, the
batched loss against one row at a time, and `train --recipe coconut` through to `--method coconut`."""

from __future__ import annotations

import json

import pytest
import torch

from leanthink.prompting import PromptStyle
from leanthink.tasks import get_task
from leanthink.train.coconut import IGNORE, Recipe, coconut_loss, rollout, split_steps

from cli_helpers import run_cli
from helpers import micro_llama

STYLE = PromptStyle("plain")


def _problem(task, n_steps: int):
    for p in task.load("train", limit=200, seed=3):
        if len(split_steps(task.cot_target(p), "\n")[0]) == n_steps:
            return p
    raise AssertionError(f"no problem with {n_steps} steps")


def test_stage_k_makes_the_first_k_steps_latent_and_the_last_stage_all():
    model, tok, task, bot, eot = _setup()
    p = _problem(task, 3)
    steps, final = split_steps(task.cot_target(p), "\n")
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    recipe = Recipe(bot=bot, eot=eot, per_step=2, stages=4)
    for stage, kept in ((1, steps[1:]), (2, steps[2:]), (4, [])):
        recipe.stage = stage
        ex = recipe.example(task, p, "cot", tok, STYLE)
        assert ex.prefix == enc(STYLE.render(p, "cot")) + [bot]
        assert ex.latents == 2 * stage
        rest = enc("".join(kept) + final) + [tok.eos_token_id]
        assert ex.suffix == [eot] + rest and ex.labels == [IGNORE] + rest
    recipe.stage = 3   # more stages than this problem has steps: all latent, still 3·c latents
    short = recipe.example(task, _problem(task, 1), "cot", tok, STYLE)
    assert short.latents == 6 and tok.decode(short.suffix[1:]).startswith("Answer:")


def _setup():
    model, tok = micro_llama()
    bot, eot = tok.convert_tokens_to_ids(["<bot>", "<eot>"])
    return model, tok, get_task("arith"), bot, eot


def _batch(tok, recipe, problems, task):
    return recipe.collate([recipe.example(task, p, "cot", tok, STYLE) for p in problems], tok.pad_token_id)


def test_each_latent_input_is_the_previous_final_hidden_state_computed_by_hand():
    model, tok, task, bot, eot = _setup()
    recipe = Recipe(bot=bot, eot=eot, per_step=1, stages=3, stage=2)
    problems = task.load("easy", limit=2, seed=0)
    batch = _batch(tok, recipe, problems, task)
    assert batch["prefix_mask"][0].sum() != batch["prefix_mask"][1].sum()   # left padding is exercised
    fed = []
    with torch.no_grad():
        h = rollout(model, batch["prefix"], batch["prefix_mask"], batch["latents"], batch["suffix"],
                    batch["suffix_mask"], fed=fed)
    assert len(fed) == 2
    embed = model.get_input_embeddings()
    for r, p in enumerate(problems):
        ex = recipe.example(task, p, "cot", tok, STYLE)
        x = embed(torch.tensor([ex.prefix]))
        with torch.no_grad():
            for k in range(2):   # by hand: no cache, no padding, the whole sequence every time
                last = model.model(inputs_embeds=x).last_hidden_state[0, -1]
                assert torch.allclose(fed[k][r], last, atol=1e-4)
                x = torch.cat([x, last[None, None]], 1)
            full = model.model(inputs_embeds=torch.cat([x, embed(torch.tensor([ex.suffix]))], 1)).last_hidden_state
        n = len(ex.suffix)
        assert torch.allclose(h[r, :n], full[0, -n:], atol=1e-4)


def test_batched_loss_is_the_token_weighted_mean_of_single_rows_and_reaches_the_rollout():
    model, tok, task, bot, eot = _setup()
    recipe = Recipe(bot=bot, eot=eot, per_step=2, stages=2, stage=1)
    problems = task.load("easy", limit=3, seed=1)
    both = coconut_loss(model, **_batch(tok, recipe, problems, task))
    parts = []
    for p in problems:
        b = _batch(tok, recipe, [p], task)
        parts.append((coconut_loss(model, **b).item(), int((b["labels"][:, 1:] != IGNORE).sum())))
    expected = sum(loss * n for loss, n in parts) / sum(n for _, n in parts)
    assert both.item() == pytest.approx(expected, rel=1e-4)
    fed = []
    b = _batch(tok, recipe, problems, task)
    rollout(model, b["prefix"], b["prefix_mask"], b["latents"], b["suffix"], b["suffix_mask"], fed=fed)
    assert all(f.requires_grad for f in fed)   # gradients flow through the latent rollout


def test_train_coconut_stages_then_method_coconut_runs_the_trained_latents(tmp_path, capsys):
    out = tmp_path / "co"
    code, _, err = run_cli(["train", "--task", "arith", "--split", "easy:2,easy:2,easy:2", "--size", "micro",
                            "--batch-size", "4", "--eval-limit", "2", "--eval-every", "2", "--no-compile",
                            "--recipe", "coconut", "--latents-per-step", "2", "--out", out, "--no-progress"], capsys)
    assert code == 0, err
    meta = json.loads((out / "leanthink.json").read_text())
    assert meta["coconut"] == {"latents_per_step": 2, "stages": 3, "latents": 6, "latent_supervision": 0.0}
    assert [h["stage"] for h in meta["history"]] == ["easy", "easy", "easy"]
    results = tmp_path / "r.jsonl"
    code, _, err = run_cli(["eval", "--task", "arith", "--split", "easy", "--limit", "3", "--method", "coconut",
                            "--model", out, "--max-new-tokens", "16", "--out", results, "--no-progress"], capsys)
    assert code == 0, err
    rows = [json.loads(x) for x in results.read_text().splitlines()]
    assert len(rows) == 3 and all(r["usage"]["latent_tokens"] == 6 for r in rows)
    code, _, err = run_cli(["eval", "--task", "arith", "--split", "easy", "--limit", "1", "--method", "coconut",
                            "--model", "builtin:arith", "--out", tmp_path / "s.jsonl", "--no-progress"], capsys)
    assert code != 0 and "not trained with Coconut" in err


def test_recipe_flags_are_checked():
    from leanthink.errors import LeanthinkError
    from leanthink.train.config import SFTConfig

    with pytest.raises(LeanthinkError, match="--latents-per-step"):
        SFTConfig(recipe="coconut", latents_per_step=0).validate()
    with pytest.raises(LeanthinkError, match="--recipe"):
        SFTConfig(recipe="coconuts").validate()


def test_latent_supervision_labels_each_replaced_steps_last_thought_with_its_key_token():
    from leanthink.train.coconut import key_token

    model, tok, task, bot, eot = _setup()
    p = _problem(task, 3)
    steps, _ = split_steps(task.cot_target(p), "\n")
    recipe = Recipe(bot=bot, eot=eot, per_step=2, stages=4, stage=2, supervise=1.0)
    ex = recipe.example(task, p, "cot", tok, STYLE)
    result = steps[0].strip().split("=")[-1]            # "k=47+8=55": the key token starts the result
    assert tok.decode([ex.latent_labels[1]]).strip() == result[:len(tok.decode([ex.latent_labels[1]]).strip())]
    assert ex.latent_labels[1] == key_token(steps[0], tok) and ex.latent_labels[3] == key_token(steps[1], tok)
    assert ex.latent_labels[0] == ex.latent_labels[2] == IGNORE
    plain = Recipe(bot=bot, eot=eot, per_step=2, stages=4, stage=2).example(task, p, "cot", tok, STYLE)
    assert set(plain.latent_labels) == {IGNORE}
    # the extra loss is the cross-entropy of the labelled thoughts through the LM head, weighted
    batch = _batch(tok, recipe, [p], task)
    fed: list = []
    with torch.no_grad():
        base = coconut_loss(model, **batch)
        sup = coconut_loss(model, **batch, supervise=0.5)
        rollout(model, batch["prefix"], batch["prefix_mask"], batch["latents"], batch["suffix"], batch["suffix_mask"],
                fed=fed)
        logits = model.lm_head(torch.stack(fed, 1))[0]
        want = torch.nn.functional.cross_entropy(logits[[1, 3]], torch.tensor([ex.latent_labels[1], ex.latent_labels[3]]))
    assert torch.allclose(sup - base, 0.5 * want, atol=1e-5)
