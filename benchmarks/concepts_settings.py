"""Settings benchmark of the concept models (issue 17): CCT (SA, ISA, BO-QSA) vs Concept Transformer vs plain.

    .venv/bin/python benchmarks/concepts_settings.py results/concepts_settings \\
        [--settings scenes,superclass,scenes_partial --seeds 0,1,2,3,4 --models cct-sa,...,plain]
        [--split val --set expl_lambda=8]          # diagnosis: validation split, a changed field

The same as `leanthink concepts bench --results-dir DIR --settings ...`. Writes results.jsonl (one line
per (setting, model, seed), resumable), summary.json, summary.md (mean ± 95% CI, CCT − CT paired by
seed) and one PNG per setting under the results folder. One CPU thread per run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from leanthink.concepts.bench_settings import (DEFAULT_SEEDS, MODELS, SETTINGS, SettingsBenchConfig,
                                               check_results_dir, parse_overrides, run_settings_benchmark)
from leanthink.concepts.cli import _ints, _names
from leanthink.errors import LeanthinkError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results_dir", type=Path)
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)))
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--split", default="test")
    p.add_argument("--set", default="", help="field=value,... applied to every run")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    try:
        cfg = SettingsBenchConfig(settings=_names("--settings", a.settings, tuple(SETTINGS)),
                                  models=_names("--models", a.models, MODELS), seeds=_ints("--seeds", a.seeds),
                                  split=a.split, overrides=parse_overrides(a.set))
        check_results_dir(a.results_dir, "results_dir")
        run_settings_benchmark(cfg, a.results_dir, progress=not a.quiet)
    except LeanthinkError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print((a.results_dir / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
