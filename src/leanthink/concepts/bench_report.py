"""Summary of the settings benchmark: mean and 95% confidence interval per (setting, model), the CCT − CT
difference paired by seed, a Markdown table and one PNG per setting.

The 95% CI of a mean over n seeds is mean ± t(0.975, n−1)·s/√n (Student t, s the sample std). The
paired difference uses, seed by seed, the same training data and initial seed for both models, so it
removes the seed-to-seed spread the two models share; it is reported beside the (stricter) test of
whether the two models' own intervals overlap.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from leanthink.concepts.io import save_figure, write_json, write_text

EXPL = ("expl_acc_global", "expl_acc_spatial", "peak_global")
CONSIST = ("consist_class", "consist_aug_global", "consist_aug_spatial", "agree_class", "agree_aug_global",
           "agree_aug_spatial")
METRICS = ("accuracy", *EXPL, *CONSIST, "train_seconds")
SHORT = {"accuracy": "accuracy", "expl_acc_global": "expl. acc. global", "expl_acc_spatial": "expl. acc. spatial",
         "peak_global": "peak attention (CLS)", "consist_class": "overlap class",
         "consist_aug_global": "overlap aug global", "consist_aug_spatial": "overlap aug spatial",
         "agree_class": "top-1 agree class", "agree_aug_global": "top-1 agree aug global",
         "agree_aug_spatial": "top-1 agree aug spatial"}
MODEL_ORDER = ("cct-sa", "cct-isa", "cct-boqsa", "ct", "plain")


def mean_ci(values) -> dict | None:
    """{"mean", "ci" (half-width of the 95% t interval; 0 for one value), "n"}; None for no values."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if len(v) == 0:
        return None
    if len(v) == 1:
        return {"mean": float(v[0]), "ci": 0.0, "n": 1}
    from scipy.stats import t

    half = float(t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return {"mean": float(v.mean()), "ci": half, "n": int(len(v))}


def group_name(rec: dict) -> str:
    """Setting plus split and overrides: runs under different overrides are never pooled, nor runs of a
    setting whose definition (data size, steps, ...) has changed since they were made."""
    from dataclasses import asdict

    from leanthink.concepts.bench_settings import SETTINGS

    name = rec["setting"]
    try:
        made = json.loads(rec["bench_key"])["setting"]
    except (ValueError, TypeError, KeyError):
        made = None
    now = asdict(SETTINGS[name]) if name in SETTINGS else None
    if isinstance(made, dict) and made != now:
        name += " (as defined then: " + ", ".join(f"{k}={v}" for k, v in sorted(made.items())
                                                 if now is None or now.get(k) != v) + ")"
    if rec.get("split", "test") != "test":
        name += f" [{rec['split']}]"
    over = rec.get("overrides") or []
    if over:
        name += " {" + ", ".join(f"{k}={v}" for k, v in over) + "}"
    return name


def summarise(results_dir: Path) -> dict:
    from leanthink.concepts.bench_settings import check_results_dir

    results_dir = Path(results_dir)
    groups: dict[str, dict[str, list[dict]]] = {}
    for r in check_results_dir(results_dir):
        groups.setdefault(group_name(r), {}).setdefault(r["model_label"], []).append(r)
    summary = {"groups": {}}
    for g, by_model in sorted(groups.items()):
        rows = {}
        for label in sorted(by_model, key=lambda m: MODEL_ORDER.index(m) if m in MODEL_ORDER else 99):
            rs = by_model[label]
            rows[label] = {"runs": len(rs), "seeds": sorted(r["seed"] for r in rs),
                           **{m: mean_ci([r.get(m) for r in rs]) for m in METRICS},
                           "train_seconds_max": float(max(r["train_seconds"] for r in rs))}
        summary["groups"][g] = {"models": rows, "vs_ct": _paired_vs_ct(by_model)}
    write_json(results_dir / "summary.json", summary)
    write_text(results_dir / "summary.md", markdown(summary))
    for g, body in summary["groups"].items():
        plot_group(g, body["models"], results_dir / f"{_slug(g)}.png")
    return summary


def _paired_vs_ct(by_model: dict[str, list[dict]]) -> dict:
    """Per CCT variant: the mean CCT − CT difference over seeds both have, with its 95% CI."""
    ct = {r["seed"]: r for r in by_model.get("ct", [])}
    out = {}
    for label, rs in by_model.items():
        if not label.startswith("cct"):
            continue
        pairs = [(r, ct[r["seed"]]) for r in rs if r["seed"] in ct]
        if not pairs:
            continue
        out[label] = {m: mean_ci([a[m] - b[m] for a, b in pairs if a.get(m) is not None and b.get(m) is not None])
                      for m in METRICS if m != "train_seconds"}
    return out


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name).strip("_")


