"""TokenSkip training data (Xia et al. 2025, ../shared/research.md §5): chains of thought pruned to a
ratio γ of their tokens, with γ in the prompt (`leanthink train --recipe tokenskip --ratios ...`).

Importance. The paper scores tokens with LLMLingua-2, a separate classifier trained on GPT-4
compressions, which we cannot download. We use the reasoner's own attention instead: the importance of
a reasoning token is the attention it receives from the tokens of *later lines* (the rest of the
reasoning and the answer line), averaged over layers and heads and summed over those readers. A value
that a later step or the answer copies is read from far away and scores high; a token read only by
its own line (the words around a computation, re-checks nobody uses) scores low. Attention from the
same line is left out because every token is read by its neighbours (previous-token heads), which
says nothing about whether the rest of the chain needs it. The scoring model is a frozen copy of the
`--init` checkpoint (the reasoner whose chains are compressed), run once per problem.

Pruning keeps the round(γ·n) most important of the n reasoning tokens, in their original order; the
answer line and the end of text are never pruned. Each training problem draws γ from `--ratios`
(1.0 = the full chain), deterministically from its id, so one model serves every ratio.
Direct-format examples are left as they are.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field, replace

import torch

from ..errors import LeanthinkError
from ..methods.controlled import ratio_prompt
from .data import collate, sft_example


def parse_ratios(text: str) -> tuple[float, ...]:
    """'0.5,0.7,1' -> (0.5, 0.7, 1.0); each in (0, 1]."""
    out = []
    for part in str(text).split(","):
        try:
            value = float(part)
        except ValueError:
            raise LeanthinkError(f"--ratios: {part.strip()!r} is not a number (expected e.g. 0.5,0.7,1.0)") from None
        if not 0 < value <= 1:
            raise LeanthinkError(f"--ratios: {value} is outside (0, 1]")
        out.append(round(value, 2))
    return tuple(out)


def line_of(text: str, offsets: list[tuple[int, int]]) -> list[int]:
    """Line index (count of newlines before the token's first character) of every token."""
    return [text.count("\n", 0, start) for start, _ in offsets]


@torch.no_grad()
def importance(model, prompt_ids: list[int], target_ids: list[int], lines: list[int]) -> list[float]:
    """Per target token: attention received from target tokens of later lines (mean over layers and
    heads, summed over readers). `model` must run eager attention (it returns the weights)."""
    ids = torch.tensor([prompt_ids + target_ids])
    out = model(input_ids=ids, output_attentions=True)
    att = torch.stack([a[0].float() for a in out.attentions]).mean(dim=(0, 1))   # [T, T]
    p = len(prompt_ids)
    sub = att[p:, p:]                                       # readers x read, target positions only
    line = torch.tensor(lines)
    later = line[:, None] > line[None, :]                   # reader i on a later line than token j
    return (sub * later).sum(dim=0).tolist()


def prune(ids: list[int], scores: list[float], ratio: float) -> list[int]:
    """The round(ratio·n) highest-scoring ids, in their original order (ties: the earlier first)."""
    keep = max(1, round(ratio * len(ids))) if ids else 0
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], i))[:keep]
    return [ids[i] for i in sorted(order)]


@dataclass
class Recipe:
    """The `--recipe tokenskip` recipe (train/recipes.py interface)."""

    scorer: object
    ratios: tuple[float, ...]
    name: str = "tokenskip"
    cache: dict = field(default_factory=dict)

    def ratio_for(self, problem) -> float:
        return random.Random(f"tokenskip/{problem.id}").choice(self.ratios)

    def scored(self, task, problem, tokenizer, style):
        """(target ids, importance, index where the answer line starts), computed once per problem."""
        if problem.id not in self.cache:
            if len(self.cache) > 4096:
                self.cache.clear()
            target = style.completion(task, problem, "cot")
            cut = target.rfind("Answer:")
            if cut < 0:
                raise LeanthinkError(f"tokenskip: the {task.name} trace has no 'Answer:' line to keep")
            enc = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
            ids, offsets = enc["input_ids"], enc["offset_mapping"]
            answer_at = next((i for i, (s, _) in enumerate(offsets) if s >= cut), len(ids))
            prompt = tokenizer(style.render(problem, "cot"), add_special_tokens=False)["input_ids"]
            scores = importance(self.scorer, prompt, ids, line_of(target, offsets))
            self.cache[problem.id] = (ids, scores, answer_at)
        return self.cache[problem.id]

    def example(self, task, problem, mode, tokenizer, style):
        if mode != "cot":
            return sft_example(task, problem, mode, tokenizer, style)
        ids, scores, answer_at = self.scored(task, problem, tokenizer, style)
        ratio = self.ratio_for(problem)
        kept = prune(ids[:answer_at], scores[:answer_at], ratio) + ids[answer_at:] + [tokenizer.eos_token_id]
        controlled = replace(problem, question=ratio_prompt(problem.question, ratio))
        p_ids = tokenizer(style.render(controlled, "cot"), add_special_tokens=False)["input_ids"]
        return p_ids + kept, [-100] * len(p_ids) + kept

    def collate(self, examples, pad_id):
        return collate(examples, pad_id)

    def meta(self) -> dict:
        return {"ratios": list(self.ratios), "importance": "attention from later lines (the --init reasoner's)"}


def tokenskip_recipe(cfg, model, tokenizer) -> Recipe:
    if not cfg.init:
        raise LeanthinkError("--recipe tokenskip compresses the chains of an existing reasoner: give --init")
    scorer = copy.deepcopy(model).eval()
    scorer.requires_grad_(False)
    scorer.set_attn_implementation("eager")   # sdpa does not return attention weights
    return Recipe(scorer=scorer, ratios=parse_ratios(cfg.ratios))
