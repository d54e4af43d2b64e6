"""`Sequences`: the opaque handle methods hold, and the row operations that need no model.

A handle owns one KV cache with a row per sequence. Each `Row` knows its request (the problem it
works for, shared with every other row and engine of that problem), its live tokens and the cache
slot of each, its next RoPE position, the tokens sampled but not yet fed ("pending"), its random
stream and its detokenizer.

Row operations (each keeps `mask.shape[1]` equal to the cache's width, and the requests' held-token
counts exact):
  reindex(rows)  in place: the rows become `rows` of the old batch (select, fork, drop)
  take(rows)     a new handle with rows moved out of this one (split) or copied (copy)
  merge(other)   appends other's rows; `other` is left empty
A row used k > 1 times gives its copies fresh random streams (see sampling.Stream). Followers (a
scorer's per-row state on its own engine) are told of each operation, so they stay in lockstep.
"""

from __future__ import annotations

from collections import Counter

import torch

from ..errors import LeanthinkError
from . import kv
from .base import RowViews
from .detok import Detokenizer
from .sampling import Stream
from .usage import Request


class Row:
    __slots__ = ("request", "tokens", "slots", "next_pos", "pending", "finished", "stream", "detok", "scores")

    def __init__(self, request: Request, stream: Stream, detok: Detokenizer):
        self.request = request
        self.tokens: list[int] = []    # live tokens in order (-1 where an embedding was fed)
        self.slots: list[int] = []     # cache slot of each live token
        self.next_pos = 0
        self.pending: list[int] = []   # sampled (or re-spelled) tokens not fed yet
        self.finished = False
        self.stream = stream
        self.detok = detok
        self.scores: list[float] | None = None   # attention each live token received (H2O), when tracked

    def clone(self, stream: Stream) -> "Row":
        r = Row(self.request, stream, self.detok.copy())
        r.tokens, r.slots, r.pending = list(self.tokens), list(self.slots), list(self.pending)
        r.next_pos, r.finished = self.next_pos, self.finished
        r.scores = None if self.scores is None else list(self.scores)
        return r


