"""`h2o`: heavy-hitter oracle KV eviction (Zhang et al. 2023), the baseline LightThinker is compared with
at the same memory budget (../shared/research.md §2).

Decode one token at a time; every token's score is the attention it has received so far (summed over
layers, heads and all later queries; the engine tracks it for rows prefilled with `attention=True`).
When a row holds more than `kv_budget` tokens, the lowest-scored token outside the `recent` most
recent ones is deleted from the KV cache (`engine.evict`), so the cache never holds more than the
budget: half heavy hitters, half a recent window by default, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import checks
from ..engine import stream_seed
from ..engine.base import BASIC
from .base import Decoding, Result


@dataclass(frozen=True)
class H2O(Decoding):
    name = "h2o"
    requires: ClassVar[frozenset[str]] = BASIC | {"evict"}
    kv_budget: int = 128
    """Most tokens a row's KV cache holds (prompt included)."""
    recent: int = 0
    """Tokens of the recent window that are never evicted; 0 = half the budget."""

    def __post_init__(self):
        super().__post_init__()
        checks.integer("kv_budget", self.kv_budget, 2)
        checks.integer("recent", self.recent, 0, self.kv_budget - 1)

    def solve(self, engine, task, problems, scorer=None):
        style = engine.prompt_style
        prefix = style.response_prefix("cot")
        recent = self.recent or self.kv_budget // 2
        results = []
        for start in range(0, len(problems), self.batch_size):
            chunk = problems[start:start + self.batch_size]
            seqs = engine.prefill([style.render(p, "cot", engine.tokenizer) for p in chunk],
                                  seeds=[stream_seed(self.seed, p.id) for p in chunk], attention=True)
            n = len(chunk)
            texts, reasons = [""] * n, ["length"] * n
            live = list(range(n))
            curve = [[(0, seqs.num_tokens(r))] for r in range(n)]   # (tokens sampled, tokens held)
            for r in live:
                self._fit(engine, seqs, r, recent)   # a prompt longer than the budget is cut down first
            for _ in range(self.max_new_tokens):
                if not live:
                    break
                room = [r for r in live if seqs.next_position(r) < engine.max_context - 1]
                for r in set(live) - set(room):
                    reasons[r] = "context"
                live = room
                if not live:
                    break
                outs = engine.extend(seqs, self.sampling(max_new_tokens=1), rows=live)
                still = []
                for r, c in zip(live, outs):
                    texts[r] += c.text
                    curve[r].append((curve[r][-1][0] + 1, seqs.num_tokens(r) + (c.finish_reason != "eos")))
                    if c.finish_reason == "eos":
                        reasons[r] = "eos"
                    else:
                        still.append(r)
                        # the sampled token enters the cache with the next pass: make room for it now
                        self._fit(engine, seqs, r, recent, incoming=1)
                live = still
            for p, r, u in zip(chunk, range(n), engine.usage(seqs)):
                results.append(Result(problem_id=p.id, output=prefix + texts[r], usage=u,
                                      trace={"finish_reason": reasons[r], "context": curve[r]}))
        return results

    def _fit(self, engine, seqs, r: int, recent: int, incoming: int = 0) -> None:
        """Evict row r's lowest-scored tokens outside the recent window until it fits the budget."""
        while seqs.num_tokens(r) + incoming > self.kv_budget:
            scores = seqs.attention_scores(r)
            window = max(1, len(scores) - max(0, recent - incoming))
            victim = min(range(window), key=scores.__getitem__)
            engine.evict(seqs, r, victim, victim + 1)
