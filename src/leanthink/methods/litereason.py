"""`litereason`: decode; when the model writes `<implicit_thought>N</implicit_thought>`, run N latent
steps through the Reasoning Projector instead of writing the step, then keep decoding (Gurung et al.
2025; ../shared/research.md §4).

N is read from the text between the markers and clamped to 1..5 (a marker without a number counts 1).
Rows of a batch think latently at different times and stay in one batch. The projector is the
checkpoint's `projector.safetensors` (`leanthink train-litereason`), which the engine loads with the
model (`engine.projector`; set by hand for an in-memory model). Latent steps count in `latent_tokens`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from .. import checks
from ..engine.base import BASIC
from ..errors import LeanthinkError
from .base import Decoding, Result

_MARKER = re.compile(r"<implicit_thought>\s*(\d*)\s*</implicit_thought>$")


def projector_for(engine):
    """The engine's reasoning projector (the engine loads it with a checkpoint that has one)."""
    if getattr(engine, "projector", None) is None:
        raise LeanthinkError(f"model {engine.name!r} has no reasoning projector (no litereason.blocks in its "
                             "leanthink.json); train one with `leanthink train-litereason`")
    return engine.projector


@dataclass(frozen=True)
class LiteReason(Decoding):
    name = "litereason"
    requires: ClassVar[frozenset[str]] = BASIC | {"latent"}
    max_markers: int = 64
    """Cap on implicit thoughts per problem."""
    record_items: bool = False
    """Put the row's token ids (-1 at latent steps, EOS included) in the trace (for RL)."""

    def __post_init__(self):
        super().__post_init__()
        checks.integer("max_markers", self.max_markers, 0)

    def solve(self, engine, task, problems, scorer=None):
        projector = projector_for(engine)
        close = engine.token_id("</implicit_thought>")
        engine.token_id("<implicit_thought>")
        results = []
        for chunk, seqs in self.prefilled(engine, problems):
            n = len(chunk)
            texts, sampled, markers, reasons = [""] * n, [0] * n, [0] * n, ["length"] * n
            latents = [[] for _ in range(n)]
            live = list(range(n))
            while live:
                params = [self.sampling(max_new_tokens=self.max_new_tokens - sampled[r], stop_token_ids=(close,))
                          for r in live]
                steps, nxt = [0] * n, []
                for r, c in zip(live, engine.extend(seqs, params, rows=live)):
                    sampled[r] += len(c.token_ids) + (c.finish_reason == "eos")
                    texts[r] += c.text
                    reasons[r] = c.finish_reason
                    if c.finish_reason != "stop":
                        continue
                    if markers[r] < self.max_markers and sampled[r] < self.max_new_tokens:
                        m = _MARKER.search(texts[r])
                        steps[r] = max(1, min(5, int(m.group(1)) if m and m.group(1) else 1))
                        markers[r] += 1
                        latents[r].append(steps[r])
                        nxt.append(r)
                    else:
                        reasons[r] = "length" if sampled[r] >= self.max_new_tokens else "marker cap"
                if nxt:
                    engine.latent_steps(seqs, steps, projector=projector)
                live = nxt
            for p, r, u in zip(chunk, range(n), engine.usage(seqs)):
                trace = {"finish_reason": reasons[r], "implicit_thoughts": latents[r]}
                if self.record_items:
                    eos = engine.tokenizer.eos_token_id   # the built-ins' only EOS; models with several: the first
                    trace["items"] = seqs.token_ids(r) + ([eos if eos is not None else min(engine.eos_ids)]
                                                          if reasons[r] == "eos" else [])
                results.append(Result(problem_id=p.id, output=texts[r], usage=u, trace=trace))
        return results
