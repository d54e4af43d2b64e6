"""L1 / LCPO (Aggarwal & Welleck 2025, ../shared/research.md §5): a reasoner told how long to think.

Two steps, both on the `l1` prompt ("... Think for T tokens.", methods/controlled.py):

1. Warm start, `leanthink train --recipe l1`: SFT on correct chains of every length the task can
   write (`task.chain_variants`: for arith the steps compact or restated, followed by any number of
   re-checks), each prompt naming the chain's own length T (its tokens, the answer line and end of
   text: what the engine counts as generated). The paper starts RL from a model that can already
   reason at length; a 2.7M reasoner that only ever wrote one trace never samples a shorter one, so
   RL alone would have nothing to reinforce.
2. LCPO, `leanthink train-l1`: GRPO with reward = correct − α·|produced − T| / T for targets T drawn
   uniformly from [low, high] per prompt. The paper's α·|n − T| in absolute tokens suits thousands of
   tokens; ours are tens, so the gap is relative. Advantages, loss and the single on-policy update are
   those of train/grpo.py (group-normalised rewards, one on-policy update per batch, no KL). TRL's GRPOTrainer would fit plain
   generation, but samples here go through leanthink's engine so the reward uses the same
   generated-token count the benchmark reports, and the loop is shared with LiteReason's RL.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from .. import checks
from ..errors import LeanthinkError
from ..methods.controlled import target_prompt
from .data import base_task, collate, sft_example


def completion_ids(tokenizer, body: str, answer: str) -> list[int]:
    text = (body + "\n" if body else "") + f"Answer: {answer}"
    return tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


@dataclass
class Recipe:
    """The `--recipe l1` warm start (train/recipes.py interface)."""

    name: str = "l1"

    def example(self, task, problem, mode, tokenizer, style):
        if mode != "cot":
            return sft_example(task, problem, mode, tokenizer, style)
        body = random.Random(f"l1/{problem.id}").choice(task.chain_variants(problem))
        target = completion_ids(tokenizer, body, problem.answer)
        controlled = replace(problem, question=target_prompt(problem.question, len(target)))
        p_ids = tokenizer(style.render(controlled, "cot"), add_special_tokens=False)["input_ids"]
        return p_ids + target, [-100] * len(p_ids) + target

    def collate(self, examples, pad_id):
        return collate(examples, pad_id)

    def meta(self) -> dict:
        return {"target": "generated tokens (reasoning, answer line, end of text)"}


def l1_recipe(cfg, model, tokenizer) -> Recipe:
    from ..tasks import get_task

    task = get_task(cfg.task, **dict(cfg.task_options))
    if not hasattr(task, "chain_variants"):
        raise LeanthinkError(f"--recipe l1 needs chains of several lengths; task {cfg.task!r} cannot write them "
                             "(no chain_variants)")
    return Recipe()


@dataclass(frozen=True)
class L1Config:
    init: str = "runs/arith-l1-sft"
    """A `--recipe l1` checkpoint."""
    task: str = "arith"
    split: str = "train"
    out: str = "runs/arith-l1"
    steps: int = 60
    prompts: int = 8
    group: int = 8
    temperature: float = 1.0
    lr: float = 2e-5
    alpha: float = 1.0
    """Weight of the relative length gap |produced − T| / T in the reward."""
    low: int = 40
    high: int = 160
    """Targets T are drawn uniformly from [low, high]."""
    max_new_tokens: int = 256
    eval_split: str = "search"
    eval_limit: int = 50
    eval_targets: str = "60,90,120"
    seed: int = 0
    threads: int | None = None

    def validate(self) -> "L1Config":
        for flag, v, lo in (("--steps", self.steps, 1), ("--prompts", self.prompts, 1), ("--group", self.group, 2),
                            ("--max-new-tokens", self.max_new_tokens, 2), ("--eval-limit", self.eval_limit, 1),
                            ("--low", self.low, 1)):
            checks.integer(flag, v, lo)
        checks.integer("--high", self.high, self.low, self.max_new_tokens)
        checks.number("--temperature", self.temperature, 0, 10, low_open=True)
        checks.number("--lr", self.lr, 0, 1, low_open=True)
        checks.number("--alpha", self.alpha, 0, 100)
        checks.seed("--seed", self.seed)
        for t in self.targets():
            checks.integer("--eval-targets", t, 1, self.max_new_tokens)
        return self

    def targets(self) -> list[int]:
        try:
            return [int(t) for t in self.eval_targets.split(",")]
        except ValueError:
            raise LeanthinkError(f"--eval-targets {self.eval_targets!r}: expected integers like 60,90,120") from None


def reward(correct: bool, produced: int, target: int, alpha: float) -> float:
    return float(correct) - alpha * abs(produced - target) / target


def fidelity(engine, task, problems, targets, max_new_tokens: int) -> dict:
    """Accuracy and median relative length error |produced − T| / T per target (greedy)."""
    from ..methods import get_method

    out = {}
    for t in targets:
        res = get_method("l1", target=t, max_new_tokens=max_new_tokens, batch_size=64).solve(engine, task, problems)
        ok = [task.grade(task.extract(r.output), p) for r, p in zip(res, problems)]
        errs = [abs(r.usage.generated_tokens - t) / t for r in res]
        out[str(t)] = {"accuracy": round(statistics.fmean(ok), 4), "median_error": round(statistics.median(errs), 4),
                       "produced": round(statistics.fmean(r.usage.generated_tokens for r in res), 1)}
    return out


def sample(engine, prompts: list[str], seeds: list[int], temperature: float, max_new_tokens: int):
    """(texts, sampled ids with the end of text when it ended, generated-token counts, prompt ids)."""
    from ..engine import SamplingParams

    seqs = engine.prefill(prompts, seeds=seeds)
    prompt_ids = [seqs.token_ids(r) for r in range(len(prompts))]
    comps = engine.extend(seqs, SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature))
    eos = engine.tokenizer.eos_token_id
    ids = [list(c.token_ids) + ([eos] if c.finish_reason == "eos" else []) for c in comps]
    return [c.text for c in comps], ids, [u.generated_tokens for u in engine.usage(seqs)], prompt_ids


def policy_loss(model, examples: list[tuple[list[int], list[int]]], adv: list[float], pad_id: int):
    """−Σ A × log π(sampled token) over the sampled tokens, divided by their number."""
    from .grpo import advantage_loss

    batch = collate([(p + s, [-100] * len(p) + s) for p, s in examples], pad_id)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return advantage_loss(logits[:, :-1], batch["labels"][:, 1:], adv)


def train_l1(cfg: L1Config, progress: bool = True) -> Path:
    from rich.progress import Progress

    from ..engine.hf import HFEngine
    from ..models.registry import read_meta, resolve_model, save_checkpoint
    from .grpo import advantages

    cfg.validate()
    meta = read_meta(resolve_model(cfg.init))
    if "l1" not in meta:
        raise LeanthinkError(f"--init {cfg.init}: not an L1 warm start (train one with `leanthink train --recipe l1`)")
    task = base_task(cfg.task, cfg.init)
    for flag, split in (("--split", cfg.split), ("--eval-split", cfg.eval_split)):
        if split not in task.splits:
            raise LeanthinkError(f"{flag}: task {cfg.task!r} has no generated split {split!r}")
    out = checks.output_dir("--out", Path(cfg.out))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    engine = HFEngine.load(cfg.init, dtype="float32")
    model, tok, style = engine.model, engine.tokenizer, engine.prompt_style
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    rng = random.Random(f"l1-targets/{cfg.seed}")
    eval_problems = task.load(cfg.eval_split, limit=cfg.eval_limit, seed=cfg.seed)
    history, t0 = [{"step": 0, **fidelity(engine, task, eval_problems, cfg.targets(), cfg.max_new_tokens)}], time.time()
    with Progress(disable=not progress) as bar:
        job = bar.add_task("LCPO", total=cfg.steps)
        for step in range(1, cfg.steps + 1):
            problems = task.load(cfg.split, limit=cfg.prompts, seed=cfg.seed * 1_000_003 + step)
            targets = [rng.randint(cfg.low, cfg.high) for _ in problems]
            prompts = [style.render(replace(p, question=target_prompt(p.question, t)), "cot", tok)
                       for p, t in zip(problems, targets) for _ in range(cfg.group)]
            seeds = [cfg.seed * 7919 + step * 1000 + i for i in range(len(prompts))]
            model.eval()
            texts, ids, produced, prompt_ids = sample(engine, prompts, seeds, cfg.temperature, cfg.max_new_tokens)
            model.train()
            gold = [p for p in problems for _ in range(cfg.group)]
            tgt = [t for t in targets for _ in range(cfg.group)]
            right = [task.grade(task.extract(x), p) for x, p in zip(texts, gold)]
            rewards = [reward(c, n, t, cfg.alpha) for c, n, t in zip(right, produced, tgt)]
            adv = advantages(rewards, cfg.group)
            keep = [i for i, a in enumerate(adv) if abs(a) > 1e-6 and ids[i]]
            loss = 0.0
            if keep:
                value = policy_loss(model, [(prompt_ids[i], ids[i]) for i in keep], [adv[i] for i in keep],
                                    tok.pad_token_id)
                value.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                opt.zero_grad(set_to_none=True)
                loss = value.item()
            errs = [abs(n - t) / t for n, t in zip(produced, tgt)]
            history.append({"step": step, "reward": round(statistics.fmean(rewards), 4),
                            "accuracy": round(statistics.fmean(right), 4),
                            "median_error": round(statistics.median(errs), 4), "loss": round(loss, 5),
                            "elapsed_s": round(time.time() - t0, 1)})
            bar.update(job, completed=step)
            if step % max(1, cfg.steps // 4) == 0 or step == cfg.steps:
                model.eval()
                history.append({"step": step, **fidelity(engine, task, eval_problems, cfg.targets(), cfg.max_new_tokens)})
                bar.console.print(json.dumps(history[-1]), soft_wrap=True)
    meta.setdefault("l1", {})["lcpo"] = {"config": asdict(cfg), "history": history,
                                         "train_time_s": round(time.time() - t0, 1)}
    save_checkpoint(model, tok, out, meta)
    return out
