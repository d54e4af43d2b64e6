"""`leanthink bench router`: the router against every single method, on a mixed-difficulty set.

1. Every candidate (method and settings) runs on training problems (`--train-seed`) and on test problems
   (`--seed`) of the same split: `train.jsonl` and `test.jsonl`, resumable.
2. `train-router` learns from `train.jsonl` (`router.json`; delete it to retrain).
3. `route` runs on the test problems at every `--targets` accuracy (and every `--budgets` mean token
   budget), appended to `test.jsonl`.
4. The table, the Pareto plot, and the count of router operating points that beat every single method:
   a point beats them if no single method reaches its accuracy with as few tokens (tokens = generated +
   latent per problem, the probe's included for the router).
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import checks
from ..errors import LeanthinkError

DEFAULT_CANDIDATES = ("direct;budget-forcing:budget=30,cut=step;budget-forcing:budget=60,cut=step;"
                      "budget-forcing:budget=90,cut=step;budget-forcing:budget=120,cut=step;early-exit:agree=2;cot;"
                      "self-consistency:budget=4,weights=self-certainty")


def parse_candidates(text: str) -> list[tuple[str, dict]]:
    """'method:key=value,key=value;method;...' -> [(method, settings)], typed by the method's fields."""
    from ..methods import method_class
    from ..methods.settings import method_settings

    out = []
    for item in [s.strip() for s in text.split(";") if s.strip()]:
        name, _, rest = item.partition(":")
        method_class(name.strip())
        sets = [kv.strip() for kv in rest.split(",") if kv.strip()]
        out.append((name.strip(), method_settings(name.strip(), sets)))
    if not out:
        raise LeanthinkError("--candidates: give at least one method (e.g. 'cot;budget-forcing:budget=60')")
    return out


def tokens(s: dict) -> float:
    return s["mean_generated_tokens"] + s["mean_latent_tokens"]


def beats(point: dict, singles: list[dict]) -> bool:
    """No single method is at least as accurate with at most as many tokens."""
    return not any(s["accuracy"] >= point["accuracy"] and tokens(s) <= tokens(point) for s in singles)


def run_router_bench(model: str, task_name: str, split: str, limit: int, train_limit: int, out_dir: Path,
                     candidates: str = DEFAULT_CANDIDATES, targets=(0.3, 0.5, 0.6, 0.7, 0.75, 0.8), budgets=(30, 60, 100),
                     seed: int = 0, train_seed: int = 1, batch_size: int = 16, progress: bool = True) -> dict:
    from ..engine import load_engine
    from ..methods import get_method
    from ..train.data import base_task
    from ..train.router import train_router
    from .harness import RunInfo, run
    from .report import summarise

    checks.integer("--limit", limit, 1)
    checks.integer("--train-limit", train_limit, 10)
    if seed == train_seed:
        raise LeanthinkError(f"--seed and --train-seed are both {seed}: the router must be tested on problems it "
                             "was not trained on")
    out_dir = checks.output_dir("--out", out_dir)
    train_file, test_file = out_dir / "train.jsonl", out_dir / "test.jsonl"
    plan = parse_candidates(candidates)
    task = base_task(task_name, model)
    engine = load_engine(model)
    singles = []
    for name, settings in plan:
        method = get_method(name, **{"batch_size": batch_size, **settings})
        for file, data_seed, n in ((train_file, train_seed, train_limit), (test_file, seed, limit)):
            problems = task.load(split=split, limit=n, seed=data_seed)
            info = RunInfo.create(task_name, split, None, data_seed, method, name, model, engine)
            rows = run(method, engine, task, problems, info, file, chunk_size=batch_size, progress=progress)
        s = summarise(rows)[0]
        s["label"] = name + (":" + ",".join(f"{k}={v}" for k, v in settings.items()) if settings else "")
        singles.append(s)
    router_file = out_dir / "router.json"
    if not router_file.exists():
        train_router([train_file], model, router_file)
    routed = []
    problems = task.load(split=split, limit=limit, seed=seed)
    goals = [("target_accuracy", t) for t in targets] + [("max_tokens", b) for b in budgets]
    for key, value in goals:
        method = get_method("route", router=str(router_file), batch_size=batch_size, **{key: value})
        info = RunInfo.create(task_name, split, None, seed, method, "route", model, engine)
        rows = run(method, engine, task, problems, info, test_file, chunk_size=batch_size, progress=progress)
        s = summarise(rows)[0]
        s["label"] = f"route {key}={value}"
        s["routes"] = _shares(rows)
        s["beats_singles"] = beats(s, singles)
        routed.append(s)
    distinct = {(s["accuracy"], tokens(s)) for s in routed if s["beats_singles"]}   # goals may land on one point
    report = {"model": model, "task": task_name, "split": split, "n": len(problems),
              "singles": singles, "routed": routed, "points_beating_singles": len(distinct),
              "distinct_points": len({(s["accuracy"], tokens(s)) for s in routed}),
              "router": json.loads(router_file.read_text())["train"]}
    _write(report, out_dir)
    plot(report, out_dir / "pareto.png")
    return report


