"""`leanthink bench compact`: every compact-reasoning method and setting against `cot` of the verbose
reasoner, on the same problems: the accuracy-tokens Pareto front (table + PNG) and, for the methods
a user steers by length, length-control fidelity (requested against produced tokens).

Runs: `cot` and `budget-forcing` at every `budgets` value (cut where the budget ends, as s1, and at
the last finished step) and `early-exit` at every threshold and
agreement count on the verbose reasoner; `tokenskip` at every ratio on the TokenSkip checkpoint (γ = 1
too, its own uncompressed chain); `l1` at every target on the L1 checkpoint. Greedy, one results file
(resumable: rerun the command to continue). A checkpoint that is missing is skipped with a note.

Fidelity, per requested length: budget forcing requests `budget` reasoning tokens and produces the
trace's reasoning tokens; L1 requests `target` generated tokens; TokenSkip requests γ × the tokens of
its own γ = 1 output on the same problem. Reported: median produced / requested, median |produced −
requested| / requested, and the share of problems over the request.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from .. import checks
from ..errors import LeanthinkError


def plan_runs(model: str, tokenskip: str | None, l1: str | None, budgets, thresholds, agree, ratios, targets):
    """(label, method, model, settings, requested) for every run; `requested` is the fidelity key."""
    runs = [("cot", "cot", model, {}, None)]
    runs += [(f"budget {b}" + (" step" if cut == "step" else ""), "budget-forcing", model, {"budget": b, "cut": cut},
              ("budget" if cut == "token" else "budget-step", b)) for cut in ("token", "step") for b in budgets]
    runs += [(f"early-exit p≥{t}", "early-exit", model, {"threshold": t}, None) for t in thresholds]
    runs += [(f"early-exit agree {k}", "early-exit", model, {"agree": k}, None) for k in agree]
    if tokenskip:
        runs += [(f"tokenskip γ={r}", "tokenskip", tokenskip, {"ratio": r}, ("ratio", r))
                 for r in sorted(set(ratios) | {1.0}, reverse=True)]
    if l1:
        runs += [(f"l1 T={t}", "l1", l1, {"target": t}, ("target", t)) for t in targets]
    return runs


def pareto(points: list[tuple[float, float]]) -> list[bool]:
    """Whether each (tokens, accuracy) point is on the front: no other point has fewer or equal tokens
    and higher or equal accuracy with one of them strict."""
    return [not any((t2 <= t and a2 >= a) and (t2 < t or a2 > a) for t2, a2 in points) for t, a in points]


def fidelity(kind: str, value, rows: list[dict], full: dict[str, int] | None) -> dict:
    produced, requested = [], []
    for r in rows:
        if kind.startswith("budget"):
            produced.append(r["trace"]["reasoning_tokens"])
            requested.append(value)
        elif kind == "target":
            produced.append(r["usage"]["generated_tokens"])
            requested.append(value)
        elif full and r["problem_id"] in full:
            produced.append(r["usage"]["generated_tokens"])
            requested.append(value * full[r["problem_id"]])
    ratios = [p / q for p, q in zip(produced, requested) if q]
    return {"kind": kind, "requested": value, "n": len(ratios),
            "mean_requested": statistics.fmean(requested) if requested else 0.0,
            "mean_produced": statistics.fmean(produced) if produced else 0.0,
            "median_ratio": statistics.median(ratios) if ratios else 0.0,
            "median_abs_error": statistics.median(abs(x - 1) for x in ratios) if ratios else 0.0,
            "share_over": sum(x > 1 for x in ratios) / len(ratios) if ratios else 0.0}


def run_compact_bench(model: str, tokenskip: str | None, l1: str | None, task_name: str, split: str, limit: int,
                      out_dir: Path, budgets=(), thresholds=(), agree=(), ratios=(), targets=(), seed: int = 0,
                      max_new_tokens: int = 512, batch_size: int = 16, progress: bool = True) -> dict:
    from ..engine import load_engine
    from ..methods import get_method
    from ..models.registry import resolve_model
    from ..tasks import get_task
    from .harness import RunInfo, run
    from .report import summarise

    checks.integer("--limit", limit, 1)
    out_dir = checks.output_dir("--out", out_dir)
    file = checks.output_file("--out", out_dir / "compact.jsonl")
    notes = []
    for flag, spec in (("--tokenskip", tokenskip), ("--l1", l1)):
        if spec:
            try:
                resolve_model(spec)
            except LeanthinkError:
                notes.append(f"{flag} {spec}: skipped (no such model)")
    tokenskip = None if any(n.startswith("--tokenskip") for n in notes) else tokenskip
    l1 = None if any(n.startswith("--l1") for n in notes) else l1
    task = get_task(task_name)
    problems = task.load(split=split, limit=limit, seed=seed)
    engines: dict[str, object] = {}
    rows_by_label, summaries = {}, []
    for label, method_name, spec, settings, requested in plan_runs(model, tokenskip, l1, budgets, thresholds, agree,
                                                                   ratios, targets):
        if spec not in engines:
            engines[spec] = load_engine(spec)
        method = get_method(method_name, batch_size=batch_size, seed=seed, max_new_tokens=max_new_tokens, **settings)
        info = RunInfo.create(task_name, split, None, seed, method, method_name, spec, engines[spec])
        rows = run(method, engines[spec], task, problems, info, file, chunk_size=batch_size, progress=progress)
        s = summarise(rows)[0]
        s.update(label=label, requested=requested)
        rows_by_label[label] = rows
        summaries.append(s)
    cot = summaries[0]
    front = pareto([(s["mean_generated_tokens"], s["accuracy"]) for s in summaries])
    for s, on in zip(summaries, front):
        s["tokens_vs_cot"] = s["mean_generated_tokens"] / max(cot["mean_generated_tokens"], 1e-9)
        s["accuracy_vs_cot"] = s["accuracy"] - cot["accuracy"]
        s["pareto"] = on
    full = {r["problem_id"]: r["usage"]["generated_tokens"] for r in rows_by_label.get("tokenskip γ=1.0", [])}
    fid = [fidelity(s["requested"][0], s["requested"][1], rows_by_label[s["label"]], full)
           for s in summaries if s["requested"]]
    report = {"model": model, "tokenskip": tokenskip, "l1": l1, "task": task_name, "split": split, "n": len(problems),
              "runs": summaries, "fidelity": fid, "notes": notes}
    _write(report, out_dir)
    plot_pareto(summaries, out_dir / "pareto.png", f"{task_name}/{split}")
    if fid:
        plot_fidelity(fid, out_dir / "fidelity.png")
    return report


def _write(report: dict, out_dir: Path) -> None:
    from ..fileio import write_text

    lines = [f"# Compact reasoning on {report['task']}/{report['split']} ({report['n']} problems)", "",
             "| run | model | accuracy [95% CI] | Δ vs cot | generated | tokens / cot | Pareto |",
             "|---|---|---|---|---|---|---|"]
    for s in report["runs"]:
        lines.append(f"| {s['label']} | {s['model']} | {s['accuracy']:.1%} [{s['ci95'][0]:.1%}, {s['ci95'][1]:.1%}] | "
                     f"{s['accuracy_vs_cot'] * 100:+.1f} | {s['mean_generated_tokens']:.1f} | "
                     f"{s['tokens_vs_cot']:.1%} | {'yes' if s['pareto'] else ''} |")
    if report["fidelity"]:
        lines += ["", "## Length control: requested against produced tokens", "",
                  "| method | requested | mean requested | mean produced | median produced / requested | "
                  "median abs error | over the request |", "|---|---|---|---|---|---|---|"]
        for f in report["fidelity"]:
            lines.append(f"| {f['kind']} | {f['requested']} | {f['mean_requested']:.1f} | {f['mean_produced']:.1f} | "
                         f"{f['median_ratio']:.2f} | {f['median_abs_error']:.1%} | {f['share_over']:.0%} |")
    lines += [""] + [f"- {n}" for n in report["notes"]]
    write_text(out_dir / "summary.md", "\n".join(lines) + "\n")
    write_text(out_dir / "summary.json", json.dumps(report, indent=2, default=str))


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = path.with_name(path.stem + ".tmp.png")
    fig.tight_layout()
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)


def family(s: dict) -> str:
    """The curve a run belongs to: its method and the kind of setting that varies along it."""
    settings = s.get("settings") or {}
    if s["method"] == "budget-forcing":
        return f"budget forcing (cut={settings.get('cut', 'token')})"
    if s["method"] == "early-exit":
        return "early exit (agree k)" if settings.get("agree") else "early exit (p ≥ threshold)"
    return s["method"]


def plot_pareto(summaries: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.6), dpi=120)
    families: dict[str, list[dict]] = {}
    for s in summaries:   # one line per method and kind of setting (budget cut, exit rule)
        families.setdefault(family(s), []).append(s)
    for name, ss in families.items():
        ss = sorted(ss, key=lambda s: s["mean_generated_tokens"])
        xs, ys = [s["mean_generated_tokens"] for s in ss], [s["accuracy"] for s in ss]
        ax.plot(xs, ys, marker="*" if name == "cot" else "o", markersize=12 if name == "cot" else 5,
                linestyle="-" if len(ss) > 1 else "none", label=name)
        for s in ss:
            setting = s["label"].split(" ")[-2 if s["label"].endswith(" step") else -1]
            ax.annotate(setting if name != "cot" else "cot", (s["mean_generated_tokens"], s["accuracy"]),
                        textcoords="offset points", xytext=(4, 3), fontsize=7)
    front = sorted((s for s in summaries if s["pareto"]), key=lambda s: s["mean_generated_tokens"])
    ax.step([s["mean_generated_tokens"] for s in front], [s["accuracy"] for s in front], where="post",
            color="black", alpha=0.4, linewidth=1, label="Pareto front")
    finish_accuracy_plot(fig, ax, "mean generated tokens per problem",
                         f"compact reasoning: accuracy vs tokens ({title})", path)


def finish_accuracy_plot(fig, ax, xlabel: str, title: str, path: Path) -> None:
    """Labels, accuracy range, grid, legend and title of an accuracy-against-cost plot; saves it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title)
    _save(fig, path)


def plot_fidelity(fid: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.6), dpi=120)
    names = {"budget": "budget forcing (reasoning tokens)", "budget-step": "budget forcing, cut=step",
             "target": "L1 (generated tokens)",
             "ratio": "TokenSkip (γ × own full length)"}
    hi = 1.0
    for kind, label in names.items():
        fs = [f for f in fid if f["kind"] == kind]
        if fs:
            ax.plot([f["mean_requested"] for f in fs], [f["mean_produced"] for f in fs], marker="o", label=label)
            hi = max(hi, *(f["mean_requested"] for f in fs), *(f["mean_produced"] for f in fs))
    ax.plot([0, hi], [0, hi], color="gray", linestyle="--", linewidth=1, label="produced = requested")
    ax.set_xlabel("requested tokens (mean over problems)")
    ax.set_ylabel("produced tokens (mean)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("length control fidelity")
    _save(fig, path)
