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
The row operations that need no model live in `handle.py`, the forward pass in `forward.py`,
sampling in `sampling.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import LeanthinkError
from ..prompting import PromptStyle
from . import kv
from .base import VERBS, Engine, OwnTokenizer
from .detok import CONTEXT, Detokenizer
from .forward import ForwardMixin, eos_ids
from .handle import Row, Sequences
from .rowops import RowOps
from .params import Completion, SamplingParams
from .sampling import Chooser, Stream, find_stop, stream_seed
from .usage import Request, Usage


class HFEngine(OwnTokenizer, RowOps, ForwardMixin, Engine):
    capabilities = VERBS
    kind = "in-process Hugging Face"

    def __init__(self, model, tokenizer, prompt_style: PromptStyle, name: str = "model", model_hash: str = "",
                 autocast: bool = False, max_context: int | None = None, scorer: bool = False):
        self.model = model.eval()
        self.config = model.config
        self.tokenizer = tokenizer
        self.prompt_style = prompt_style
        self.name = name
        self.model_hash = model_hash
        self.meta: dict = {}   # the checkpoint's leanthink.json (its recipe), when loaded from one
        self.projector = None  # LiteReason's reasoning projector, when the checkpoint has one
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.device_type = self.device.type                       # what a run id records
        self.dtype_name = str(self.dtype).removeprefix("torch.")
        self.autocast = autocast
        self.decoder = model.get_decoder()
        self.lm_head = model.get_output_embeddings()
        self.embed = model.get_input_embeddings()
        self.softcap = getattr(self.config, "final_logit_softcapping", None)
        self.eos_ids = eos_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.add_special_tokens = prompt_style.name == "completion"
        self.scorer = scorer   # a scorer's forward passes count as the request's scorer_tokens
        model_limit = getattr(self.config, "max_position_embeddings", None) or 1 << 30
        if max_context is not None and not 1 <= max_context:
            raise LeanthinkError(f"--max-context must be a positive integer, got {max_context}")
        self.max_context = min(model_limit, max_context or model_limit)
        self.context_source = ("--max-context" if max_context and max_context < model_limit
                               else "max_position_embeddings in the model's config.json")

    # ---------------------------------------------------------------- construction
    @classmethod
    def load(cls, spec: str, device: str = "auto", dtype: str = "auto", prompt_style: str | None = None,
             max_context: int | None = None, **style_options) -> "HFEngine":
        """Load `builtin:NAME`, a Hugging Face model directory (safetensors only) or a GGUF file."""
        from .loading import load_checkpoint

        loaded = load_checkpoint(spec, device=device, dtype=dtype)
        tokenizer = loaded.tokenizer
        style = prompt_style or loaded.meta.get("prompt_style") or (
            "chat" if getattr(tokenizer, "chat_template", None) else "completion")
        engine = cls(loaded.model, tokenizer, PromptStyle(style, **style_options), name=spec,
                     model_hash=loaded.model_hash, max_context=max_context)
        engine.meta = loaded.meta
        blocks = (loaded.meta.get("litereason") or {}).get("blocks")
        if blocks:
            from ..models.projector import load_projector
            from ..models.registry import resolve_model

            engine.projector = load_projector(resolve_model(spec), loaded.model, int(blocks))
        return engine

    @classmethod
    def from_model(cls, model, tokenizer, prompt_style: PromptStyle, name: str = "model", **options) -> "HFEngine":
        """Wrap an in-memory model (training-time evaluation, tests)."""
        return cls(model, tokenizer, prompt_style, name=name, **options)

    # ---------------------------------------------------------------- text helpers
    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, token_ids: list[int]) -> str:
        return self._decode([t for t in token_ids if t >= 0])

    # ---------------------------------------------------------------- verbs
    def prefill(self, prompts: list[str], seeds: list[int] | None = None, keys: list | None = None,
                requests: list[Request] | None = None, attention: bool = False) -> Sequences:
        """One row per prompt. `seeds[i]` seeds row i's random stream (give each row a seed from what
        identifies it, e.g. `stream_seed(run_seed, problem_id)`, so sampling does not depend on the
        batch); `keys[i]` names its request (rows with equal keys share one Usage). Defaults: seed
        `stream_seed(i)` and key i. A scorer passes the policy rows' `requests` instead of keys, so both
        models count into one Usage per problem. `attention=True` tracks the attention every token
        receives (`seqs.attention_scores(i)`, for H2O); its passes run the model's eager attention."""
        n = len(prompts)
        if not n:
            raise LeanthinkError("prefill needs at least one prompt")
        seeds = [stream_seed(i) for i in range(n)] if seeds is None else list(seeds)
        keys = list(range(n)) if keys is None else list(keys)
        if len(seeds) != n or len(keys) != n or (requests is not None and len(requests) != n):
            raise LeanthinkError(f"prefill got {n} prompts, {len(seeds)} seeds and {len(keys)} keys")
        ids = self.tokenizer(list(prompts), add_special_tokens=self.add_special_tokens)["input_ids"]
        shared: dict = {}
        rows = []
        for i, x in enumerate(ids):
            if not x:
                raise LeanthinkError(f"prompt {i} is empty after tokenisation")
            if len(x) >= self.max_context:
                raise LeanthinkError(f"prompt {i} is {len(x)} tokens; the model's context is {self.max_context} "
                                     f"({self.context_source}), with room needed for the answer")
            req = requests[i] if requests is not None else shared.setdefault(keys[i], Request(keys[i]))
            if not self.scorer and requests is None:   # a request handed back in has its prompt counted
                req.usage.prompt_tokens += len(x)
            rows.append(Row(req, Stream(seeds[i]), Detokenizer(x[-CONTEXT:])))
            rows[-1].scores = [] if attention else None
        seqs = Sequences(self, kv.new_cache(self.config), rows,
                         torch.zeros((n, 0), dtype=torch.long, device=self.device))
        self._touch(rows)
        self._feed(seqs, dict(enumerate(ids)))
        self._touch(rows)
        return seqs

    def extend(self, seqs: Sequences, params: SamplingParams | Sequence[SamplingParams],
               rows: list[int] | None = None) -> list[Completion]:
        """Decode rows (all, or `rows`) until EOS, a stop, or their token cap; one Completion per row
        asked (in that order). `params` is one SamplingParams for all, or one per row asked. Rows not
        asked are untouched (their pending tokens kept)."""
        if self.lm_head is None:
            self._unsupported("decode (the model has no language-model head)")
        asked = seqs.check_rows(rows, "extend")
        plist = [params] * len(asked) if isinstance(params, SamplingParams) else list(params)
        if len(plist) != len(asked) or not all(isinstance(p, SamplingParams) for p in plist):
            raise LeanthinkError(f"extend: give one SamplingParams, or one per row asked ({len(asked)})")
        vocab = self.lm_head.weight.shape[0]
        choosers: dict[tuple, Chooser] = {}   # rows whose token choice is alike sample together
        out, run = {}, {}
        for r, p in zip(asked, plist):
            row = seqs.rows[r]
            if row.finished:
                out[r] = Completion(text="", finish_reason="done")
                continue
            if row.next_pos + len(row.pending) + p.max_new_tokens > self.max_context:
                raise LeanthinkError(
                    f"row {r}: {row.next_pos + len(row.pending)} tokens in context + max_new_tokens "
                    f"{p.max_new_tokens} exceeds the model's context of {self.max_context} ({self.context_source})")
            row.detok.advance(self._decode)
            out[r] = Completion(text="")
            key = p.choice_key()
            if key not in choosers:
                choosers[key] = Chooser(p, vocab, self.device, self.eos_ids)
            run[r] = (p, choosers[key], len(row.detok.text))
        self._touch([seqs.rows[r] for r in asked])
        sampled = dict.fromkeys(run, 0)
        active = list(run)
        while active:
            self._feed(seqs, {r: seqs.rows[r].pending for r in active})
            for r in active:
                seqs.rows[r].pending = []
            for chooser in {id(run[r][1]): run[r][1] for r in active}.values():
                group = [r for r in active if run[r][1] is chooser]
                idx = torch.tensor(group, device=self.device)
                choice = chooser.choose(seqs.last_logits.index_select(0, idx), [seqs.rows[r].stream for r in group],
                                        [sampled[r] for r in group])
                for k, r in enumerate(group):
                    sampled[r] += 1
                    if self._take(seqs, r, choice, k, out[r], run[r][0], sampled[r]):
                        active.remove(r)
        for r, (p, _, start) in run.items():
            row, c = seqs.rows[r], out[r]
            row.detok.advance(self._decode, final=row.finished)
            c.text = row.detok.text[start:]
        self._touch([seqs.rows[r] for r in asked])
        self._maybe_compact(seqs)
        return [out[r] for r in asked]

    def _take(self, seqs: Sequences, r: int, choice, k: int, c: Completion, p: SamplingParams, n: int) -> bool:
        """Record row r's sampled token; True when the row stops decoding in this call."""
        row = seqs.rows[r]
        tok = choice.tokens[k]
        u = row.request.usage
        u.generated_tokens += 1
        u.dep += len(row.slots)   # positions the pass that made these logits attended to
        c.logprobs.append(choice.logprobs[k])
        if choice.top is not None:
            c.top_logprobs = (c.top_logprobs or []) + [choice.top[k]]
        if choice.entropies is not None:
            c.entropies = (c.entropies or []) + [choice.entropies[k]]
        if tok in self.eos_ids:
            c.finish_reason, row.finished = "eos", True
            return True
        row.pending = [tok]
        row.detok.add([tok])
        c.token_ids.append(tok)
        if tok in p.stop_token_ids:
            c.finish_reason, c.stop = "stop", self._decode([tok])
            return True
        if p.stop:
            new = row.detok.advance(self._decode)
            if new and n >= p.min_new_tokens:
                hit = find_stop(row.detok.text, len(row.detok.text) - len(new), p.stop)
                if hit:
                    if hit[0] < len(row.detok.text):
                        self._cut(seqs, r, hit[0], c)
                    c.finish_reason, c.stop = "stop", hit[1]
                    return True
        if n >= p.max_new_tokens:
            c.finish_reason = "length"
            return True
        return False

    def _cut(self, seqs: Sequences, r: int, keep_chars: int, c: Completion) -> None:
        """The stop ends inside the latest token(s): re-spell the row so that its tokens are exactly its
        text up to the stop (what a server re-reading the text as a new prompt would hold)."""
        row = seqs.rows[r]
        removed, tokens = row.detok.cut(keep_chars, self.encode)
        fed = removed - len(row.pending)          # tokens of the chunk already in the cache (rare)
        if fed > 0:
            self._evict_tail(seqs, r, fed)
        del c.token_ids[max(0, len(c.token_ids) - removed):]
        c.token_ids.extend(tokens)
        row.pending = list(tokens)

    def append(self, seqs: Sequences, texts: list[str | None], defer: bool = False) -> None:
        """Force `texts[r]` into row r (None or "" leaves it; not into finished rows). defer=True queues it
        as pending tokens, fed in the next verb's first pass (a pass fewer; LightThinker's `[o]`)."""
        if len(texts) != len(seqs):
            raise LeanthinkError(f"append got {len(texts)} texts for {len(seqs)} rows")
        feeds = {}
        for r, t in enumerate(texts):
            if not t:
                continue
            row = seqs.rows[r]
            if row.finished:
                raise LeanthinkError(f"row {r} has finished (EOS); it cannot take more text")
            x = self.encode(t)
            row.detok.advance(self._decode)
            row.detok.add(x)
            row.detok.advance(self._decode)
            feeds[r] = row.pending + x
            row.pending = feeds[r] if defer else []
        if defer:
            return
        self._touch([seqs.rows[r] for r in feeds])
        self._feed(seqs, feeds)
        self._touch([seqs.rows[r] for r in feeds])

    def score(self, seqs: Sequences, texts: list[str | None]) -> list[list[float] | None]:
        """Log-probability of each token of `texts[r]` as the continuation of row r, in one batched
        pass; the rows are left as they were (the continuation is taken back out of the cache). The
        pass's positions count as forward tokens."""
        if len(texts) != len(seqs):
            raise LeanthinkError(f"score got {len(texts)} texts for {len(seqs)} rows")
        conts = {r: self.encode(t) for r, t in enumerate(texts) if t}
        result: list[list[float] | None] = [None] * len(seqs)
        if not conts:
            return result
        before = seqs.last_logits.clone()
        for r, (states, p) in self._probe(seqs, conts).items():
            x = conts[r]
            logits = self._logits(states[max(0, p - 1):-1])          # positions that predict x[1:] (and x[0])
            if p == 0:
                logits = torch.cat([before[r:r + 1], logits])
            lp = torch.log_softmax(logits.float(), -1)[torch.arange(len(x)), torch.tensor(x, device=logits.device)]
            result[r] = lp.tolist()
        return result

    def _probe(self, seqs: Sequences, conts: dict[int, list[int]], keep: dict[int, list[int]] | None = None
               ) -> dict[int, tuple[torch.Tensor, int]]:
        """Feed pending + keep[r] + conts[r] to row r in one pass, then take conts[r] back out (cache,
        positions, last logits and hidden state). Pending and kept tokens stay fed. Returns, per row,
        the final hidden states of every fed position and how many of them stay."""
        keep = keep or {}
        for r in keep:
            seqs.rows[r].pending = seqs.rows[r].pending + list(keep[r])
        conts = {r: conts.get(r, []) for r in set(conts) | set(keep)}
        for r in conts:
            if seqs.rows[r].finished:
                raise LeanthinkError(f"row {r} has finished (EOS); there is nothing to continue")
        before_logits = None if seqs.last_logits is None else seqs.last_logits.clone()
        before_hidden = seqs.last_hidden.clone()
        pend = {r: len(seqs.rows[r].pending) for r in conts}
        feeds = {r: seqs.rows[r].pending + x for r, x in conts.items()}
        for r in conts:
            seqs.rows[r].pending = []
        self._touch([seqs.rows[r] for r in conts])
        hidden = self._feed(seqs, feeds, all_positions=True)
        if hidden is None:
            return {}
        width = hidden.shape[1]
        out = {}
        for r, x in conts.items():
            L, p = len(feeds[r]), pend[r]
            out[r] = (hidden[r, width - L:], p)
            self._evict_tail(seqs, r, len(x))
            seqs.rows[r].next_pos -= len(x)
            if p:
                seqs.last_hidden[r] = hidden[r, width - L + p - 1].float()
                if self.lm_head is not None:
                    seqs.last_logits[r] = self._logits(hidden[r, width - L + p - 1][None])[0]
            else:
                seqs.last_hidden[r] = before_hidden[r]
                if before_logits is not None:
                    seqs.last_logits[r] = before_logits[r]
        self._touch([seqs.rows[r] for r in conts])
        self._maybe_compact(seqs)
        return out

    def latent_steps(self, seqs: Sequences, steps: list[int], projector=None) -> None:
        """Coconut's continuous thought: row r runs steps[r] passes, each feeding the previous final
        hidden state (through `projector`, LiteReason's reasoning projector, if given) as the next input
        embedding. Pending tokens are fed first so the hidden state is the latest one. Each step counts
        a forward token and, like a sampled token, the positions it was computed from as Dep."""
        if len(steps) != len(seqs) or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in steps):
            raise LeanthinkError(f"latent_steps needs one integer >= 0 per row ({len(seqs)} rows), got {steps}")
        live = [r for r, s in enumerate(steps) if s]
        for r in live:
            if seqs.rows[r].finished:
                raise LeanthinkError(f"row {r} has finished (EOS); it cannot take latent steps")
        self._touch([seqs.rows[r] for r in live])
        self._feed(seqs, {r: seqs.rows[r].pending for r in live})
        for r in live:
            seqs.rows[r].pending = []
        for k in range(max(steps, default=0)):
            todo = [r for r in live if steps[r] > k]
            h = seqs.last_hidden if projector is None else projector(seqs.last_hidden)
            for r in todo:
                seqs.rows[r].request.usage.dep += len(seqs.rows[r].slots)
                seqs.rows[r].request.usage.latent_tokens += 1
            self._feed(seqs, {r: h[r:r + 1] for r in todo})
        self._touch([seqs.rows[r] for r in live])

    def hidden(self, seqs: Sequences) -> list[list[float]]:
        """Each row's final-norm hidden state at its latest position (pending tokens fed first): the
        features a router reads from the reasoner itself. Rows are unchanged."""
        rows = [r for r, row in enumerate(seqs.rows) if row.pending]
        if rows:
            self._feed(seqs, {r: seqs.rows[r].pending for r in rows})
        for r in rows:
            seqs.rows[r].pending = []
        return seqs.last_hidden.float().tolist()

    def rewind(self, seqs: Sequences, row: int, chars: int) -> None:
        """Take back the last `chars` characters of a row's output, within its latest decoded chunk (a
        stop token that a method suppresses: budget forcing's end of reasoning); cache, tokens and
        text follow, and a token cut in the middle is re-spelled. The tokens stay counted as generated."""
        seqs.check_rows([row], "rewind")
        r = seqs.rows[row]
        r.detok.advance(self._decode)
        if isinstance(chars, bool) or not isinstance(chars, int) or not 0 < chars <= len(r.detok.chunk):
            raise LeanthinkError(f"rewind: row {row} can take back 1..{len(r.detok.chunk)} characters (its latest "
                                 f"decoded chunk), got {chars!r}")
        self._cut(seqs, row, len(r.detok.text) - chars, Completion(text=""))
        self._maybe_compact(seqs)

    def evict(self, seqs: Sequences, row: int, start: int, end: int) -> None:
        """Delete tokens [start, end) of `row` (indices into its live tokens, prompt included) from the
        KV cache. Later tokens keep their positions; the slots are freed at the next compaction."""
        seqs.check_rows([row], "evict")
        live = len(seqs.rows[row].slots)
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= live):
            raise LeanthinkError(f"evict: need 0 <= start < end <= {live}, got [{start}, {end})")
        self._evict(seqs, row, start, end)
        self._maybe_compact(seqs)

    def usage(self, seqs: Sequences) -> list[Usage]:
        """Usage per request that ever had a row in `seqs`, in order of first appearance."""
        return [req.usage for req in seqs.requests.values()]
