"""LiteReason (Gurung et al. 2025; ../shared/research.md §4): training data with implicit-thought
markers, the latent rollout through the Reasoning Projector, and the projector's SFT (base frozen).

A trace becomes (`--placement random`, the paper's; `settled` in train/placement.py chooses other
steps): its steps, a random 10-25% of them (at least one) replaced by the marker
`<implicit_thought>N</implicit_thought>` followed by N latent positions, N = clamp(round(0.2 × the
step's tokens), 1, 5); then the answer and EOS. At a latent position the input embedding is the
projector applied to the previous position's final hidden state. Latents sit at different columns in
different rows, so a batch runs in segments: ordinary columns in one pass up to the next column
where any row has a latent, that column alone (latent rows get their projected state, the others
their token), and so on, over one KV cache, with gradients through the whole rollout. Written by hand:
no library runs latent steps inside teacher forcing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from ..errors import LeanthinkError
from .lightthinker import IGNORE, add_tokens

OPEN, CLOSE = "<implicit_thought>", "</implicit_thought>"
LATENT = -1   # an item that is a latent step, not a token
MAX_LATENT = 5


def latent_count(step_tokens: int, per_token: float = 0.2) -> int:
    """N for a step of this many tokens: clamp(round(0.2 × tokens), 1, 5)."""
    return max(1, min(MAX_LATENT, round(per_token * step_tokens)))


def marker_text(n: int) -> str:
    return f"{OPEN}{n}{CLOSE}"


def choose_steps(n_steps: int, rng: random.Random, low: float = 0.10, high: float = 0.25) -> set[int]:
    """The steps to make latent: a share drawn uniformly from [low, high] of the steps, at least one."""
    if n_steps == 0:
        return set()
    k = max(1, round(rng.uniform(low, high) * n_steps))
    return set(rng.sample(range(n_steps), k))


@dataclass
class MarkedExample:
    items: list[int]
    """Token ids, and LATENT where a latent step goes."""
    labels: list[int]
    """One per item: the token where loss applies, else IGNORE (prompt, latents)."""
    marker: list[bool] | None = None
    """Where the marker tokens are (None: nowhere)."""


def marked_example(prompt: list[int], steps: list[list[int]], final: list[int], latent: set[int], encode,
                   eos: int) -> MarkedExample:
    """Prompt, steps (those in `latent` replaced by the marker and its latents), final answer, EOS.
    Loss on every response token but the latents (the frozen base makes only the projector learn)."""
    items, labels, is_marker = list(prompt), [IGNORE] * len(prompt), [False] * len(prompt)
    for i, step in enumerate(steps):
        if i in latent:
            n = latent_count(len(step))
            marker = encode(marker_text(n))
            items += marker + [LATENT] * n
            labels += marker + [IGNORE] * n
            is_marker += [True] * len(marker) + [False] * n
        else:
            items += step
            labels += step
            is_marker += [False] * len(step)
    items += final + [eos]
    labels += final + [eos]
    return MarkedExample(items, labels, is_marker + [False] * (len(final) + 1))


def collate(examples: list[MarkedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ids (pad where latent), the latent mask, the attention mask and the labels."""
    n, width = len(examples), max(len(e.items) for e in examples)
    ids = torch.full((n, width), pad_id)
    latent = torch.zeros((n, width), dtype=torch.bool)
    mask = torch.zeros((n, width), dtype=torch.long)
    labels = torch.full((n, width), IGNORE)
    marker = torch.zeros((n, width), dtype=torch.bool)
    for i, e in enumerate(examples):
        x = torch.tensor(e.items)
        latent[i, :len(x)] = x == LATENT
        ids[i, :len(x)] = torch.where(x == LATENT, pad_id, x)
        mask[i, :len(x)] = 1
        labels[i, :len(x)] = torch.tensor(e.labels)
        if e.marker:
            marker[i, :len(x)] = torch.tensor(e.marker)
    if latent[:, 0].any():
        raise LeanthinkError("a latent step cannot open a sequence (it needs a previous hidden state)")
    return {"ids": ids, "latent": latent, "mask": mask, "labels": labels, "marker": marker}


def rollout(model, projector, ids, latent, mask, fed: list | None = None) -> torch.Tensor:
    """Final hidden states of every position, latents fed through `projector` (see the module doc);
    `fed`, when a list, receives (column, rows, embeddings fed) for each latent column (tests)."""
    from transformers import DynamicCache

    decoder, embed = model.get_decoder(), model.get_input_embeddings()
    cache = DynamicCache(config=model.config)
    width = ids.shape[1]
    cols = sorted(set(latent.any(0).nonzero().flatten().tolist()))
    bounds, start = [], 0
    for c in cols:
        if c > start:
            bounds.append((start, c))
        bounds.append((c, c + 1))
        start = c + 1
    if start < width:
        bounds.append((start, width))
    hidden, last = [], None
    for a, b in bounds:
        x = embed(ids[:, a:b])
        if b == a + 1 and latent[:, a].any():
            rows = latent[:, a]
            projected = projector(last)
            x = torch.where(rows[:, None, None], projected[:, None].to(x.dtype), x)
            if fed is not None:
                fed.append((a, rows.nonzero().flatten().tolist(), projected[rows]))
        pos = torch.arange(a, b)[None].expand(ids.shape[0], -1)
        h = decoder(inputs_embeds=x, attention_mask=mask[:, :b], position_ids=pos, cache=cache,
                    use_cache=True).last_hidden_state
        hidden.append(h)
        last = h[:, -1]
    return torch.cat(hidden, dim=1)


