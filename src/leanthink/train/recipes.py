"""The training recipes of `leanthink train --recipe`: plain SFT (None), LightThinker, Coconut,
TokenSkip and the L1 warm start.

A recipe object has `name`, `example(task, problem, mode, tokenizer, style)`, `collate(examples, pad)`
and `meta()` (what the checkpoint's leanthink.json records under `name`, and what the evaluation
during training reads); optionally `stage` (set by the trainer at each `--split` stage) and
`forward(model)` (a training forward returning `.loss`, when one teacher-forced pass is not enough).
"""

from __future__ import annotations


def recipe_for(cfg, model, tokenizer):
    """The recipe of a run (None for plain SFT); adds the marker tokens a tokenizer lacks."""
    if cfg.recipe == "lightthinker":
        from .lightthinker import recipe_for as lightthinker

        return lightthinker(cfg, model, tokenizer)
    if cfg.recipe == "coconut":
        from .coconut import coconut_recipe

        return coconut_recipe(cfg, model, tokenizer)
    if cfg.recipe == "tokenskip":
        from .tokenskip import tokenskip_recipe

        return tokenskip_recipe(cfg, model, tokenizer)
    if cfg.recipe == "l1":
        from .l1 import l1_recipe

        return l1_recipe(cfg, model, tokenizer)
    return None
