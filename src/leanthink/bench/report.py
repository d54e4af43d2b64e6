"""Summaries of results files: a table per run, JSON, and a PNG of accuracy against tokens.

Every number comes from the lines' `correct` flags and the engine's Usage counters, computed the same
way for every method.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import DataError
from ..engine.usage import Usage
from .results import ResultsFile

_FIELDS = ("run_id", "method", "task", "model", "correct", "usage", "problem_id")
_USAGE = {f for f in Usage.__dataclass_fields__}

FIELDS = ("n", "accuracy", "ci95", "mean_generated_tokens", "mean_latent_tokens", "mean_peak_tokens", "mean_dep",
          "mean_forward_tokens", "mean_scorer_tokens", "mean_latency_s")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval: well-behaved at 0% and 100% and for small n, unlike the normal one."""
    if n == 0:
        return 0.0, 0.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def summarise(rows: list[dict]) -> list[dict]:
    """One summary per run, in order of first appearance."""
    runs: dict[str, list[dict]] = {}
    for r in rows:
        runs.setdefault(r["run_id"], []).append(r)
    out = []
    for run_id, rs in runs.items():
        n = len(rs)
        k = sum(bool(r["correct"]) for r in rs)
        lo, hi = wilson(k, n)

        def mean(key: str) -> float | None:
            values = [r["usage"].get(key, 0) for r in rs]
            if any(v is None for v in values):   # a remote engine cannot measure it: unknown, never 0
                return None
            return sum(float(v) for v in values) / n

        first = rs[0]
        out.append({
            "run_id": run_id, "method": first["method"], "task": first["task"], "split": first.get("split"),
            "model": first["model"], "settings": first.get("settings", {}), "seed": first.get("seed"),
            "n": n, "accuracy": k / n, "ci95": [lo, hi],
            "mean_generated_tokens": mean("generated_tokens"), "mean_latent_tokens": mean("latent_tokens"),
            "mean_peak_tokens": mean("peak_tokens"),
            "mean_dep": mean("dep"), "mean_forward_tokens": mean("forward_tokens"),
            "mean_scorer_tokens": mean("scorer_tokens"), "mean_latency_s": mean("wall_time_s"),
        })
    return out


def load_summaries(paths: list[Path]) -> list[dict]:
    """Summaries of the runs in results files. Every line is checked first (a line the summary could
    misread is an error naming file and line), and a (run, problem) that appears twice counts once."""
    rows, seen = [], set()
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise DataError(p, "no such results file")
        if p.is_dir():
            raise DataError(p, "is a directory, expected a results file")
        f = ResultsFile(p)
        f.refresh()
        if not f.rows:
            raise DataError(p, "holds no results lines")
        for number, r in zip(f.numbers, f.rows):
            check_row(p, number, r)
            key = (r["run_id"], r["problem_id"])
            if key not in seen:
                seen.add(key)
                rows.append(r)
    return summarise(rows)


def check_row(path: Path, number: int, r: dict) -> None:
    missing = [k for k in _FIELDS if k not in r]
    if missing:
        raise DataError(path, f"results line lacks field(s) {', '.join(missing)}", line=number)
    if not isinstance(r["correct"], bool):
        raise DataError(path, f"field 'correct' must be true or false, got {r['correct']!r}", line=number)
    for k in ("run_id", "method", "task", "model"):
        if not isinstance(r[k], str):
            raise DataError(path, f"field {k!r} must be a string, got {type(r[k]).__name__}", line=number)
    usage = r["usage"]
    if not isinstance(usage, dict):
        raise DataError(path, f"field 'usage' must be an object, got {type(usage).__name__}", line=number)
    for k, v in usage.items():
        if k in _USAGE and v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                             or not math.isfinite(v) or v < 0):
            raise DataError(path, f"usage.{k} must be a finite number >= 0 or null (unknown), got {v!r}", line=number)


def console():
    """A console wide enough for the table even when output is piped (rich assumes 80 columns then)."""
    import shutil

    from rich.console import Console

    return Console(width=max(140, shutil.get_terminal_size((140, 24)).columns))


