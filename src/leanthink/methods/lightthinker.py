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
from .base import Decoding, Result
from .thoughts import compress as compress_thoughts
from .thoughts import thought_markers, thought_text


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

    def solve(self, engine, task, problems, scorer=None):
        mk = thought_markers(engine, self.cache_tokens)
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
                room = {r: engine.max_context - seqs.next_position(r) - mk.room() for r in live}
                for r in [r for r in live if room[r] < 1]:
                    reasons[r] = "context"
                live = [r for r in live if room[r] >= 1]
                if not live:
                    break
                params = [self.sampling(max_new_tokens=min(self.max_new_tokens - sampled[r], room[r]),
                                        stop_token_ids=(mk.splitter,)) for r in live]
                outs = engine.extend(seqs, params, rows=live)
                compress = []
                for r, c in zip(live, outs):
                    sampled[r] += len(c.token_ids) + (c.finish_reason == "eos")
                    curve[r].append((sampled[r], seqs.num_tokens(r) + (c.finish_reason != "eos")))  # + the pending token
                    texts[r] += thought_text(c.text, c.finish_reason)
                    if (c.finish_reason == "stop" and thoughts[r] < self.max_thoughts and sampled[r] < self.max_new_tokens
                            and engine.max_context - seqs.next_position(r) > mk.room()):
                        compress.append(r)
                    else:
                        reasons[r] = c.finish_reason if c.finish_reason != "stop" else "length"
                for r, b in zip(compress, compress_thoughts(engine, seqs, compress, [begin[r] for r in compress], mk)):
                    thoughts[r] += 1
                    begin[r] = b
                    curve[r].append((sampled[r], seqs.num_tokens(r) + 1))   # + the queued [o]
                live = compress
            for p, r, u in zip(chunk, range(n), engine.usage(seqs)):
                results.append(Result(problem_id=p.id, output=prefix + texts[r], usage=u,
                                      trace={"finish_reason": reasons[r], "thoughts": thoughts[r],
                                             "context": curve[r]}))
        return results
