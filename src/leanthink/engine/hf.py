"""HFEngine: any Hugging Face causal LM in process (CPU or GPU), with its own batched KV-cache loop.

Why not `model.generate`: methods need to pause rows at step delimiters and resume them later, fork
rows that share a prefix, resample rows, evict spans and feed embeddings, all on one live cache, and
every forward token must be counted per request. So the engine drives the decoder itself:

  * One `DynamicCache` holds all rows of a `Sequences` handle, as slots (batch, heads, slots, dim).
    A per-row 0/1 mask marks live slots; positions are tracked per row, so holes (padding, paused rows,
    evicted spans) never shift RoPE positions. Dead slots are squeezed out by `kv.gather_slots`.
  * A sampled token is *pending* until it is fed back. Rows that pause (stop string, length cap) keep
    their pending token, and the next verb feeds it, so a particle dropped by resampling never costs
    the forward pass of its last token.
  * The decoder is called without the LM head; logits are computed for the last position only, and
    the final-norm hidden state is kept for latent steps (Coconut feeds it back as an embedding).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..errors import LeanthinkError
from ..prompting import PromptStyle
from . import kv
from .base import Completion, Engine, SamplingParams
from .sampling import find_stop, sample
from .usage import Usage


class Sequences:
    """Opaque handle to a batch of rows on one KV cache. Methods only pass it back to the engine."""

    def __init__(self, cache, device, requests: list[int], generator: torch.Generator):
        self.cache = cache
        self.mask = torch.zeros((len(requests), 0), dtype=torch.long, device=device)
        self.request = list(requests)
        self.tokens: list[list[int]] = [[] for _ in requests]   # live tokens per row (-1 = embedding)
        self.slots: list[list[int]] = [[] for _ in requests]    # cache slot of each live token
        self.next_pos = [0] * len(requests)
        self.pending: list[int | None] = [None] * len(requests)
        self.finished = [False] * len(requests)
        self.last_logits: torch.Tensor | None = None            # (rows, vocab)
        self.last_hidden: torch.Tensor | None = None            # (rows, hidden), after the final norm
        self.usage: dict[int, Usage] = {}
        self.t0: dict[int, float] = {}   # per request: first and last engine call
        self.t1: dict[int, float] = {}
        self.generator = generator

    def __len__(self) -> int:
        return len(self.request)

    def live_tokens(self, row: int) -> int:
        return len(self.slots[row])

    def token_ids(self, row: int) -> list[int]:
        """Tokens of a row in order (prompt included; -1 where an embedding was fed)."""
        return self.tokens[row] + ([self.pending[row]] if self.pending[row] is not None else [])


class HFEngine(Engine):
    def __init__(self, model, tokenizer, prompt_style: PromptStyle, name: str = "model", model_hash: str = "",
                 autocast: bool = False):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.prompt_style = prompt_style
        self.name = name
        self.model_hash = model_hash
        self.device = next(model.parameters()).device
        self.autocast = autocast
        self.decoder = model.get_decoder()
        self.lm_head = model.get_output_embeddings()
        self.softcap = getattr(model.config, "final_logit_softcapping", None)
        self.eos_ids = _eos_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.add_special_tokens = prompt_style.name == "completion"

    # ---------------------------------------------------------------- construction
    @classmethod
    def load(cls, spec: str, device: str = "auto", dtype: str = "auto", prompt_style: str | None = None,
             **style_options) -> "HFEngine":
        """Load `builtin:NAME` or a Hugging Face model directory (safetensors only)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ..models.registry import model_hash, read_meta, resolve_model

        directory = resolve_model(spec)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype = {"auto": torch.bfloat16 if device.startswith("cuda") else torch.float32,
                       "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype)
        if torch_dtype is None:
            raise LeanthinkError(f"--dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
        try:
            tokenizer = AutoTokenizer.from_pretrained(directory)
            model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch_dtype).to(device)
        except (OSError, ValueError, KeyError) as e:
            raise LeanthinkError(f"cannot load model from {directory}: {str(e).splitlines()[0]}") from e
        meta = read_meta(directory)
        style = prompt_style or meta.get("prompt_style") or ("chat" if getattr(tokenizer, "chat_template", None)
                                                             else "completion")
        return cls(model, tokenizer, PromptStyle(style, **style_options), name=spec, model_hash=model_hash(directory))

    @classmethod
    def from_model(cls, model, tokenizer, prompt_style: PromptStyle, name: str = "model") -> "HFEngine":
        """Wrap an in-memory model (training-time evaluation)."""
        return cls(model, tokenizer, prompt_style, name=name)

    # ---------------------------------------------------------------- verbs
    def prefill(self, prompts: list[str], request_ids: list[int] | None = None, seed: int = 0) -> Sequences:
        if not prompts:
            raise LeanthinkError("prefill needs at least one prompt")
        requests = list(range(len(prompts))) if request_ids is None else list(request_ids)
        gen = torch.Generator().manual_seed(seed)
        seqs = Sequences(self._new_cache(), self.device, requests, gen)
        now = time.perf_counter()
        for r in requests:
            seqs.usage.setdefault(r, Usage())
            seqs.t0.setdefault(r, now)
        ids = [self.tokenizer(p, add_special_tokens=self.add_special_tokens)["input_ids"] for p in prompts]
        for row, x in enumerate(ids):
            if not x:
                raise LeanthinkError(f"prompt {row} is empty after tokenisation")
            seqs.usage[requests[row]].prompt_tokens += len(x)
        self._feed(seqs, ids)
        self._touch(seqs)
        return seqs

    def extend(self, seqs: Sequences, params: SamplingParams) -> list[Completion]:
        if params.seed is not None:
            seqs.generator.manual_seed(params.seed)
        n = len(seqs)
        active = [not f for f in seqs.finished]
        out = [Completion(text="", finish_reason="done") if f else Completion(text="") for f in seqs.finished]
        searched = [0] * n
        stops = tuple(params.stop)
        stop_ids = set(params.stop_token_ids)
        for _ in range(params.max_new_tokens):
            rows = [r for r in range(n) if active[r]]
            if not rows:
                break
            self._feed(seqs, [[seqs.pending[r]] if (active[r] and seqs.pending[r] is not None) else []
                              for r in range(n)])
            for r in rows:
                seqs.pending[r] = None
            idx = torch.tensor(rows, device=self.device)
            tokens = sample(seqs.last_logits.index_select(0, idx), params, seqs.generator).tolist()
            for r, tok in zip(rows, tokens):
                u = seqs.usage[seqs.request[r]]
                u.generated_tokens += 1
                u.dep += seqs.live_tokens(r)  # positions the forward that made these logits attended to
                c = out[r]
                if tok in self.eos_ids:
                    c.finish_reason, active[r], seqs.finished[r] = "eos", False, True
                    continue
                seqs.pending[r] = tok
                c.token_ids.append(tok)
                if tok in stop_ids:
                    c.finish_reason, active[r] = "stop", False
                    c.text = self._decode(c.token_ids)
                    continue
                if stops:
                    text = self._decode(c.token_ids)
                    hit = find_stop(text, searched[r], stops)
                    searched[r] = len(text)
                    if hit:
                        c.text, c.stop, c.finish_reason, active[r] = text[: hit[0]], hit[1], "stop", False
        for r in range(n):
            c = out[r]
            if c.finish_reason in ("length", "eos") or (c.finish_reason == "stop" and not c.text):
                c.text = self._decode(c.token_ids)
        self._touch(seqs)
        self._maybe_compact(seqs)
        return out

    def append(self, seqs: Sequences, texts: list[str | None]) -> None:
        """Force `texts[r]` into row r (None or "" leaves it); finished rows cannot take text."""
        if len(texts) != len(seqs):
            raise LeanthinkError(f"append got {len(texts)} texts for {len(seqs)} rows")
        feeds = []
        for r, t in enumerate(texts):
            if t and seqs.finished[r]:
                raise LeanthinkError(f"row {r} has finished (EOS); it cannot take more text")
            x = self.tokenizer(t, add_special_tokens=False)["input_ids"] if t else []
            feeds.append(([seqs.pending[r]] if seqs.pending[r] is not None and x else []) + x)
            if x:
                seqs.pending[r] = None
        self._feed(seqs, feeds)
        self._touch(seqs)

    def fork(self, seqs: Sequences, n: int) -> Sequences:
        """Each row becomes n consecutive rows that share its prefix (copied, never recomputed)."""
        if n < 1:
            raise LeanthinkError(f"fork needs n >= 1, got {n}")
        return self.select(seqs, [r for r in range(len(seqs)) for _ in range(n)])

    def select(self, seqs: Sequences, rows: list[int]) -> Sequences:
        """Rows become `rows` of the old batch, in that order (duplicates allowed). In place."""
        if not rows or any(not 0 <= r < len(seqs) for r in rows):
            raise LeanthinkError(f"select: rows must be a non-empty list of indices in [0, {len(seqs)})")
        index = torch.tensor(rows, device=self.device)
        kv.select_rows(seqs.cache, index)
        seqs.mask = seqs.mask.index_select(0, index)
        for name in ("request", "next_pos", "pending", "finished"):
            old = getattr(seqs, name)
            setattr(seqs, name, [old[r] for r in rows])
        seqs.tokens = [list(seqs.tokens[r]) for r in rows]
        seqs.slots = [list(seqs.slots[r]) for r in rows]
        for name in ("last_logits", "last_hidden"):
            t = getattr(seqs, name)
            if t is not None:
                setattr(seqs, name, t.index_select(0, index))
        self._update_peak(seqs)
        return seqs

    def evict(self, seqs: Sequences, row: int, start: int, end: int) -> None:
        """Delete tokens [start, end) of `row` (indices into its live tokens, prompt included) from the
        KV cache. Later tokens keep their positions; the slots are freed at the next compaction."""
        if not 0 <= start < end <= seqs.live_tokens(row):
            raise LeanthinkError(f"evict: need 0 <= start < end <= {seqs.live_tokens(row)}, got [{start}, {end})")
        dead = seqs.slots[row][start:end]
        seqs.mask[row, dead] = 0
        del seqs.slots[row][start:end]
        del seqs.tokens[row][start:end]
        self._maybe_compact(seqs)

    def append_embeddings(self, seqs: Sequences, embeddings: list[torch.Tensor | None]) -> None:
        """Feed input embeddings (n_r, hidden) to row r instead of tokens (latent reasoning)."""
        self._feed(seqs, [e if e is not None else [] for e in embeddings])
        self._touch(seqs)

    def latent_steps(self, seqs: Sequences, steps: list[int], projector=None) -> None:
        """Coconut's continuous thought: row r runs steps[r] passes, each feeding the previous final
        hidden state (through `projector`, LiteReason's reasoning projector, if given) as the next input
        embedding. Pending tokens are fed first so the hidden state is the latest one."""
        self._feed(seqs, [[p] if p is not None else [] for p in seqs.pending])
        seqs.pending = [None] * len(seqs)
        for k in range(max(steps, default=0)):
            h = seqs.last_hidden if projector is None else projector(seqs.last_hidden)
            self._feed(seqs, [h[r:r + 1] if steps[r] > k else [] for r in range(len(seqs))])
        self._touch(seqs)

    def usage(self, seqs: Sequences) -> list[Usage]:
        """Usage per request, in order of first appearance at prefill."""
        for r, u in seqs.usage.items():
            u.wall_time_s = round(seqs.t1.get(r, seqs.t0[r]) - seqs.t0[r], 6)
        return list(seqs.usage.values())

    def decode(self, token_ids: list[int]) -> str:
        return self._decode([t for t in token_ids if t >= 0])

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # ---------------------------------------------------------------- internals
    def _new_cache(self):
        from transformers import DynamicCache

        return DynamicCache(config=self.model.config)

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    @torch.no_grad()
    def _feed(self, seqs: Sequences, feeds: list) -> None:
        """Run one forward pass that appends feeds[r] to row r: a list of token ids, or a (n, hidden)
        embedding tensor. Rows with nothing to feed get masked padding. Real inputs are right-aligned,
        so the last column is every fed row's newest position."""
        lengths = [len(f) for f in feeds]
        width = max(lengths)
        if width == 0:
            return
        n = len(seqs)
        is_embed = any(isinstance(f, torch.Tensor) and len(f) for f in feeds)
        feed_mask = torch.zeros((n, width), dtype=torch.long, device=self.device)
        pos = torch.zeros((n, width), dtype=torch.long, device=self.device)
        embed_layer = self.model.get_input_embeddings()
        if is_embed:
            x = torch.zeros((n, width, embed_layer.embedding_dim), dtype=embed_layer.weight.dtype, device=self.device)
        else:
            x = torch.full((n, width), self.pad_id, dtype=torch.long, device=self.device)
        base = seqs.mask.shape[1]
        for r, f in enumerate(feeds):
            L = lengths[r]
            if not L:
                continue
            if is_embed and not isinstance(f, torch.Tensor):
                f = embed_layer(torch.tensor(f, device=self.device))
            if isinstance(f, torch.Tensor):
                x[r, width - L:] = f.to(x.dtype)
            else:
                x[r, width - L:] = torch.tensor(f, device=self.device)
            feed_mask[r, width - L:] = 1
            pos[r, width - L:] = torch.arange(seqs.next_pos[r], seqs.next_pos[r] + L, device=self.device)
            seqs.next_pos[r] += L
            seqs.slots[r].extend(range(base + width - L, base + width))
            seqs.tokens[r].extend(f if isinstance(f, list) else [-1] * L)
        seqs.mask = torch.cat([seqs.mask, feed_mask], dim=1)
        kwargs = {"inputs_embeds": x} if is_embed else {"input_ids": x}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = self.decoder(**kwargs, attention_mask=seqs.mask, position_ids=pos,
                               past_key_values=seqs.cache, use_cache=True)
            hidden = out.last_hidden_state[:, -1]
            logits = self.lm_head(hidden).float()
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        fed = torch.tensor([L > 0 for L in lengths], device=self.device)
        if seqs.last_logits is None:
            seqs.last_logits, seqs.last_hidden = logits, hidden.float()
        else:
            seqs.last_logits = torch.where(fed[:, None], logits, seqs.last_logits)
            seqs.last_hidden = torch.where(fed[:, None], hidden.float(), seqs.last_hidden)
        counted = set()
        for r, L in enumerate(lengths):
            if L:
                u = seqs.usage[seqs.request[r]]
                u.forward_tokens += L
                if seqs.request[r] not in counted:
                    u.model_calls += 1
                    counted.add(seqs.request[r])
        self._update_peak(seqs)

    def _update_peak(self, seqs: Sequences) -> None:
        held: dict[int, int] = {}
        for r in range(len(seqs)):
            held[seqs.request[r]] = held.get(seqs.request[r], 0) + seqs.live_tokens(r)
        for req, h in held.items():
            u = seqs.usage[req]
            u.peak_tokens = max(u.peak_tokens, h)

    def _touch(self, seqs: Sequences) -> None:
        now = time.perf_counter()
        for r in set(seqs.request):
            seqs.t1[r] = now

    def _maybe_compact(self, seqs: Sequences, dead_fraction: float = 0.25) -> None:
        """Squeeze dead slots out of the cache when they are a quarter of it (amortised cost)."""
        total = seqs.mask.numel()
        if total == 0 or (total - int(seqs.mask.sum())) < dead_fraction * total:
            return
        width = max(1, max(len(s) for s in seqs.slots))
        index = torch.zeros((len(seqs), width), dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, slots in enumerate(seqs.slots):
            if slots:
                index[r, width - len(slots):] = torch.tensor(slots)
                mask[r, width - len(slots):] = 1
            seqs.slots[r] = list(range(width - len(slots), width))
        kv.gather_slots(seqs.cache, index.to(self.device))
        seqs.mask = mask.to(self.device)


def _eos_ids(model, tokenizer) -> set[int]:
    ids = set()
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        eos = getattr(source, "eos_token_id", None)
        if isinstance(eos, int):
            ids.add(eos)
        elif isinstance(eos, (list, tuple)):
            ids.update(int(e) for e in eos)
    if not ids:
        raise LeanthinkError("the model and tokenizer define no EOS token; set eos_token_id in config.json")
    return ids


def load_engine(spec: str, **options) -> HFEngine:
    """Engine for a model spec (built-in name or directory). Remote engines plug in here later."""
    if isinstance(spec, Path):
        spec = str(spec)
    return HFEngine.load(spec, **options)
