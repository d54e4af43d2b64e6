"""`coconut`: reason in continuous thoughts, then answer (Hao et al. 2024; ../shared/research.md §3).

Each row: the CoT prompt, `<bot>`, a fixed number of latent steps (each feeds the previous position's
final hidden state back as the next input embedding: `engine.latent_steps`), `<eot>`, then ordinary
decoding of whatever language steps the model still writes and the answer. Batched and KV-cached (the
reference implementation re-runs the whole prefix for every token at batch size 1). The number of
latents is the one the model was trained with (its leanthink.json), or `latents`.

Usage counts each latent step in `latent_tokens` (and in forward tokens and Dep): the paper's token
counts include the continuous thoughts, so a fair length is generated + latent tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import checks
from ..engine.base import BASIC
from ..errors import LeanthinkError
from .base import Decoding, Result


@dataclass(frozen=True)
class Coconut(Decoding):
    name = "coconut"
    requires: ClassVar[frozenset[str]] = BASIC | {"append", "latent"}
    latents: int = -1
    """Continuous thoughts per problem; -1 = the number the model was trained with (0: none, straight
    from `<bot><eot>` to language)."""

    def __post_init__(self):
        super().__post_init__()
        checks.integer("latents", self.latents, -1, 4096)

    def count(self, engine) -> int:
        if self.latents >= 0:
            return self.latents
        meta = engine.meta.get("coconut") or {}
        if "latents" not in meta:
            raise LeanthinkError(f"model {engine.name!r} was not trained with Coconut (no coconut.latents in its "
                                 "leanthink.json); train one with `leanthink train --recipe coconut` or give "
                                 "--set latents=N")
        return int(meta["latents"])

    def solve(self, engine, task, problems, scorer=None):
        k = self.count(engine)
        for marker in ("<bot>", "<eot>"):
            engine.token_id(marker)   # each a single token, else a one-line error
        results = []
        for chunk, seqs in self.prefilled(engine, problems):
            n = len(chunk)
            # <bot> after the prompt's own tokens (as in training), fed with the first latent step's pass
            engine.append(seqs, ["<bot>"] * n, defer=True)
            engine.latent_steps(seqs, [k] * n)
            engine.append(seqs, ["<eot>"] * n, defer=True)   # fed by the first decoding pass
            outs = engine.extend(seqs, self.sampling())
            for p, c, u in zip(chunk, outs, engine.usage(seqs)):
                results.append(Result(problem_id=p.id, output=c.text, usage=u,
                                      trace={"latents": k, "finish_reason": c.finish_reason}))
        return results
