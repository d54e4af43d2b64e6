"""Particle filtering over LightThinker-compressed particles against plain particle filtering at equal
peak KV memory (docs/methods/particle-filter.md, "Compressed particles").

Plain PF on builtin:iterate at N in --plain, PF with compress=lightthinker on builtin:iterate-lightthinker
at N in --compressed, both weighted by the policy's self-certainty (or --prm), on the same problems
and seeds. Resumable: results in OUT/pf_compressed.jsonl; OUT/summary.md, summary.json and
pf_compressed.png (copy it to docs/figures/).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pf_compressed.py --limit 100 --out results/pf_compressed
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from leanthink.bench.pf_compressed import COMPRESSED_BUDGETS, PLAIN_BUDGETS, run_pf_compressed


def budgets(text: str) -> tuple[int, ...]:
    return tuple(int(b) for b in text.split(",") if b.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plain-model", default="builtin:iterate")
    ap.add_argument("--model", default="builtin:iterate-lightthinker")
    ap.add_argument("--task", default="iterate")
    ap.add_argument("--split", default="long")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--plain", type=budgets, default=PLAIN_BUDGETS)
    ap.add_argument("--compressed", type=budgets, default=COMPRESSED_BUDGETS)
    ap.add_argument("--weights", default="self-certainty", choices=("self-certainty", "prm"))
    ap.add_argument("--prm", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("results/pf_compressed"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    run_pf_compressed(args.plain_model, args.model, args.task, args.split, args.data, args.limit, args.out,
                      args.plain, args.compressed, args.seed, args.weights, args.prm, progress=False)
    print((args.out / "summary.md").read_text())


if __name__ == "__main__":
    main()
