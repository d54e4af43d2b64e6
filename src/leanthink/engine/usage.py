"""Usage: the cost counters of one request, counted by the engine (never estimated by methods).

Conventions (the unit tests in tests/engine/test_usage_counters.py check each against hand-computed
values):

- `prompt_tokens`: tokens of the prompt(s) the request prefilled, padding excluded. A fork does not
  add prompt tokens: the copies share the prompt that was prefilled once.
- `generated_tokens`: tokens sampled, summed over every sequence of the request (all particles, all
  samples), including the EOS token when one was sampled; tokens a method injects itself (forced
  text, latent embeddings) are not "generated" but are counted in `forward_tokens`.
- `latent_tokens`: continuous thoughts (latent steps: Coconut, LiteReason), each a position the
  model generated as a hidden state instead of a sampled token; also in `forward_tokens` and `dep`.
  Papers count them as generated (Coconut's "# tokens"); generated + latent is a method's reasoning length.
- `forward_tokens`: positions actually run through the model for the request: prefill + every token fed
  back during decoding + anything recomputed or injected. Batch padding is excluded. A sampled token
  that ends a sequence (EOS, a stop string, the length cap) is never fed back, so a plain generation of
  L_O tokens after an L_P-token prompt costs L_P + L_O - 1 forward tokens.
- `peak_tokens`: the largest number of tokens held in KV caches for the request at any moment, summed
  over its sequences (each forked copy holds its own copy of the prefix, as it does in memory) and
  over the models it uses at once (policy and scorer). For one sequence of one model this is
  LightThinker's Peak.
- `dep`: LightThinker's Dep. For each sampled token, the number of cached positions the forward pass
  that produced its logits attended to; the first token after an L_P-token prompt attended to L_P
  positions. Plain generation therefore has Dep = L_P*L_O + L_O*(L_O-1)/2.
- `model_calls`: forward passes the request took part in (one batched pass counts once per request).
- `scorer_tokens`: positions a reward model ran through its own forward passes for the request
  (its `forward_tokens`); `scorer_calls`: those passes.
- `wall_time_s`: seconds from the request's first to its last engine call, measured by the engine,
  over every engine the request uses (a scorer's calls inside that interval add nothing).

Policy and scorer engines share one `Request` per problem, so these are merged as they are counted:
no method ever adds two Usage objects of the same request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class Usage:
    prompt_tokens: int = 0
    generated_tokens: int = 0
    latent_tokens: int = 0
    forward_tokens: int = 0
    peak_tokens: int = 0
    dep: int = 0
    model_calls: int = 0
    scorer_tokens: int = 0
    scorer_calls: int = 0
    wall_time_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Usage":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def then(self, other: "Usage") -> "Usage":
        """Usage of two requests run one after the other (peak is the max: they never hold memory at
        once; times add). For parts of one request, share its `Request` instead."""
        out = Usage(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})
        out.peak_tokens = max(self.peak_tokens, other.peak_tokens)
        return out


class Request:
    """One problem's bookkeeping, shared by every row and every engine that works on it: its Usage,
    the KV tokens it holds right now (for the peak) and its first and last engine call."""

    __slots__ = ("key", "usage", "held", "t0", "t1")

    def __init__(self, key):
        self.key = key
        self.usage = Usage()
        self.held = 0
        self.t0: float | None = None
        self.t1: float | None = None

    def hold(self, delta: int) -> None:
        """`delta` KV tokens more (or fewer) are held for this request by some engine."""
        self.held += delta
        if self.held > self.usage.peak_tokens:
            self.usage.peak_tokens = self.held

    def touch(self, now: float) -> None:
        if self.t0 is None:
            self.t0 = now
        self.t1 = now
        self.usage.wall_time_s = round(self.t1 - self.t0, 6)
