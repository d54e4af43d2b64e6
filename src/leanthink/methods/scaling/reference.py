"""A minimal particle filter, written to be read: one problem, one particle at a time, no batching.

It is the paper's algorithm step by step, and the test suite checks that the batched
`ParticleFilter` gives exactly its particles and answers (same seeds): batching, lockstep scoring and
resampling by row selection are optimisations, not changes to the algorithm.
"""

from __future__ import annotations

import numpy as np

from ...engine import SamplingParams, stream_seed
from .base import logit, softmax


def particle_filter(engine, task, problem, prm, n: int = 8, seed: int = 0, temperature: float = 0.8,
                    tau: float = 1.0, aggregation: str = "model", max_steps: int = 48, step_tokens: int = 128,
                    max_new_tokens: int = 512) -> dict:
    """Returns {"answer", "text", "logw", "answers"} for one problem."""
    style = engine.prompt_style
    seqs = engine.prefill([style.render(problem, "cot", engine.tokenizer)], seeds=[stream_seed(seed, problem.id)])
    prm.attach(seqs, [problem], task, aggregation=aggregation)
    engine.fork(seqs, n)                                   # N particles share the prompt
    steps = [[] for _ in range(n)]
    done, logw, tokens = [False] * n, [0.0] * n, [0] * n
    for step in range(max_steps):
        moved = []
        for i in range(n):                                 # 1. propose: each live particle's next step
            if done[i]:
                continue
            left = min(max_new_tokens - tokens[i], engine.max_context - seqs.num_tokens(i) - 2)
            params = SamplingParams(max_new_tokens=max(1, min(step_tokens, left)), temperature=temperature,
                                    stop=(style.step_delimiter,))
            c = engine.extend(seqs, params, rows=[i])[0]
            steps[i].append(c.text)
            tokens[i] += len(c.logprobs)
            done[i] = (c.finish_reason == "eos" or task.extract(c.text) is not None or len(steps[i]) >= max_steps
                       or tokens[i] >= max_new_tokens or engine.max_context - seqs.num_tokens(i) < 4)
            moved.append(i)
        if not moved:
            break
        for i in moved:                                    # 2. weigh: logit of the PRM's score of the prefix
            texts = [steps[i][-1] if j == i else None for j in range(n)]
            logw[i] = logit(prm.score(seqs, texts)[i])
        rng = np.random.default_rng(stream_seed(seed, problem.id, "resample", step))
        pick = [int(j) for j in rng.choice(n, size=n, p=softmax(logw, tau))]
        engine.select(seqs, pick)                          # 3. resample: finished particles included
        steps = [list(steps[j]) for j in pick]
        done, logw, tokens = [done[j] for j in pick], [logw[j] for j in pick], [tokens[j] for j in pick]
    best = int(np.argmax(logw))                            # 4. answer: the highest-weight particle
    prefix = style.response_prefix("cot")
    return {"answer": task.extract(prefix + "".join(steps[best])), "text": "".join(steps[best]), "logw": logw,
            "answers": [task.extract(prefix + "".join(s)) for s in steps]}
