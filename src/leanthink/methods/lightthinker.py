"""`lightthinker`: decode, and compress every finished thought into |C| cache tokens whose KV entries
replace the thought's (Zhang et al. 2025; ../shared/research.md §2).

For each row: decode until the model writes the splitter `<w>`; feed C = `<c0>..<c{C-1}>` (they see
the thought); delete the thought and `<w>` from the KV cache (`engine.evict`: the slots are masked at
once and squeezed out at the next compaction; later positions keep their RoPE positions, so the gap is
what training saw); feed `[o]`, which no longer sees the thought, exactly as the training mask says
(queued: the next decoding pass feeds it with the other rows' tokens); decode the next thought from there. Rows of a batch compress at different times and stay in one batch.

Peak and Dep come from the engine's counters: the transient thought counts while it is held, the
evicted tokens stop counting the moment they are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import checks
from ..engine.base import BASIC
from ..errors import LeanthinkError
from .base import Decoding, Result


@dataclass(frozen=True)
class LightThinker(Decoding):
    """max_new_tokens caps sampled tokens (thoughts, splitters and the answer; C and [o] are forced)."""

    name = "lightthinker"
    requires: ClassVar[frozenset[str]] = BASIC | {"append", "evict"}
    cache_tokens: int = 0
    """|C|; 0 = the number the model was trained with (its leanthink.json)."""
    max_thoughts: int = 256
    """Cap on compressions per problem."""

    def __post_init__(self):
        super().__post_init__()
        checks.integer("cache_tokens", self.cache_tokens, 0, 64)
        checks.integer("max_thoughts", self.max_thoughts, 1)

    def markers(self, engine) -> tuple[int, str, str, int]:
        """(splitter id, C text, [o] text, |C|) for this engine's model."""
        c = self.cache_tokens or int((engine.meta.get("lightthinker") or {}).get("cache_tokens", 0))
        if not c:
            raise LeanthinkError(f"model {engine.name!r} was not trained with LightThinker (no lightthinker.cache_tokens "
                                 "in its leanthink.json); train one with `leanthink train --recipe lightthinker` or "
                                 "give --set cache_tokens=N")
        splitter = engine.token_id("<w>")
        cache = "".join(f"<c{i}>" for i in range(c))
        for name in [f"<c{i}>" for i in range(c)] + ["[o]"]:
            engine.token_id(name)   # each a single token, else a one-line error
        return splitter, cache, "[o]", c

    def solve(self, engine, task, problems, scorer=None):
        splitter, cache, output, n_cache = self.markers(engine)
        cache_ids = [engine.token_id(f"<c{i}>") for i in range(n_cache)]
        style = engine.prompt_style
        prefix = style.response_prefix("cot")
        results = []
        for chunk, seqs in self.prefilled(engine, problems):
            n = len(chunk)
            texts, sampled, thoughts = [""] * n, [0] * n, [0] * n
            begin = [seqs.num_tokens(r) for r in range(n)]   # where each row's current thought starts
            live, reasons = list(range(n)), ["length"] * n
            # (tokens sampled, tokens held) after every decode and every compression: the context curve
            curve = [[(0, seqs.num_tokens(r))] for r in range(n)]
            while live:
                # positions only grow (evicted thoughts leave gaps), so the context bounds a row's
                # remaining tokens: keep room for one more compression (C and [o])
                room = {r: engine.max_context - seqs.next_position(r) - len(cache_ids) - 1 for r in live}
                for r in [r for r in live if room[r] < 1]:
                    reasons[r] = "context"
                live = [r for r in live if room[r] >= 1]
                if not live:
                    break
                params = [self.sampling(max_new_tokens=min(self.max_new_tokens - sampled[r], room[r]),
                                        stop_token_ids=(splitter,)) for r in live]
                outs = engine.extend(seqs, params, rows=live)
                compress = []
                for r, c in zip(live, outs):
                    sampled[r] += len(c.token_ids) + (c.finish_reason == "eos")
                    curve[r].append((sampled[r], seqs.num_tokens(r) + (c.finish_reason != "eos")))  # + the pending token
                    texts[r] += c.text.replace("<w>", "") if c.finish_reason == "stop" else c.text
                    if (c.finish_reason == "stop" and thoughts[r] < self.max_thoughts and sampled[r] < self.max_new_tokens
                            and engine.max_context - seqs.next_position(r) > len(cache_ids) + 1):
                        compress.append(r)
                    else:
                        reasons[r] = c.finish_reason if c.finish_reason != "stop" else "length"
                if compress:
                    engine.append(seqs, [cache if r in compress else None for r in range(n)])   # C sees the thought
                    for r in compress:
                        # the thought and <w> sit just before the C tokens fed above
                        end = seqs.num_tokens(r) - len(cache_ids)
                        engine.evict(seqs, r, begin[r], end)
                    # [o] does not see it; queued, so the next extend's first pass feeds it (no pass of its own)
                    engine.append(seqs, [output if r in compress else None for r in range(n)], defer=True)
                    for r in compress:
                        thoughts[r] += 1
                        begin[r] = seqs.num_tokens(r) + 1   # after [o]
                        curve[r].append((sampled[r], seqs.num_tokens(r) + 1))
                live = compress
            for p, r, u in zip(chunk, range(n), engine.usage(seqs)):
                results.append(Result(problem_id=p.id, output=prefix + texts[r], usage=u,
                                      trace={"finish_reason": reasons[r], "thoughts": thoughts[r],
                                             "context": curve[r]}))
        return results