def _shares(rows: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in rows:
        out[r["trace"]["route"]] = out.get(r["trace"]["route"], 0) + 1 / len(rows)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _write(report: dict, out_dir: Path) -> None:
    from ..fileio import write_text

    lines = [f"# Router on {report['task']}/{report['split']} ({report['n']} test problems, router trained on "
             f"{report['router']['problems']} others)", "",
             "| run | accuracy [95% CI] | tokens (generated + latent) | forward tokens | beats every single method |",
             "|---|---|---|---|---|"]
    for s in report["singles"] + report["routed"]:
        beat = {True: "yes", False: "no"}.get(s.get("beats_singles"), "")
        lines.append(f"| {s['label']} | {s['accuracy']:.1%} [{s['ci95'][0]:.1%}, {s['ci95'][1]:.1%}] | {tokens(s):.1f} | "
                     f"{s['mean_forward_tokens']:.1f} | {beat} |")
    lines += ["", f"Distinct router operating points that beat every single method: **{report['points_beating_singles']}"
              f"** of {report['distinct_points']} ({len(report['routed'])} goals).", "",
              "Where the router sent the test problems:", ""]
    for s in report["routed"]:
        lines.append(f"- {s['label']}: " + ", ".join(f"{k} {v:.0%}" for k, v in s["routes"].items()))
    write_text(out_dir / "summary.md", "\n".join(lines) + "\n")
    write_text(out_dir / "summary.json", json.dumps(report, indent=1, default=str))


def short_label(label: str) -> str:
    """'budget-forcing:budget=90,cut=step' -> 'bf 90 step', 'self-consistency:budget=4,...' -> 'sc@4 ...'."""
    method, _, settings = label.partition(":")
    short = {"budget-forcing": "bf", "self-consistency": "sc", "early-exit": "ee"}.get(method, method)
    values = [kv.split("=", 1)[1] for kv in settings.split(",") if "=" in kv]
    return " ".join([short] + values)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .compact import finish_accuracy_plot

    fig, ax = plt.subplots(figsize=(7.0, 4.6), dpi=120)
    for i, s in enumerate(sorted(report["singles"], key=tokens)):
        ax.plot(tokens(s), s["accuracy"], "o", markersize=6)
        ax.annotate(short_label(s["label"]), (tokens(s), s["accuracy"]), textcoords="offset points",
                    xytext=(4, 4 if i % 2 else -10), fontsize=6)
    routed = sorted(report["routed"], key=tokens)
    ax.plot([tokens(s) for s in routed], [s["accuracy"] for s in routed], "-*", color="black", markersize=9,
            label="route (each target)")
    ax.set_xscale("log")
    finish_accuracy_plot(fig, ax, "mean tokens per problem (generated + latent; the router's probe included)",
                         f"router vs single methods ({report['task']}/{report['split']}, {report['n']} test problems)",
                         path)
