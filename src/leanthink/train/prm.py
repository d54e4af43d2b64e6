"""`leanthink train-prm`: a process reward model in the Qwen2.5-Math-PRM format, trained on the
policy's own solutions with step labels from exact checking.

1. Data: the policy (`--policy`) solves generated training problems `--samples` times at each of
   `--temperatures`; each step is labelled by the task (`Task.step_labels`: step i is right iff the
   first i steps are the gold trace's), and the gold trace is added as a positive example. The data
   is cached in OUT/data/ and reused when the command runs again. `--corruptions` hard negatives
   per problem (a gold trace with one number changed, cut after that step) are added.
2. Model: the decoder of `--init` (a causal LM; its own knowledge of the task is where a PRM starts,
   as Qwen's PRM starts from Qwen2.5-Math), the step separator token added to its tokenizer, and a
   new two-class head.
3. Training: cross-entropy of P(step right) at the separators. Half of the examples are written the
   way `model` aggregation reads a solution (the prefix as one step, one separator at the end, the
   label of its last step), so the PRM serves both readings.
4. The result is scored on held-out problems (step-level ROC AUC) and saved with `save_prm`, so the
   loader that reads a real Qwen PRM reads it.
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .. import checks
from ..errors import LeanthinkError

SEPARATOR = "<extra_0>"


@dataclass(frozen=True)
class PRMConfig:
    task: str = "arith"
    split: str = "train"
    """Generated split the training problems come from."""
    policy: str = "builtin:arith"
    """The reasoner whose solutions are labelled (the policy the PRM will guide)."""
    init: str = "builtin:arith"
    """Causal LM whose decoder the PRM starts from."""
    out: str = "runs/prm"
    problems: int = 2000
    samples: int = 4
    temperatures: tuple[float, ...] = (0.8, 1.2)
    eval_problems: int = 200
    eval_split: str = "hard"
    steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-4
    warmup: int = 50
    joined_fraction: float = 0.5
    """Share of examples written as one step (for `model` aggregation)."""
    corruptions: int = 2
    """Hard negatives per training problem: the gold trace with one number of one step changed and
    cut after that step (labels from the task's exact check, so a change that happens to be right
    is labelled right)."""
    seed: int = 0
    threads: int | None = None

    def validate(self) -> "PRMConfig":
        checks.integer("--problems", self.problems, 1, 100_000)
        checks.integer("--samples", self.samples, 1, 64)
        checks.integer("--eval-problems", self.eval_problems, 1, 100_000)
        checks.integer("--steps", self.steps, 1, 10_000_000)
        checks.integer("--batch-size", self.batch_size, 1, 4096)
        checks.number("--lr", self.lr, 0.0, 1.0, low_open=True)
        checks.integer("--warmup", self.warmup, 0)
        checks.number("--joined-fraction", self.joined_fraction, 0.0, 1.0)
        checks.integer("--corruptions", self.corruptions, 0, 64)
        checks.seed("--seed", self.seed)
        if not self.temperatures:
            raise LeanthinkError("--temperatures needs at least one temperature")
        for t in self.temperatures:
            checks.number("--temperatures", t, 0.0, 10.0)
        if self.threads is not None:
            import os

            checks.integer("--threads", self.threads, 1, os.cpu_count() or 1)
        return self


def rollouts(cfg: PRMConfig, task, split: str, n: int, seed: int, path: Path, progress: bool) -> list[dict]:
    """Labelled solutions of the policy on n problems (cached in `path`)."""
    if path.exists():
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    from ..engine import SamplingParams, load_engine, stream_seed

    engine = load_engine(cfg.policy)
    style = engine.prompt_style
    problems = task.load(split=split, limit=n, seed=seed)
    records = []
    from rich.progress import Progress

    with Progress(disable=not progress) as bar:
        job = bar.add_task(f"rollouts ({split})", total=len(problems))
        for start in range(0, len(problems), 8):
            chunk = problems[start:start + 8]
            prompts = [style.render(p, "cot", engine.tokenizer) for p in chunk]
            for t in cfg.temperatures:
                seqs = engine.prefill(prompts, seeds=[stream_seed(seed, p.id, t) for p in chunk])
                engine.fork(seqs, cfg.samples)
                outs = engine.extend(seqs, SamplingParams(max_new_tokens=256, temperature=t))
                for i, c in enumerate(outs):
                    p = chunk[i // cfg.samples]
                    steps = [line for line in c.text.split("\n") if line.strip()]
                    records.append({"question": p.question, "steps": steps,
                                    "labels": task.step_labels(p, steps), "policy": True})
            for p in chunk:   # the gold trace: every step right
                gold = [line for line in task.cot_target(p).split("\n") if line.strip()]
                records.append({"question": p.question, "steps": gold, "labels": [True] * len(gold),
                                "policy": False})
            bar.update(job, advance=len(chunk))
    path.parent.mkdir(parents=True, exist_ok=True)
    from ..fileio import write_text

    write_text(path, "".join(json.dumps(r) + "\n" for r in records))
    return records


_NUMBER = re.compile(r"\d+")


def corruptions(task, split: str, n: int, seed: int, k: int) -> list[dict]:
    """k hard negatives per problem: the gold trace up to a random step whose one number is moved by
    1-9 (never below 0), labelled by the task. They teach what the policy's own errors teach more
    slowly: a step that reads a wrong operand or writes a wrong result is wrong."""
    rng = random.Random(seed)
    out = []
    for p in task.load(split=split, limit=n, seed=seed) if k else []:
        gold = [line for line in task.cot_target(p).split("\n") if line.strip()]
        for _ in range(k):
            i = rng.randrange(len(gold))
            spots = list(_NUMBER.finditer(gold[i]))
            if not spots:
                continue
            m = rng.choice(spots)
            value = int(m.group())
            new = value + rng.choice([d for d in range(-9, 10) if d and value + d >= 0])
            steps = gold[:i] + [gold[i][:m.start()] + str(new) + gold[i][m.end():]]
            out.append({"question": p.question, "steps": steps, "labels": task.step_labels(p, steps),
                        "policy": False})
    return out


def encode(record: dict, tokenizer, sep: int, joined: bool, rng: random.Random) -> tuple[list[int], list[int], list[int]]:
    """(ids, separator positions, labels). Separated: every step stripped and followed by the
    separator; joined: the first k steps as one text, one separator, the label of step k."""
    ids = tokenizer(f"{record['question']}\nReasoning:\n", add_special_tokens=False)["input_ids"]
    steps, labels = record["steps"], record["labels"]
    if not steps:
        return ids + [sep], [len(ids)], [0]
    if joined:
        k = rng.randint(1, len(steps))
        ids += tokenizer("\n".join(s.strip() for s in steps[:k]), add_special_tokens=False)["input_ids"] + [sep]
        return ids, [len(ids) - 1], [int(labels[k - 1])]
    positions = []
    for s in steps:
        ids += tokenizer(s.strip(), add_special_tokens=False)["input_ids"] + [sep]
        positions.append(len(ids) - 1)
    return ids, positions, [int(x) for x in labels]


def step_auc(base, head, tokenizer, sep: int, records: list[dict]) -> dict:
    """ROC AUC of P(right) against the step labels on held-out policy solutions, in both readings."""
    from sklearn.metrics import roc_auc_score

    def auc(ys, ps):
        return round(float(roc_auc_score(ys, ps)), 4) if 0 < sum(ys) < len(ys) else None

    out = {}
    for joined in (False, True):
        ys, ps, last_y, last_p = [], [], [], []
        rng = random.Random(0)
        for r in records:
            if not r["policy"] or not r["steps"]:
                continue
            ids, pos, labels = encode(r, tokenizer, sep, joined, rng)
            with torch.no_grad():
                hidden = base(input_ids=torch.tensor([ids])).last_hidden_state[0, pos]
                ps += torch.softmax(head(hidden), -1)[:, 1].tolist()
            ys += labels
            last_y.append(int(all(r["labels"])))
            last_p.append(ps[-1])
        key = "auc_joined" if joined else "auc_steps"
        out[key] = auc(ys, ps)
        out[key.replace("auc", "right_share")] = round(sum(ys) / max(1, len(ys)), 4)
        if not joined:
            # what best-of-n and the final pick of a search rest on: the last step's score against
            # whether the whole solution is right
            out["auc_solution"] = auc(last_y, last_p)
    return out


def train_prm(cfg: PRMConfig, progress: bool = True) -> Path:
    from ..engine.loading import load_checkpoint
    from ..scorers.prm import PRMFormat, reward_head, save_prm
    from ..tasks import get_task
    from .sft import lr_schedule

    cfg.validate()
    out = checks.output_dir("--out", cfg.out)
    task = get_task(cfg.task)
    for flag, split in (("--split", cfg.split), ("--eval-split", cfg.eval_split)):
        if split not in task.splits:
            raise LeanthinkError(f"{flag}: task {cfg.task!r} has no generated split {split!r}; choose from "
                                 f"{', '.join(task.splits) or 'none (it reads data files)'}")
    if not task.exact_steps:
        raise LeanthinkError(f"task {cfg.task!r} cannot label steps exactly; train-prm needs a generated task")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t0 = time.time()
    train = rollouts(cfg, task, cfg.split, cfg.problems, cfg.seed, out / "data" / "train.jsonl", progress)
    held = rollouts(cfg, task, cfg.eval_split, cfg.eval_problems, cfg.seed + 1, out / "data" / "eval.jsonl", progress)
    train = train + corruptions(task, cfg.split, cfg.problems, cfg.seed, cfg.corruptions)
    loaded = load_checkpoint(cfg.init, device="cpu", dtype="float32")
    tokenizer, lm = loaded.tokenizer, loaded.model
    tokenizer.add_special_tokens({"additional_special_tokens": [SEPARATOR]})
    from ..engine.loading import quiet_transformers

    with quiet_transformers():   # its note on how new rows are initialised is not for the user's log
        lm.resize_token_embeddings(len(tokenizer))
    sep = tokenizer.convert_tokens_to_ids(SEPARATOR)
    base = lm.get_decoder()
    torch.manual_seed(cfg.seed)
    head = reward_head(base.config.hidden_size)
    params = list(base.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.01)
    rng = random.Random(cfg.seed)
    history = []
    from rich.progress import Progress

    with Progress(disable=not progress) as bar:
        job = bar.add_task("train-prm", total=cfg.steps)
        for step in range(cfg.steps):
            for g in opt.param_groups:
                g["lr"] = lr_schedule(step, cfg.steps, cfg.lr, cfg.warmup)
            batch = [encode(r, tokenizer, sep, rng.random() < cfg.joined_fraction, rng)
                     for r in rng.sample(train, min(cfg.batch_size, len(train)))]
            loss = _loss(base, head, batch, tokenizer.pad_token_id or 0)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if not torch.isfinite(loss):
                raise LeanthinkError(f"train-prm: the loss became {loss.item()} at step {step}; lower --lr")
            if (step + 1) % max(1, cfg.steps // 5) == 0 or step + 1 == cfg.steps:
                base.eval()
                history.append({"step": step + 1, "loss": round(loss.item(), 4),
                                **step_auc(base, head, tokenizer, sep, held)})
                base.train()
                bar.console.print(json.dumps(history[-1]))
            bar.update(job, advance=1)
    meta = {"task": cfg.task, "prompt_style": "plain", "prm_config": {**asdict(cfg), "temperatures": list(cfg.temperatures)},
            "history": history, "train_time_s": round(time.time() - t0, 1),
            "data": {"train_solutions": len(train), "eval_solutions": len(held),
                     "hard_negatives": sum(1 for r in train if not r["policy"] and not all(r["labels"]))}}
    lm.config.eos_token_id = tokenizer.eos_token_id
    return save_prm(base.eval(), head.eval(), tokenizer, out / "model",
                    PRMFormat(step_separator=SEPARATOR, system=None, chat=False), meta)


def _loss(base, head, batch, pad: int) -> torch.Tensor:
    width = max(len(ids) for ids, _, _ in batch)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    rows, cols, labels = [], [], []
    for i, (x, pos, y) in enumerate(batch):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
        rows += [i] * len(pos)
        cols += pos
        labels += y
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = base(input_ids=ids, attention_mask=mask).last_hidden_state[rows, cols]
        logits = head(hidden.float())
    return torch.nn.functional.cross_entropy(logits.float(), torch.tensor(labels))
