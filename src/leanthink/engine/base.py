"""The engine interface: the verbs methods need, in sequences and text, never tensors.

Verbs (each method declares the subset it needs in `Method.requires`; see docs/architecture.md):
  prefill(prompts, seeds, keys)   -> Sequences   one row per prompt, run through the model
  extend(seqs, params, rows)      -> [Completion] decode rows until a stop, EOS or their token cap
  append(seqs, texts, defer)                     force text into rows ("Wait", gist tokens); defer=True
                                                 queues it for the next verb's first pass
  score(seqs, texts)              -> [[logprob]] logprob of each token of a continuation; rows unchanged
  latent_steps(seqs, steps)                      feed the last hidden state back (Coconut, LiteReason)
  hidden(seqs)                    -> [[float]]   each row's last final-norm hidden state (router features)
  evict(seqs, row, start, end)                   delete a span of a row from the KV cache (LightThinker)
  rewind(seqs, row, chars)                       take back the end of a row's latest output (budget forcing)
  fork(seqs, n), select(seqs, rows), drop(seqs, rows)           in place
  split(seqs, rows) -> new handle (rows moved), copy(seqs, rows) -> new handle (rows copied),
  merge(seqs, other) (other's rows join seqs)
  usage(seqs)                     -> [Usage]     cost counters per request
An engine lists the verbs it can do in `capabilities`; the others raise `UnsupportedVerb`.
`check_capabilities` compares them with a method's needs before any model is loaded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..errors import LeanthinkError, UnsupportedVerb
from .params import Completion, SamplingParams

#: every verb an engine may offer; "logprobs" = Completion.logprobs are filled in
VERBS = frozenset({"prefill", "extend", "append", "score", "latent", "evict", "rewind", "fork", "select", "drop",
                   "split", "merge", "copy", "logprobs", "hidden"})
#: what every method needs
BASIC = frozenset({"prefill", "extend"})


class Engine(ABC):
    """Owns a model; all tensor work happens behind these verbs."""

    #: what this engine can do (a subset of VERBS); class-level, so it is known before loading
    capabilities: frozenset[str] = BASIC
    #: a human name for errors ("in-process Hugging Face model", "OpenAI-compatible server")
    kind: str = "engine"
    name: str = ""
    model_hash: str = ""

    @abstractmethod
    def prefill(self, prompts: list[str], seeds: list[int] | None = None, keys: list | None = None): ...

    @abstractmethod
    def extend(self, seqs, params: SamplingParams | list[SamplingParams], rows: list[int] | None = None
               ) -> list[Completion]: ...

    @abstractmethod
    def usage(self, seqs) -> list: ...

    def _unsupported(self, verb: str):
        raise UnsupportedVerb(f"the {self.kind} engine {self.name!r} cannot {verb}")

    def append(self, seqs, texts: list[str | None], defer: bool = False) -> None:
        self._unsupported("append forced text")

    def score(self, seqs, texts: list[str | None]) -> list[list[float] | None]:
        self._unsupported("score continuations")

    def latent_steps(self, seqs, steps: list[int], projector=None) -> None:
        self._unsupported("run latent steps")

    def evict(self, seqs, row: int, start: int, end: int) -> None:
        self._unsupported("evict KV-cache spans")

    def hidden(self, seqs) -> list[list[float]]:
        self._unsupported("return hidden states")

    def rewind(self, seqs, row: int, chars: int) -> None:
        self._unsupported("take back output")

    def fork(self, seqs, n: int):
        self._unsupported("fork sequences")

    def select(self, seqs, rows: list[int]):
        self._unsupported("select rows")

    def drop(self, seqs, rows: list[int]):
        self._unsupported("drop rows")

    def split(self, seqs, rows: list[int]):
        self._unsupported("split handles")

    def copy(self, seqs, rows: list[int] | None = None):
        self._unsupported("copy rows")

    def merge(self, seqs, other):
        self._unsupported("merge handles")

    def generate(self, prompts: list[str], params: SamplingParams, seeds: list[int] | None = None
                 ) -> tuple[list[Completion], list]:
        """Convenience: prefill, extend once; returns (completions, usage per prompt)."""
        seqs = self.prefill(prompts, seeds=seeds)
        out = self.extend(seqs, params)
        return out, self.usage(seqs)


def check_capabilities(method_name: str, needs: frozenset[str], engine_cls: type[Engine], model: str) -> None:
    """A one-line error if the engine class that `model` loads with lacks a verb the method needs."""
    unknown = needs - VERBS
    if unknown:
        raise LeanthinkError(f"method {method_name!r} declares unknown verbs {sorted(unknown)}")
    missing = sorted(needs - engine_cls.capabilities)
    if missing:
        raise UnsupportedVerb(f"method {method_name!r} needs the engine verb(s) {', '.join(missing)}, which the "
                              f"{engine_cls.kind} engine for {model!r} does not offer")


class OwnTokenizer:
    """Token helpers of engines that hold the model's tokenizer (in process, vLLM), from their `encode`."""

    def count_tokens(self, text: str) -> int:
        return len(self.encode(text))

    def token_id(self, text: str) -> int:
        """The id of a string that is one token (a special marker such as `<w>`), else an error."""
        ids = self.encode(text)
        if len(ids) != 1:
            raise LeanthinkError(f"{text!r} is {len(ids)} tokens for model {self.name!r}, not one")
        return ids[0]


class RowViews:
    """Read-only views every handle gives methods (in process and remote): a handle has `rows`, each with
    its `request` and whether it has `finished`."""

    rows: list

    def __len__(self) -> int:
        return len(self.rows)

    def request_key(self, i: int):
        return self.rows[i].request.key

    def finished(self, i: int) -> bool:
        return self.rows[i].finished
