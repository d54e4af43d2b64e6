"""`leanthink bench lightthinker`: thought compression against vanilla CoT and H2O at the same budget.

On one task and split: `cot` with the vanilla reasoner, `lightthinker` with the LightThinker one, then
`h2o` with the vanilla reasoner and a KV budget of LightThinker's measured mean Peak (rounded up), each
at every batch size. Every run goes through the harness into one resumable results file. The summary
gives accuracy, generated tokens, Peak, Dep and wall time, and each method's Peak and Dep as a share of
vanilla's (the issue's targets); the PNG draws tokens held against tokens generated for one problem.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from .. import checks
from ..errors import LeanthinkError


def run_lightthinker_bench(vanilla: str, model: str, task_name: str, split: str | None, data, limit: int,
                           out_dir: Path, batch_sizes=(1, 16), seed: int = 0, progress: bool = True,
                           max_new_tokens: int = 512, sweep: tuple[str, ...] = ()) -> dict:
    """`sweep`: more LightThinker models (one per |C|, read from each checkpoint), run at the largest
    batch size into sweep.jsonl and tabulated against vanilla (summary.md, sweep.png)."""
    from ..engine import load_engine
    from ..methods import get_method
    from ..tasks import get_task
    from .harness import RunInfo, run
    from .report import summarise

    checks.integer("--limit", limit, 1)
    for b in batch_sizes:
        checks.integer("--batch-sizes", b, 1, 4096)
    out_dir = checks.output_dir("--out", out_dir)
    # outputs do not depend on the batch size (it is left out of the run id), so each batch size, timed
    # on its own, writes its own results file
    files = {b: out_dir / f"lightthinker_b{b}.jsonl" for b in batch_sizes}
    for f in [*files.values(), out_dir / "sweep.jsonl"]:
        checks.output_file("--out", f)
    task = get_task(task_name)
    problems = task.load(split=split, data=data, limit=limit, seed=seed)
    specs = {"vanilla": vanilla, "lightthinker": model}
    if str(vanilla).startswith(("openai:", "vllm:")):   # LightThinker itself is refused there by its verbs
        raise LeanthinkError(f"--vanilla {vanilla}: this benchmark compares Peak and Dep, which a remote engine cannot "
                             "count; give an in-process model (builtin:NAME or a directory)")
    engines = {"vanilla": load_engine(vanilla), "lightthinker": load_engine(model, requires=frozenset({"evict"}))}
    for m in sweep:   # loaded up front: a bad path fails before the slow runs, not after
        specs[m], engines[m] = m, load_engine(m, requires=frozenset({"evict"}))
    timings, rows = {}, {b: [] for b in batch_sizes}

    def one(kind: str, name: str, batch: int, file: Path | None = None, **settings) -> list[dict]:
        engine = engines[kind]
        method = get_method(name, batch_size=batch, seed=seed, max_new_tokens=max_new_tokens, **settings)
        info = RunInfo.create(task_name, split, data, seed, method, name, specs[kind], engine)
        t0 = time.perf_counter()
        done = run(method, engine, task, problems, info, file or files[batch], chunk_size=batch, progress=progress)
        if file is None:
            rows[batch] += done
            timings[(name, batch)] = time.perf_counter() - t0
        return done

    for b in batch_sizes:
        one("vanilla", "cot", b)
        one("lightthinker", "lightthinker", b)
    lt = [r for r in rows[batch_sizes[0]] if r["method"] == "lightthinker"]
    budget = math.ceil(sum(r["usage"]["peak_tokens"] for r in lt) / len(lt))
    for b in batch_sizes:
        one("vanilla", "h2o", b, kv_budget=budget)
    summaries = []
    for b in batch_sizes:
        mine = summarise(rows[b])
        base = next(s for s in mine if s["method"] == "cot")
        for s in mine:
            s["batch_size"] = b
            s["wall_s"] = timings.get((s["method"], b))   # this call's time (a resumed run's is partial)
            s["peak_vs_vanilla"] = s["mean_peak_tokens"] / base["mean_peak_tokens"]
            s["dep_vs_vanilla"] = s["mean_dep"] / base["mean_dep"]
            s["accuracy_vs_vanilla"] = s["accuracy"] - base["accuracy"]
        summaries += mine
    big = max(batch_sizes)
    base = next(s for s in summaries if s["method"] == "cot" and s["batch_size"] == big)
    swept = [next(s for s in summaries if s["method"] == "lightthinker" and s["batch_size"] == big)]
    for m in sweep:
        swept += summarise(one(m, "lightthinker", big, file=out_dir / "sweep.jsonl"))
    for s, m in zip(swept, [model, *sweep]):
        s["cache_tokens"] = int((engines["lightthinker" if m == model else m].meta.get("lightthinker") or {})
                                .get("cache_tokens", 0))
        s["peak_vs_vanilla"] = s["mean_peak_tokens"] / base["mean_peak_tokens"]
        s["dep_vs_vanilla"] = s["mean_dep"] / base["mean_dep"]
        s["accuracy_vs_vanilla"] = s["accuracy"] - base["accuracy"]
    report = {"task": task_name, "split": split, "vanilla": vanilla, "model": model, "h2o_kv_budget": budget,
              "runs": summaries, "sweep": sorted(swept, key=lambda s: s["cache_tokens"]) if sweep else []}
    _write(report, rows[batch_sizes[0]], out_dir)
    return report


def _write(report: dict, rows: list[dict], out_dir: Path) -> None:
    from ..fileio import write_text

    lines = [f"# LightThinker on {report['task']}/{report['split']}", "",
             f"vanilla: {report['vanilla']}; LightThinker: {report['model']}; H2O budget = LightThinker's mean "
             f"Peak = {report['h2o_kv_budget']} tokens", "",
             "| method | batch | n | accuracy [95% CI] | Δ acc | gen tokens | Peak | Peak / vanilla | Dep | "
             "Dep / vanilla | wall s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in report["runs"]:
        lines.append(f"| {s['method']} | {s['batch_size']} | {s['n']} | {s['accuracy']:.1%} [{s['ci95'][0]:.1%}, "
                     f"{s['ci95'][1]:.1%}] | {s['accuracy_vs_vanilla'] * 100:+.1f} | {s['mean_generated_tokens']:.0f} | "
                     f"{s['mean_peak_tokens']:.0f} | {s['peak_vs_vanilla']:.1%} | {s['mean_dep']:.0f} | "
                     f"{s['dep_vs_vanilla']:.1%} | {s['wall_s']:.1f} |")
    if report["sweep"]:
        lines += ["", f"|C| sweep (batch {max(s['batch_size'] for s in report['runs'])}; vanilla "
                  f"{next(s for s in report['runs'] if s['method'] == 'cot')['accuracy']:.1%}):", "",
                  "| cache tokens | model | accuracy [95% CI] | Δ acc | gen tokens | Peak | Peak / vanilla | Dep | "
                  "Dep / vanilla |", "|---|---|---|---|---|---|---|---|---|"]
        for s in report["sweep"]:
            lines.append(f"| {s['cache_tokens']} | {s['model']} | {s['accuracy']:.1%} [{s['ci95'][0]:.1%}, "
                         f"{s['ci95'][1]:.1%}] | {s['accuracy_vs_vanilla'] * 100:+.1f} | "
                         f"{s['mean_generated_tokens']:.0f} | {s['mean_peak_tokens']:.0f} | {s['peak_vs_vanilla']:.1%} | "
                         f"{s['mean_dep']:.0f} | {s['dep_vs_vanilla']:.1%} |")
        plot_sweep(report["sweep"], out_dir / "sweep.png")
    write_text(out_dir / "summary.md", "\n".join(lines) + "\n")
    write_text(out_dir / "summary.json", json.dumps(report, indent=2, default=str))
    plot_context(rows, out_dir / "context.png")


def context_curve(row: dict) -> list[tuple[int, int]]:
    """(tokens generated, tokens held) of one result line: the methods' measured curve, or for
    vanilla CoT (nothing is ever evicted) prompt + generated."""
    if row.get("trace", {}).get("context"):
        return [tuple(p) for p in row["trace"]["context"]]
    u = row["usage"]
    return [(0, u["prompt_tokens"]), (u["generated_tokens"], u["prompt_tokens"] + u["generated_tokens"])]


def plot_context(rows: list[dict], path: Path) -> None:
    """Tokens held against tokens generated for the first problem every method solved."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fileio import atomic

    by = {}
    for r in rows:
        by.setdefault(r["method"], {}).setdefault(r["problem_id"], r)
    common = set.intersection(*(set(v) for v in by.values())) if by else set()
    if not common:
        raise LeanthinkError("no problem was solved by every method; nothing to plot")
    pid = sorted(common)[0]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for name, probs in by.items():
        xs, ys = zip(*context_curve(probs[pid]))
        ax.plot(xs, ys, label=name)   # points at every decode end and compression: straight lines between
    ax.set_xlabel("tokens generated")
    ax.set_ylabel("tokens held in the KV cache")
    ax.set_title(f"context length over generation ({pid})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)


def plot_sweep(sweep: list[dict], path: Path) -> None:
    """Accuracy change and Peak / Dep shares of vanilla against |C|."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fileio import atomic

    cs = [s["cache_tokens"] for s in sweep]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=120)
    a.plot(cs, [100 * s["accuracy_vs_vanilla"] for s in sweep], "o-")
    a.axhline(0, color="grey", lw=0.8)
    a.set_xlabel("cache tokens |C|")
    a.set_ylabel("accuracy − vanilla (points)")
    b.plot(cs, [100 * s["peak_vs_vanilla"] for s in sweep], "o-", label="Peak")
    b.plot(cs, [100 * s["dep_vs_vanilla"] for s in sweep], "s-", label="Dep")
    b.set_xlabel("cache tokens |C|")
    b.set_ylabel("% of vanilla")
    b.legend()
    for ax in (a, b):
        ax.set_xticks(cs)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
