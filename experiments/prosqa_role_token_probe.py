"""The ProsQA parent lookup with "role tokens": does it become learnable once subject and object are
adjacent tokens, as in gapless associative recall?

    .venv/bin/python experiments/prosqa_role_token_probe.py --shape 2x128x4 --batch-size 64 --lr 1e-3 --steps 800
    .venv/bin/python experiments/prosqa_role_token_probe.py --random-facts 5 --shape 2x128x4 --batch-size 128 \
        --lr 1e-3 --constant-lr --steps 500

The built-in tokenizer is extended with one token per concept for the object phrase (" is a tumpus")
and a single token for every concept or person name that BPE splits (" boompus", " Oliver"). The
sentence "Every bompus is a tumpus." becomes `Every`, ` bompus`, ` is a tumpus`, `.`: the parent sits
right before the object, with no " is a" between them (experiments/recall_density_probe.py --gap
shows what that gap costs). One exception: a name that opens the question has no leading space, so
BPE may still split it ("Oliver" is five tokens there). Each training example is the question's sentences followed by up to
--queries lookups `\\nWho is a tumpus` -> ` bompus.` for nodes with exactly one parent; all answers
are supervised. Held-out: 300 examples with one query, first answer token scored greedily.
--random-facts N replaces the ProsQA graph by N sentences over 2N distinct random concepts (every
key unique: associative recall written as ProsQA text). --compact-ids renumbers the token ids in
order of first use, so the model's vocabulary is 256 ids instead of the tokenizer's ~1,100.

docs/builtin-models.md ("Third round") has the results: unlike token-level recall of the same shape,
this stays near chance for hundreds of steps.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import replace

import torch

from leanthink.errors import LeanthinkError
from leanthink.models.registry import builtin_tokenizer
from leanthink.models.tiny import SIZES as MODEL_SIZES
from leanthink.models.tiny import llama_config, parse_size
from leanthink.tasks.prosqa import SIZES, ProsQATask, question_parents
from leanthink.tasks.prosqa_gen import CONCEPTS, generate_item
from leanthink.train.data import collate
from leanthink.train.sft import (
    add_task_tokens,
    first_label_accuracy,
    lr_schedule,
    sft_step,
)


def role_tokenizer():
    """The built-in tokenizer plus ProsQA's role tokens (`leanthink train --task-tokens`), except `Who`:
    the probe's queries are spelled with BPE pieces, as in every run the docs report."""
    tok = builtin_tokenizer()
    add_task_tokens(tok, [w for w in ProsQATask().added_tokens() if w != "Who"])
    return tok


def facts_and_parents(split: str, random_facts: int, rng: random.Random) -> tuple[str, dict[str, list[str]]]:
    if random_facts:
        words = rng.sample(list(CONCEPTS), 2 * random_facts)
        facts = " ".join(f"Every {words[i]} is a {words[random_facts + i]}." for i in range(random_facts))
    else:
        facts = generate_item(SIZES[split], rng)["question"].rsplit(" Is ", 1)[0]
    return facts, question_parents(facts)


def example(tok, split: str, random_facts: int, queries: int, rng: random.Random,
            answer_only: bool = False, random_fraction: float = 1.0, query_suffix: str = "") -> tuple[list[int], list[int]]:
    """(ids, labels): the sentences, then up to `queries` unique-parent lookups, answers supervised
    (with `answer_only`, only the answer word: not the "." after it nor the final EOS)."""
    if random_facts and random_fraction < 1 and rng.random() >= random_fraction:
        random_facts = 0  # this example is a ProsQA graph (a mixed run)
    while True:
        facts, parents = facts_and_parents(split, random_facts, rng)
        unique = sorted(k for k, v in parents.items() if len(v) == 1)
        if unique:
            break
    ids = tok(facts, add_special_tokens=False)["input_ids"]
    labels = [-100] * len(ids)
    for node in rng.sample(unique, min(queries, len(unique))):
        q_ids = tok(f"\nWho is a {node}{query_suffix}", add_special_tokens=False)["input_ids"]
        a_ids = tok(f" {parents[node][0]}.", add_special_tokens=False)["input_ids"]
        a_labels = a_ids[:1] + [-100] * (len(a_ids) - 1) if answer_only else a_ids
        ids, labels = ids + q_ids + a_ids, labels + [-100] * len(q_ids) + a_labels
    return ids + [tok.eos_token_id], labels + [-100 if answer_only else tok.eos_token_id]


