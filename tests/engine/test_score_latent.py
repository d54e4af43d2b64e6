"""`score` (logprobs of given continuations, rows left as they were) and `latent_steps`."""

from __future__ import annotations

import pytest
import torch

from leanthink.engine import SamplingParams
from leanthink.errors import LeanthinkError


PROMPTS = ["a=1. b=a+2. What is b?\nReasoning:\n", "x=57. y=x-3. z=y*2. What is z? Let us see.\nReasoning:\n"]


def reference_logprobs(engine, context: list[int], cont: list[int]) -> list[float]:
    with torch.no_grad():
        logp = torch.log_softmax(engine.model(input_ids=torch.tensor([context + cont])).logits[0].float(), -1)
    return [float(logp[len(context) - 1 + i, t]) for i, t in enumerate(cont)]


@pytest.mark.parametrize("paused", [False, True])
def test_score_gives_the_models_logprobs_and_leaves_rows_as_they_were(engine, paused):
    seqs = engine.prefill(PROMPTS)
    if paused:   # rows with a pending token (sampled, not fed yet)
        engine.extend(seqs, SamplingParams(max_new_tokens=3))
    context = [seqs.token_ids(0), seqs.token_ids(1)]
    before = engine.usage(seqs)[0].forward_tokens
    got = engine.score(seqs, [" Answer: 3", None])
    cont = engine.encode(" Answer: 3")
    assert got[1] is None and len(got[0]) == len(cont)
    assert got[0] == pytest.approx(reference_logprobs(engine, context[0], cont), abs=1e-4)
    assert engine.usage(seqs)[0].forward_tokens == before + len(cont) + (1 if paused else 0)
    assert seqs.token_ids(0) == context[0]
    # decoding goes on exactly as if nothing had been scored
    after = [c.token_ids for c in engine.extend(seqs, SamplingParams(max_new_tokens=6))]
    ref = engine.prefill(PROMPTS)
    if paused:
        engine.extend(ref, SamplingParams(max_new_tokens=3))
    assert after == [c.token_ids for c in engine.extend(ref, SamplingParams(max_new_tokens=6))]
    with pytest.raises(LeanthinkError, match="texts for 2 rows"):
        engine.score(seqs, ["x"])


def test_latent_steps_feed_the_last_hidden_state(engine):
    seqs = engine.prefill([PROMPTS[0]])
    h0 = seqs.last_hidden[0].clone()
    engine.latent_steps(seqs, [2])
    ids = engine.tokenizer(PROMPTS[0], return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        emb = engine.model.get_input_embeddings()(ids)
        out = engine.model.model(inputs_embeds=torch.cat([emb, h0[None, None]], 1)).last_hidden_state[0, -1]
        out2 = engine.model(inputs_embeds=torch.cat([emb, h0[None, None], out[None, None]], 1)).logits[0, -1]
    assert torch.allclose(seqs.last_logits[0], out2, atol=1e-4)
    u = engine.usage(seqs)[0]
    lp = ids.shape[1]
    assert u.forward_tokens == lp + 2 and u.generated_tokens == 0 and u.latent_tokens == 2
    assert u.dep == lp + (lp + 1)   # each step is computed from the positions before it, like a sampled token


def test_batched_latent_steps_equal_one_row_at_a_time(engine):
    seqs = engine.prefill(PROMPTS)
    engine.latent_steps(seqs, [3, 1])
    batched = [c.token_ids for c in engine.extend(seqs, SamplingParams(max_new_tokens=5))]
    for r, (p, k) in enumerate(zip(PROMPTS, (3, 1))):
        one = engine.prefill([p])
        engine.latent_steps(one, [k])
        assert engine.extend(one, SamplingParams(max_new_tokens=5))[0].token_ids == batched[r]
    with pytest.raises(LeanthinkError, match="one integer >= 0 per row"):
        engine.latent_steps(seqs, [1])
