"""Particle filtering over compressed particles (`compress=lightthinker`): each particle's finished
thought is compressed into the cache tokens and evicted before it is weighed and resampled.

On the shipped LightThinker reasoner (builtin:iterate-lightthinker, |C| = 1) and a micro model made
to write fixed-length thoughts: one particle is exactly `--method lightthinker`; the engine's peak
counter shows each particle holding only the prompt, its summaries and one live thought (against
what plain particle filtering holds on the same problems); batching changes nothing; a particle
copied by resampling continues with the logits of its source; non-LightThinker models and methods
that cannot compress are refused in one line."""

from __future__ import annotations

import pytest
import torch

from leanthink.engine import load_engine
from leanthink.errors import LeanthinkError
from leanthink.methods import get_method
from leanthink.methods.scaling.base import Batch
from leanthink.prompting import PromptStyle
from leanthink.tasks import get_task

from helpers import micro_llama
from test_lightthinker_eviction import C, ThinkingEngine

PF = dict(weights="self-certainty", compress="lightthinker")


@pytest.fixture(scope="module")
def lt():
    return load_engine("builtin:iterate-lightthinker")


@pytest.fixture(scope="module")
def task():
    return get_task("iterate")


@pytest.fixture(scope="module")
def problems(task):
    return task.load(split="long", limit=3, seed=0)


def test_one_compressed_particle_is_the_lightthinker_method(lt, task, problems):
    pf = get_method("particle-filter", budget=1, **PF).solve(lt, task, problems)
    ref = get_method("lightthinker", temperature=0.8).solve(lt, task, problems)
    for a, b in zip(pf, ref):
        assert a.output == b.output and "<w>" not in a.output
        assert a.usage.peak_tokens == b.usage.peak_tokens
        assert a.usage.generated_tokens == b.usage.generated_tokens
        assert a.trace["thoughts"] == [b.trace["thoughts"]] and b.trace["thoughts"] >= 5


def test_batched_equals_one_at_a_time(lt, task, problems):
    m = get_method("particle-filter", budget=4, batch_size=3, **PF)
    together = m.solve(lt, task, problems)
    alone = [get_method("particle-filter", budget=4, batch_size=1, **PF).solve(lt, task, [p])[0] for p in problems]
    for a, b in zip(together, alone):
        assert a.output == b.output and a.answer == b.answer
        assert a.trace["scores"] == b.trace["scores"] and a.trace["thoughts"] == b.trace["thoughts"]
        same = ("prompt_tokens", "generated_tokens", "forward_tokens", "peak_tokens", "dep")
        assert [getattr(a.usage, k) for k in same] == [getattr(b.usage, k) for k in same]


def test_compressed_particles_hold_far_less_than_plain_ones(lt, task, problems):
    n = 4
    plain = get_method("particle-filter", budget=n, weights="self-certainty").solve(
        load_engine("builtin:iterate"), task, problems)
    packed = get_method("particle-filter", budget=n, **PF).solve(lt, task, problems)
    for a, b in zip(plain, packed):
        prompt = b.usage.prompt_tokens
        # plain particles hold their whole text: the peak is at least N copies of the longest solution's end
        assert a.usage.peak_tokens >= n * prompt + a.usage.generated_tokens // 2
        # compressed: prompt + (|C| + 1) per finished thought + one live thought (a line of ~20 tokens
        # + <w>) + C while it is compressed, per particle
        thoughts = max(b.trace["thoughts"])
        assert b.usage.peak_tokens <= n * (prompt + 2 * thoughts + 32)
        assert b.usage.peak_tokens < a.usage.peak_tokens / 2


def test_peak_is_prompt_summaries_and_one_thought_per_particle():
    """Thoughts of exactly 3 tokens + <w>: the bound is exact, and it is reached."""
    model, tok = micro_llama()
    engine = ThinkingEngine.from_model(model, tok, PromptStyle("plain"))
    engine.meta = {"lightthinker": {"cache_tokens": C}}
    task = get_task("iterate")
    problems = task.load(split="easy", limit=2)
    n, steps = 3, 5
    res = get_method("particle-filter", budget=n, max_steps=steps, **PF).solve(engine, task, problems)
    for r in res:
        assert r.trace["thoughts"] == [steps - 1] * n   # the last step ends the particle uncompressed
        # every particle at once: prompt, steps - 2 summaries, a 3-token thought, <w> and C being fed
        bound = n * (r.usage.prompt_tokens + (steps - 2) * (C + 1) + 4 + C)
        assert r.usage.peak_tokens == bound


def test_a_resampled_copy_continues_like_its_source(lt, task, problems):
    from leanthink.methods.thoughts import thought_markers

    method = get_method("particle-filter", budget=4, **PF)

    def three_thoughts():
        particles = Batch(method, lt, task, problems, None, thought_markers(lt)).start(4)
        for _ in range(3):
            particles.advance()
        return particles

    src, res = three_thoughts(), three_thoughts()   # the same seeds: the same particles twice
    assert all(s.thoughts == 3 for s in src.states)
    assert len({s.text for s in src.states}) > 3          # particles that differ
    for r in range(len(src)):   # three thoughts are gone from the cache; [o] is queued
        assert src.seqs.num_tokens(r) + 1 < src.seqs.next_position(r) - 30
    index = list(reversed(range(len(src)))) + [0, 0, 5]   # a permutation plus copies
    res.select(index)
    assert [s.text for s in res.states] == [src.states[i].text for i in index]
    cont = "4: 57*9+2=15, k=15\n"
    want = lt.score(src.seqs, [cont] * len(src))
    got = lt.score(res.seqs, [cont] * len(res))
    for g, i in zip(got, index):
        assert torch.allclose(torch.tensor(g), torch.tensor(want[i]), atol=1e-5)
    assert len({round(sum(w), 4) for w in want}) > 3     # the continuation's logits differ between particles


def test_refusals(task, problems):
    vanilla = load_engine("builtin:iterate")
    with pytest.raises(LeanthinkError, match="not trained with LightThinker") as e:
        get_method("particle-filter", **PF).solve(vanilla, task, problems[:1])
    assert "\n" not in str(e.value)
    for name in ("self-consistency", "best-of-n", "particle-gibbs", "parallel-tempering"):
        with pytest.raises(LeanthinkError, match="cannot run on compressed thoughts"):
            get_method(name, **PF)
    with pytest.raises(LeanthinkError, match="compress"):
        get_method("particle-filter", compress="h2o")


def test_beam_and_dvts_run_on_compressed_particles(lt, task, problems):
    for name in ("beam", "dvts"):
        res = get_method(name, budget=4, width=2, **PF).solve(lt, task, problems[:1])
        assert "<w>" not in res[0].output and res[0].usage.peak_tokens < 4 * (res[0].usage.prompt_tokens + 80)


def test_uncompressed_run_ids_are_unchanged():
    m = get_method("particle-filter", budget=4)
    assert "compress" not in m.identity()
    assert get_method("particle-filter", budget=4, compress="lightthinker").identity()["compress"] == "lightthinker"
