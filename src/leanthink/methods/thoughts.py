"""LightThinker's thought compression, shared by `--method lightthinker` and the scaling methods'
`compress=lightthinker` (particle filtering, beam, DVTS over compressed particles).

A row that has just written the splitter `<w>` compresses the thought it finished: C = `<c0>..<c{C-1}>`
is fed (C sees the thought), the thought and `<w>` are deleted from the KV cache (`engine.evict`; RoPE
positions keep increasing across the gap, as in training) and `[o]` is queued (`defer=True`: the
next decoding pass feeds it beside the other rows' tokens, and it no longer sees the thought). That
is what the training mask computes (tests/methods/test_lightthinker_eviction.py), without a custom
mask at inference. Rows of one handle compress different amounts at different times.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LeanthinkError, UnsupportedVerb


@dataclass(frozen=True)
class ThoughtMarkers:
    """The special tokens of a LightThinker model."""

    splitter: int
    """Token id of `<w>`, the end of a thought."""
    cache: str
    """C as text: `<c0>..<c{C-1}>`."""
    output: str
    """The output token `[o]`."""
    size: int
    """|C|."""

    def room(self) -> int:
        """Positions one compression takes (C and [o])."""
        return self.size + 1


def thought_markers(engine, cache_tokens: int | None = None) -> ThoughtMarkers:
    """The markers of this engine's model; |C| from its leanthink.json unless `cache_tokens` (a method's
    setting; 0 = the model's) is given. A one-line error when the model was not trained with
    LightThinker or the engine cannot evict."""
    missing = {"append", "evict"} - set(getattr(engine, "capabilities", ()))
    if missing:
        raise UnsupportedVerb(f"thought compression needs the engine verbs append and evict, which the "
                              f"{engine.kind} engine {engine.name!r} does not offer")
    c = cache_tokens or int((getattr(engine, "meta", {}).get("lightthinker") or {}).get("cache_tokens", 0))
    if not c:
        raise LeanthinkError(f"model {engine.name!r} was not trained with LightThinker (no lightthinker.cache_tokens "
                             "in its leanthink.json); train one with `leanthink train --recipe lightthinker`"
                             + (" or give --set cache_tokens=N" if cache_tokens is not None else ""))
    splitter = engine.token_id("<w>")
    for name in [f"<c{i}>" for i in range(c)] + ["[o]"]:
        engine.token_id(name)   # each a single token, else a one-line error
    return ThoughtMarkers(splitter, "".join(f"<c{i}>" for i in range(c)), "[o]", c)


def thought_text(text: str, finish_reason: str) -> str:
    """A decoded chunk without the splitter it stopped at."""
    return text.replace("<w>", "") if finish_reason == "stop" else text


def compress(engine, seqs, rows: list[int], begin: list[int], markers: ThoughtMarkers) -> list[int]:
    """Compress the thought of each row in `rows`: it spans live tokens [begin[i], the `<w>` just written]
    of row rows[i]. One batched pass feeds C to those rows; then each thought and its `<w>` are evicted
    and `[o]` is queued. Returns where each row's next thought starts (after `[o]`, once it is fed)."""
    if not rows:
        return []
    todo = set(rows)
    engine.append(seqs, [markers.cache if r in todo else None for r in range(len(seqs))])   # C sees the thought
    for r, b in zip(rows, begin):
        # the thought and <w> sit just before the C tokens fed above
        engine.evict(seqs, r, b, seqs.num_tokens(r) - markers.size)
    # [o] does not see it; queued, so the next extend's first pass feeds it (no pass of its own)
    engine.append(seqs, [markers.output if r in todo else None for r in range(len(seqs))], defer=True)
    return [seqs.num_tokens(r) + 1 for r in rows]
