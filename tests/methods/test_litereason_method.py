"""`--method litereason`: a marker in the output runs N latent steps through the projector; batching
changes nothing; the engine feeds the projected state."""

from __future__ import annotations

import torch

from leanthink.engine.hf import HFEngine
from leanthink.methods import get_method
from leanthink.models.projector import ReasoningProjector
from leanthink.prompting import PromptStyle
from leanthink.tasks import get_task

from helpers import micro_llama


class MarkingEngine(HFEngine):
    """A random micro model made to write two tokens, then `<implicit_thought>2</implicit_thought>`,
    twice per problem (as a trained policy would), then to decode freely."""

    def extend(self, seqs, params, rows=None):
        from dataclasses import replace

        rows = list(range(len(seqs))) if rows is None else rows
        plist = params if isinstance(params, list) else [params] * len(rows)
        marking = [r for r in rows if seqs.rows[r].request.usage.latent_tokens < 4]
        if not marking:
            return super().extend(seqs, plist, rows)
        outs = super().extend(seqs, [replace(p, max_new_tokens=2, ignore_eos=True) for p in plist], rows)
        text = "<implicit_thought>2</implicit_thought>"
        self.append(seqs, [text if r in marking else None for r in range(len(seqs))], defer=True)
        for r, c in zip(rows, outs):
            if r in marking:
                c.text, c.finish_reason = c.text + text, "stop"
        return outs


def test_markers_run_projected_latent_steps_and_batching_changes_nothing():
    model, tok = micro_llama()
    engine = MarkingEngine.from_model(model, tok, PromptStyle("plain"))
    torch.manual_seed(0)
    engine.projector = ReasoningProjector(model, blocks=1).eval().requires_grad_(False)
    task = get_task("arith")
    problems = task.load("easy", limit=3, seed=0)
    batched = get_method("litereason", batch_size=3, max_new_tokens=20).solve(engine, task, problems)
    alone = [get_method("litereason", batch_size=1, max_new_tokens=20).solve(engine, task, [p])[0] for p in problems]
    for b, a in zip(batched, alone):
        assert b.output == a.output and b.usage.to_dict() == {**a.usage.to_dict(), "wall_time_s": b.usage.wall_time_s}
        assert b.trace["implicit_thoughts"] == [2, 2] and b.usage.latent_tokens == 4
        assert b.output.count("</implicit_thought>") == 2


def test_latent_steps_feed_the_projected_hidden_state(engine):
    torch.manual_seed(0)
    proj = ReasoningProjector(engine.model, blocks=2).eval().requires_grad_(False)
    prompt = "a=1. b=a+2. What is b?\nReasoning:\n"
    seqs = engine.prefill([prompt])
    h0 = seqs.last_hidden[0].clone()
    engine.latent_steps(seqs, [1], projector=proj)
    ids = engine.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        emb = engine.model.get_input_embeddings()(ids)
        ref = engine.model(inputs_embeds=torch.cat([emb, proj(h0)[None, None]], 1)).logits[0, -1]
    assert torch.allclose(seqs.last_logits[0], ref, atol=1e-4)
