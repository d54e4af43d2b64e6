"""H2O: the engine's attention scores are what a full eager pass gives, and the method keeps every
row within its KV budget."""

from __future__ import annotations

import torch

from leanthink.engine import SamplingParams
from leanthink.engine.hf import HFEngine
from leanthink.methods import get_method
from leanthink.prompting import PromptStyle
from leanthink.tasks import get_task

from helpers import micro_llama


def test_attention_scores_sum_what_every_later_query_gave_each_token():
    model, tok = micro_llama()
    engine = HFEngine.from_model(model, tok, PromptStyle("plain"))
    prompts = ["a=1. b=a+2. What is b?\nReasoning:\n", "c=5. What is c?\nReasoning:\n"]
    seqs = engine.prefill(prompts, attention=True)
    engine.extend(seqs, SamplingParams(max_new_tokens=5))
    engine.append(seqs, ["x", "y"])          # the pending token and the text fed: all tokens in the cache
    for r in range(2):
        ids = seqs.token_ids(r)
        model.set_attn_implementation("eager")
        with torch.no_grad():
            att = model.model(input_ids=torch.tensor([ids]), output_attentions=True).attentions
        model.set_attn_implementation("sdpa")
        want = sum(a[0].sum(0) for a in att).sum(0)          # over layers, heads, queries
        assert torch.allclose(torch.tensor(seqs.attention_scores(r)), want, atol=1e-4)


def test_h2o_keeps_each_row_within_its_budget_and_equals_cot_when_nothing_is_evicted():
    model, tok = micro_llama()
    engine = HFEngine.from_model(model, tok, PromptStyle("plain"))
    task = get_task("arith")
    problems = task.load(split="easy", limit=3)
    small = get_method("h2o", kv_budget=40, max_new_tokens=30).solve(engine, task, problems)
    for r in small:
        assert r.usage.peak_tokens <= 40 and r.usage.generated_tokens > 0
    cot = get_method("cot", max_new_tokens=30).solve(engine, task, problems)
    roomy = get_method("h2o", kv_budget=500, max_new_tokens=30).solve(engine, task, problems)
    assert [r.output for r in roomy] == [r.output for r in cot]
    assert all(a.usage.dep > b.usage.dep for a, b in zip(roomy, small))
