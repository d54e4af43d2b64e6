"""`leanthink train`: SFT of a causal LM on generated CoT traces.

bf16 autocast on CPU (about 2x faster here), a progress bar, periodic greedy evaluation, checkpoints
that resume exactly (model, optimiser, schedule, step; the data of step k is a function of the seed and
k), and a final Hugging Face directory (config.json + model.safetensors + tokenizer + leanthink.json).
Stages (`split="small:2000,full:4000"`) run one after another as a curriculum, each with a fresh
optimiser, as Coconut resets it between its stages.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .. import checks
from ..errors import LeanthinkError
from ..prompting import PromptStyle
from .config import SFTConfig
from .data import sample_batch
from .recipes import recipe_for


#: settings that do not change what is learned, so a run may resume with other values (a moved
#: output directory resumes too)
_NOT_RECIPE = ("eval_every", "eval_split", "eval_limit", "threads", "compile", "out")


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


def _load_model(spec: str):
    """The `--init` checkpoint through the engine's strict loader (missing or misshaped tensors and a
    foreign tokenizer are errors, never randomly initialised layers), in float32 for training."""
    from safetensors import SafetensorError

    from ..engine.loading import load_checkpoint

    try:
        loaded = load_checkpoint(spec, device="cpu", dtype="float32")
    except (OSError, ValueError, RuntimeError, SafetensorError) as e:  # a corrupt weights file, mostly
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise LeanthinkError(f"--init {spec}: cannot load the checkpoint ({first})") from None
    tokenizer = loaded.tokenizer
    if tokenizer.eos_token_id is None:  # every training target ends with it
        raise LeanthinkError(f"--init {spec}: the tokenizer has no end-of-sequence token")
    if tokenizer.pad_token_id is None:  # padding is masked out of attention and loss, so any id serves
        tokenizer.pad_token = tokenizer.eos_token
    return loaded.model, tokenizer


@dataclass
class RunPlan:
    """What `check_run` found: the task, the stages, the saved state of an interrupted run (or None)
    and the recipes the `--init` checkpoint records (or None)."""

    task: object
    stages: list[tuple[str, int]]
    resume: dict | None
    init_from: dict | None


def check_run(cfg: SFTConfig) -> RunPlan:
    """Every setting, checked before any work (no model built or loaded, nothing written): the fields,
    the task and its options, the splits, the output directory, a saved run there and the `--init`
    checkpoint's files."""
    from ..tasks.base import GENERATED_MAX
    from .data import POOL_BATCHES

    cfg.validate()
    # a batch is cut from a pool of POOL_BATCHES batches, and a task generates at most GENERATED_MAX
    # problems per call: found here, not at step 1 or at the first evaluation
    checks.integer("--batch-size", cfg.batch_size, 1, GENERATED_MAX // POOL_BATCHES)
    checks.integer("--eval-limit", cfg.eval_limit, 0, GENERATED_MAX)
    task = _task(cfg)
    stages = cfg.stages()
    for name, _ in stages:
        for part in name.split("+"):
            _check_split(task, cfg, "--split", part)
    if cfg.eval_limit:
        _check_split(task, cfg, "--eval-split", cfg.eval_split)
    out = _check_out(cfg)
    resume = _read_resume(cfg, out / "resume")
    init_from = init_recipe(cfg.init) if cfg.init else None
    return RunPlan(task, stages, resume, init_from)


def _task(cfg: SFTConfig):
    """The task with its `--task-option`s; only the constructor's text options can come from the
    command line (a generator config object cannot)."""
    import inspect

    from ..tasks import get_task

    params = inspect.signature(type(get_task(cfg.task))).parameters
    textual = [n for n, p in params.items() if p.annotation in (str, "str")]
    for key, value in cfg.task_options:
        if key not in textual:
            raise LeanthinkError(f"--task-option {key}={value}: task {cfg.task!r} has no option {key!r}; "
                                 f"its options: {', '.join(textual) or 'none'}")
    return get_task(cfg.task, **dict(cfg.task_options))


def _check_split(task, cfg: SFTConfig, flag: str, split: str) -> None:
    if not task.splits:
        from ..tasks import get_task, task_names

        generated = [n for n in task_names() if get_task(n).splits]
        raise LeanthinkError(f"{flag} {split!r}: task {cfg.task!r} has no generated splits to train on (it reads "
                             f"data files); choose a generated task: {', '.join(generated)}")
    if split not in task.splits:
        raise LeanthinkError(f"{flag}: task {cfg.task!r} has no generated split {split!r}; "
                             f"choose from {', '.join(task.splits)}")


def _check_out(cfg: SFTConfig) -> Path:
    """`--out` must be new, empty, or hold a run of this command: the finished checkpoint replaces the
    whole directory, so anything else there would be deleted."""
    out = checks.output_dir("--out", cfg.out)
    if out.exists():
        # resume/ alone is this command's own (a run stopped during its first save)
        others = [p for p in out.iterdir() if p.name != "resume"]
        if others and not (out / "resume" / "state.json").exists():
            raise LeanthinkError(f"--out {out}: the directory holds files but no run to resume "
                                 f"({out / 'resume' / 'state.json'}); the finished checkpoint replaces the whole "
                                 "directory, so choose a new or empty --out")
        if not os.access(out.absolute().parent, os.W_OK | os.X_OK):
            raise LeanthinkError(f"--out {out}: cannot write in {out.absolute().parent} (permission denied); "
                                 "the checkpoint is built beside --out and then swapped in")
    return out


def _read_resume(cfg: SFTConfig, directory: Path) -> dict | None:
    """The saved state of an interrupted run in `directory` (None if there is none), refused when its
    recipe differs from `cfg` or its files are unreadable."""
    state_file = directory / "state.json"
    if not state_file.exists():
        return None
    start_over = f"delete {directory} to start the run over"
    try:
        saved = json.loads(state_file.read_text())
        config, state = saved["config"], saved["state"]
        for key, kind in (("stage", int), ("step", int), ("history", list), ("elapsed_s", (int, float))):
            if not isinstance(state[key], kind):
                raise TypeError(f"{key} is {state[key]!r}")
        diff = _recipe_diff(config, cfg)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise LeanthinkError(f"{state_file}: not a readable resume state ({type(e).__name__}: {e}); "
                             f"{start_over}") from None
    if diff:
        raise LeanthinkError(f"{directory} holds a run with other settings ({diff}); resume it with the same "
                             f"settings, or use another --out, or {start_over}")
    from safetensors.torch import load_file

    try:
        weights = load_file(directory / "model.safetensors")
        optimizer = torch.load(directory / "optimizer.pt", weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever a torn or foreign file raises, the answer is the same
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise LeanthinkError(f"{directory}: cannot read the saved weights or optimiser ({first}); "
                             f"{start_over}") from None
    return {"state": state, "weights": weights, "optimizer": optimizer}


def _recipe_diff(saved: dict, cfg: SFTConfig) -> str:
    """'--lr 0.003 saved, 0.0001 now; ...' for the recipe fields that differ (empty if none)."""
    now = _recipe(json.loads(json.dumps(asdict(cfg))))
    # a setting added after the run was saved: the run used its default
    saved = {**_recipe(json.loads(json.dumps(asdict(SFTConfig())))), **_recipe(saved)}
    flag = {"task_options": "task-option"}
    return "; ".join(f"--{flag.get(k, k.replace('_', '-'))} {saved.get(k)!r} saved, {now.get(k)!r} now"
                     for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k))


def _load_resume_weights(model, weights: dict, directory: Path) -> None:
    try:
        result = model.load_state_dict(weights, strict=False)
    except RuntimeError as e:
        raise LeanthinkError(f"{directory}: the saved weights do not fit the model ({str(e).splitlines()[0]}); "
                             f"delete {directory} to start the run over") from None
    missing = [k for k in result.missing_keys if k != "lm_head.weight"]  # tied to the embedding: not saved
    if missing or result.unexpected_keys:
        raise LeanthinkError(f"{directory}: the saved weights do not fit the model ({len(missing)} missing, "
                             f"{len(result.unexpected_keys)} unexpected tensors); delete {directory} to start over")
    model.tie_weights()


def train(cfg: SFTConfig, progress: bool = True, stop_after: int | None = None) -> Path:
    """Run (or resume) the recipe; returns the output checkpoint directory. `stop_after` ends the call
    after that many optimiser steps (at a save point), as an interruption would."""
    from ..models.registry import save_checkpoint

    plan = check_run(cfg)
    task, stages = plan.task, plan.stages
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    resume_dir = out / "resume"
    model, tokenizer = _load_model(cfg.init) if cfg.init else _new_model(cfg, task)
    recipe = recipe_for(cfg, model, tokenizer)   # None: plain SFT (train/recipes.py)
    style = PromptStyle("plain")
    state = {"stage": 0, "step": 0, "history": [], "elapsed_s": 0.0}
    opt_state = None
    if plan.resume is not None:
        _load_resume_weights(model, plan.resume["weights"], resume_dir)
        opt_state, state = plan.resume["optimizer"], plan.resume["state"]

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[info]}"), TimeRemainingColumn(), disable=not progress)
    t0 = time.time() - state["elapsed_s"]
    steps_done = 0
    # compiled once; elementwise fusion matters for tiny models, whose cost is mostly not matmuls
    forward = (recipe.forward(model) if hasattr(recipe, "forward") else
               torch.compile(model, dynamic=True) if cfg.compile else model)
    with bar:
        for stage_i in range(state["stage"], len(stages)):
            split, total = stages[stage_i]
            if hasattr(recipe, "stage"):
                recipe.stage = stage_i + 1   # Coconut: stage k replaces the first k steps
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
                                     cfg.direct_fraction, tokenizer, style, recipe)
                loss = sft_step(forward, model, opt, batch, cfg.bf16)
                if not math.isfinite(loss.item()):  # nothing is saved from here on: the last resume state stays
                    raise LeanthinkError(f"training diverged: the loss is {loss.item()} at step {step + 1} of "
                                         f"stage {split!r} (try a lower --lr, or --no-bf16); the last saved state "
                                         f"in {resume_dir} is kept")
                state["step"] = step + 1
                bar.update(job, completed=step + 1, info=f"loss {loss.item():.3f}")
                last = step + 1 == total
                if (cfg.eval_every and (step + 1) % cfg.eval_every == 0) or last:
                    state["elapsed_s"] = time.time() - t0
                    entry = {"stage": split, "step": step + 1, "loss": round(loss.item(), 4),
                             "elapsed_s": round(state["elapsed_s"], 1)}
                    if cfg.eval_limit:
                        entry["eval_accuracy"] = evaluate(model, tokenizer, task, cfg.eval_split, cfg.eval_limit,
                                                          *((recipe.name, recipe.meta()) if recipe else ()))
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
            "train_time_s": round(state["elapsed_s"], 1), **({recipe.name: recipe.meta()} if recipe else {})}
    if plan.init_from:
        meta["init_from"] = plan.init_from
    save_checkpoint(model, tokenizer, out, meta)
    return out


