"""`leanthink bench its-hub`: its_hub's algorithms and ours on the same model, PRM, problems and seeds.

its_hub (PyPI `its-hub`, a benchmark-only extra) talks to a language model and a PRM through its own
interfaces; the adapters below implement them over leanthink's engine and PRM, so both sides use the
same weights and the same counters. What differs is the algorithm's use of them: its_hub asks for
one step per live particle per round and re-sends the whole prefix each time (the adapter prefills
it again, as a server without a prefix cache would), and scores every prefix from scratch; leanthink
keeps every particle's cache (and the PRM's) and only runs new tokens.
"""

from __future__ import annotations

import asyncio
import random
import time

import numpy as np

from ..engine import SamplingParams, stream_seed
from ..errors import LeanthinkError


def _its_hub():
    try:
        from its_hub.api import AbstractLanguageModel, AbstractProcessRewardModel
    except ImportError:
        raise LeanthinkError("bench its-hub needs its_hub: pip install 'leanthink[its-hub]' "
                             "(or pip install --no-deps its-hub==1.2.0)") from None
    return AbstractLanguageModel, AbstractProcessRewardModel


def adapters(engine, prm, seed: int, step_tokens: int = 128):
    """(its_hub LM, its_hub PRM, counters) over our engine and PRM."""
    base_lm, base_prm = _its_hub()
    counters = {"forward_tokens": 0, "prm_tokens": 0, "calls": 0}

    class EngineLM(base_lm):
        """its_hub's language model: each request is prefilled from its text and extended to a stop."""

        async def agenerate(self, messages, stop=None, **kw):
            single = not messages or not isinstance(messages[0], list)
            batch = [messages] if single else messages
            texts = ["".join(m.content or "" for m in conv) for conv in batch]   # plain prompts: user + steps
            counters["calls"] += 1
            seeds = [stream_seed(seed, "its_hub", counters["calls"], i) for i in range(len(texts))]
            seqs = engine.prefill(texts, seeds=seeds)
            cap = kw.get("max_completion_tokens") or kw.get("max_tokens") or step_tokens
            outs = engine.extend(seqs, SamplingParams(max_new_tokens=cap, temperature=kw.get("temperature", 0.8),
                                                      stop=(stop,) if isinstance(stop, str) else tuple(stop or ())))
            counters["forward_tokens"] += sum(u.forward_tokens for u in engine.usage(seqs))
            keep = kw.get("include_stop_str_in_output", False)
            replies = [{"role": "assistant",
                        "content": c.text if keep or not c.stop else c.text[: len(c.text) - len(c.stop)]} for c in outs]
            return replies[0] if single else replies

        async def agenerate_single(self, messages, stop=None, **kw):
            return await self.agenerate(messages, stop=stop, **kw)

    class EnginePRM(base_prm):
        """its_hub's PRM: the whole prefix read as one step (`model` aggregation), from scratch."""

        def __init__(self):
            self.questions: dict[str, str] = {}   # rendered prompt -> question

        async def ascore(self, prompt_or_messages, steps):
            prompt = prompt_or_messages if isinstance(prompt_or_messages, str) else prompt_or_messages.to_prompt()
            scores, tokens = prm.score_texts([self.questions[prompt]] * len(steps), list(steps))
            counters["prm_tokens"] += tokens
            return scores

        def score(self, prompt_or_messages, steps):
            return asyncio.run(self.ascore(prompt_or_messages, steps))

    return EngineLM(), EnginePRM(), counters


def run_its_hub(engine, prm, task, problems, budget: int, seed: int, max_steps: int, step_tokens: int) -> dict:
    from its_hub.core.algorithms.particle_gibbs import ParticleFiltering
    from its_hub.core.lms.step_generation import StepGeneration

    lm, its_prm, counters = adapters(engine, prm, seed, step_tokens)
    style = engine.prompt_style
    sg = StepGeneration(max_steps=max_steps, step_token=style.step_delimiter, stop_token=_answer_marker(style),
                        temperature=0.8)
    pf = ParticleFiltering(sg, its_prm)
    correct, t0 = 0, time.perf_counter()
    for p in problems:
        prompt = style.render(p, "cot", engine.tokenizer)
        its_prm.questions[prompt] = p.question
        random.seed(stream_seed(seed, p.id))                    # its_hub resamples with the global RNGs
        np.random.seed(stream_seed(seed, p.id) % 2**32)
        reply = asyncio.run(pf.ainfer(lm, prompt, budget))
        correct += bool(task.grade(task.extract(style.response_prefix("cot") + reply["content"]), p))
    return {"accuracy": correct / len(problems), "wall_s": time.perf_counter() - t0,
            "forward_tokens": counters["forward_tokens"], "prm_tokens": counters["prm_tokens"]}


def run_ours(engine, prm, task, problems, budget: int, seed: int, max_steps: int, step_tokens: int) -> dict:
    from ..methods import get_method

    m = get_method("particle-filter", budget=budget, seed=seed, max_steps=max_steps, step_tokens=step_tokens,
                   aggregation="model", batch_size=min(len(problems), 16))
    t0 = time.perf_counter()
    results = m.solve(engine, task, problems, scorer=prm)
    wall = time.perf_counter() - t0
    return {"accuracy": sum(bool(task.grade(r.answer, p)) for r, p in zip(results, problems)) / len(problems),
            "wall_s": wall, "forward_tokens": sum(r.usage.forward_tokens for r in results),
            "prm_tokens": sum(r.usage.scorer_tokens for r in results)}


def _answer_marker(style) -> str:
    return "Answer:" if style.name == "plain" else "\\boxed"


def compare(model: str, prm_spec: str, task_name: str, split, data, budget: int, limit: int, seed: int,
            max_steps: int = 48, step_tokens: int = 128) -> dict:
    from ..engine import load_engine
    from ..scorers import ProcessRewardModel
    from ..tasks import get_task

    _its_hub()
    engine = load_engine(model)
    prm = ProcessRewardModel.load(prm_spec, aggregation="model")
    task = get_task(task_name)
    problems = task.load(split=split, data=data, limit=limit, seed=seed)
    # one problem through each side first, untimed, so neither pays the first-call costs in its time
    run_ours(engine, prm, task, problems[:1], 2, seed + 1, max_steps, step_tokens)
    run_its_hub(engine, prm, task, problems[:1], 2, seed + 1, max_steps, step_tokens)
    ours = run_ours(engine, prm, task, problems, budget, seed, max_steps, step_tokens)
    theirs = run_its_hub(engine, prm, task, problems, budget, seed, max_steps, step_tokens)
    return {"model": model, "prm": prm_spec, "task": task_name, "split": split, "budget": budget,
            "problems": len(problems), "seed": seed, "leanthink": ours, "its_hub": theirs,
            "speedup": theirs["wall_s"] / ours["wall_s"]}
