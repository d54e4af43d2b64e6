"""LiteReason: marker placement, the projector rollout against a by-hand computation (latents at
different columns per row), projector-only SFT end to end, and the projector in the engine."""

from __future__ import annotations

import json
import random

import torch

from leanthink.models.projector import ReasoningProjector, load_projector
from leanthink.train.litereason import (IGNORE, LATENT, choose_steps, collate, latent_count, marked_example,
                                        marker_text, rollout)

from cli_helpers import run_cli
from helpers import micro_llama


def test_a_share_of_10_to_25_percent_of_steps_at_least_one_and_n_from_the_step_length():
    rng = random.Random(0)
    for n in (1, 3, 8, 20):
        for _ in range(50):
            k = len(choose_steps(n, rng))
            assert 1 <= k and (k == 1 or 0.10 * n - 0.5 <= k <= 0.25 * n + 0.5)
    assert [latent_count(t) for t in (1, 5, 8, 13, 40)] == [1, 1, 2, 3, 5]


def test_marked_example_replaces_the_chosen_steps_by_marker_and_latents():
    _, tok = micro_llama()
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    steps = [enc("s=4+2=6\n"), enc("m=6*6=36\n"), enc("t=36+8=44\n")]
    ex = marked_example([5, 6], steps, enc("Answer: 44"), {1}, enc, tok.eos_token_id)
    n = latent_count(len(steps[1]))
    marker = enc(marker_text(n))
    assert len(marker) == 3   # <implicit_thought>, the digit, </implicit_thought>
    assert ex.items == [5, 6] + steps[0] + marker + [LATENT] * n + steps[2] + enc("Answer: 44") + [tok.eos_token_id]
    assert ex.labels[:2] == [IGNORE] * 2
    assert [lab for it, lab in zip(ex.items, ex.labels) if it == LATENT] == [IGNORE] * n


def test_rollout_feeds_the_projected_previous_hidden_state_at_each_latent_by_hand():
    model, tok = micro_llama()
    torch.manual_seed(1)
    proj = ReasoningProjector(model, blocks=2)
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    a = marked_example(enc("q=1. r=q+2.\n"), [enc("r=3\n"), enc("s=4\n")], enc("Answer: 4"), {0}, enc, tok.eos_token_id)
    b = marked_example(enc("x=12. y=x*2. z=y-1.\n"), [enc("y=24\n"), enc("z=23\n")], enc("Answer: 23"), {1}, enc,
                       tok.eos_token_id)
    batch = collate([a, b], tok.pad_token_id)
    assert batch["latent"][0].nonzero().min() != batch["latent"][1].nonzero().min()   # different columns
    fed = []
    with torch.no_grad():
        h = rollout(model, proj, batch["ids"], batch["latent"], batch["mask"], fed=fed)
    by_column = {c: (rows, e) for c, rows, e in fed}
    embed = model.get_input_embeddings()
    for r, ex in enumerate((a, b)):
        x = torch.zeros((1, 0, embed.embedding_dim))
        with torch.no_grad():
            for i, item in enumerate(ex.items):   # by hand: the whole prefix re-run at every latent, no cache
                if item == LATENT:
                    e = proj(model.model(inputs_embeds=x).last_hidden_state[0, -1])
                    rows, got = by_column[i]
                    assert torch.allclose(got[rows.index(r)], e, atol=1e-4)
                else:
                    e = embed(torch.tensor(item))
                x = torch.cat([x, e[None, None]], 1)
            full = model.model(inputs_embeds=x).last_hidden_state[0]
        assert torch.allclose(h[r, :len(ex.items)], full, atol=1e-4)


def test_train_litereason_trains_only_the_projector_and_the_method_runs_it(tmp_path, capsys):
    base = tmp_path / "base"
    code, _, err = run_cli(["train", "--task", "arith", "--split", "train", "--size", "micro", "--steps", "2",
                            "--batch-size", "4", "--eval-limit", "0", "--no-compile", "--out", base, "--no-progress"],
                           capsys)
    assert code == 0, err
    out = tmp_path / "lr"
    code, _, err = run_cli(["train-litereason", "--init", base, "--task", "arith", "--split", "train-easy",
                            "--steps", "3", "--batch-size", "4", "--blocks", "2", "--eval-every", "3",
                            "--eval-limit", "4", "--out", out, "--no-progress"], capsys)
    assert code == 0, err
    meta = json.loads((out / "leanthink.json").read_text())
    assert meta["litereason"]["blocks"] == 2 and len(meta["litereason"]["history"]) == 2
    from safetensors.torch import load_file

    before, after = load_file(base / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)   # the base is frozen
    model, _ = micro_llama()
    fresh = ReasoningProjector(model, 2).state_dict()
    trained = load_projector(out, model, 2).state_dict()
    assert fresh.keys() == trained.keys()
    results = tmp_path / "r.jsonl"
    code, _, err = run_cli(["eval", "--task", "arith", "--split", "easy", "--limit", "2", "--method", "litereason",
                            "--model", out, "--max-new-tokens", "12", "--out", results, "--no-progress"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["eval", "--task", "arith", "--split", "easy", "--limit", "1", "--method", "litereason",
                            "--model", base, "--out", tmp_path / "s.jsonl", "--no-progress"], capsys)
    assert code != 0 and "no reasoning projector" in err
    policy = tmp_path / "lr2"   # then the base learns to write markers (the projector no longer changes)
    code, _, err = run_cli(["train-litereason", "--init", base, "--split", "train-easy", "--steps", "2",
                            "--policy-steps", "2", "--batch-size", "4", "--blocks", "2", "--eval-limit", "4",
                            "--out", policy, "--no-progress"], capsys)
    assert code == 0, err
    stages = [h["stage"] for h in json.loads((policy / "leanthink.json").read_text())["litereason"]["history"]]
    assert stages == ["projector", "projector", "policy"]
    tuned = load_file(policy / "model.safetensors")
    assert any(not torch.equal(before[k], tuned[k]) for k in before)


def test_a_rescaled_projector_outputs_at_the_embeddings_mean_norm_and_reloads_as_rescaled(tmp_path):
    from leanthink.models.projector import save_projector

    model, _ = micro_llama()
    target = model.get_input_embeddings().weight.norm(dim=-1).mean().item()
    h = torch.randn(3, model.config.hidden_size) * 50
    proj = ReasoningProjector(model, 2, rescale=True)
    assert torch.allclose(proj(h).norm(dim=-1), torch.full((3,), target), rtol=1e-4)
    save_projector(proj, tmp_path)
    again = load_projector(tmp_path, model, 2)
    assert again.scale is not None and torch.allclose(again(h), proj(h))
    plain = ReasoningProjector(model, 2)   # a checkpoint saved without the buffer loads unscaled, as before
    save_projector(plain, tmp_path)
    assert load_projector(tmp_path, model, 2).scale is None and "scale" not in plain.state_dict()
