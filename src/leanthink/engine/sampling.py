"""Token sampling and stop detection (plain functions, shared by every in-process engine)."""

from __future__ import annotations

import torch

from .base import SamplingParams


def sample(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator) -> torch.Tensor:
    """Next token per row of `logits` (n, vocab): argmax at temperature 0, else temperature, top-k,
    top-p, then a draw from the seeded generator (never the global RNG)."""
    logits = logits.float()
    if params.temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / params.temperature
    if params.top_k:
        kth = torch.topk(logits, min(params.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        # drop a token when the mass before it already reaches top_p (the top token always stays)
        drop = (cum - sorted_logits.softmax(-1)) >= params.top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(-1)
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(logits.device)


def find_stop(text: str, searched_upto: int, stops: tuple[str, ...]) -> tuple[int, str] | None:
    """Earliest stop string in `text` that ends after `searched_upto` (so each check only looks at
    the new characters); returns (index just past the stop, the stop) or None."""
    best = None
    for s in stops:
        i = text.find(s, max(0, searched_upto - len(s) + 1))
        if i >= 0 and (best is None or i + len(s) < best[0]):
            best = (i + len(s), s)
    return best
