"""Response bodies and server-sent-event chunks in OpenAI's shapes, plus leanthink's extras.

`usage` has OpenAI's three fields and a `leanthink` object with the engine's own counters, counted
as `leanthink eval` counts them (docs/architecture.md, "Usage counters"):

    "usage": {"prompt_tokens": 30, "completion_tokens": 33, "total_tokens": 63,
              "leanthink": {"generated_tokens": 33, "forward_tokens": 62, "peak_tokens": 62, "dep": 1518,
                            "model_calls": 33, "latent_tokens": 0, "scorer_tokens": 0, "scorer_calls": 0,
                            "wall_time_s": 0.2, "queue_time_s": 0.0}}

`completion_tokens` is every token sampled for the request (all samples and particles of a search,
EOS included), so it is what the request cost, not the length of the returned text. The top-level
`reasoning` object reports the method, its effective settings, the answer a search method chose and
its trace.
"""

from __future__ import annotations

import json
import time

from ..engine.usage import Usage
from .jobs import Job, Outcome

COUNTERS = ("generated_tokens", "forward_tokens", "peak_tokens", "dep", "model_calls", "latent_tokens",
            "scorer_tokens", "scorer_calls", "wall_time_s")


def usage_body(u: Usage, queue_time_s: float = 0.0) -> dict:
    prompt, completion = u.prompt_tokens, u.generated_tokens
    extra = {k: getattr(u, k) for k in COUNTERS}
    extra["queue_time_s"] = queue_time_s
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "leanthink": extra}


def reasoning_body(job: Job, out: Outcome | None = None) -> dict:
    body = {"method": job.spec.method_name, "settings": job.spec.settings, "seed": job.spec.seed}
    if out is not None and not job.spec.decode:
        body.update(answer=out.answer, trace=out.trace)
    return body


def _logprobs(out: Outcome, endpoint: str):
    if out.logprobs is None:
        return None
    if endpoint == "chat":
        return {"content": [{"token": t, "logprob": lp, "bytes": list(t.encode()),
                             "top_logprobs": [{"token": a, "logprob": v, "bytes": list(a.encode())} for a, v in top or []]}
                            for t, lp, top in out.logprobs]}
    offsets, at = [], 0
    for t, _, _ in out.logprobs:
        offsets.append(at)
        at += len(t)
    return {"tokens": [t for t, _, _ in out.logprobs], "token_logprobs": [lp for _, lp, _ in out.logprobs],
            "top_logprobs": [dict(top) if top is not None else None for _, _, top in out.logprobs],
            "text_offset": offsets}


def final_body(job: Job, out: Outcome, model: str) -> dict:
    choice = {"index": 0, "finish_reason": out.finish_reason, "stop_reason": out.stop_reason,
              "logprobs": _logprobs(out, job.spec.endpoint)}
    if job.spec.endpoint == "chat":
        choice["message"] = {"role": "assistant", "content": out.text}
    else:
        choice["text"] = out.text
    return {"id": response_id(job), "object": "chat.completion" if job.spec.endpoint == "chat" else "text_completion",
            "created": int(time.time()), "model": model, "choices": [choice],
            "usage": usage_body(out.usage, out.queue_time_s), "reasoning": reasoning_body(job, out)}


def response_id(job: Job) -> str:
    return ("chatcmpl-" if job.spec.endpoint == "chat" else "cmpl-") + job.id


def chunk(job: Job, model: str, text: str | None = None, finish: str | None = None, role: bool = False,
          stop_reason: str | None = None, **extra) -> str:
    """One `data:` event of a stream."""
    chat = job.spec.endpoint == "chat"
    choice: dict = {"index": 0, "finish_reason": finish, "logprobs": None}
    if finish is not None:
        choice["stop_reason"] = stop_reason
    if chat:
        delta = {"role": "assistant"} if role else {}
        if text is not None:
            delta["content"] = text
        choice["delta"] = delta
    else:
        choice["text"] = text or ""
    body = {"id": response_id(job), "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()), "model": model, "choices": [choice], **extra}
    return sse(body)


def usage_chunk(job: Job, model: str, out: Outcome) -> str:
    """The last chunk when stream_options.include_usage: no choices, the usage and the reasoning report."""
    chat = job.spec.endpoint == "chat"
    return sse({"id": response_id(job), "object": "chat.completion.chunk" if chat else "text_completion",
                "created": int(time.time()), "model": model, "choices": [],
                "usage": usage_body(out.usage, out.queue_time_s), "reasoning": reasoning_body(job, out)})


def sse(body: dict) -> str:
    return f"data: {json.dumps(body, separators=(',', ':'))}\n\n"


DONE = "data: [DONE]\n\n"
