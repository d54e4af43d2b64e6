"""How far particle filtering's answers depend on the batch size on a real policy (float rounding).

    .venv/bin/python experiments/pf_batch_invariance.py --limit 100 --budget 16 --batch-sizes 4,16,32,100

Runs the same problems and seeds at each batch size, prints wall time, right answers, and how many
outputs differ from the first batch size's. Streams are per problem, so on micro models outputs are
identical (tested); here padding changes float reduction order and a resampling draw near a
probability boundary can flip.
"""

from __future__ import annotations

import argparse
import time

from leanthink.engine import load_engine
from leanthink.methods import get_method
from leanthink.scorers import ProcessRewardModel
from leanthink.tasks import get_task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="builtin:arith-weak")
    ap.add_argument("--prm", default="builtin:arith-prm")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--batch-sizes", default="4,16,32,100")
    args = ap.parse_args()
    engine, prm = load_engine(args.model), ProcessRewardModel.load(args.prm)
    task = get_task("arith")
    problems = task.load(split="search", limit=args.limit, seed=0)
    first = None
    for bs in (int(x) for x in args.batch_sizes.split(",")):
        t0 = time.perf_counter()
        res = get_method("particle-filter", budget=args.budget, seed=0, batch_size=bs).solve(engine, task, problems,
                                                                                            scorer=prm)
        wall = time.perf_counter() - t0
        first = first or res
        differ = sum(a.output != b.output for a, b in zip(first, res))
        print(f"batch {bs}: {wall:.1f} s, right {sum(task.grade(r.answer, p) for r, p in zip(res, problems))}, "
              f"outputs differing from batch {args.batch_sizes.split(',')[0]}: {differ}")


if __name__ == "__main__":
    main()