def init_recipe(init: str) -> dict | None:
    """The recipe of the checkpoint a run starts from (its `train_config`, `train_time_s` and, in turn,
    its own `init_from`), so a checkpoint's `leanthink.json` records every run that made it, not
    only the last one. None when `init` holds no leanthink.json (a model from elsewhere, a GGUF file)."""
    from ..models.registry import resolve_model

    if not init.startswith("builtin:") and Path(init).expanduser().is_file():
        return None  # a GGUF file: load_checkpoint says whether it is one
    path = resolve_model(init) / "leanthink.json"
    if not path.exists():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise LeanthinkError(f"--init {init}: {path} is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise LeanthinkError(f"--init {init}: {path} must hold a JSON object, got {type(meta).__name__}")
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
    # every file is written to a temp name first (the slow part), then the three are renamed together,
    # with Ctrl-C held back, so an interruption leaves the previous state or the new one, never
    # one step's weights beside another step's optimiser and position
    save_file(tensors, directory / "model.safetensors.tmp")
    torch.save(opt.state_dict(), directory / "optimizer.pt.tmp")
    (directory / "state.json.tmp").write_text(json.dumps({"config": asdict(cfg), "state": state}))
    with _signals_deferred():
        for name in ("model.safetensors", "optimizer.pt", "state.json"):
            os.replace(directory / f"{name}.tmp", directory / name)


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT and SIGTERM inside the block and deliver them when it ends."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():  # only the main thread sets handlers
        yield
        return
    pending = []
    old = {sig: signal.signal(sig, lambda signum, frame: pending.append(signum))
           for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(pending):
            signal.raise_signal(sig)


@torch.no_grad()
def evaluate(model, tokenizer, task, split: str, limit: int, mode: str = "cot", meta: dict | None = None) -> float:
    """Greedy accuracy of an in-memory model on a generated split, through the real engine, with the
    method `mode`; `meta` is what the model's leanthink.json will say under `mode` (LightThinker's |C|)."""
    from ..engine.hf import HFEngine
    from ..methods import get_method

    engine = HFEngine.from_model(model, tokenizer, prompt_style=PromptStyle("plain"), name="training")
    engine.meta = {mode: meta} if meta else {}
    problems = task.load(split, limit=limit, seed=0)
    results = get_method(mode).solve(engine, task, problems)
    correct = [task.grade(r.answer if r.answer is not None else task.extract(r.output), p)
               for r, p in zip(results, problems)]
    return round(sum(correct) / len(correct), 4)