def label(s: dict) -> str:
    """The method as a table shows it: scaling runs carry their budget (particle-filter@8), and
    PRM-free weights when chosen, so two runs of one method stay apart."""
    settings = s.get("settings") or {}
    name = s["method"]
    if settings.get("weights") == "self-certainty" and name not in ("self-consistency",):
        name += "[self-certainty]"
    return name + (f"@{settings['budget']}" if "budget" in settings else "")


def render_table(summaries: list[dict], title: str = "leanthink results"):
    from rich.table import Table

    table = Table(title=title)
    for col in ("method", "task", "model", "n", "accuracy (95% CI)", "gen tokens", "latent", "peak", "Dep",
                "forward", "latency s"):
        table.add_column(col, justify="right" if col not in ("method", "task", "model") else "left")
    for s in summaries:
        task = s["task"] + (f"/{s['split']}" if s.get("split") else "")
        table.add_row(label(s), task, s["model"], str(s["n"]),
                      f"{s['accuracy']:.1%} [{s['ci95'][0]:.1%}, {s['ci95'][1]:.1%}]",
                      num(s['mean_generated_tokens'], ".1f"), num(s.get('mean_latent_tokens', 0), ".1f"),
                      num(s['mean_peak_tokens'], ".1f"),
                      num(s['mean_dep'], ".0f"), num(s['mean_forward_tokens'], ".1f"), num(s['mean_latency_s'], ".3f"))
    return table


def num(value, fmt: str) -> str:
    """A mean as the tables show it; "n/a" when unknown (counters a remote engine cannot measure)."""
    return "n/a" if value is None else format(value, fmt)


def markdown_table(summaries: list[dict]) -> str:
    head = "| method | task | model | n | accuracy [95% CI] | gen tokens | latent | peak | Dep | forward | latency s |\n"
    head += "|---|---|---|---|---|---|---|---|---|---|---|\n"
    for s in summaries:
        task = s["task"] + (f"/{s['split']}" if s.get("split") else "")
        head += (f"| {label(s)} | {task} | {s['model']} | {s['n']} | {s['accuracy']:.1%} "
                 f"[{s['ci95'][0]:.1%}, {s['ci95'][1]:.1%}] | {num(s['mean_generated_tokens'], '.1f')} | "
                 f"{num(s.get('mean_latent_tokens', 0), '.1f')} | {num(s['mean_peak_tokens'], '.1f')} | "
                 f"{num(s['mean_dep'], '.0f')} | {num(s['mean_forward_tokens'], '.1f')} | "
                 f"{num(s['mean_latency_s'], '.3f')} |\n")
    return head


def plain(text: str) -> str:
    """Text matplotlib shows as written: a `$` in a name from a results file would start mathtext
    (and an unbalanced one fails the whole plot)."""
    return text.replace("$", r"\$")


def plot_accuracy_vs_tokens(summaries: list[dict], path: Path) -> Path:
    """Accuracy (with its 95% CI) against mean generated tokens, one point per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    groups: dict[str, list[dict]] = {}
    for s in summaries:
        groups.setdefault(s["task"] + (f"/{s['split']}" if s.get("split") else ""), []).append(s)
    markers = "osD^vP*X"
    for gi, (task, ss) in enumerate(groups.items()):
        for s in ss:
            if s["mean_generated_tokens"] is None:   # unknown (a remote engine): nowhere to put the point
                continue
            acc, (lo, hi) = s["accuracy"], s["ci95"]
            ax.errorbar(s["mean_generated_tokens"], acc, yerr=[[max(0.0, acc - lo)], [max(0.0, hi - acc)]], fmt=markers[gi % len(markers)],
                        capsize=3, label=plain(f"{label(s)} · {task}"))
            ax.annotate(plain(label(s)), (s["mean_generated_tokens"], acc), textcoords="offset points", xytext=(5, 4),
                        fontsize=8)
    ax.set_xlabel("mean generated tokens per problem")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xscale("symlog", linthresh=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title("accuracy vs generated tokens (95% Wilson CI)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)   # checks.output_file allowed a folder that can be made
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return path
