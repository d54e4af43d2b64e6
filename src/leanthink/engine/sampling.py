"""Per-row random streams and batched token choice (shared by every in-process engine).

Reproducibility: every row samples from its own stream, seeded from what identifies it (run seed,
problem id, sample index) and never from its batch-mates, so a problem gives the same output alone, in
any batch, at any batch size and after a resume. A row copied k > 1 times (fork, resampling) hands its
copies fresh streams derived from its own seed and how often it has been split before, so resampled
particles are deterministic too.

Sampling is the Gumbel-max trick: argmax(logits / T + Gumbel noise) is a draw from softmax(logits / T).
It needs one uniform vector per row from that row's generator and one batched argmax, all on the
model's device: no full-vocabulary copy to the host per step.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from ..errors import LeanthinkError
from .params import SamplingParams


def stream_seed(*parts) -> int:
    """A 63-bit seed from any parts (run seed, problem id, sample index). It hashes their repr with
    SHA-256, not Python's salted `hash()`, so it is the same in every process."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class Stream:
    """One row's random stream. The generator is made on first use, so greedy rows cost nothing."""

    __slots__ = ("seed", "splits", "_gen")

    def __init__(self, seed: int):
        self.seed = seed
        self.splits = 0          # how many times this row has been copied (its copies' streams differ)
        self._gen: torch.Generator | None = None

    def generator(self, device: torch.device) -> torch.Generator:
        if self._gen is None:
            self._gen = torch.Generator(device=device).manual_seed(self.seed)
        return self._gen

    def copies(self, k: int) -> list["Stream"]:
        """Streams for k copies of this row: fresh and deterministic, one per copy."""
        out = [Stream(stream_seed(self.seed, self.splits, j)) for j in range(k)]
        self.splits += 1
        return out


@dataclass
class Choice:
    """Tokens chosen for some rows, with their model logprobs (host lists, one entry per row)."""

    tokens: list[int]
    logprobs: list[float]
    top: list[list[tuple[int, float]]] | None = None
    entropies: list[float] | None = None


class Chooser:
    """Token choice for rows that share one SamplingParams; built once per `extend` call."""

    def __init__(self, params: SamplingParams, vocab: int, device, eos_ids: set[int]):
        self.params = params
        self.device = device
        for name in ("stop_token_ids", "banned_token_ids", "allowed_token_ids"):
            _check_ids(getattr(params, name), vocab, name)
        _check_ids([t for t, _ in params.logit_bias], vocab, "logit_bias")
        bias = None
        if params.allowed_token_ids:
            bias = torch.full((vocab,), float("-inf"), device=device)
            bias[list(params.allowed_token_ids)] = 0.0
        if params.banned_token_ids or params.logit_bias:
            bias = torch.zeros(vocab, device=device) if bias is None else bias
            for token, b in params.logit_bias:
                bias[token] += b
            bias[list(params.banned_token_ids)] = float("-inf")
        if bias is not None and bool(torch.isinf(bias).all()):
            raise LeanthinkError("sampling settings ban every token (allowed_token_ids, banned_token_ids, logit_bias)")
        self.bias = bias
        self.eos = sorted(e for e in eos_ids if e < vocab)
        self.early_ban = sorted(set(self.eos) | set(params.stop_token_ids))  # while under min_new_tokens

    def choose(self, logits: torch.Tensor, streams: list[Stream], sampled: list[int]) -> Choice:
        """Next token for each row of `logits` (rows, vocab); `sampled[i]` = tokens row i has sampled
        in this call (for min_new_tokens)."""
        p = self.params
        logits = logits.float()
        x = logits if self.bias is None else logits + self.bias
        if p.ignore_eos and self.eos:
            x = x.clone() if x is logits else x
            x[:, self.eos] = float("-inf")
        if p.min_new_tokens and self.early_ban:
            young = [i for i, s in enumerate(sampled) if s < p.min_new_tokens]
            if young:
                x = x.clone() if x is logits else x
                x[torch.tensor(young, device=x.device)[:, None], torch.tensor(self.early_ban, device=x.device)] = float("-inf")
        if p.greedy:
            tokens = x.argmax(dim=-1)
        else:
            x = _truncate(x / p.temperature, p.top_k, p.top_p)
            noise = torch.stack([torch.rand(x.shape[-1], generator=s.generator(x.device), device=x.device)
                                 for s in streams])
            # Gumbel-max: argmax(x - log(-log U)) ~ softmax(x); clamp keeps log finite at U = 0
            gumbel = -torch.log(-torch.log(noise.clamp_(min=1e-20)))
            tokens = (x + gumbel).argmax(dim=-1)
        # logprob of the chosen token without materialising log_softmax over the vocabulary
        chosen = logits.gather(1, tokens[:, None]).squeeze(1) - torch.logsumexp(logits, dim=-1)
        host = torch.stack([tokens.to(chosen.dtype), chosen]).tolist()   # one device->host copy
        out = Choice(tokens=[int(t) for t in host[0]], logprobs=host[1])
        if p.logprobs or p.entropy:
            logp = torch.log_softmax(logits, dim=-1)
        if p.logprobs:
            vals, idx = logp.topk(p.logprobs, dim=-1)
            out.top = [list(zip(i, v)) for i, v in zip(idx.tolist(), vals.tolist())]
        if p.entropy:
            out.entropies = torch.special.entr(logp.exp()).sum(-1).tolist()
        return out


def _truncate(x: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Top-k, then nucleus (top-p) filtering of tempered logits."""
    if top_k:
        kth = torch.topk(x, min(top_k, x.shape[-1]), dim=-1).values[:, -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    if top_p < 1.0:
        sorted_x, order = torch.sort(x, descending=True, dim=-1)
        probs = sorted_x.softmax(-1)
        # drop a token when the mass before it already reaches top_p (the top token always stays)
        drop = (probs.cumsum(-1) - probs) >= top_p
        x = x.scatter(-1, order, sorted_x.masked_fill(drop, float("-inf")))
    return x


def _check_ids(ids, vocab: int, name: str) -> None:
    bad = [t for t in ids if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < vocab]
    if bad:
        raise LeanthinkError(f"{name}: token id {bad[0]!r} is not in [0, {vocab})")


def find_stop(text: str, new_from: int, stops: tuple[str, ...], floor: int = 0) -> tuple[int, str] | None:
    """Earliest-ending stop string in `text` that ends after index `new_from` (so each check only looks
    at new characters, yet finds a stop that straddles old and new text) and starts at or after
    `floor`; returns (index just past the stop, the stop) or None."""
    best = None
    for s in stops:
        i = text.find(s, max(floor, new_from - len(s) + 1))
        if i >= 0 and (best is None or i + len(s) < best[0]):
            best = (i + len(s), s)
    return best
