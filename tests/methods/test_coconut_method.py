"""`--method coconut`: batched latent decoding equals one problem at a time, and the latents it runs
are what usage reports."""

from __future__ import annotations

from leanthink.methods import get_method
from leanthink.tasks import get_task


def test_batched_coconut_equals_one_at_a_time_and_counts_latents(engine):
    task = get_task("arith")
    problems = task.load("easy", limit=3, seed=0)
    batched = get_method("coconut", latents=3, batch_size=3, max_new_tokens=8).solve(engine, task, problems)
    alone = get_method("coconut", latents=3, batch_size=1, max_new_tokens=8).solve(engine, task, problems)
    assert [r.output for r in batched] == [r.output for r in alone]
    assert all(r.usage.latent_tokens == 3 for r in batched)
    for r in batched:   # prompt + <bot> + 3 latents + <eot> + generated (the last sampled token is not fed)
        u = r.usage
        assert u.forward_tokens == u.prompt_tokens + 1 + 3 + 1 + u.generated_tokens - 1
    none = get_method("coconut", latents=0, max_new_tokens=8).solve(engine, task, problems[:1])[0]
    assert none.usage.latent_tokens == 0 and none.output != batched[0].output
