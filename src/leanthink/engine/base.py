"""The engine interface: the verbs methods need, in sequences and text, never tensors.

Verbs (each method uses a subset):
  prefill(prompts)            -> Sequences   one row per prompt, prompt run through the model
  extend(seqs, params)        -> [Completion] decode every live row until a stop (EOS, a stop string
                                              such as a step delimiter, max tokens); rows that stopped
                                              on a string stay live and can be extended again
  append(seqs, texts)                        force text into rows (e.g. "Wait", gist tokens)
  fork(seqs, n)               -> Sequences   each row n times, sharing its prefix (no recompute)
  select(seqs, rows)          -> Sequences   reorder / drop / duplicate rows (resampling)
  evict(seqs, row, start, end)               delete a span of a row from the KV cache (LightThinker)
  append_embeddings(seqs, x)                 feed input embeddings instead of tokens (latent steps)
  usage(seqs)                 -> [Usage]     cost counters per request
An engine that cannot do a verb raises `UnsupportedVerb` naming it (a remote server cannot evict).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from ..errors import LeanthinkError, UnsupportedVerb


@dataclass(frozen=True)
class SamplingParams:
    """How `extend` decodes. Greedy when temperature is 0."""

    max_new_tokens: int = 256
    """Cap on tokens sampled by this call, per row."""
    temperature: float = 0.0
    """0 = greedy; the particle-filtering paper samples at 0.8."""
    top_p: float = 1.0
    """Nucleus sampling mass, in (0, 1]."""
    top_k: int = 0
    """Keep only the k most likely tokens (0 = off)."""
    stop: tuple[str, ...] = ()
    """Strings that pause a row (kept in the output, the row stays live): step delimiters, markers."""
    stop_token_ids: tuple[int, ...] = ()
    """Token ids that pause a row, like `stop` strings."""
    seed: int | None = None
    """Reseed this call's sampler (None: continue the sequences' own generator)."""

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise LeanthinkError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise LeanthinkError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise LeanthinkError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise LeanthinkError(f"top_k must be >= 0, got {self.top_k}")
        if any(not s for s in self.stop):
            raise LeanthinkError("stop strings must be non-empty")


@dataclass
class Completion:
    """What one `extend` call produced for one row."""

    text: str
    token_ids: list[int] = field(default_factory=list)
    finish_reason: str = "length"
    """"eos" (the row is finished), "stop" (a stop string or stop token: the row can continue),
    "length" (max_new_tokens reached: it can continue), "done" (the row was already finished)."""
    stop: str | None = None


class Engine(ABC):
    """Owns a model; all tensor work happens behind these verbs."""

    name: str = ""
    model_hash: str = ""

    @abstractmethod
    def prefill(self, prompts: list[str], request_ids: list[int] | None = None, seed: int = 0): ...

    @abstractmethod
    def extend(self, seqs, params: SamplingParams) -> list[Completion]: ...

    @abstractmethod
    def usage(self, seqs) -> list: ...

    def append(self, seqs, texts: list[str | None]) -> None:
        raise UnsupportedVerb(f"engine {self.name!r} cannot append forced text")

    def fork(self, seqs, n: int):
        raise UnsupportedVerb(f"engine {self.name!r} cannot fork sequences")

    def select(self, seqs, rows: list[int]):
        raise UnsupportedVerb(f"engine {self.name!r} cannot select rows")

    def evict(self, seqs, row: int, start: int, end: int) -> None:
        raise UnsupportedVerb(f"engine {self.name!r} cannot evict KV-cache spans")

    def append_embeddings(self, seqs, embeddings) -> None:
        raise UnsupportedVerb(f"engine {self.name!r} cannot take input embeddings")

    def generate(self, prompts: list[str], params: SamplingParams, seed: int = 0) -> tuple[list[Completion], list]:
        """Convenience: prefill, extend once; returns (completions, usage per prompt)."""
        seqs = self.prefill(prompts, seed=seed)
        out = self.extend(seqs, params)
        return out, self.usage(seqs)
