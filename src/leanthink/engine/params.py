"""What `extend` is asked to do (`SamplingParams`) and what it returns per row (`Completion`).

Settings are validated here, once, so an engine never sees a NaN temperature or an empty stop string.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import LeanthinkError


@dataclass(frozen=True)
class SamplingParams:
    """How `extend` decodes a row. Greedy when temperature is 0.

    Every control acts on the logits inside the engine, so methods steer decoding (ban the
    end-of-reasoning marker, force a minimum length) without touching tensors.
    """

    max_new_tokens: int = 256
    """Cap on tokens sampled by this call, per row."""
    temperature: float = 0.0
    """0 = greedy; the particle-filtering paper samples at 0.8."""
    top_p: float = 1.0
    """Nucleus sampling mass, in (0, 1]."""
    top_k: int = 0
    """Keep only the k most likely tokens (0 = off)."""
    stop: tuple[str, ...] = ()
    """Strings that pause a row (the row stays live and can be extended again). The text ends with the
    stop; a token that runs past the stop is cut back to it (see docs/architecture.md, "Stops")."""
    stop_token_ids: tuple[int, ...] = ()
    """Token ids that pause a row, like `stop` strings (kept in the text and the cache)."""
    min_new_tokens: int = 0
    """Until this many tokens are sampled in this call, EOS and stop tokens are banned and stop strings
    that complete are ignored (budget forcing's "keep thinking")."""
    ignore_eos: bool = False
    """Ban EOS for the whole call: the row never finishes by itself."""
    banned_token_ids: tuple[int, ...] = ()
    """Never sample these (e.g. the end-of-reasoning marker while budget forcing extends)."""
    allowed_token_ids: tuple[int, ...] = ()
    """If set, sample only among these (a constrained probe, e.g. digits)."""
    logit_bias: tuple[tuple[int, float], ...] = ()
    """(token id, bias) pairs added to the logits, as in OpenAI's API (a dict is accepted)."""
    logprobs: int = 0
    """Also return the top-k alternatives (token id, logprob) at every sampled position (0 = none).
    The sampled tokens' own logprobs are always returned."""
    entropy: bool = False
    """Also return the entropy of the model's next-token distribution at every sampled position."""

    def __post_init__(self):
        if isinstance(self.logit_bias, dict):
            object.__setattr__(self, "logit_bias", tuple(sorted(self.logit_bias.items())))
        for name in ("stop", "stop_token_ids", "banned_token_ids", "allowed_token_ids"):
            value = getattr(self, name)
            if isinstance(value, (str, int)):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        _check_int(self, "max_new_tokens", 1)
        _check_int(self, "top_k", 0)
        _check_int(self, "min_new_tokens", 0)
        _check_int(self, "logprobs", 0, 20)
        if self.min_new_tokens > self.max_new_tokens:
            raise LeanthinkError(f"min_new_tokens ({self.min_new_tokens}) exceeds max_new_tokens "
                                 f"({self.max_new_tokens})")
        if not isinstance(self.temperature, (int, float)) or not math.isfinite(self.temperature) \
                or self.temperature < 0:
            raise LeanthinkError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:  # also rejects NaN
            raise LeanthinkError(f"top_p must be in (0, 1], got {self.top_p}")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise LeanthinkError("stop strings must be non-empty strings")
        for token, bias in self.logit_bias:
            if not math.isfinite(bias) and bias != -math.inf:
                raise LeanthinkError(f"logit_bias for token {token} must be finite or -inf, got {bias}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def choice_key(self) -> tuple:
        """Everything that decides how a token is chosen (not the length cap or the stop strings, which
        are checked per row): rows with equal keys are sampled in one batched call."""
        return (self.temperature, self.top_p, self.top_k, self.stop_token_ids, self.min_new_tokens, self.ignore_eos,
                self.banned_token_ids, self.allowed_token_ids, self.logit_bias, self.logprobs, self.entropy)


def _check_int(params, name: str, low: int, high: int | None = None) -> None:
    value = getattr(params, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise LeanthinkError(f"{name} must be an integer {allowed}, got {value!r}")


@dataclass
class Completion:
    """What one `extend` call produced for one row."""

    text: str
    """Text this call added to the row (ends with the stop string when it stopped on one)."""
    token_ids: list[int] = field(default_factory=list)
    """Tokens this call added to the row (EOS excluded; after a cut at a stop, the re-tokenised part)."""
    finish_reason: str = "length"
    """"eos" (the row is finished), "stop" (a stop string or stop token: the row can continue),
    "length" (max_new_tokens reached: it can continue), "done" (the row had already finished),
    "skipped" (the row was not among the rows asked to extend)."""
    stop: str | None = None
    """The stop string or stop token's text that paused the row."""
    logprobs: list[float] = field(default_factory=list)
    """Log-probability of each sampled token (EOS included) under the model's own distribution
    (before temperature, top-k/p, bans and biases): the raw confidence signal."""
    top_logprobs: list[list[tuple[int, float]]] | None = None
    """With `logprobs=k`: the k most likely (token id, logprob) at each sampled position."""
    entropies: list[float] | None = None
    """With `entropy=True`: entropy (nats) of the model's distribution at each sampled position."""

    @property
    def mean_logprob(self) -> float | None:
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else None
