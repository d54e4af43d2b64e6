"""Can a built-in-size model learn ProsQA's single lookup? Backward (parent) against forward (child).

    .venv/bin/python experiments/prosqa_lookup_probe.py --direction backward --split xsmall --steps 600
    .venv/bin/python experiments/prosqa_lookup_probe.py --direction forward  --split xsmall --steps 600

Every example is one generated ProsQA question (its sentences only) followed by one query about a
node with exactly one parent (backward) or exactly one child (forward), so the answer is unique:

    backward: "... Every bompus is a tumpus. ...\nIs a tumpus:"  ->  " bompus."
    forward:  "... Every bompus is a tumpus. ...\nA bompus is:"  ->  " tumpus."

The two differ only in where the answer stands relative to the matched words: after them (forward,
the copy an induction head makes) or three tokens before them (backward, what the `backward` trace of
`prosqa` needs at each line). A model is trained from scratch on fresh examples with the recipe of
`leanthink train`, and every --eval-every steps its greedy first answer token is scored on 300
held-out examples (teacher forcing, one forward pass). Prints the held-out score of a blind guess
first, then one JSON line per evaluation. `--queries N` asks up to N distinct nodes per training
example, one after another, each answer supervised (denser signal, as in multi-query associative
recall; `experiments/recall_density_probe.py` is the token-level control).
"""

from __future__ import annotations

import argparse
import json
import random
import time

import torch

from leanthink.models.registry import builtin_tokenizer
from leanthink.models.tiny import llama_config
from leanthink.tasks.prosqa import _SENTENCE, SIZES, question_children, question_parents
from leanthink.tasks.prosqa_gen import generate_item
from leanthink.train.data import collate
from leanthink.train.sft import first_label_accuracy, lr_schedule, sft_step


def example(direction: str, split: str, rng: random.Random, tokenizer,
            queries: int = 1) -> tuple[list[int], list[int], float]:
    """(input ids, labels, chance of a blind guess): the guess picks uniformly among the question's
    subjects (backward) or objects (forward) other than the queried node, the baseline to beat.
    With queries > 1, up to that many distinct nodes are queried one after another (each answer is
    supervised); the first query alone is what `accuracy` scores, so held-out sets use queries=1."""
    while True:
        item = generate_item(SIZES[split], rng)
        facts = item["question"].rsplit(" Is ", 1)[0]
        links = question_parents(facts) if direction == "backward" else question_children(facts)
        unique = sorted(k for k, v in links.items() if len(v) == 1)
        if unique:
            break
    nodes = rng.sample(unique, min(queries, len(unique)))
    ids = tokenizer(facts, add_special_tokens=False)["input_ids"]
    labels = [-100] * len(ids)
    for node in nodes:
        query = f"Is a {node}:" if direction == "backward" else f"A {node} is:"
        q_ids = tokenizer(f"\n{query}", add_special_tokens=False)["input_ids"]
        a_ids = tokenizer(f" {links[node][0]}.", add_special_tokens=False)["input_ids"]
        ids, labels = ids + q_ids + a_ids, labels + [-100] * len(q_ids) + a_ids
    side = 0 if direction == "backward" else 1
    pool = {sentence[side] for sentence in _SENTENCE.findall(facts)} - {nodes[0]}
    return ids + [tokenizer.eos_token_id], labels + [tokenizer.eos_token_id], 1 / len(pool)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--direction", choices=("backward", "forward"), required=True)
    ap.add_argument("--split", choices=tuple(SIZES), default="xsmall")
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--queries", type=int, default=1,
                    help="lookups per training example (dense supervision; held-out examples ask one)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                    help="bf16 autocast, as `leanthink train` (--no-bf16: float32 throughout)")
    args = ap.parse_args()
    if args.queries < 1:
        ap.error(f"--queries must be at least 1, got {args.queries}")
    torch.set_num_threads(args.threads)
    tokenizer = builtin_tokenizer()
    torch.manual_seed(args.seed)
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM(llama_config(args.size, tokenizer))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    held_rng = random.Random(f"probe-eval/{args.seed}")
    held_examples = [example(args.direction, args.split, held_rng, tokenizer) for _ in range(300)]
    held = collate([e[:2] for e in held_examples], tokenizer.pad_token_id)
    print(json.dumps({"direction": args.direction, "split": args.split, "queries": args.queries,
                      "held_out": len(held_examples),
                      "guess_baseline": round(sum(e[2] for e in held_examples) / len(held_examples), 4)}))
    rng = random.Random(f"probe-train/{args.seed}")
    t0 = time.time()
    from rich.progress import Progress

    bar = Progress(disable=not args.progress)
    job = bar.add_task(f"probe {args.direction}/{args.split}", total=args.steps)
    bar.start()
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_schedule(step, args.steps, args.lr, args.warmup)
        examples = [example(args.direction, args.split, rng, tokenizer, args.queries)[:2] for _ in range(args.batch_size)]
        batch = collate(examples, tokenizer.pad_token_id)
        loss = sft_step(model, model, opt, batch, args.bf16)
        bar.update(job, completed=step + 1)
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            model.eval()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                acc = first_label_accuracy(model, held)
            model.train()
            bar.console.print(json.dumps({"direction": args.direction, "split": args.split, "step": step + 1,
                                          "loss": round(loss.item(), 4), "held_out_accuracy": round(acc, 4),
                                          "elapsed_s": round(time.time() - t0, 1)}), soft_wrap=True)
    bar.stop()


if __name__ == "__main__":
    main()
