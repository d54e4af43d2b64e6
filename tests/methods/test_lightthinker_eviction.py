"""LightThinker inference with real eviction computes what training's mask says: after each
compression the engine's logits equal a full forward pass under the LightThinker attention mask
(tolerance 1e-4), for rows of one batch that evict different amounts at different times, on a Llama
and on a Qwen2."""

from __future__ import annotations

import pytest
import torch

from leanthink.engine.hf import HFEngine
from leanthink.prompting import PromptStyle
from leanthink.train.lightthinker import Markers, batch_masks, build_example

from helpers import micro_llama

C = 3


def qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from leanthink.models.registry import builtin_tokenizer

    tok = builtin_tokenizer()
    torch.manual_seed(1)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                      pad_token_id=tok.pad_token_id, initializer_range=0.3)
    return Qwen2ForCausalLM(cfg).eval(), tok


ROWS = [  # prompt, thoughts (each ends where <w> is written), tail after the last [o]
    ("a=3. b=a+4. What is b?\nReasoning:\n", ["b=3+4=7\n", "so b=7\n"], "Answer: 7"),
    ("x=12. Rule: x=x*3+1. Apply it 2 times.\nReasoning:\n", ["1: 12*3+1=37, x=37\n", "2: 37*3+1=112, x=12\n",
                                                           "done\n"], "Answer: 12"),
]


@pytest.mark.parametrize("build", [micro_llama, qwen2], ids=["llama", "qwen2"])
def test_logits_after_eviction_equal_the_masked_full_pass(build):
    model, tok = build()
    engine = HFEngine.from_model(model.float(), tok, PromptStyle("plain"), autocast=False)
    markers = Markers.from_tokenizer(tok, C)
    cache_text = "".join(f"<c{i}>" for i in range(C))
    seqs = engine.prefill([p for p, _, _ in ROWS])
    begin = [seqs.num_tokens(r) for r in range(len(ROWS))]
    got = {r: [] for r in range(len(ROWS))}   # logits after each [o] and after each thought's <w>
    for i in range(max(len(t) for _, t, _ in ROWS)):
        rows = [r for r, (_, t, _) in enumerate(ROWS) if i < len(t)]
        engine.append(seqs, [ROWS[r][1][i] + "<w>" if r in rows else None for r in range(len(ROWS))])
        for r in rows:
            got[r].append(seqs.last_logits[r].clone())
        engine.append(seqs, [cache_text if r in rows else None for r in range(len(ROWS))])
        for r in rows:   # evict the thought and <w>: they sit just before the C tokens
            engine.evict(seqs, r, begin[r], seqs.num_tokens(r) - C)
        engine.append(seqs, ["[o]" if r in rows else None for r in range(len(ROWS))])
        for r in rows:
            got[r].append(seqs.last_logits[r].clone())
            begin[r] = seqs.num_tokens(r)
    engine.append(seqs, [tail for _, _, tail in ROWS])
    assert all(seqs.num_tokens(r) < len(engine.encode(ROWS[r][0] + "".join(ROWS[r][1]) + ROWS[r][2]))
               + len(ROWS[r][1]) * (C + 2) for r in range(len(ROWS)))   # the thoughts are really gone

    for r, (prompt, thoughts, tail) in enumerate(ROWS):
        ex = build_example(engine.encode(prompt), [engine.encode(t) for t in thoughts], engine.encode(tail), markers)
        with torch.no_grad():
            full = model(input_ids=torch.tensor([ex.ids]),
                         attention_mask=batch_masks([ex], len(ex.ids))).logits[0]
        want = []
        for t in ex.thoughts:
            want += [full[t.splitter], full[t.output]]
        assert len(want) == len(got[r])
        for a, b in zip(got[r], want):
            assert torch.allclose(a, b, atol=1e-4), (a - b).abs().max()


class ThinkingEngine(HFEngine):
    """A random micro model made to write 3-token thoughts, each ended by <w> (a logit bias after a
    minimum length), so the method's loop runs as a trained model would drive it."""

    def extend(self, seqs, params, rows=None):
        from dataclasses import replace

        w = self.token_id("<w>")
        plist = [params] * len(rows or range(len(seqs))) if not isinstance(params, list) else params
        plist = [replace(p, min_new_tokens=3, logit_bias={w: 1e4}) for p in plist]
        return super().extend(seqs, plist, rows)


def test_lightthinker_method_compresses_each_thought_and_holds_only_the_summaries():
    from leanthink.methods import get_method
    from leanthink.tasks import get_task

    model, tok = micro_llama()
    engine = ThinkingEngine.from_model(model, tok, PromptStyle("plain"))
    task = get_task("iterate")
    problems = task.load(split="easy", limit=3)
    m = get_method("lightthinker", cache_tokens=C, max_thoughts=5, max_new_tokens=200, batch_size=3)
    res = m.solve(engine, task, problems)
    alone = [get_method("lightthinker", cache_tokens=C, max_thoughts=5, max_new_tokens=200, batch_size=1)
             .solve(engine, task, [p])[0] for p in problems]
    for r, a, p in zip(res, alone, problems):
        prompt = r.usage.prompt_tokens
        assert r.trace["thoughts"] == 5 and "<w>" not in r.output
        assert r.output == a.output and r.usage.peak_tokens == a.usage.peak_tokens   # batching changes nothing
        # at most the prompt, the summaries so far and one live thought (3 tokens + <w>) are ever held
        assert r.usage.peak_tokens <= prompt + 5 * (C + 1) + 4 + 3
        assert r.usage.peak_tokens < prompt + r.usage.generated_tokens + 5 * (C + 1)
    with pytest.raises(Exception, match="not trained with LightThinker"):
        get_method("lightthinker").solve(engine, task, problems[:1])