def marked_loss(model, projector, ids, latent, mask, labels, marker, markers: bool = True) -> torch.Tensor:
    """Mean cross-entropy of the labelled tokens; `markers=False` leaves the marker tokens out (what the
    projector can change: the base alone decides whether it writes a marker)."""
    if not markers:
        labels = labels.masked_fill(marker, IGNORE)
    h = rollout(model, projector, ids, latent, mask)
    logits = model.lm_head(h[:, :-1]).float()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                             ignore_index=IGNORE)


def add_litereason_tokens(model, tokenizer) -> None:
    add_tokens(model, tokenizer, [OPEN, CLOSE])


@dataclass(frozen=True)
class LiteReasonConfig:
    """`leanthink train-litereason`: SFT of the Reasoning Projector, the base model frozen."""

    init: str = "builtin:arith"
    """The base reasoner (kept frozen)."""
    task: str = "arith"
    split: str = "train-easy"
    out: str = "runs/litereason"
    blocks: int = 3
    steps: int = 600
    batch_size: int = 32
    lr: float = 1e-3
    warmup: int = 30
    eval_every: int = 200
    eval_limit: int = 64
    """Held-out problems (of --eval-split) for the teacher-forced loss on steps and answers."""
    eval_split: str = "easy"
    policy_steps: int = 0
    """After the projector: steps of SFT of the base on the same traces (projector frozen), so a model
    that never saw the marker learns to write it (0: the paper's projector-only SFT)."""
    policy_lr: float = 2e-4
    placement: str = "random"
    """Which steps become markers: `random` (the paper: 10-25% of the gold trace's steps) or `settled`
    (ours: in the base's own correct traces, the lines after the answer has settled; train/placement.py)."""
    traces: int = 2048
    """`settled`: training problems whose own traces make the pool batches are drawn from."""
    rescale: bool = False
    """Projector output at the input embeddings' mean norm (models/projector.py)."""
    seed: int = 0
    threads: int | None = None
    bf16: bool = True
    """bf16 autocast for the forward passes (weights and optimisers stay fp32)."""

    def validate(self) -> "LiteReasonConfig":
        from .. import checks

        checks.integer("--blocks", self.blocks, 1, 16)
        checks.integer("--steps", self.steps, 1)
        checks.integer("--batch-size", self.batch_size, 1, 4096)
        checks.number("--lr", self.lr, 0, 1, low_open=True)
        checks.integer("--warmup", self.warmup, 0)
        checks.integer("--eval-every", self.eval_every, 0)
        checks.integer("--eval-limit", self.eval_limit, 1, 4096)
        checks.integer("--policy-steps", self.policy_steps, 0)
        checks.number("--policy-lr", self.policy_lr, 0, 1, low_open=True)
        checks.choice("--placement", self.placement, PLACEMENTS)
        checks.integer("--traces", self.traces, 1)
        checks.seed("--seed", self.seed)
        return self


PLACEMENTS = ("random", "settled")


