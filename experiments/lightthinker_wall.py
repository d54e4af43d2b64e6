"""Wall time of vanilla cot and LightThinker at one batch size, repeated and interleaved, so a small
difference can be told from run-to-run noise (the bench times each once).

    .venv/bin/python experiments/lightthinker_wall.py --repeats 5 --batch-size 16
"""

from __future__ import annotations

import argparse
import statistics
import time

from leanthink.engine import load_engine
from leanthink.methods import get_method
from leanthink.tasks import get_task


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vanilla", default="builtin:iterate")
    ap.add_argument("--model", default="builtin:iterate-lightthinker")
    ap.add_argument("--split", default="long")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    task = get_task("iterate")
    problems = task.load(args.split, limit=args.limit, seed=0)
    runs = {"cot": (load_engine(args.vanilla), get_method("cot", batch_size=args.batch_size)),
            "lightthinker": (load_engine(args.model), get_method("lightthinker", batch_size=args.batch_size))}
    for engine, method in runs.values():
        method.solve(engine, task, problems[:args.batch_size])   # warm-up
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, (engine, method) in runs.items():
            t0 = time.perf_counter()
            method.solve(engine, task, problems)
            times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        print(f"{name}: median {statistics.median(ts):.2f} s  ({', '.join(f'{t:.2f}' for t in ts)})")
    ratio = statistics.median(times["lightthinker"]) / statistics.median(times["cot"])
    print(f"lightthinker / cot: {ratio:.3f}")


if __name__ == "__main__":
    main()
