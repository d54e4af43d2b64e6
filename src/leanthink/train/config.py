"""The settings of `leanthink train`, the single source of its defaults: the command's flags take
theirs from here. Kept apart from sft.py so the command line can read them without importing torch."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .. import checks
from ..errors import LeanthinkError


@dataclass(frozen=True)
class SFTConfig:
    task: str = "arith"
    """Task whose generator provides the training problems."""
    task_options: tuple[tuple[str, str], ...] = ()
    """Options of the task's constructor, e.g. (("trace", "search"),) for ProsQA's search traces."""
    split: str = "train"
    """Generated split, or stages "split:steps,split:steps" run in order (a curriculum); "a+b" mixes
    splits in equal shares within every batch (e.g. lookup drills with traces)."""
    out: str = "runs/model"
    """Output directory (the final Hugging Face checkpoint; resume state lives in out/resume/)."""
    size: str = "tiny"
    """Built-in size (micro, tiny, small, ...) for a new model; ignored with `init`."""
    task_tokens: bool = False
    """Give a new model's tokenizer the task's `added_tokens` (those the built-in BPE splits), appended
    after every existing id; refused with `init` (the checkpoint's tokenizer is kept)."""
    init: str | None = None
    """Start from this checkpoint (a path or builtin:NAME) instead of a new model."""
    steps: int = 2000
    """Optimiser steps (when `split` names no stages)."""
    batch_size: int = 32
    lr: float = 2e-3
    """Peak learning rate (cosine decay to 10% after a linear warm-up)."""
    warmup: int = 100
    weight_decay: float = 0.01
    direct_fraction: float = 0.2
    """Share of examples in the direct format (question -> answer), so one model serves both modes."""
    eval_every: int = 250
    """Greedy CoT evaluation every this many steps (0: only at the end)."""
    eval_split: str = "easy"
    eval_limit: int = 100
    """Problems per evaluation (0: no evaluation; `eval_split` is then not used)."""
    seed: int = 0
    bf16: bool = True
    """bf16 autocast for the forward pass (weights and optimiser stay fp32)."""
    threads: int | None = None
    """torch threads (default: all cores)."""
    compile: bool = True
    """torch.compile the training forward (about 2x faster for tiny models on CPU, after ~1 min of compiling)."""
    recipe: str = "sft"
    """`sft` (plain CoT traces), `lightthinker` (thoughts compressed into cache tokens, trained under
    the LightThinker attention mask; train/lightthinker.py) or `coconut` (continuous thoughts, one
    curriculum stage per `--split` stage; train/coconut.py), `tokenskip` (chains pruned to a ratio
    named in the prompt; train/tokenskip.py) or `l1` (chains of every length with the length in the
    prompt, the warm start of `leanthink train-l1`; train/l1.py)."""
    cache_tokens: int = 4
    """LightThinker: |C|, cache tokens per compressed thought (the built-in tokenizer reserves 16)."""
    segment_every: int = 0
    """LightThinker: 0 = a thought per line of the trace (thought-level); k = a thought every k tokens."""
    latents_per_step: int = 1
    """Coconut: c, continuous thoughts per replaced step (the paper: 1 for ProsQA, 2 for GSM8K)."""
    latent_supervision: float = 0.0
    """Coconut: weight of the loss that makes each replaced step's last thought predict the step's key
    token (ours; 0 = the paper's Coconut; train/coconut.py)."""
    ratios: str = "0.5,0.6,0.7,0.8,0.9,1.0"
    """TokenSkip: the compression ratios γ (share of reasoning tokens kept) training draws from."""

    def stages(self) -> list[tuple[str, int]]:
        if ":" not in self.split:
            return [(self.split, self.steps)]
        out = []
        for part in self.split.split(","):
            name, _, n = part.partition(":")
            if not (n.isascii() and n.isdigit()) or int(n) <= 0:
                raise LeanthinkError(f"--split stage {part!r}: expected NAME:STEPS with STEPS a positive integer")
            out.append((name.strip(), int(n)))
        return out

    def validate(self) -> "SFTConfig":
        """Every field on its own (what needs the task, the output directory or the checkpoint is
        checked by `sft.check_run`); raises LeanthinkError naming the flag, the value and what is allowed."""
        from ..models.tiny import parse_size

        checks.integer("--steps", self.steps, 1)
        checks.integer("--batch-size", self.batch_size, 1)
        # AdamW moves every weight by about lr per step: above 1 nothing is learned, above ~3e38 it overflows
        checks.number("--lr", self.lr, 0, 1, low_open=True)
        checks.integer("--warmup", self.warmup, 0)
        checks.number("--weight-decay", self.weight_decay, 0)
        checks.number("--direct-fraction", self.direct_fraction, 0, 1)
        checks.integer("--eval-every", self.eval_every, 0)
        checks.integer("--eval-limit", self.eval_limit, 0)
        checks.seed("--seed", self.seed)
        if self.threads is not None:
            checks.integer("--threads", self.threads, 1, os.cpu_count() or 1)
        checks.choice("--recipe", self.recipe, ["sft", "lightthinker", "coconut", "tokenskip", "l1"])
        if self.recipe == "tokenskip":
            from .tokenskip import parse_ratios

            parse_ratios(self.ratios)
        checks.integer("--latents-per-step", self.latents_per_step, 1, 16)
        checks.number("--latent-supervision", self.latent_supervision, 0, 100)
        checks.integer("--cache-tokens", self.cache_tokens, 1, 64)
        checks.integer("--segment-every", self.segment_every, 0, 4096)
        parse_size(self.size)  # checked with --init too: a mistyped flag is a mistake either way
        if self.init is not None and self.task_tokens:
            raise LeanthinkError("--task-tokens extends a new model's tokenizer; with --init the checkpoint's "
                                 "tokenizer is kept (drop --task-tokens, or train the tokens in the first run)")
        keys = [k for k, _ in self.task_options]
        for key in keys:
            if keys.count(key) > 1:
                raise LeanthinkError(f"--task-option {key!r} is given {keys.count(key)} times; give each option once")
        for name, _ in self.stages():
            parts = name.split("+")
            if len(set(parts)) < len(parts):  # the same split twice would repeat the same problems in a batch
                raise LeanthinkError(f"--split {name!r}: a mixture names each split once")
            if len(parts) > self.batch_size:  # a split with no share of the batch would never be trained on
                raise LeanthinkError(f"--split {name!r} mixes {len(parts)} splits but --batch-size is "
                                     f"{self.batch_size}; a batch needs at least one example of each")
        return self
