"""User-controlled compact reasoning from trained checkpoints (../shared/research.md §5).

`tokenskip` (TokenSkip, Xia et al. 2025): a model fine-tuned on chains of thought pruned to a ratio
γ of their tokens, with γ written in the prompt, so the user picks the compression at inference
(`--set ratio=0.6`). `l1` (L1 / LCPO, Aggarwal & Welleck 2025): a model trained with a target length in
the prompt and rewarded for meeting it, so the user sets the length (`--set target=40`). Both are
plain greedy CoT decoding from a prompt that carries the control; what makes them work is the
checkpoint (train/tokenskip.py, train/l1.py), so they refuse a model that was not trained for them.
The control line is written into the question, so it reaches the model in every prompt style (the
papers put it in the user turn too).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .. import checks
from ..errors import LeanthinkError
from .basic import _Generate


def ratio_prompt(question: str, ratio: float) -> str:
    """The question with TokenSkip's compression ratio (what training and inference both write)."""
    return f"{question}\nKeep {ratio:.2f} of the reasoning."


def target_prompt(question: str, target: int) -> str:
    """The question with L1's target length in generated tokens."""
    return f"{question}\nThink for {target} tokens."


@dataclass(frozen=True)
class _Controlled(_Generate):
    mode = "cot"
    meta_key = ""

    def control(self, question: str) -> str:
        raise NotImplementedError

    def solve(self, engine, task, problems, scorer=None):
        meta = getattr(engine, "meta", None) or {}
        if self.meta_key not in meta:
            raise LeanthinkError(f"model {engine.name!r} was not trained for --method {self.name} (no "
                                 f"{self.meta_key} in its leanthink.json); train one with `leanthink train "
                                 f"--recipe {self.meta_key}`" + (" then `leanthink train-l1`" if self.name == "l1" else ""))
        controlled = [replace(p, question=self.control(p.question)) for p in problems]
        results = super().solve(engine, task, controlled)
        for r, p in zip(results, problems):
            r.problem_id = p.id
        return results


@dataclass(frozen=True)
class TokenSkip(_Controlled):
    name = "tokenskip"
    meta_key = "tokenskip"
    ratio: float = 0.5
    """γ: the share of the reasoning's tokens to keep, in (0, 1] (1: the uncompressed chain)."""

    def __post_init__(self):
        super().__post_init__()
        checks.number("ratio", self.ratio, 0, 1, low_open=True)

    def control(self, question: str) -> str:
        return ratio_prompt(question, self.ratio)


@dataclass(frozen=True)
class L1(_Controlled):
    name = "l1"
    meta_key = "l1"
    target: int = 100
    """Requested length in generated tokens (reasoning, answer line and end of text)."""

    def __post_init__(self):
        super().__post_init__()
        checks.integer("target", self.target, 1, self.max_new_tokens)

    def control(self, question: str) -> str:
        return target_prompt(question, self.target)