class Compact:
    """Renumbers token ids in order of first use (id 0 is the pad id)."""

    def __init__(self, pad_id: int, size: int = 256):
        self.ids, self.size = {pad_id: 0}, size

    def __call__(self, seq: list[int]) -> list[int]:
        out = [t if t == -100 else self.ids.setdefault(t, len(self.ids)) for t in seq]
        if len(self.ids) > self.size:
            raise SystemExit(f"--compact-ids: more than {self.size} distinct ids in use")
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=tuple(SIZES), default="xsmall")
    ap.add_argument("--random-facts", type=int, default=0, help="N random sentences instead of a ProsQA graph")
    ap.add_argument("--random-fraction", type=float, default=1.0,
                    help="with --random-facts: share of training examples that are random facts; the rest are "
                         "ProsQA graphs, and held-out examples are graphs when this is below 1")
    ap.add_argument("--queries", type=int, default=8)
    ap.add_argument("--query-suffix", default="", help='text between the object and the answer, e.g. "?"')
    ap.add_argument("--shape", default="tiny", help="a built-in size, or LAYERSxWIDTHxHEADS (MLP 2x width)")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--constant-lr", action="store_true", help="no cosine decay after the warm-up")
    ap.add_argument("--compact-ids", action="store_true")
    ap.add_argument("--answer-only", action="store_true", help="supervise only each answer word, not its '.' or EOS")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast, as `leanthink train` (default float32)")
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.random_facts < 0 or 2 * args.random_facts > len(CONCEPTS):
        ap.error(f"--random-facts must be in [0, {len(CONCEPTS) // 2}], got {args.random_facts}")
    if min(args.queries, args.steps, args.batch_size, args.eval_every) <= 0:
        ap.error("--queries, --steps, --batch-size and --eval-every must be positive")
    if not 0 <= args.random_fraction <= 1:
        ap.error(f"--random-fraction must be in [0, 1], got {args.random_fraction}")
    torch.set_num_threads(args.threads)
    tok = role_tokenizer()
    if args.shape not in MODEL_SIZES:
        try:
            size = parse_size(args.shape)
        except LeanthinkError as e:
            ap.error(f"--shape: {e}")
        MODEL_SIZES[args.shape] = replace(size, intermediate=2 * size.hidden)  # the probe's MLP: twice the width
    config = llama_config(args.shape, tok)
    compact = Compact(tok.pad_token_id) if args.compact_ids else None
    pad = 0 if compact else tok.pad_token_id
    if compact:
        config.vocab_size, config.pad_token_id = compact.size, 0

    def make(rng: random.Random, queries: int, held_out: bool = False) -> tuple[list[int], list[int]]:
        mixed = args.random_fraction < 1
        ids, labels = example(tok, args.split, 0 if held_out and mixed else args.random_facts, queries, rng,
                              args.answer_only, args.random_fraction, args.query_suffix)
        return (compact(ids), compact(labels)) if compact else (ids, labels)

    held = collate([make(random.Random(f"role-probe-eval/{args.seed}/{i}"), 1, True) for i in range(300)], pad)
    torch.manual_seed(args.seed)
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    rng = random.Random(f"role-probe-train/{args.seed}")
    t0 = time.time()
    for step in range(args.steps):
        total = 10**12 if args.constant_lr else args.steps  # an endless schedule never decays
        for group in opt.param_groups:
            group["lr"] = lr_schedule(step, total, args.lr, args.warmup)
        loss = sft_step(model, model, opt, collate([make(rng, args.queries) for _ in range(args.batch_size)], pad),
                        args.bf16)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            model.eval()
            acc = first_label_accuracy(model, held)
            model.train()
            print(json.dumps({"step": step + 1, "loss": round(loss.item(), 4), "held_out_accuracy": round(acc, 4),
                              "elapsed_s": round(time.time() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
