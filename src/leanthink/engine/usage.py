"""Usage: the cost counters of one request, counted by the engine (never estimated by methods).

Conventions (the unit tests in tests/engine/test_usage_counters.py check each against hand-computed
values):

- `prompt_tokens`: tokens of the prompt(s) the request prefilled, padding excluded. A fork does not
  add prompt tokens: the copies share the prompt that was prefilled once.
- `generated_tokens`: tokens sampled, summed over every sequence of the request (all particles, all
  samples), including the EOS token when one was sampled; tokens a method injects itself (forced
  text, latent embeddings) are not "generated" but are counted in `forward_tokens`.
- `forward_tokens`: positions actually run through the model for the request: prefill + every token fed
  back during decoding + anything recomputed or injected. Batch padding is excluded. A sampled token
  that ends a sequence (EOS, a stop string, the length cap) is never fed back, so a plain generation of
  L_O tokens after an L_P-token prompt costs L_P + L_O - 1 forward tokens.
- `peak_tokens`: the largest number of tokens held in the KV cache for the request at any moment,
  summed over its sequences (each forked copy holds its own copy of the prefix, as it does in memory).
  For one sequence this is LightThinker's Peak.
- `dep`: LightThinker's Dep. For each sampled token, the number of cached positions the forward pass
  that produced its logits attended to; the first token after an L_P-token prompt attended to L_P
  positions. Plain generation therefore has Dep = L_P*L_O + L_O*(L_O-1)/2.
- `model_calls`: forward passes the request took part in (one batched pass counts once per request).
- `scorer_tokens`: tokens a reward model or verifier processed for the request.
- `wall_time_s`: seconds from the request's first to its last engine call, measured by the engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class Usage:
    prompt_tokens: int = 0
    generated_tokens: int = 0
    forward_tokens: int = 0
    peak_tokens: int = 0
    dep: int = 0
    model_calls: int = 0
    scorer_tokens: int = 0
    wall_time_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Usage":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def __add__(self, other: "Usage") -> "Usage":
        """Sum of two requests' usage (peak takes the max: the two never hold memory at once)."""
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            generated_tokens=self.generated_tokens + other.generated_tokens,
            forward_tokens=self.forward_tokens + other.forward_tokens,
            peak_tokens=max(self.peak_tokens, other.peak_tokens),
            dep=self.dep + other.dep,
            model_calls=self.model_calls + other.model_calls,
            scorer_tokens=self.scorer_tokens + other.scorer_tokens,
            wall_time_s=self.wall_time_s + other.wall_time_s,
        )
