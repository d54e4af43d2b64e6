"""`leanthink train-litereason-rl`: GRPO in which the policy decides where to think latently (LiteReason
step 3, ../shared/research.md §4).

Each step: `prompts` training problems, `group` samples of each from the current policy through our
engine (`--method litereason` at `temperature`; markers and their N are ordinary sampled tokens, the
latents run through the frozen projector). Reward = correct − length_penalty × (generated + latent
tokens) / max_new_tokens. Advantage = (reward − group mean) / (group std + 1e-4); a group whose
rewards are all equal teaches nothing. Loss = −Σ advantage × log π(sampled token) over the sampled
tokens, divided by their number: one on-policy update per batch (so PPO's ratio is 1 and its clip
never acts) and no KL term, as in Dr. GRPO. Log-probs are recomputed by the same segmented latent
rollout as the SFT, so gradients reach the base through the latent inputs too. Between rounds the
projector is refreshed by SFT with the base frozen, as the paper does, on the round's right samples
that think latently: the placements the policy chose (none: no refresh).

TRL's GRPOTrainer is not used: its generation (transformers `generate` or vLLM) cannot run latent
steps through a projector in the middle of a sequence, and its loss recomputes log-probs with a plain
forward that would see placeholder tokens where the latents were.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from .. import checks
from ..errors import LeanthinkError
from .lightthinker import IGNORE


@dataclass(frozen=True)
class GRPOConfig:
    init: str = "runs/litereason"
    """A `train-litereason` checkpoint (base + projector)."""
    task: str = "arith"
    split: str = "train-easy"
    out: str = "runs/litereason-rl"
    rounds: int = 3
    steps: int = 20
    """GRPO steps per round."""
    prompts: int = 8
    group: int = 8
    temperature: float = 1.0
    lr: float = 2e-5
    length_penalty: float = 0.5
    max_new_tokens: int = 96
    refresh_steps: int = 0
    """Projector SFT steps between rounds (0: none; the paper refreshes, but on builtin:arith-verbose a
    refresh of 30 steps took greedy accuracy from 85% to 30%: docs/methods/litereason.md)."""
    refresh_lr: float = 5e-4
    eval_split: str = "easy"
    eval_limit: int = 100
    seed: int = 0
    threads: int | None = None

    def validate(self) -> "GRPOConfig":
        for flag, v, lo in (("--rounds", self.rounds, 1), ("--steps", self.steps, 1), ("--prompts", self.prompts, 1),
                            ("--group", self.group, 2), ("--max-new-tokens", self.max_new_tokens, 1),
                            ("--refresh-steps", self.refresh_steps, 0), ("--eval-limit", self.eval_limit, 1)):
            checks.integer(flag, v, lo)
        checks.number("--temperature", self.temperature, 0, 10, low_open=True)
        checks.number("--lr", self.lr, 0, 1, low_open=True)
        checks.number("--refresh-lr", self.refresh_lr, 0, 1, low_open=True)
        checks.number("--length-penalty", self.length_penalty, 0, 100)
        checks.seed("--seed", self.seed)
        return self


def advantages(rewards: list[float], group: int) -> list[float]:
    """Group-normalised rewards (consecutive blocks of `group`)."""
    out = []
    for i in range(0, len(rewards), group):
        block = rewards[i:i + group]
        mean, std = statistics.fmean(block), statistics.pstdev(block)
        out += [(r - mean) / (std + 1e-4) for r in block]
    return out


def policy_loss(model, projector, examples: list[tuple[list[int], int]], adv: list[float], pad_id: int):
    """−Σ A × log π over the sampled tokens (items after the prompt that are tokens), per token."""
    from .litereason import LATENT, MarkedExample, collate, rollout

    marked = [MarkedExample(items, [IGNORE] * prompt + [t if t != LATENT else IGNORE for t in items[prompt:]])
              for items, prompt in examples]
    b = collate(marked, pad_id)
    h = rollout(model, projector, b["ids"], b["latent"], b["mask"])
    return advantage_loss(model.lm_head(h[:, :-1]), b["labels"][:, 1:], adv)


def marker_mask(items: list[int], open_id: int, close_id: int) -> list[bool]:
    """Where the marker tokens are: from each `<implicit_thought>` to its `</implicit_thought>`."""
    out, inside = [], False
    for t in items:
        inside = inside or t == open_id
        out.append(inside)
        inside = inside and t != close_id
    return out


def refresh_loss(model, projector, samples: list[tuple[list[int], int]], seed: int, rnd: int, step: int,
                 tokenizer, size: int = 32):
    """The projector's refresh: its SFT loss (base frozen, marker tokens left out) on a batch drawn from
    the round's right samples that think latently: the placements the policy itself chose."""
    import random

    from .litereason import CLOSE, LATENT, OPEN, MarkedExample, collate, marked_loss

    ids = tokenizer.convert_tokens_to_ids([OPEN, CLOSE])
    rng = random.Random(f"refresh/{seed}/{rnd}/{step}")
    pick = rng.sample(samples, min(size, len(samples)))
    marked = [MarkedExample(items, [IGNORE] * prompt + [t if t != LATENT else IGNORE for t in items[prompt:]],
                            marker_mask(items, *ids)) for items, prompt in pick]
    return marked_loss(model, projector, **collate(marked, tokenizer.pad_token_id), markers=False)


