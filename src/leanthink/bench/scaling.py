"""`leanthink bench scaling`: every scaling method at budgets 1..32 on the same problems and seeds.

Every (method, budget) is an ordinary harness run appended to one resumable results file, so an
interrupted sweep continues where it stopped. The summary holds accuracy, generated, forward and
scorer tokens and latency per (method, budget); the figure plots accuracy against budget and against
generated tokens; the table gives the smallest budget at which each method reaches DVTS at the
largest budget.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import checks
from ..errors import LeanthinkError
from .report import num

METHODS = ("self-consistency", "best-of-n", "weighted-best-of-n", "beam", "dvts", "particle-filter",
           "particle-gibbs", "parallel-tempering")
BUDGETS = (1, 2, 4, 8, 16, 32)
#: settings each method runs with in the sweep (the rest are its defaults)
SWEEP_SETTINGS = {"particle-gibbs": {"iterations": 2}, "parallel-tempering": {"chains": 2, "iterations": 1}}


def valid_budget(method: str, budget: int) -> bool:
    """Particle Gibbs and parallel tempering split the budget into iterations / chains."""
    s = SWEEP_SETTINGS.get(method, {})
    return budget % (s.get("iterations", 1) * s.get("chains", 1)) == 0


def run_scaling(model: str, prm: str | None, task_name: str, split: str | None, data, limit: int,
                out_dir: Path, methods=METHODS, budgets=BUDGETS, seed: int = 0, weights: str = "prm",
                settings: dict | None = None, progress: bool = True, ray: tuple | None = None) -> list[dict]:
    """`ray`: (address, shard, workers, cpus) to shard the sweep on Ray (ray_sweep.py), None to run here."""
    from functools import partial

    from ..engine import load_engine
    from ..methods import get_method, method_names
    from ..scorers import load_scorer
    from ..tasks import get_task
    from .harness import RunInfo, run
    from .ray_sweep import Job, sweep_workers
    from .report import summarise

    for m in methods:
        checks.choice("--methods", m, [n for n in method_names() if n in METHODS])
    for b in budgets:
        checks.integer("--budgets", b, 1, 4096)
    checks.integer("--limit", limit, 1)
    out_dir = checks.output_dir("--out", out_dir)
    results = out_dir / "scaling.jsonl"
    checks.output_file("--out", results)
    if weights == "prm" and prm is None:
        raise LeanthinkError("bench scaling weighs with a PRM: give --prm, or --weights self-certainty")
    made = {(m, b): get_method(m, budget=b, seed=seed, **({"weights": weights} if m != "self-consistency" else {}),
                               **SWEEP_SETTINGS.get(m, {}), **(settings or {}))
            for m in methods for b in budgets if valid_budget(m, b)}
    task = get_task(task_name)
    problems = task.load(split=split, data=data, limit=limit, seed=seed)
    load = partial(load_engine, model, requires=frozenset().union(*(x.requires for x in made.values())))
    load_prm = partial(load_scorer, prm) if prm else None
    rows = []
    with sweep_workers(*(ray or (None, None, None, 1)), "auto", load, load_prm) as pool:   # None: local
        engine = pool.engine if pool else load()   # on Ray: the facts of the workers' engine (for the run ids)
        scorer = pool.scorer if pool else (load_prm() if load_prm else None)
        jobs = [Job(method, RunInfo.create(task_name, split, data, seed, method, name, model, engine,
                                           scorer=scorer if method.needs_scorer() else None),
                    method.batch_size, method.needs_scorer(), problems) for (name, budget), method in made.items()]
        if pool:   # every (method, budget) run's shards at once: the workers stay busy across runs
            rows = [r for mine in pool.run_many(jobs, task, results, progress) for r in mine]
        else:
            for j in jobs:
                rows += run(j.method, engine, task, problems, j.info, results, chunk_size=j.chunk_size,
                            progress=progress, scorer=scorer if j.with_scorer else None)
    summaries = add_ratios(summarise(rows), rows)
    write_outputs(summaries, out_dir)
    return summaries


def add_ratios(summaries: list[dict], rows: list[dict]) -> list[dict]:
    """Each run's budget and recomputation: every token a model ran, over the tokens there were to run
    once (the prompt and what was generated; the PRM reads the same text, plus one separator per step it
    scores). None (shown n/a) when a counter is unknown: a remote engine cannot measure them."""
    for s in summaries:
        s["budget"] = s["settings"].get("budget")
        mine = [r["usage"] for r in rows if r["run_id"] == s["run_id"]]
        for key, ratio in (("forward_tokens", "forward_ratio"), ("scorer_tokens", "scorer_ratio")):
            values = [(u.get(key, 0), u.get("prompt_tokens", 0), u.get("generated_tokens", 0)) for u in mine]
            if any(v is None for triple in values for v in triple):
                s[ratio] = None
            else:
                s[ratio] = sum(v[0] for v in values) / max(1, sum(v[1] + v[2] for v in values))
    return summaries


def reach_table(summaries: list[dict]) -> list[dict]:
    """For each method: the smallest budget whose accuracy reaches DVTS's at its largest budget."""
    dvts = [s for s in summaries if s["method"] == "dvts"]
    if not dvts:
        return []
    target = max(dvts, key=lambda s: s["budget"])
    out = []
    for m in dict.fromkeys(s["method"] for s in summaries):
        mine = sorted((s for s in summaries if s["method"] == m), key=lambda s: s["budget"])
        reach = next((s["budget"] for s in mine if s["accuracy"] >= target["accuracy"]), None)
        out.append({"method": m, "reaches": reach, "target": f"dvts@{target['budget']}",
                    "target_accuracy": target["accuracy"]})
    return out


