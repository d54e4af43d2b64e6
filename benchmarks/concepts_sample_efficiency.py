"""Sample-efficiency benchmark of the concept models (issue 3): CCT vs Concept Transformer vs plain.

    .venv/bin/python benchmarks/concepts_sample_efficiency.py results/concepts_bench \
        [--dataset digits --task parity --sizes 50,100,200,500,1000 --seeds 0,1,2 --steps 1500]

Writes results.jsonl (one line per run, resumable), summary.json, summary.md and
sample_efficiency.png under the results folder. One CPU thread per run, as the targets assume.
`--plot-with DIR1,DIR2` also draws sample_efficiency_combined.png with the curves of earlier sweeps
(e.g. the ISA and BO-QSA variants) on the same axes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from leanthink.concepts.bench import BenchConfig, plot_summary, run_benchmark
from leanthink.errors import LeanthinkError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results_dir", type=Path)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--task", default="parity")
    p.add_argument("--sizes", default="50,100,200,500,1000")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--models", default="cct,ct,plain")
    p.add_argument("--slots", default="sa")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--plot-with", default="", help="comma-separated results folders to overlay")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    try:
        cfg = BenchConfig(dataset=a.dataset, task=a.task, sizes=tuple(int(x) for x in a.sizes.split(",")),
                          seeds=tuple(int(x) for x in a.seeds.split(",")), models=tuple(a.models.split(",")),
                          slots=a.slots, steps=a.steps, n_test=a.n_test)
        summary = run_benchmark(cfg, a.results_dir)
        if a.plot_with:
            rows = list(summary["rows"])
            for other in a.plot_with.split(","):
                path = Path(other) / "summary.json"
                if not path.exists():
                    raise LeanthinkError(f"{path}: missing; --plot-with needs folders of finished sweeps")
                rows += json.loads(path.read_text())["rows"]
            plot_summary({**summary, "rows": rows}, a.results_dir / "sample_efficiency_combined.png")
    except (LeanthinkError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print((a.results_dir / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
