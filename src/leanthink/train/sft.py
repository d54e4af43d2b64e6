"""`leanthink train`: SFT of a causal LM on generated CoT traces.

bf16 autocast on CPU (about 2x faster here), a progress bar, periodic greedy evaluation, checkpoints
that resume exactly (model, optimiser, schedule, step; the data of step k is a function of the seed and
k), and a final Hugging Face directory (config.json + model.safetensors + tokenizer + leanthink.json).
Stages (`split="small:2000,full:4000"`) run one after another as a curriculum, each with a fresh
optimiser, as Coconut resets it between its stages.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..errors import LeanthinkError
from ..prompting import PromptStyle
from .config import SFTConfig
from .data import sample_batch


#: settings that do not change what is learned, so a run may resume with other values
_NOT_RECIPE = ("eval_every", "eval_split", "eval_limit", "threads", "compile")


def _recipe(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in _NOT_RECIPE}


def lr_schedule(step: int, total: int, lr: float, warmup: int) -> float:
    """The recipe's learning rate at `step` of `total`: linear warm-up, then cosine decay to 10%."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _lr_at(step: int, total: int, cfg: SFTConfig) -> float:
    return lr_schedule(step, total, cfg.lr, cfg.warmup)


def _new_model(cfg: SFTConfig, task):
    from transformers import LlamaForCausalLM

    from ..models.registry import builtin_tokenizer
    from ..models.tiny import llama_config

    tokenizer = builtin_tokenizer()
    if cfg.task_tokens:
        add_task_tokens(tokenizer, task.added_tokens())
    torch.manual_seed(cfg.seed)
    return LlamaForCausalLM(llama_config(cfg.size, tokenizer)), tokenizer


def add_task_tokens(tokenizer, words) -> int:
    """Append the words the tokenizer splits as single tokens (matched before BPE, so " is a tumpus"
    stays one token wherever it appears); returns how many were added."""
    from tokenizers import AddedToken

    new = [w for w in words if len(tokenizer(w, add_special_tokens=False)["input_ids"]) > 1]
    return tokenizer.add_tokens([AddedToken(w, normalized=False) for w in new])


def _load_model(path: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..models.registry import resolve_model

    directory = resolve_model(path)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    return model, AutoTokenizer.from_pretrained(directory)


def train(cfg: SFTConfig, progress: bool = True, stop_after: int | None = None) -> Path:
    """Run (or resume) the recipe; returns the output checkpoint directory. `stop_after` ends the call
    after that many optimiser steps (at a save point), as an interruption would."""
    from ..models.registry import save_checkpoint
    from ..tasks import get_task

    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    task = get_task(cfg.task, **dict(cfg.task_options))
    stages = cfg.stages()
    for name, _ in stages:
        parts = name.split("+")
        if len(set(parts)) < len(parts):  # the same split twice would repeat the same problems in a batch
            raise LeanthinkError(f"--split {name!r}: a mixture names each split once")
        for part in parts:
            if part not in task.splits:
                raise LeanthinkError(f"task {cfg.task!r} has no generated split {part!r}; "
                                     f"choose from {', '.join(task.splits)}")
    out = Path(cfg.out)
    resume_dir = out / "resume"
    model, tokenizer = _load_model(cfg.init) if cfg.init else _new_model(cfg, task)
    style = PromptStyle("plain")
    state = {"stage": 0, "step": 0, "history": [], "elapsed_s": 0.0}
    opt_state = None
    if (resume_dir / "state.json").exists():
        saved = json.loads((resume_dir / "state.json").read_text())
        if _recipe(saved["config"]) != _recipe(json.loads(json.dumps(asdict(cfg)))):
            raise LeanthinkError(f"{resume_dir} holds a run with other settings; use another --out or delete it")
        from safetensors.torch import load_file

        model.load_state_dict(load_file(resume_dir / "model.safetensors"), strict=False)
        model.tie_weights()
        opt_state = torch.load(resume_dir / "optimizer.pt", weights_only=True)
        state = saved["state"]

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[info]}"), TimeRemainingColumn(), disable=not progress)
    t0 = time.time() - state["elapsed_s"]
    steps_done = 0
    # compiled once; elementwise fusion matters for tiny models, whose cost is mostly not matmuls
    forward = torch.compile(model, dynamic=True) if cfg.compile else model
    with bar:
        for stage_i in range(state["stage"], len(stages)):
            split, total = stages[stage_i]
            opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
            if opt_state is not None:
                opt.load_state_dict(opt_state)
                opt_state = None
            job = bar.add_task(f"train {cfg.task}/{split}", total=total, completed=state["step"], info="")
            model.train()
            for step in range(state["step"], total):
                for g in opt.param_groups:
                    g["lr"] = _lr_at(step, total, cfg)
                batch = sample_batch(task, split, step + 100_000 * stage_i, cfg.seed, cfg.batch_size,
                                     cfg.direct_fraction, tokenizer, style)
                loss = sft_step(forward, model, opt, batch, cfg.bf16)
                state["step"] = step + 1
                bar.update(job, completed=step + 1, info=f"loss {loss.item():.3f}")
                last = step + 1 == total
                if (cfg.eval_every and (step + 1) % cfg.eval_every == 0) or last:
                    state["elapsed_s"] = time.time() - t0
                    entry = {"stage": split, "step": step + 1, "loss": round(loss.item(), 4),
                             "elapsed_s": round(state["elapsed_s"], 1)}
                    if cfg.eval_limit:
                        entry["eval_accuracy"] = evaluate(model, tokenizer, task, cfg.eval_split, cfg.eval_limit)
                        model.train()
                    state["history"].append(entry)
                    bar.console.print(json.dumps(entry), soft_wrap=True)  # one line per entry, whatever the width
                    _save_resume(resume_dir, model, opt, cfg, {**state, "stage": stage_i + int(last),
                                                               "step": 0 if last else state["step"]})
                steps_done += 1
                if stop_after is not None and steps_done >= stop_after:
                    return out
            state["step"] = 0
    state["elapsed_s"] = time.time() - t0
    meta = {"prompt_style": "plain", "task": cfg.task, "train_config": asdict(cfg), "history": state["history"],
            "train_time_s": round(state["elapsed_s"], 1)}
    if cfg.init and (parent := init_recipe(cfg.init)):
        meta["init_from"] = parent
    save_checkpoint(model, tokenizer, out, meta)
    return out