def marked_batch(task, split: str, seed: int, index: int, size: int, tokenizer, style) -> dict[str, torch.Tensor]:
    """Batch `index` of a run: fresh problems, markers placed by a generator seeded by (seed, index)."""
    from .coconut import split_steps

    def enc(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    rng = random.Random(f"litereason/{seed}/{index}")
    out = []
    for p in task.load(split, limit=size, seed=seed * 1_000_003 + index):
        steps, final = split_steps(style.completion(task, p, "cot"), style.step_delimiter)
        ids = [enc(s) for s in steps]
        out.append(marked_example(enc(style.render(p, "cot")), ids, enc(final), choose_steps(len(ids), rng), enc,
                                  tokenizer.eos_token_id))
    return collate(out, tokenizer.pad_token_id)


def train_litereason(cfg: LiteReasonConfig, progress: bool = True):
    """Train the projector; writes the base checkpoint with `projector.safetensors` beside it."""
    import json
    import time
    from pathlib import Path

    from rich.progress import Progress

    from .. import checks
    from ..models.projector import ReasoningProjector, save_projector
    from ..models.registry import save_checkpoint
    from ..prompting import PromptStyle
    from .data import base_task, base_task_options
    from .sft import _load_model, init_recipe

    cfg.validate()
    task = base_task(cfg.task, cfg.init)
    for flag, split in (("--split", cfg.split), ("--eval-split", cfg.eval_split)):
        if split not in task.splits:
            raise LeanthinkError(f"{flag}: task {cfg.task!r} has no generated split {split!r}; "
                                 f"choose from {', '.join(task.splits)}")
    out = checks.output_dir("--out", Path(cfg.out))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model, tokenizer = _load_model(cfg.init)
    add_litereason_tokens(model, tokenizer)
    model.eval().requires_grad_(False)   # the base stays frozen while the projector learns
    torch.manual_seed(cfg.seed)
    projector = ReasoningProjector(model, cfg.blocks, rescale=cfg.rescale)
    style = PromptStyle("plain")
    if cfg.placement == "settled":
        batch_at, held_out = settled_batches(cfg, task, model, tokenizer, style, progress)
    else:
        held_out = marked_batch(task, cfg.eval_split, cfg.seed + 7919, 0, cfg.eval_limit, tokenizer, style)

        def batch_at(step: int):
            return marked_batch(task, cfg.split, cfg.seed, step, cfg.batch_size, tokenizer, style)

    def held_out_loss() -> float:
        with torch.no_grad():
            return round(marked_loss(model, projector, **held_out, markers=False).item(), 4)

    history = [{"stage": "projector", "step": 0, "eval_loss": held_out_loss()}]
    t0 = time.time()
    with Progress(disable=not progress) as bar:
        projector.requires_grad_(True)
        fit(projector, lambda k: marked_loss(model, projector, **batch_at(k), markers=False), cfg.steps, cfg.lr, cfg.warmup,
            "projector", bar, history, held_out_loss, cfg.eval_every, t0, cfg.bf16)
        projector.requires_grad_(False)
        if cfg.policy_steps:   # the base learns to write markers where the data has them (see the docs)
            model.requires_grad_(True)
            fit(model, lambda k: marked_loss(model, projector, **batch_at(cfg.steps + k)), cfg.policy_steps,
                cfg.policy_lr, cfg.warmup, "policy", bar, history, held_out_loss, cfg.eval_every, t0, cfg.bf16)
            model.requires_grad_(False)
    from dataclasses import asdict

    meta = json.loads(json.dumps(_base_meta(cfg.init)))
    meta.update(task_options=sorted(base_task_options(cfg.task, cfg.init).items()),
                litereason={"blocks": cfg.blocks, "rescale": cfg.rescale, "sft": asdict(cfg), "history": history,
                            "train_time_s": round(time.time() - t0, 1)}, init_from=init_recipe(cfg.init))
    save_checkpoint(model, tokenizer, out, meta)
    save_projector(projector, out)
    return out


def settled_batches(cfg: LiteReasonConfig, task, model, tokenizer, style, progress: bool):
    """(batch at step k, held-out batch) of settled placement: the base's own correct traces of
    `cfg.traces` training problems (and of `cfg.eval_limit` held-out ones), drawn by (seed, step)."""
    from rich.progress import Progress

    from ..engine.hf import HFEngine
    from .placement import settled_example, settled_traces

    engine = HFEngine.from_model(model, tokenizer, style, name=cfg.init)
    with Progress(disable=not progress) as bar:
        job = bar.add_task("own traces, settled lines", total=cfg.traces + cfg.eval_limit)
        done = lambda n: bar.advance(job, n)   # noqa: E731
        pool = [settled_example(engine, t) for t in settled_traces(
            engine, task, task.load(cfg.split, limit=cfg.traces, seed=cfg.seed), on_batch=done)]
        held = [settled_example(engine, t) for t in settled_traces(
            engine, task, task.load(cfg.eval_split, limit=cfg.eval_limit, seed=cfg.seed + 7919), on_batch=done)]
    if not pool or not held:
        raise LeanthinkError(f"--placement settled: the base {cfg.init!r} solves none of the problems greedily; "
                             "there are no own traces to place markers in")

    def batch_at(step: int):
        rng = random.Random(f"litereason/settled/{cfg.seed}/{step}")
        return collate(rng.sample(pool, min(cfg.batch_size, len(pool))), tokenizer.pad_token_id)

    return batch_at, collate(held, tokenizer.pad_token_id)


def fit(module, loss_at, steps: int, lr: float, warmup: int, stage: str, bar, history: list, evaluate,
        every: int, t0: float, bf16: bool = False) -> None:
    """AdamW on `module`'s trainable parameters for `steps` steps of `loss_at(step)` (under bf16 autocast
    if asked), with the recipe's schedule; an entry in `history` every `every` steps and at the end."""
    import json
    import time

    from .sft import lr_schedule

    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    job = bar.add_task(f"{stage} SFT", total=steps)
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_schedule(step, steps, lr, warmup)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_at(step)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        bar.update(job, completed=step + 1)
        if (every and (step + 1) % every == 0) or step + 1 == steps:
            entry = {"stage": stage, "step": step + 1, "loss": round(loss.item(), 4), "eval_loss": evaluate(),
                     "elapsed_s": round(time.time() - t0, 1)}
            history.append(entry)
            bar.console.print(json.dumps(entry), soft_wrap=True)


def _base_meta(init: str) -> dict:
    from ..models.registry import read_meta, resolve_model

    meta = read_meta(resolve_model(init))
    return {k: meta[k] for k in ("prompt_style", "task") if k in meta}
