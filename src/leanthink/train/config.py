"""The settings of `leanthink train`, the single source of its defaults: the command's flags take
theirs from here. Kept apart from sft.py so the command line can read them without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

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
    after every existing id; ignored with `init` (the checkpoint's tokenizer is kept)."""
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
    seed: int = 0
    bf16: bool = True
    """bf16 autocast for the forward pass (weights and optimiser stay fp32)."""
    threads: int | None = None
    """torch threads (default: all cores)."""
    compile: bool = True
    """torch.compile the training forward (about 2x faster for tiny models on CPU, after ~1 min of compiling)."""

    def stages(self) -> list[tuple[str, int]]:
        if ":" not in self.split:
            return [(self.split, self.steps)]
        out = []
        for part in self.split.split(","):
            name, _, n = part.partition(":")
            if not n.isdigit() or int(n) <= 0:
                raise LeanthinkError(f"--split stage {part!r}: expected NAME:STEPS with STEPS a positive integer")
            out.append((name.strip(), int(n)))
        return out

    def validate(self) -> "SFTConfig":
        for field_, value in (("steps", self.steps), ("batch_size", self.batch_size)):
            if value <= 0:
                raise LeanthinkError(f"--{field_.replace('_', '-')} must be a positive integer, got {value}")
        if not 0 <= self.direct_fraction <= 1:
            raise LeanthinkError(f"--direct-fraction must be in [0, 1], got {self.direct_fraction}")
        if self.lr <= 0:
            raise LeanthinkError(f"--lr must be positive, got {self.lr}")
        self.stages()
        return self