def init_recipe(init: str) -> dict | None:
    """The recipe of the checkpoint a run starts from (its `train_config`, `train_time_s` and, in turn,
    its own `init_from`), so a checkpoint's `leanthink.json` records every run that made it, not
    only the last one. None when `init` holds no leanthink.json (a model from elsewhere)."""
    from ..models.registry import resolve_model

    path = resolve_model(init) / "leanthink.json"
    if not path.exists():
        return None
    meta = json.loads(path.read_text())
    return {k: meta[k] for k in ("train_config", "train_time_s", "init_from") if k in meta}


def sft_step(forward, model, opt, batch: dict[str, torch.Tensor], bf16: bool) -> torch.Tensor:
    """One optimiser step of the recipe: forward (bf16 autocast on CPU), backward, gradients clipped
    to norm 1, step, zero. `forward` is the model or its compiled wrapper; returns the loss."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = forward(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


@torch.no_grad()
def first_label_accuracy(model, batch: dict[str, torch.Tensor]) -> float:
    """Share of rows whose first supervised token is the model's greedy prediction (teacher forcing,
    one forward pass): the score of the lookup probes in experiments/."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["labels"]
    first = (labels != -100).int().argmax(dim=1)
    rows = torch.arange(len(labels))
    return (logits[rows, first - 1].argmax(-1) == labels[rows, first]).float().mean().item()


def _save_resume(directory: Path, model, opt, cfg: SFTConfig, state: dict) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    # each file is written to a temp name and renamed, so a kill mid-save leaves the previous state
    save_file(tensors, directory / "model.safetensors.tmp")
    os.replace(directory / "model.safetensors.tmp", directory / "model.safetensors")
    torch.save(opt.state_dict(), directory / "optimizer.pt.tmp")
    os.replace(directory / "optimizer.pt.tmp", directory / "optimizer.pt")
    (directory / "state.json.tmp").write_text(json.dumps({"config": asdict(cfg), "state": state}))
    os.replace(directory / "state.json.tmp", directory / "state.json")


@torch.no_grad()
def evaluate(model, tokenizer, task, split: str, limit: int, mode: str = "cot") -> float:
    """Greedy accuracy of an in-memory model on a generated split, through the real engine."""
    from ..engine.hf import HFEngine
    from ..methods import get_method

    engine = HFEngine.from_model(model, tokenizer, prompt_style=PromptStyle("plain"), name="training")
    problems = task.load(split, limit=limit, seed=0)
    results = get_method(mode).solve(engine, task, problems)
    correct = [task.grade(r.answer if r.answer is not None else task.extract(r.output), p)
               for r, p in zip(results, problems)]
    return round(sum(correct) / len(correct), 4)