class Sequences(RowViews):
    """Opaque handle to a batch of rows on one KV cache. Methods pass it back to the engine and may
    read `len()`, `request_key(i)`, `finished(i)`, `num_tokens(i)` and `token_ids(i)`; nothing else."""

    def __init__(self, engine, cache, rows: list[Row], mask: torch.Tensor):
        self.engine = engine
        self.cache = cache
        self.rows = rows
        self.mask = mask                               # (rows, slots): 1 = live
        self.last_logits: torch.Tensor | None = None   # (rows, vocab): the next-token logits
        self.last_hidden: torch.Tensor | None = None   # (rows, hidden), after the final norm
        self.requests: dict[int, Request] = {}         # every request seen here, in order
        self.followers: list = []
        self.note_requests(rows)

    def __del__(self):
        # a handle that goes away frees its rows' memory: later peaks must not count it
        try:
            for row in self.rows:
                row.request.hold(-len(row.slots))
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # ---------------------------------------------------------------- read-only views for methods (more in RowViews)
    def num_tokens(self, i: int) -> int:
        """Tokens row i holds in the cache now (prompt included; evicted spans excluded)."""
        return len(self.rows[i].slots)

    def attention_scores(self, i: int) -> list[float]:
        """Attention each live token of row i has received so far, summed over layers, heads and every
        later query (H2O's heavy-hitter score); only for handles prefilled with `attention=True`."""
        if self.rows[i].scores is None:
            raise LeanthinkError("attention_scores: prefill the rows with attention=True to track them")
        return list(self.rows[i].scores)

    def next_position(self, i: int) -> int:
        """The RoPE position row i's next token will take (evictions leave gaps: positions only grow)."""
        return self.rows[i].next_pos + len(self.rows[i].pending)

    def token_ids(self, i: int) -> list[int]:
        """Tokens of row i in order, prompt included, pending ones last (-1 where an embedding was fed)."""
        return self.rows[i].tokens + self.rows[i].pending

    # ---------------------------------------------------------------- row operations
    def note_requests(self, rows: list[Row]) -> None:
        for row in rows:
            self.requests.setdefault(id(row.request), row.request)

    def check_rows(self, rows, verb: str, allow_empty: bool = True) -> list[int]:
        rows = list(range(len(self.rows))) if rows is None else list(rows)
        if (not rows and not allow_empty) or any(isinstance(r, bool) or not isinstance(r, int)
                                                   or not 0 <= r < len(self.rows) for r in rows):
            raise LeanthinkError(f"{verb}: rows must be a {'non-empty ' if not allow_empty else ''}list of "
                                 f"indices in [0, {len(self.rows)}), got {rows[:8]}")
        return rows

    def _tensors_of(self, index: torch.Tensor) -> tuple:
        pick = lambda t: None if t is None else t.index_select(0, index)  # noqa: E731
        return self.mask.index_select(0, index), pick(self.last_logits), pick(self.last_hidden)

    def reindex(self, rows: list[int]) -> None:
        """In place: row i becomes old row rows[i]; a row left out is freed."""
        counts = Counter(rows)
        streams = {r: iter(self.rows[r].stream.copies(k)) for r, k in counts.items() if k > 1}
        new_rows = [self.rows[r].clone(next(streams[r])) if r in streams else self.rows[r] for r in rows]
        # frees before copies: resampling N rows into N holds N rows at every moment, never N + copies
        deltas = [(len(row.slots) * (counts.get(r, 0) - 1), row) for r, row in enumerate(self.rows)]
        for delta, row in sorted(deltas, key=lambda d: d[0]):
            row.request.hold(delta)
        index = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
        kv.select_rows(self.cache, index)
        self.mask, self.last_logits, self.last_hidden = self._tensors_of(index)
        self.rows = new_rows
        for f in self.followers:
            f.reindex(rows)

    def take(self, rows: list[int], move: bool) -> "Sequences":
        """A new handle with rows `rows`: moved out of this one (`move`) or copied (fresh streams)."""
        index = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
        mask, logits, hidden = self._tensors_of(index)
        if move:
            taken = [self.rows[r] for r in rows]
        else:
            streams = {r: iter(self.rows[r].stream.copies(k)) for r, k in Counter(rows).items()}
            taken = [self.rows[r].clone(next(streams[r])) for r in rows]
            for row in taken:
                row.request.hold(len(row.slots))
        other = Sequences(self.engine, kv.copy_rows(self.cache, index, self.engine.config), taken, mask)
        other.last_logits, other.last_hidden = logits, hidden
        other.followers = [f.take(rows, move) for f in self.followers]
        if move:
            moved = set(rows)
            keep = [r for r in range(len(self.rows)) if r not in moved]
            keep_index = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
            kv.select_rows(self.cache, keep_index)
            self.mask, self.last_logits, self.last_hidden = self._tensors_of(keep_index)
            self.rows = [self.rows[r] for r in keep]
        return other

    def merge(self, other: "Sequences") -> None:
        """Append other's rows (their slots shift right by the padding that aligns the two widths)."""
        if other is self:
            raise LeanthinkError("merge: a handle cannot be merged into itself")
        if other.engine is not self.engine:
            raise LeanthinkError("merge: the handles belong to different engines")
        if len(self.followers) != len(other.followers):
            raise LeanthinkError("merge: one handle has a scorer attached and the other does not")
        if not len(other):
            return
        if not len(self):   # nothing to align with: take the other's state as it is
            self.cache, self.mask = other.cache, other.mask
            self.last_logits, self.last_hidden = other.last_logits, other.last_hidden
        else:
            wa, wb = self.mask.shape[1], other.mask.shape[1]
            width = max(wa, wb)
            kv.concat(self.cache, other.cache, wa, wb)
            for rows, w in ((self.rows, wa), (other.rows, wb)):
                for row in rows:
                    row.slots = [s + width - w for s in row.slots]
            pad = lambda m: torch.cat([m.new_zeros((m.shape[0], width - m.shape[1])), m], 1)  # noqa: E731
            self.mask = torch.cat([pad(self.mask), pad(other.mask)])
            for name in ("last_logits", "last_hidden"):   # a scorer's engine has no logits
                a, b = getattr(self, name), getattr(other, name)
                setattr(self, name, None if a is None else torch.cat([a, b]))
        self.rows = self.rows + other.rows
        self.note_requests(other.rows)
        for f, g in zip(self.followers, other.followers):
            f.merge(g)
        other.rows, other.mask = [], other.mask[:0, :0]
        other.cache = kv.new_cache(self.engine.config)
        other.last_logits = other.last_hidden = None
        other.followers = []
