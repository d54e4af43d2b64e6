"""The inference-time scaling benchmark of docs/methods/particle-filter.md, in one script.

1. `leanthink bench scaling`: every scaling method at budgets 1..32 on the same problems and seeds
   (resumable; results JSONL, summary.md/.json, scaling.png in --out).
2. `leanthink bench its-hub` at each --its-hub-budgets: its_hub's ParticleFiltering and ours on the same
   model, PRM, problems and seeds (needs `pip install -e '.[its-hub]'`); written to OUT/its_hub.json.

    .venv/bin/python benchmarks/scaling.py --out results/scaling
    .venv/bin/python benchmarks/scaling.py --out results/scaling --prm oracle     # exact verifier (oracle)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from leanthink.bench.its_hub import compare
from leanthink.bench.scaling import run_scaling
from leanthink.fileio import write_text
from leanthink.scorers import ORACLE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="builtin:arith-weak")
    ap.add_argument("--prm", default="builtin:arith-prm")
    ap.add_argument("--split", default="search")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/scaling"))
    ap.add_argument("--its-hub-budgets", default="8,16", help="Comma-separated; empty to skip.")
    ap.add_argument("--its-hub-limit", type=int, default=20)
    args = ap.parse_args()
    run_scaling(args.model, args.prm, "arith", args.split, None, args.limit, args.out, seed=args.seed)
    print((args.out / "summary.md").read_text())
    budgets = args.its_hub_budgets if args.prm not in ORACLE else ""   # its_hub needs a PRM that reads text
    sides = [compare(args.model, args.prm, "arith", args.split, None, int(b), args.its_hub_limit, args.seed)
             for b in budgets.split(",") if b.strip()]
    if sides:
        write_text(args.out / "its_hub.json", json.dumps(sides, indent=2) + "\n")
        for s in sides:
            print(f"budget {s['budget']}: ours {s['leanthink']['accuracy']:.0%} in {s['leanthink']['wall_s']:.1f} s, "
                  f"its_hub {s['its_hub']['accuracy']:.0%} in {s['its_hub']['wall_s']:.1f} s, "
                  f"speedup {s['speedup']:.2f}x")


if __name__ == "__main__":
    main()