def advantage_loss(logits, labels, adv: list[float]):
    """−Σ A × log π(label) over the labelled positions (labels ≠ IGNORE), divided by their number;
    `logits[:, t]` predicts `labels[:, t]`, one advantage per row."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    sel = labels != IGNORE
    picked = logp.gather(-1, labels.clamp(min=0)[..., None])[..., 0]
    a = torch.tensor(adv, dtype=picked.dtype)[:, None]
    return -(a * picked * sel).sum() / sel.sum().clamp(min=1)


def train_grpo(cfg: GRPOConfig, progress: bool = True) -> Path:
    from rich.progress import Progress

    from ..engine.hf import HFEngine
    from ..methods import get_method
    from ..methods.litereason import projector_for
    from ..models.projector import save_projector
    from ..models.registry import read_meta, resolve_model, save_checkpoint
    from .data import base_task
    from .litereason import fit

    cfg.validate()
    task = base_task(cfg.task, cfg.init)
    for flag, split in (("--split", cfg.split), ("--eval-split", cfg.eval_split)):
        if split not in task.splits:
            raise LeanthinkError(f"{flag}: task {cfg.task!r} has no generated split {split!r}")
    out = checks.output_dir("--out", Path(cfg.out))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    engine = HFEngine.load(cfg.init, dtype="float32")
    model, tok = engine.model, engine.tokenizer
    projector = projector_for(engine)
    meta = read_meta(resolve_model(cfg.init))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    history, t0, k = [], time.time(), 0
    own: list[tuple[list[int], int]] = []   # the round's right samples that think latently

    def evaluate() -> dict:
        problems = task.load(cfg.eval_split, limit=cfg.eval_limit, seed=cfg.seed)
        res = get_method("litereason", max_new_tokens=cfg.max_new_tokens, batch_size=64).solve(engine, task, problems)
        ok = [task.grade(task.extract(r.output), p) for r, p in zip(res, problems)]
        return {"eval_accuracy": round(sum(ok) / len(ok), 4),
                "eval_generated": round(statistics.fmean(r.usage.generated_tokens for r in res), 2),
                "eval_latent": round(statistics.fmean(r.usage.latent_tokens for r in res), 2)}

    history.append({"round": 0, **evaluate()})
    with Progress(disable=not progress) as bar:
        for rnd in range(cfg.rounds):
            job = bar.add_task(f"GRPO round {rnd + 1}", total=cfg.steps)
            for step in range(cfg.steps):
                k += 1
                problems = task.load(cfg.split, limit=cfg.prompts, seed=cfg.seed * 1_000_003 + k)
                copies = [replace(p, id=f"{p.id}#{g}") for p in problems for g in range(cfg.group)]
                sampler = get_method("litereason", temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens,
                                     batch_size=len(copies), seed=cfg.seed + k, record_items=True)
                res = sampler.solve(engine, task, copies)
                right = [float(task.grade(task.extract(r.output), p)) for r, p in zip(res, copies)]
                if cfg.refresh_steps:
                    own += [(r.trace["items"], r.usage.prompt_tokens) for r, c in zip(res, right)
                            if c and r.usage.latent_tokens]
                length = [(r.usage.generated_tokens + r.usage.latent_tokens) / cfg.max_new_tokens for r in res]
                rewards = [c - cfg.length_penalty * n for c, n in zip(right, length)]
                adv = advantages(rewards, cfg.group)
                keep = [i for i, a in enumerate(adv) if abs(a) > 1e-6]
                loss = 0.0
                if keep:
                    examples = [(res[i].trace["items"], res[i].usage.prompt_tokens) for i in keep]
                    value = policy_loss(model, projector, examples, [adv[i] for i in keep], tok.pad_token_id)
                    value.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    loss = value.item()
                latent = sum(r.usage.latent_tokens for r in res) / max(1, sum(
                    r.usage.generated_tokens + r.usage.latent_tokens for r in res))
                history.append({"round": rnd + 1, "step": step + 1, "reward": round(statistics.fmean(rewards), 4),
                                "accuracy": round(statistics.fmean(right), 4), "latent_share": round(latent, 4),
                                "loss": round(loss, 5), "elapsed_s": round(time.time() - t0, 1)})
                bar.update(job, completed=step + 1)
            if cfg.refresh_steps and own:   # the projector follows the policy's new hidden states
                model.requires_grad_(False)
                projector.requires_grad_(True)
                fit(projector, lambda i: refresh_loss(model, projector, own, cfg.seed, rnd, i, tok),
                    cfg.refresh_steps, cfg.refresh_lr, 5, f"refresh {rnd + 1}", bar, [], lambda: None, 0, t0)
                projector.requires_grad_(False)
                model.requires_grad_(True)
            own = []
            history.append({"round": rnd + 1, **evaluate(), "elapsed_s": round(time.time() - t0, 1)})
            bar.console.print(json.dumps(history[-1]), soft_wrap=True)
    meta.setdefault("litereason", {})["rl"] = {"config": asdict(cfg), "history": history,
                                               "train_time_s": round(time.time() - t0, 1)}
    save_checkpoint(model, tok, out, meta)
    save_projector(projector, out)
    return out