def write_outputs(summaries: list[dict], out_dir: Path) -> None:
    from ..fileio import write_text

    methods = list(dict.fromkeys(s["method"] for s in summaries))
    budgets = sorted({s["budget"] for s in summaries})
    lines = ["# Scaling: accuracy by budget", "", "| method | " + " | ".join(f"@{b}" for b in budgets) + " |",
             "|---|" + "---|" * len(budgets)]
    for m in methods:
        cells = {s["budget"]: s for s in summaries if s["method"] == m}
        lines.append(f"| {m} | " + " | ".join(f"{cells[b]['accuracy']:.1%}" if b in cells else "–" for b in budgets)
                     + " |")
    lines += ["", "forward / once and scorer / once: tokens the policy and the scorer ran, over prompt + generated "
              "tokens (what there was to run once).", "",
              "| method | budget | n | accuracy [95% CI] | gen tokens | forward | forward / once | scorer tokens | "
              "scorer / once | peak | latency s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        lines.append(f"| {s['method']} | {s['budget']} | {s['n']} | {s['accuracy']:.1%} [{s['ci95'][0]:.1%}, "
                     f"{s['ci95'][1]:.1%}] | {num(s['mean_generated_tokens'], '.0f')} | "
                     f"{num(s['mean_forward_tokens'], '.0f')} | {num(s.get('forward_ratio'), '.3f')} | "
                     f"{num(s.get('mean_scorer_tokens'), '.0f')} | {num(s.get('scorer_ratio'), '.3f')} | "
                     f"{num(s['mean_peak_tokens'], '.0f')} | {num(s['mean_latency_s'], '.2f')} |")
    reach = reach_table(summaries)
    if reach:
        lines += ["", f"Smallest budget reaching {reach[0]['target']} ({reach[0]['target_accuracy']:.1%}):", "",
                  "| method | budget |", "|---|---|"]
        lines += [f"| {r['method']} | {r['reaches'] or 'not reached'} |" for r in reach]
    write_text(out_dir / "summary.md", "\n".join(lines) + "\n")
    write_text(out_dir / "summary.json", json.dumps({"runs": summaries, "reach": reach}, indent=2, default=str))
    plot(summaries, out_dir / "scaling.png")


def plot(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fileio import atomic

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    for m in dict.fromkeys(s["method"] for s in summaries):
        mine = sorted((s for s in summaries if s["method"] == m), key=lambda s: s["budget"])
        style = "-o" if m == "particle-filter" else "--."
        axes[0].plot([s["budget"] for s in mine], [s["accuracy"] for s in mine], style, label=m)
        known = [s for s in mine if s["mean_generated_tokens"] is not None]   # unknown cost: no point to draw
        axes[1].plot([s["mean_generated_tokens"] for s in known], [s["accuracy"] for s in known], style, label=m)
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("budget (samples / particles)")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("mean generated tokens per problem")
    for ax in axes:
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("inference-time scaling: accuracy against budget and tokens")
    fig.tight_layout()
    atomic(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