def _pct(x: dict | None, sign: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x['mean']:{'+' if sign else ''}.1f} ± {100 * x['ci']:.1f}"


def separated(a: dict | None, b: dict | None) -> bool:
    """The two 95% intervals do not overlap and a is above b."""
    return a is not None and b is not None and a["mean"] - a["ci"] > b["mean"] + b["ci"]


def markdown(summary: dict) -> str:
    lines = ["# Settings benchmark: mean ± 95% CI half-width over seeds (percent)", "",
             "Bold accuracy: a CCT variant whose interval lies entirely above the Concept Transformer's.", ""]
    for g, body in summary["groups"].items():
        rows = body["models"]
        ct = rows.get("ct")
        lines += [f"## {g}", "", "| model | runs | accuracy | " + " | ".join(SHORT[m] for m in EXPL)
                  + " | train s (mean / max) |", "|---|---:|---|" + "---|" * len(EXPL) + "---|"]
        for label, r in rows.items():
            acc = _pct(r["accuracy"])
            if label.startswith("cct") and ct is not None and separated(r["accuracy"], ct["accuracy"]):
                acc = f"**{acc}**"
            secs = r["train_seconds"]
            lines.append(f"| {label} | {r['runs']} | {acc} | " + " | ".join(_pct(r[m]) for m in EXPL)
                         + f" | {secs['mean']:.1f} / {r['train_seconds_max']:.1f} |")
        lines += ["", "| model | " + " | ".join(SHORT[m] for m in CONSIST) + " |", "|---|" + "---|" * len(CONSIST)]
        for label, r in rows.items():
            if label != "plain":
                lines.append(f"| {label} | " + " | ".join(_pct(r[m]) for m in CONSIST) + " |")
        if body["vs_ct"]:
            cols = ("accuracy", *EXPL, *CONSIST)
            lines += ["", "CCT − CT, paired by seed (points, mean ± 95% CI):", "",
                      "| variant | " + " | ".join(SHORT[m] for m in cols) + " |", "|---|" + "---|" * len(cols)]
            for label, d in body["vs_ct"].items():
                lines.append(f"| {label} | " + " | ".join(_pct(d[m], sign=True) for m in cols) + " |")
        lines.append("")
    return "\n".join(lines)


def _two_lines(text: str) -> str:
    words = text.split()
    half = (len(words) + 1) // 2
    return " ".join(words[:half]) + "\n" + " ".join(words[half:])


def plot_group(name: str, rows: dict, path: Path) -> None:
    """Left: accuracy per model with 95% CI. Right: explanation accuracy and consistency per concept model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(rows)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1, 2.8]})
    colours = {m: c for m, c in zip(MODEL_ORDER, ("tab:blue", "tab:cyan", "tab:purple", "tab:orange", "tab:gray"))}
    acc = [rows[m]["accuracy"] for m in labels]
    ax1.bar(range(len(labels)), [100 * a["mean"] for a in acc], yerr=[100 * a["ci"] for a in acc], capsize=4,
            color=[colours.get(m, "tab:green") for m in labels])
    ax1.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    lo = min(100 * (a["mean"] - a["ci"]) for a in acc)
    ax1.set_ylim(max(0, lo - 10), 100)
    ax1.set_ylabel("test accuracy (%)")
    ax1.set_title("accuracy (mean, 95% CI)")
    ax1.grid(axis="y", alpha=0.3)
    concept_models = [m for m in labels if m != "plain"]
    metrics = [m for m in (*EXPL, *CONSIST) if m != "peak_global" and any(rows[c][m] is not None
                                                                          for c in concept_models)]
    width = 0.8 / max(1, len(concept_models))
    for i, m in enumerate(concept_models):
        vals = [rows[m][k] for k in metrics]
        x = np.arange(len(metrics)) + (i - (len(concept_models) - 1) / 2) * width
        ax2.bar(x, [100 * v["mean"] if v else 0 for v in vals], width, yerr=[100 * v["ci"] if v else 0 for v in vals],
                capsize=2, label=m, color=colours.get(m, "tab:green"))
    ax2.set_xticks(range(len(metrics)), [_two_lines(SHORT[k]) for k in metrics], fontsize=8)
    ax2.set_ylim(0, 105)
    ax2.set_ylabel("%")
    ax2.set_title("explanations: accuracy and consistency (mean, 95% CI)")
    ax2.legend(fontsize=8, ncol=len(concept_models))
    ax2.grid(axis="y", alpha=0.3)
    n = max(r["runs"] for r in rows.values())
    fig.suptitle(f"{name}: {n} seeds")
    save_figure(fig, path)
