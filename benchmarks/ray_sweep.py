"""Wall time of one `leanthink eval` here against the same eval sharded on a local Ray instance.

Three ways to run the same command, each into a fresh results file, alternated ABBA-style over
--repeats rounds so that the machine's other load hits each about equally:

  local-1t   the local path, one torch thread (OMP_NUM_THREADS=1)
  local-Nt   the local path, N torch threads (N = --workers)
  ray-N      --ray local --ray-workers N (each worker 1 CPU, 1 torch thread)

Every run's lines must equal the first local run's (same problems, outputs, answers and counters;
only time stamps and wall times may differ), or the script says so. Wall time is the whole command,
start-up included: for Ray that is starting the instance and N worker processes that each import
torch and load the model. Also reported: the load average before each run (the machine is shared).

    .venv/bin/python benchmarks/ray_sweep.py --limit 100 --split hard --out results/ray_sweep.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LEANTHINK = str(Path(sys.executable).with_name("leanthink"))


def comparable(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["problem_id"]: {**r, "time": None, "usage": {**r["usage"], "wall_time_s": None}} for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--split", default="hard")
    ap.add_argument("--model", default="builtin:arith")
    ap.add_argument("--method", default="cot")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="--set KEY=VALUE for the method")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--modes", default="", help="comma-separated subset of local-1t,local-Nt,ray-N (default: all)")
    ap.add_argument("--out", type=Path, default=Path("results/ray_sweep.json"))
    args = ap.parse_args()
    base = [LEANTHINK, "eval", "--model", args.model, "--task", "arith", "--split", args.split, "--limit",
            str(args.limit), "--method", args.method, "--no-progress"] + [x for s in args.sets for x in ("--set", s)]
    modes = {"local-1t": ({"OMP_NUM_THREADS": "1"}, []),
             f"local-{args.workers}t": ({"OMP_NUM_THREADS": str(args.workers)}, []),
             f"ray-{args.workers}": ({"OMP_NUM_THREADS": "1"}, ["--ray", "local", "--ray-workers", str(args.workers)])}
    order = [m for m in modes if not args.modes or m in args.modes.split(",")]
    runs, reference = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name in (order if r % 2 == 0 else order[::-1]):
                env, extra = modes[name]
                out = Path(tmp) / f"{name}-{r}.jsonl"
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                proc = subprocess.run(base + ["--out", str(out)] + extra, env={**os.environ, **env},
                                      capture_output=True, text=True)
                wall = time.perf_counter() - t0
                if proc.returncode != 0:
                    sys.exit(f"{name} failed: {proc.stderr.strip().splitlines()[-1]}")
                lines = comparable(out)
                reference = reference or lines
                runs.append({"mode": name, "round": r, "wall_s": round(wall, 2), "load_before": round(load, 2),
                             "lines": len(lines), "same_as_local": lines == reference})
                print(json.dumps(runs[-1]), flush=True)
    summary = {m: round(sum(x["wall_s"] for x in runs if x["mode"] == m) / args.repeats, 2) for m in order}
    print("mean wall s:", json.dumps(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": base, "runs": runs, "mean_wall_s": summary}, indent=2))


if __name__ == "__main__":
    main()
