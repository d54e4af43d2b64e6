"""The LightThinker benchmark of docs/methods/lightthinker.md, in one script.

1. `iterate`/`long`: vanilla `cot` (builtin:iterate), `lightthinker` (builtin:iterate-lightthinker) and
   `h2o` at LightThinker's measured Peak, at batch 1 and 16, plus the |C| sweep over the models given
   with --sweep (one per |C|, trained with the same recipe: see the docs page for the commands).
2. The real ProsQA valid file: builtin:prosqa against builtin:prosqa-lightthinker, the same way.

Each part is resumable and writes results JSONL, summary.md/.json and PNGs under --out/<task>.

    .venv/bin/python benchmarks/lightthinker.py --out results/lightthinker \\
        --sweep runs/it-lt-c1,runs/it-lt-c2,runs/it-lt-c8
"""

from __future__ import annotations

import argparse
from pathlib import Path

from leanthink.bench.lightthinker import run_lightthinker_bench


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--prosqa-data", type=Path, default=Path("../shared/data/prosqa_valid.json"))
    ap.add_argument("--prosqa-limit", type=int, default=300)
    ap.add_argument("--sweep", default="", help="LightThinker models for the |C| sweep, comma-separated.")
    ap.add_argument("--batch-sizes", default="1,16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/lightthinker"))
    args = ap.parse_args()
    batches = tuple(int(b) for b in args.batch_sizes.split(","))
    sweep = tuple(m.strip() for m in args.sweep.split(",") if m.strip())
    run_lightthinker_bench("builtin:iterate", "builtin:iterate-lightthinker", "iterate", "long", None, args.limit,
                           args.out / "iterate", batches, args.seed, sweep=sweep)
    print((args.out / "iterate" / "summary.md").read_text())
    if args.prosqa_data.exists():
        run_lightthinker_bench("builtin:prosqa", "builtin:prosqa-lightthinker", "prosqa", None, args.prosqa_data,
                               args.prosqa_limit, args.out / "prosqa", batches, args.seed)
        print((args.out / "prosqa" / "summary.md").read_text())
    else:
        print(f"skipped ProsQA: {args.prosqa_data} not found")


if __name__ == "__main__":
    main()
