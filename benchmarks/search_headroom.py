"""How much a verifier could find: greedy accuracy, pass@k and majority@k of a reasoner on a split.

For each problem: one greedy answer, then `--samples` answers at `--temperature` (each a forked row
with its own random stream). pass@k is the unbiased estimator 1 - C(n-c, k)/C(n, k) over the n
samples (c correct); majority@k is the accuracy of the most common answer among the first k samples
(ties broken by first appearance). Prints a table by k and writes JSON:

    .venv/bin/python benchmarks/search_headroom.py --model builtin:arith --split search --limit 40
    .venv/bin/python benchmarks/search_headroom.py --model builtin:arith --steps 10 --distractors 1
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from math import comb

import torch

from leanthink.engine import SamplingParams, load_engine, stream_seed
from leanthink.tasks import get_task
from leanthink.tasks.arithmetic import ArithConfig, ArithTask


def pass_at_k(n: int, c: int, k: int) -> float:
    return 1.0 if n - c < k else 1.0 - comb(n - c, k) / comb(n, k)


def majority(answers: list[str | None], task, problem) -> bool:
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return False
    best = max(votes.values())
    winner = next(a for a in answers if a is not None and votes[a] == best)
    return bool(task.grade(winner, problem))


def main():
    torch.set_num_threads(args.threads)
    engine = load_engine(args.model)
    if args.split:
        task = get_task(args.task)
        problems = task.load(split=args.split, limit=args.limit, seed=args.seed)
        name = args.split
    else:
        task = ArithTask(ArithConfig(min_steps=args.steps, max_steps=args.steps, distractors=args.distractors))
        name = f"len{args.steps}+d{args.distractors}"
        problems = task.load(name, limit=args.limit, seed=args.seed)
    style = engine.prompt_style
    greedy_ok, rows = [], []
    for start in range(0, len(problems), args.problems_per_batch):
        chunk = problems[start:start + args.problems_per_batch]
        prompts = [style.render(p, "cot", engine.tokenizer) for p in chunk]
        seeds = [stream_seed(args.seed, p.id) for p in chunk]
        greedy, _ = engine.generate(prompts, SamplingParams(max_new_tokens=args.max_new_tokens), seeds=seeds)
        greedy_ok += [bool(task.grade(task.extract(g.text), p)) for g, p in zip(greedy, chunk)]
        seqs = engine.prefill(prompts, seeds=seeds)
        engine.fork(seqs, args.samples)
        outs = engine.extend(seqs, SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature))
        for i, p in enumerate(chunk):
            answers = [task.extract(c.text) for c in outs[i * args.samples:(i + 1) * args.samples]]
            rows.append((p, answers, sum(bool(task.grade(a, p)) for a in answers if a is not None)))
        print(f"{start + len(chunk)}/{len(problems)} problems", flush=True)
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= args.samples]
    result = {"model": args.model, "split": name, "n": len(problems), "temperature": args.temperature,
              "greedy": sum(greedy_ok) / len(problems),
              "pass_at_k": {k: sum(pass_at_k(args.samples, c, k) for _, _, c in rows) / len(rows) for k in ks},
              "majority_at_k": {k: sum(majority(a[:k], task, p) for p, a, _ in rows) / len(rows) for k in ks}}
    print(f"\n{name} ({len(problems)} problems, T={args.temperature}): greedy {result['greedy']:.3f}")
    print("k           " + "".join(f"{k:>7}" for k in ks))
    print("pass@k      " + "".join(f"{result['pass_at_k'][k]:7.3f}" for k in ks))
    print("majority@k  " + "".join(f"{result['majority_at_k'][k]:7.3f}" for k in ks))
    print(json.dumps(result))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="builtin:arith")
    ap.add_argument("--task", default="arith")
    ap.add_argument("--split", default=None, help="a named split; else --steps/--distractors define one")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--distractors", type=int, default=0)
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--max-new-tokens", type=int, default=200)
    ap.add_argument("--problems-per-batch", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    main()
