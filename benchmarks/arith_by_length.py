"""Greedy CoT accuracy of a reasoner on arith chains of each length: how the `hard` split was chosen.

    .venv/bin/python benchmarks/arith_by_length.py --model builtin:arith --lengths 1-14 --limit 100 \
        --out results/arith_by_length.jsonl

Each length is its own run in the results file (resumable through the harness); prints a table and
writes a PNG of accuracy against chain length next to --out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from leanthink.bench.harness import RunInfo, run
from leanthink.engine import load_engine
from leanthink.methods import get_method
from leanthink.tasks.arithmetic import ArithConfig, ArithTask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="builtin:arith")
    ap.add_argument("--lengths", default="1-14", help="range A-B of chain lengths")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/arith_by_length.jsonl"))
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.lengths.split("-"))
    engine = load_engine(args.model)
    method = get_method("cot", batch_size=32)
    rows = []
    for n in range(lo, hi + 1):
        task = ArithTask(ArithConfig(min_steps=n, max_steps=n))
        problems = task.load(f"len{n}", limit=args.limit, seed=args.seed)
        info = RunInfo.create("arith", f"len{n}", None, args.seed, method, "cot", args.model, engine)
        got = run(method, engine, task, problems, info, args.out, chunk_size=32, progress=False)
        acc = sum(r["correct"] for r in got) / len(got)
        rows.append((n, acc))
        print(f"steps={n:2d}  accuracy={acc:.1%}  (n={len(got)})", flush=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=120)
    ax.plot([n for n, _ in rows], [a for _, a in rows], marker="o")
    ax.set_xlabel("chain length (operations)")
    ax.set_ylabel("greedy CoT accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"{args.model} on arith, by chain length")
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"))


if __name__ == "__main__":
    main()
