"""Per-row random streams, the Gumbel-max sampler, decoding controls and logprobs."""

from __future__ import annotations

import math

import pytest
import torch

from leanthink.engine import SamplingParams, stream_seed
from leanthink.engine.sampling import Chooser, Stream
from leanthink.errors import LeanthinkError
from leanthink.tasks import get_task


@pytest.fixture(scope="module")
def problems():
    return get_task("arith").load(split="hard", limit=16)


@pytest.mark.parametrize("temperature", [0.0, 0.8])
def test_outputs_do_not_depend_on_the_batch(engine, problems, temperature):
    prompts = [engine.prompt_style.render(p, "cot") for p in problems]
    seeds = [stream_seed(0, p.id) for p in problems]
    params = SamplingParams(max_new_tokens=24, temperature=temperature)
    by_size = {}
    for size in (1, 3, 16):
        outs = []
        for s in range(0, len(prompts), size):
            got, _ = engine.generate(prompts[s:s + size], params, seeds=seeds[s:s + size])
            outs += [c.token_ids for c in got]
        by_size[size] = outs
    assert by_size[1] == by_size[3] == by_size[16]
    if temperature:   # sampled rows really sample: they differ from greedy
        greedy, _ = engine.generate(prompts, SamplingParams(max_new_tokens=24), seeds=seeds)
        assert sum(g.token_ids != o for g, o in zip(greedy, by_size[16])) >= 8


def test_gumbel_sampler_draws_from_the_tempered_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, -9.0]])
    params = SamplingParams(temperature=0.8)
    chooser = Chooser(params, 5, torch.device("cpu"), eos_ids=set())
    n = 6000
    counts = torch.zeros(5)
    for i in range(n // 100):   # 100 rows a call, each its own stream
        choice = chooser.choose(logits.expand(100, 5), [Stream(stream_seed("t", i, j)) for j in range(100)], [0] * 100)
        counts += torch.bincount(torch.tensor(choice.tokens), minlength=5)
    expected = torch.softmax(logits[0] / 0.8, -1) * n
    chi2 = float(((counts - expected) ** 2 / expected.clamp(min=1e-9))[:4].sum())
    assert chi2 < 16.3, (counts, expected)   # chi-square, 3 dof, p = 0.001
    assert counts[4] <= 2


def test_top_k_and_top_p_limit_the_candidates():
    logits = torch.tensor([[3.0, 2.9, 2.8, 0.0, -1.0]]).expand(200, 5)
    streams = [Stream(stream_seed("k", j)) for j in range(200)]
    k2 = Chooser(SamplingParams(temperature=1.0, top_k=2), 5, torch.device("cpu"), set()).choose(logits, streams, [0] * 200)
    assert set(k2.tokens) == {0, 1}
    p = Chooser(SamplingParams(temperature=1.0, top_p=0.5), 5, torch.device("cpu"), set()).choose(logits, streams, [0] * 200)
    assert set(p.tokens) <= {0, 1} and len(set(p.tokens)) == 2


def test_forked_copies_get_distinct_reproducible_streams(engine):
    prompt = engine.prompt_style.render(get_task("arith").load(split="easy", limit=1)[0], "cot")
    params = SamplingParams(max_new_tokens=10, temperature=1.0)

    def sample():
        seqs = engine.prefill([prompt], seeds=[7])
        engine.fork(seqs, 4)
        return [c.token_ids for c in engine.extend(seqs, params)]

    a, b = sample(), sample()
    assert a == b
    assert len({tuple(x) for x in a}) >= 3


def test_a_row_moved_but_not_copied_keeps_its_stream(engine, problems):
    prompts = [engine.prompt_style.render(p, "cot") for p in problems[:3]]
    params = SamplingParams(max_new_tokens=12, temperature=1.0)
    seqs = engine.prefill(prompts, seeds=[1, 2, 3])
    engine.select(seqs, [2, 0])           # reorder and drop: no row used twice
    moved = [c.token_ids for c in engine.extend(seqs, params)]
    alone, _ = engine.generate([prompts[2], prompts[0]], params, seeds=[3, 1])
    assert moved == [c.token_ids for c in alone]


def test_decoding_controls(engine, problems):
    prompt = engine.prompt_style.render(problems[0], "cot")
    free = engine.generate([prompt], SamplingParams(max_new_tokens=30))[0][0]
    banned = free.token_ids[0]
    out = engine.generate([prompt], SamplingParams(max_new_tokens=30, temperature=1.0, banned_token_ids=(banned,)),
                          seeds=[0])[0][0]
    assert banned not in out.token_ids
    allowed = (5, 6, 7)
    out = engine.generate([prompt], SamplingParams(max_new_tokens=15, temperature=1.0, allowed_token_ids=allowed),
                          seeds=[0])[0][0]
    assert set(out.token_ids) <= set(allowed) and len(out.token_ids) == 15
    out = engine.generate([prompt], SamplingParams(max_new_tokens=5, logit_bias={9: 1000.0}))[0][0]
    assert out.token_ids == [9] * 5
    eos = min(engine.eos_ids)
    forced_eos = SamplingParams(max_new_tokens=6, logit_bias={eos: 1000.0})
    assert engine.generate([prompt], forced_eos)[0][0].finish_reason == "eos"
    held = SamplingParams(max_new_tokens=6, logit_bias={eos: 1000.0}, min_new_tokens=4)
    out = engine.generate([prompt], held)[0][0]
    assert out.finish_reason == "eos" and len(out.logprobs) == 5 and len(out.token_ids) == 4
    never = SamplingParams(max_new_tokens=6, logit_bias={eos: 1000.0}, ignore_eos=True)
    assert engine.generate([prompt], never)[0][0].finish_reason == "length"
    with pytest.raises(LeanthinkError, match="every token"):
        engine.generate([prompt], SamplingParams(allowed_token_ids=(3,), banned_token_ids=(3,)))
    with pytest.raises(LeanthinkError, match="not in"):
        engine.generate([prompt], SamplingParams(banned_token_ids=(10 ** 9,)))


def test_logprobs_top_k_and_entropy_are_the_models(engine, problems):
    prompt = engine.prompt_style.render(problems[1], "cot")
    c = engine.generate([prompt], SamplingParams(max_new_tokens=6, logprobs=3, entropy=True, temperature=0.7),
                        seeds=[4])[0][0]
    ids = engine.encode(prompt) + c.token_ids
    with torch.no_grad():
        logp = torch.log_softmax(engine.model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
    n = len(engine.encode(prompt))
    for i, tok in enumerate(c.token_ids):
        row = logp[n - 1 + i]
        assert c.logprobs[i] == pytest.approx(float(row[tok]), abs=1e-4)
        top = c.top_logprobs[i]
        assert [t for t, _ in top] == row.topk(3).indices.tolist()
        assert top[0][1] == pytest.approx(float(row.max()), abs=1e-4)
        assert c.entropies[i] == pytest.approx(float(-(row.exp() * row).sum()), abs=1e-3)
    assert c.mean_logprob == pytest.approx(sum(c.logprobs) / len(c.logprobs))
    assert all(math.isfinite(x) and x <= 0 for x in c.logprobs)
