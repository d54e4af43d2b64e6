"""Particle filtering over compressed particles against plain particle filtering, at equal peak KV memory.

Plain particle filtering runs on a vanilla reasoner (every particle holds its whole text);
`compress=lightthinker` runs on the LightThinker reasoner trained from the same data (every particle
holds the prompt, a summary per finished thought and one live thought), so at the same peak many more
particles fit. Both arms weigh particles with the same scorer (a PRM, or the policy's self-certainty)
on the same problems and seeds. Every (arm, N) is an ordinary harness run appended to one resumable
results file; the summary gives accuracy and the engine's mean peak tokens per (arm, N), a matched
table (for each plain point, the best compressed point whose mean peak is no larger) and a figure of
accuracy against mean peak tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import checks
from ..errors import LeanthinkError

PLAIN_BUDGETS = (1, 2, 4, 8, 16)
COMPRESSED_BUDGETS = (1, 2, 4, 8, 16, 32, 64)
ROWS_PER_BATCH = 128
"""Particles decoded together (batch size = max(1, this // N)); outputs do not depend on it."""


def run_pf_compressed(plain_model: str, lt_model: str, task_name: str, split: str | None, data, limit: int,
                      out_dir: Path, plain_budgets=PLAIN_BUDGETS, compressed_budgets=COMPRESSED_BUDGETS,
                      seed: int = 0, weights: str = "self-certainty", prm: str | None = None,
                      progress: bool = True) -> dict:
    from ..engine import load_engine
    from ..methods import get_method
    from ..scorers import load_scorer
    from ..tasks import get_task
    from .harness import RunInfo, run
    from .report import summarise

    for b in (*plain_budgets, *compressed_budgets):
        checks.integer("budgets", b, 1, 4096)
    checks.integer("--limit", limit, 1)
    if weights == "prm" and prm is None:
        raise LeanthinkError("weights=prm needs --prm (a PRM for the task); or use weights=self-certainty")
    out_dir = checks.output_dir("--out", out_dir)
    results = out_dir / "pf_compressed.jsonl"
    checks.output_file("--out", results)
    task = get_task(task_name)
    problems = task.load(split=split, data=data, limit=limit, seed=seed)
    scorer = load_scorer(prm) if weights == "prm" else None
    rows = []
    for arm, model, budgets, compress in (("plain", plain_model, plain_budgets, "none"),
                                          ("compressed", lt_model, compressed_budgets, "lightthinker")):
        engine = load_engine(model)
        for n in budgets:
            method = get_method("particle-filter", budget=n, weights=weights, compress=compress, seed=seed,
                                batch_size=max(1, ROWS_PER_BATCH // n))
            info = RunInfo.create(task_name, split, data, seed, method, "particle-filter", model, engine, scorer=scorer)
            rows += run(method, engine, task, problems, info, results, chunk_size=method.batch_size,
                        progress=progress, scorer=scorer)
    summaries = summarise(rows)
    for s in summaries:
        s["arm"] = "compressed" if s["settings"].get("compress") == "lightthinker" else "plain"
        s["budget"] = s["settings"]["budget"]
    report = {"weights": weights, "prm": prm, "plain_model": plain_model, "lt_model": lt_model, "runs": summaries,
              "matched": matched(summaries)}
    write_outputs(report, out_dir)
    return report


def matched(summaries: list[dict]) -> list[dict]:
    """For each plain point: the most accurate compressed point whose mean peak is no larger."""
    plain = sorted((s for s in summaries if s["arm"] == "plain"), key=lambda s: s["budget"])
    packed = [s for s in summaries if s["arm"] == "compressed"]
    out = []
    for p in plain:
        fits = [c for c in packed if c["mean_peak_tokens"] <= p["mean_peak_tokens"]]
        best = max(fits, key=lambda c: (c["accuracy"], -c["mean_peak_tokens"]), default=None)
        out.append({"plain_budget": p["budget"], "plain_peak": p["mean_peak_tokens"], "plain_accuracy": p["accuracy"],
                    "compressed_budget": best and best["budget"], "compressed_peak": best and best["mean_peak_tokens"],
                    "compressed_accuracy": best and best["accuracy"],
                    "delta": None if best is None else best["accuracy"] - p["accuracy"]})
    return out


def table(report: dict) -> str:
    runs = sorted(report["runs"], key=lambda s: (s["arm"] != "plain", s["budget"]))
    # no latency column: a problem's wall time is its whole batch's (ROWS_PER_BATCH // N problems at once)
    lines = ["| arm | model | N | n | accuracy [95% CI] | mean peak tokens | peak / particle | gen tokens |",
             "|---|---|---|---|---|---|---|---|"]
    for s in runs:
        lines.append(f"| {s['arm']} | {s['model']} | {s['budget']} | {s['n']} | {s['accuracy']:.1%} "
                     f"[{s['ci95'][0]:.1%}, {s['ci95'][1]:.1%}] | {s['mean_peak_tokens']:.0f} | "
                     f"{s['mean_peak_tokens'] / s['budget']:.0f} | {s['mean_generated_tokens']:.0f} |")
    lines += ["", "At equal peak: each plain point against the most accurate compressed point whose mean peak is "
              "no larger.", "", "| plain N | plain peak | plain acc | compressed N | compressed peak | compressed acc "
              "| Δ acc |", "|---|---|---|---|---|---|---|"]
    for m in report["matched"]:
        if m["compressed_budget"] is None:
            lines.append(f"| {m['plain_budget']} | {m['plain_peak']:.0f} | {m['plain_accuracy']:.1%} "
                         "| – | – | – | – |")
            continue
        lines.append(f"| {m['plain_budget']} | {m['plain_peak']:.0f} | {m['plain_accuracy']:.1%} | "
                     f"{m['compressed_budget']} | {m['compressed_peak']:.0f} | {m['compressed_accuracy']:.1%} | "
                     f"{m['delta'] * 100:+.1f} |")
    return "\n".join(lines) + "\n"


def write_outputs(report: dict, out_dir: Path) -> None:
    from ..fileio import write_text

    scorer = report["prm"] if report["weights"] == "prm" else "self-certainty (the policy's own log-probs)"
    head = (f"# Particle filtering over compressed particles\n\nPlain: {report['plain_model']}; compressed: "
            f"{report['lt_model']} with compress=lightthinker. Weights for both: {scorer}.\n\n")
    write_text(out_dir / "summary.md", head + table(report))
    write_text(out_dir / "summary.json", json.dumps(report, indent=2, default=str))
    plot(report, out_dir / "pf_compressed.png")


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fileio import atomic

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for arm, style in (("plain", "--s"), ("compressed", "-o")):
        mine = sorted((s for s in report["runs"] if s["arm"] == arm), key=lambda s: s["budget"])
        if not mine:
            continue
        xs, ys = [s["mean_peak_tokens"] for s in mine], [s["accuracy"] for s in mine]
        label = "plain PF" if arm == "plain" else "PF over LightThinker-compressed particles"
        ax.plot(xs, ys, style, label=f"{label} ({mine[0]['model']})")
        for s, x, y in zip(mine, xs, ys):
            ax.annotate(f"N={s['budget']}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    accs = [s["accuracy"] for s in report["runs"]]
    if accs:   # room under the lowest point for the legend
        ax.set_ylim(max(0.0, min(accs) - 0.1), min(1.0, max(accs) + 0.03))
    ax.set_xscale("log")
    ax.set_xlabel("mean peak KV tokens per problem (engine counter; all particles)")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    weights = "self-certainty" if report["weights"] != "prm" else "PRM"
    ax.set_title(f"particle filtering at equal peak memory (weights: {weights})", fontsize=9)
    fig.tight_layout()
    atomic(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
