"""Turning task problems into SFT batches (shared by every recipe that trains on traces)."""

from __future__ import annotations

import random

import torch

from ..prompting import PromptStyle
from ..tasks.base import Problem, Task


def sft_example(task: Task, problem: Problem, mode: str, tokenizer, style: PromptStyle) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one example; labels are -100 on the prompt, so only the response
    (and the EOS that ends it) is learned, or only the tokens inside the task's `loss_spans`."""
    prompt = style.render(problem, mode)
    target = style.completion(task, problem, mode)
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    spans = task.loss_spans(problem, target) if mode == "cot" else None
    if spans is None:
        t_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        return p_ids + t_ids, [-100] * len(p_ids) + t_ids
    enc = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
    t_ids = enc["input_ids"]
    # a token is learned iff its characters (its leading space aside) lie inside a span
    t_labels = [t if any(a <= start + (target[start:end][:1] == " ") and end <= b for a, b in spans)
                and end > start else -100 for t, (start, end) in zip(t_ids, enc["offset_mapping"])]
    return p_ids + t_ids + [tokenizer.eos_token_id], [-100] * len(p_ids) + t_labels + [-100]


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; padded positions are masked out of attention and loss."""
    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, (x, y) in enumerate(examples):
        ids[i, : len(x)] = torch.tensor(x)
        labels[i, : len(y)] = torch.tensor(y)
        mask[i, : len(x)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


#: batches are cut from pools of this many batches' worth of problems, sorted by length, so a batch
#: holds examples of similar length and little compute is spent on padding
POOL_BATCHES = 8


def sample_batch(task: Task, split: str, step: int, seed: int, batch_size: int, direct_fraction: float,
                 tokenizer, style: PromptStyle, recipe=None) -> dict[str, torch.Tensor]:
    """Batch `step` of a run: fresh generated problems, deterministic in (seed, step), so a resumed run
    sees exactly the data it would have seen. A mixture "a+b" fills the batch equally from each split
    (the first ones take the remainder). `recipe` (an object with `example` and `collate`, e.g.
    lightthinker.Recipe) replaces plain SFT examples and their collation."""
    parts = split.split("+")
    shares = [batch_size // len(parts) + (i < batch_size % len(parts)) for i in range(len(parts))]
    examples = []
    for part, share in zip(parts, shares):
        if share:
            examples += _pool_batch(task, part, step, seed, share, direct_fraction, tokenizer, style,
                                    recipe.example if recipe else sft_example)
    return recipe.collate(examples, tokenizer.pad_token_id) if recipe else collate(examples, tokenizer.pad_token_id)


def _pool_batch(task: Task, split: str, step: int, seed: int, batch_size: int, direct_fraction: float,
                tokenizer, style: PromptStyle, make=sft_example) -> list:
    group, index = divmod(step, POOL_BATCHES)
    problems = task.load(split, limit=batch_size * POOL_BATCHES, seed=seed * 1_000_000 + group)
    rng = random.Random(f"modes/{seed}/{group}")
    cot_only = split in task.cot_only_splits
    examples = [make(task, p, "direct" if rng.random() < direct_fraction and not cot_only else "cot",
                     tokenizer, style) for p in problems]
    examples.sort(key=lambda e: len(e[0] if isinstance(e, tuple) else e.ids))
    batches = [examples[i * batch_size:(i + 1) * batch_size] for i in range(POOL_BATCHES)]
    random.Random(f"order/{seed}/{group}").shuffle(batches)
    return batches[index]


def base_task_options(name: str, init: str) -> dict:
    """The task options (its trace, say) the checkpoint `init` was trained with, if it was trained on task
    `name`: a recipe that continues a reasoner trains on the traces that reasoner writes."""
    from ..models.registry import read_meta, resolve_model

    meta = read_meta(resolve_model(init))
    config = meta.get("train_config", {})
    if config.get("task", meta.get("task")) != name:
        return {}
    return dict(meta.get("task_options") or config.get("task_options") or [])


def base_task(name: str, init: str) -> Task:
    """Task `name` built with `base_task_options(name, init)`."""
    from ..tasks import get_task

    return get_task(name, **base_task_options(name, init))
