"""The forward pass and cache bookkeeping under every HFEngine verb.

`_feed` is the only place the model runs: it appends feeds[r] (token ids, or an (n, hidden) embedding
tensor) to row r in one batched pass, right-aligned so the last column is every fed row's newest
position, and counts the work for each row's request. Everything that removes tokens goes through
`_evict`, so held-token counts and peaks stay exact.
"""

from __future__ import annotations

import time

import torch

from ..errors import LeanthinkError
from . import kv
from .handle import Row, Sequences


class ForwardMixin:
    """Internals shared by the verbs of HFEngine (needs decoder, lm_head, embed, device, pad_id...)."""

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            logits = self.lm_head(hidden.to(self.lm_head.weight.dtype) if not self.autocast else hidden).float()
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits

    @torch.no_grad()
    def _feed(self, seqs: Sequences, feeds: dict, all_positions: bool = False) -> torch.Tensor | None:
        """One forward pass appending feeds[r] to row r (rows absent or with an empty feed get masked
        padding). Returns the final hidden states of every fed position (rows, width, hidden) when
        `all_positions`, else None."""
        feeds = {r: f for r, f in feeds.items() if len(f)}
        if not feeds:
            return None
        n = len(seqs)
        width = max(len(f) for f in feeds.values())
        for r, f in feeds.items():
            row = seqs.rows[r]
            if row.next_pos + len(f) > self.max_context:
                raise LeanthinkError(f"row {r} would reach position {row.next_pos + len(f)}, past the model's "
                                     f"context of {self.max_context} ({self.context_source})")
        embeds = any(isinstance(f, torch.Tensor) for f in feeds.values())
        mask_rows, pos_rows, id_rows = [], [], []
        base = seqs.mask.shape[1]
        for r in range(n):
            f = feeds.get(r)
            L = len(f) if f is not None else 0
            row = seqs.rows[r]
            mask_rows.append([0] * (width - L) + [1] * L)
            pos_rows.append([0] * (width - L) + list(range(row.next_pos, row.next_pos + L)))
            if not embeds:
                id_rows.append([self.pad_id] * (width - L) + (f if L else []))
        feed_mask = torch.tensor(mask_rows, dtype=torch.long, device=self.device)
        pos = torch.tensor(pos_rows, dtype=torch.long, device=self.device)
        if embeds:
            x = torch.zeros((n, width, self.embed.embedding_dim), dtype=self.embed.weight.dtype, device=self.device)
            for r, f in feeds.items():
                e = f if isinstance(f, torch.Tensor) else self.embed(torch.tensor(f, device=self.device))
                x[r, width - len(f):] = e.to(x.dtype)
            inputs = {"inputs_embeds": x}
        else:
            inputs = {"input_ids": torch.tensor(id_rows, dtype=torch.long, device=self.device)}
        seqs.mask = torch.cat([seqs.mask, feed_mask], dim=1)
        track = any(row.scores is not None for row in seqs.rows)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast), self._attention(track):
            out = self.decoder(**inputs, attention_mask=seqs.mask, position_ids=pos, cache=seqs.cache,
                               use_cache=True, output_attentions=track)
        hidden = out.last_hidden_state
        last = hidden[:, -1]
        logits = self._logits(last) if self.lm_head is not None else None
        if len(feeds) == n or seqs.last_hidden is None:   # every row fed: no merge with the old values
            seqs.last_logits, seqs.last_hidden = logits, last.to(torch.float32, copy=True)  # not a view of hidden
        else:
            fed = torch.zeros(n, dtype=torch.bool, device=self.device)
            fed[list(feeds)] = True
            if logits is not None:
                seqs.last_logits = torch.where(fed[:, None], logits, seqs.last_logits)
            seqs.last_hidden = torch.where(fed[:, None], last.float(), seqs.last_hidden)
        counted = set()
        # attention received by every slot from this pass's queries, summed over layers and heads
        received = sum(a.float().sum(1) for a in out.attentions) if track else None   # (rows, width, slots)
        for r, f in feeds.items():
            L, row = len(f), seqs.rows[r]
            row.slots.extend(range(base + width - L, base + width))
            if row.scores is not None:
                got = received[r, width - L:].sum(0)[row.slots].tolist()
                row.scores = [a + b for a, b in zip(row.scores, got)] + got[len(row.scores):]
            row.tokens.extend(f if isinstance(f, list) else [-1] * L)
            row.next_pos += L
            req = row.request
            req.hold(L)
            if self.scorer:
                req.usage.scorer_tokens += L
            else:
                req.usage.forward_tokens += L
            if id(req) not in counted:
                counted.add(id(req))
                if self.scorer:
                    req.usage.scorer_calls += 1
                else:
                    req.usage.model_calls += 1
        return hidden if all_positions else None

    def _attention(self, track: bool):
        """Eager attention for a pass whose attention weights are read (sdpa does not return them)."""
        import contextlib

        if not track or self.config._attn_implementation == "eager":
            return contextlib.nullcontext()

        @contextlib.contextmanager
        def eager():
            before = self.config._attn_implementation
            self.model.set_attn_implementation("eager")
            try:
                yield
            finally:
                self.model.set_attn_implementation(before)

        return eager()

    def _evict(self, seqs: Sequences, r: int, start: int, end: int) -> None:
        row = seqs.rows[r]
        if row.scores is not None:
            del row.scores[start:end]
        dead = row.slots[start:end]
        seqs.mask[r, dead] = 0
        del row.slots[start:end]
        del row.tokens[start:end]
        row.request.hold(-(end - start))

    def _evict_tail(self, seqs: Sequences, r: int, k: int) -> None:
        """Remove the last k live tokens of row r."""
        n = len(seqs.rows[r].slots)
        self._evict(seqs, r, n - k, n)

    def _touch(self, rows: list[Row]) -> None:
        now = time.perf_counter()
        for row in rows:
            row.request.touch(now)

    def _maybe_compact(self, seqs: Sequences, dead_fraction: float = 0.25) -> None:
        """Cut dead columns off the end; squeeze dead slots out when they are a quarter of the cache
        (amortised: a gather is O(cache), so it must not run every step)."""
        if not len(seqs):
            return
        cols = seqs.mask.any(0).nonzero()
        width = int(cols.max()) + 1 if len(cols) else 0
        if width < seqs.mask.shape[1]:
            kv.crop(seqs.cache, width)
            seqs.mask = seqs.mask[:, :width]
        total = seqs.mask.numel()
        width = max(1, max(len(row.slots) for row in seqs.rows))
        # a gather squeezes rows to the longest one: the padding of shorter rows stays, so count only what
        # it removes (rows of ragged lengths, as in a continuous batch, would otherwise compact every call)
        if total == 0 or total - len(seqs) * width < dead_fraction * total:
            return
        index = torch.zeros((len(seqs), width), dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, row in enumerate(seqs.rows):
            if row.slots:
                index[r, width - len(row.slots):] = torch.tensor(row.slots)
                mask[r, width - len(row.slots):] = 1
            row.slots = list(range(width - len(row.slots), width))
        kv.gather_slots(seqs.cache, index.to(self.device))
        seqs.mask = mask.to(self.device)


def eos_ids(model, tokenizer) -> set[int]:
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
