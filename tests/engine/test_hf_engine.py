"""HFEngine against Hugging Face's own forward/generate, and its counters against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from leanthink.engine import SamplingParams
from leanthink.engine.hf import HFEngine
from leanthink.errors import LeanthinkError


PROMPTS = ["a=1. b=a+2. What is b?\nReasoning:\n", "x=57. y=x-3. z=y*2. What is z? Let us see.\nReasoning:\n"]


def hf_greedy(engine, prompt: str, n: int) -> list[int]:
    ids = engine.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    out = engine.model.generate(**ids, max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=1,
                                min_new_tokens=n)
    return out[0, ids["input_ids"].shape[1]:].tolist()


def test_batched_greedy_matches_hf_generate_per_prompt(engine):
    # prompts of different lengths share a left-padded batch; each row must decode as if alone
    outs, _ = engine.generate(PROMPTS, SamplingParams(max_new_tokens=10))
    for prompt, c in zip(PROMPTS, outs):
        assert c.token_ids == hf_greedy(engine, prompt, 10)


def test_counters_match_hand_computed_values(engine):
    n_new = 7
    outs, usage = engine.generate(PROMPTS, SamplingParams(max_new_tokens=n_new))
    for prompt, c, u in zip(PROMPTS, outs, usage):
        lp = engine.count_tokens(prompt)
        assert c.finish_reason == "length" and len(c.token_ids) == n_new
        assert u.prompt_tokens == lp
        assert u.generated_tokens == n_new
        # the last sampled token is never fed back
        assert u.forward_tokens == lp + n_new - 1
        assert u.peak_tokens == lp + n_new - 1
        # token i (0-based) is sampled from a pass that attended to lp + i positions
        assert u.dep == lp * n_new + n_new * (n_new - 1) // 2
        # one prefill pass + one pass per fed token
        assert u.model_calls == 1 + (n_new - 1)
        assert u.wall_time_s > 0


def test_pausing_at_a_token_boundary_and_resuming_equals_one_generation(engine):
    full, _ = engine.generate([PROMPTS[0]], SamplingParams(max_new_tokens=12))
    ids = full[0].token_ids
    stop = engine.decode(ids[:3])   # first completes exactly where token 3 ends
    seqs = engine.prefill([PROMPTS[0]])
    first = engine.extend(seqs, SamplingParams(max_new_tokens=12, stop=(stop,)))[0]
    assert first.finish_reason == "stop" and first.stop == stop and first.text.endswith(stop)
    assert first.token_ids == ids[:3]
    rest = engine.extend(seqs, SamplingParams(max_new_tokens=12 - len(first.token_ids)))[0]
    assert first.token_ids + rest.token_ids == ids
    assert first.text + rest.text == full[0].text
    u = engine.usage(seqs)[0]
    assert u.generated_tokens == 12 and u.forward_tokens == engine.count_tokens(PROMPTS[0]) + 11


def test_fork_shares_the_prefix_and_select_reorders(engine):
    seqs = engine.prefill([PROMPTS[1]])
    lp = engine.count_tokens(PROMPTS[1])
    engine.fork(seqs, 3)
    outs = engine.extend(seqs, SamplingParams(max_new_tokens=5))
    assert outs[0].token_ids == outs[1].token_ids == outs[2].token_ids
    u = engine.usage(seqs)[0]
    assert u.prompt_tokens == lp and u.generated_tokens == 15
    assert u.forward_tokens == lp + 3 * 4  # prefix computed once, 4 fed tokens per copy
    assert u.peak_tokens == 3 * (lp + 4)   # each copy holds its own prefix in memory
    engine.select(seqs, [2, 2])
    assert len(seqs) == 2


def test_sampling_is_seeded_per_row(engine):
    p = SamplingParams(max_new_tokens=8, temperature=1.0)
    a, _ = engine.generate(PROMPTS, p, seeds=[3, 4])
    b, _ = engine.generate(PROMPTS, p, seeds=[3, 4])
    c, _ = engine.generate(PROMPTS, p, seeds=[5, 4])
    assert [x.token_ids for x in a] == [x.token_ids for x in b]
    assert a[0].token_ids != c[0].token_ids and a[1].token_ids == c[1].token_ids   # row 1 ignores row 0's seed


def test_sampling_with_tiny_top_p_is_greedy(engine):
    greedy, _ = engine.generate(PROMPTS, SamplingParams(max_new_tokens=6))
    nucleus, _ = engine.generate(PROMPTS, SamplingParams(max_new_tokens=6, temperature=1.0, top_p=1e-6), seeds=[9, 9])
    assert [x.token_ids for x in greedy] == [x.token_ids for x in nucleus]


def test_evict_hides_a_span_from_later_tokens_and_keeps_positions(engine):
    from transformers import DynamicCache

    prompt = PROMPTS[1]
    ids = engine.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    seven = engine.tokenizer("7", add_special_tokens=False)["input_ids"]
    n = len(ids)
    seqs = engine.prefill([prompt, PROMPTS[0]])
    engine.evict(seqs, 0, 3, 9)
    assert seqs.num_tokens(0) == n - 6 and seqs.token_ids(0) == ids[:3] + ids[9:]
    engine.append(seqs, ["7", None])
    # reference: Hugging Face's own forward over the full cache, with the span masked out; tokens after
    # the span keep the KV entries they computed while the span was visible (that is what eviction is)
    cache = DynamicCache(config=engine.model.config)
    with torch.no_grad():
        engine.model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True)
        mask = torch.ones(1, n + 1, dtype=torch.long)
        mask[0, 3:9] = 0
        ref = engine.model(input_ids=torch.tensor([seven]), attention_mask=mask, position_ids=torch.tensor([[n]]),
                           cache=cache).logits[0, -1]
        no_evict = engine.model(input_ids=torch.tensor([ids + seven])).logits[0, -1]
    assert torch.allclose(seqs.last_logits[0], ref, atol=1e-4)
    assert not torch.allclose(seqs.last_logits[0], no_evict, atol=1e-2)
    u = engine.usage(seqs)[0]
    assert u.peak_tokens == n and u.forward_tokens == n + 1


def test_compaction_after_eviction_changes_nothing(engine):
    a = engine.prefill([PROMPTS[1]])
    b = engine.prefill([PROMPTS[1]])
    engine.evict(a, 0, 2, 20)          # over a quarter dead: compacted at once
    engine.evict(b, 0, 2, 4)
    engine.evict(b, 0, 2, 18)
    assert a.mask.shape[1] == a.num_tokens(0)
    ta = engine.extend(a, SamplingParams(max_new_tokens=6))[0].token_ids
    tb = engine.extend(b, SamplingParams(max_new_tokens=6))[0].token_ids
    assert ta == tb


def test_bad_sampling_settings_are_errors():
    for bad in ({"max_new_tokens": 0}, {"temperature": -1}, {"temperature": float("nan")}, {"temperature": float("inf")},
                {"top_p": 0}, {"top_p": float("nan")}, {"top_k": -2}, {"min_new_tokens": 9, "max_new_tokens": 8},
                {"stop": ("",)}, {"logprobs": 21}, {"max_new_tokens": 2.5}):
        with pytest.raises(LeanthinkError):
            SamplingParams(**bad)


def test_engine_loads_a_directory_and_hashes_it(micro_dir):
    e = HFEngine.load(str(micro_dir))
    assert e.prompt_style.name == "plain" and len(e.model_hash) == 16
    outs, usage = e.generate(["x=1. What is x?\n"], SamplingParams(max_new_tokens=3))
    # an EOS is counted as generated but is not part of the returned tokens
    assert usage[0].generated_tokens == len(outs[0].token_ids) + (outs[0].finish_reason == "eos")
    assert e.model_hash == HFEngine.load(str(micro_dir)).model_hash


def test_deferred_append_is_fed_by_the_next_extend_with_the_same_result(engine):
    now, later = engine.prefill(PROMPTS), engine.prefill(PROMPTS)
    engine.append(now, [" so", None])
    engine.append(later, [" so", None], defer=True)
    assert later.num_tokens(0) == now.num_tokens(0) - len(engine.encode(" so"))   # queued, not fed yet
    assert later.token_ids(0) == now.token_ids(0) and later.next_position(0) == now.next_position(0)
    a = engine.extend(now, SamplingParams(max_new_tokens=5))
    b = engine.extend(later, SamplingParams(max_new_tokens=5))
    assert [c.token_ids for c in a] == [c.token_ids for c in b]
    assert [c.text for c in a] == [c.text for c in b]
    ua, ub = engine.usage(now), engine.usage(later)
    assert [u.forward_tokens for u in ua] == [u.forward_tokens for u in ub]
    assert [u.dep for u in ua] == [u.dep for u in ub]
