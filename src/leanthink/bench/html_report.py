"""One self-contained HTML page for results files: the table of every run, accuracy-cost Pareto plots,
and a section per method linking its docs page.

The numbers are report.py's summaries, formatted as the text table formats them; nothing is
recomputed here (the plots' token cost is the sum of two of them, mean generated + latent tokens). The page fetches nothing: CSS is inline, plots are PNGs inlined as base64 `data:`
URIs, and the links to docs pages are relative paths (they work when the page is opened from a
checkout). Every string that comes from a results file is escaped.
"""

from __future__ import annotations

import base64
import io
import json
import os
from html import escape
from pathlib import Path

from ..fileio import write_text
from .report import label, num, plain

#: docs/methods/ of the checkout this module lives in (absent when installed from a wheel)
DOCS_METHODS = Path(__file__).resolve().parents[3] / "docs" / "methods"

#: method -> (its page in docs/methods/, or None, and a one-paragraph description)
ABOUT: dict[str, tuple[str | None, str]] = {
    "cot": (None, "Chain of thought: one generation per problem (greedy unless a temperature is set) that "
                  "writes its reasoning steps, then the answer. The baseline every method is measured against."),
    "direct": (None, "The answer without reasoning steps: the cheapest baseline, and the floor a reasoning "
                     "method has to beat."),
    "reference": (None, "The data set's own gold solution, run through answer extraction and grading without a "
                        "model: checks the grader end to end; its usage is zero."),
    "self-consistency": ("sampling-baselines.md", "N whole solutions sampled per problem; the most frequent "
                                                  "answer wins. No scorer."),
    "best-of-n": ("sampling-baselines.md", "N whole solutions sampled per problem; the one a process reward "
                                           "model (or self-certainty) scores highest gives the answer."),
    "weighted-best-of-n": ("sampling-baselines.md", "N whole solutions sampled per problem; PRM scores are "
                                                    "summed over solutions with the same answer, the largest sum "
                                                    "wins."),
    "beam": ("tree-search.md", "Beam search over reasoning steps: keeps the N/M best partial solutions by PRM "
                               "score after every step and expands each M ways."),
    "dvts": ("tree-search.md", "Diverse verifier tree search: N/M independent subtrees, each keeping only its "
                               "best candidate after every step, so the subtrees stay diverse."),
    "particle-filter": ("particle-filter.md", "Particle filtering (Puri et al. 2025): N partial solutions are "
                                              "extended a step at a time, weighted by a PRM and resampled, "
                                              "sampling the posterior instead of searching for its mode."),
    "particle-gibbs": ("particle-filter.md", "Particle Gibbs: iterations of particle filtering, each keeping a "
                                             "reference particle from the last."),
    "parallel-tempering": ("particle-filter.md", "Parallel tempering: particle-Gibbs chains at several softmax "
                                                 "temperatures that swap their reference particles."),
    "lightthinker": ("lightthinker.md", "LightThinker: the model compresses each thought into a few cache "
                                        "tokens and the thought's KV entries are evicted, so the context held "
                                        "(Peak) and attended (Dep) stay small."),
    "h2o": ("lightthinker.md", "H2O: a training-free KV eviction baseline that keeps the most-attended and the "
                               "most recent tokens within a fixed KV budget."),
    "coconut": ("coconut.md", "Coconut: reasoning in continuous thoughts, the last hidden state fed back as the "
                              "next input embedding, learnt by a curriculum that replaces steps with thoughts."),
    "litereason": ("litereason.md", "LiteReason: the policy chooses where to take latent steps, made through a "
                                    "Reasoning Projector instead of written tokens."),
    "budget-forcing": ("compact.md", "Budget forcing (s1): caps the reasoning at K sampled tokens, then forces "
                                     "the end-of-reasoning marker and the answer."),
    "early-exit": ("compact.md", "Early exit (DEER, and an agreement variant): at each step boundary a trial "
                                 "answer is decoded, and reasoning stops once it is confident or stable."),
    "tokenskip": ("compact.md", "TokenSkip: a reasoner fine-tuned on its own chains pruned to a ratio of their "
                                "tokens, asked for that ratio at inference."),
    "l1": ("compact.md", "L1 (LCPO): a reasoner trained by RL to write about as many tokens as the prompt "
                         "asks for."),
    "route": ("router.md", "Router: a cheap probe of the reasoner (a direct answer's confidence, its hidden "
                           "state) decides per query which method and budget to run, learnt from measured "
                           "results on training problems."),
}

#: table columns: heading, and how a summary's value is shown (the text table's formats)
_COLUMNS = (
    ("n", lambda s: str(s["n"])),
    ("accuracy [95% CI]", lambda s: f"{s['accuracy']:.1%} [{s['ci95'][0]:.1%}, {s['ci95'][1]:.1%}]"),
    ("gen tokens", lambda s: num(s["mean_generated_tokens"], ".1f")),
    ("latent", lambda s: num(s.get("mean_latent_tokens", 0), ".1f")),
    ("Peak", lambda s: num(s["mean_peak_tokens"], ".1f")),
    ("Dep", lambda s: num(s["mean_dep"], ".0f")),
    ("forward", lambda s: num(s["mean_forward_tokens"], ".1f")),
    ("scorer tokens", lambda s: num(s.get("mean_scorer_tokens", 0), ".1f")),
    ("latency s", lambda s: num(s["mean_latency_s"], ".3f")),
)

#: the two costs plotted against accuracy: key in the page, axis label, the cost of a summary
COSTS = (
    ("tokens", "mean generated + latent tokens per problem", lambda s: _sum(s["mean_generated_tokens"],
                                                                              s.get("mean_latent_tokens", 0))),
    ("peak", "mean Peak (tokens held in context) per problem", lambda s: s["mean_peak_tokens"]),
)


def _sum(a, b):
    return None if a is None or b is None else a + b


def task_of(s: dict) -> str:
    return s["task"] + (f"/{s['split']}" if s.get("split") else "")


def varying_settings(summaries: list[dict]) -> dict[str, str]:
    """run_id -> the settings that tell it from the other runs of its method on its task ("cut=step"):
    the keys whose values differ between those runs, less the budget the label already shows."""
    by_method: dict[tuple[str, str], list[dict]] = {}
    for s in summaries:
        by_method.setdefault((s["method"], task_of(s)), []).append(s)
    out = {}
    for runs in by_method.values():
        keys = dict.fromkeys(k for s in runs for k in (s.get("settings") or {}))
        varying = [k for k in keys if k != "budget"
                   and len({json.dumps((s.get("settings") or {}).get(k), default=str) for s in runs}) > 1]
        for s in runs:
            settings = s.get("settings") or {}
            out[s["run_id"]] = " ".join(f"{k}={_short(settings.get(k))}" for k in varying)
    return out


def _short(v) -> str:
    return v if isinstance(v, str) else json.dumps(v, default=str)


def pareto_front(points: list[tuple[float | None, float]]) -> list[bool]:
    """For (cost, accuracy) points, whether each is on the front: no other point is as cheap and as
    accurate and strictly better in one. Unknown cost (None) is never on the front; equal points both are."""
    known = [(c, a) for c, a in points if c is not None]
    return [c is not None and not any(c2 <= c and a2 >= a and (c2 < c or a2 > a) for c2, a2 in known)
            for c, a in points]


def doc_href(method: str, out_dir: Path, docs: Path = DOCS_METHODS) -> tuple[str, str] | None:
    """(href relative to the page's folder, repo-relative name) of a method's docs page, or None."""
    page = ABOUT.get(method, (None, ""))[0]
    if page is None:
        return None
    name = f"docs/methods/{page}"
    if not (docs / page).is_file():
        return "", name          # installed without docs: the name, unlinked
    return Path(os.path.relpath(docs / page, out_dir.resolve())).as_posix(), name


def plot_png(summaries: list[dict], cost, xlabel: str, title: str, names: dict[str, str]) -> bytes:
    """Accuracy (95% CI bars) against a cost, one point per run with a known cost: the Pareto front
    filled and joined by a line, dominated runs hollow. Colours by method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    runs = [s for s in summaries if cost(s) is not None]
    front = pareto_front([(cost(s), s["accuracy"]) for s in runs])
    methods = list(dict.fromkeys(s["method"] for s in runs))
    colours = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(7.4, 4.4), dpi=110)
    for s, on in zip(runs, front):
        colour = colours(methods.index(s["method"]) % colours.N)
        x, acc, (lo, hi) = cost(s), s["accuracy"], s["ci95"]
        ax.errorbar(x, acc, yerr=[[max(0.0, acc - lo)], [max(0.0, hi - acc)]], fmt="o", color=colour,
                    mfc=colour if on else "white", ms=7 if on else 6, capsize=3, alpha=1.0 if on else 0.6, zorder=3)
    pts = sorted((cost(s), s["accuracy"]) for s, on in zip(runs, front) if on)
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", color="0.3", lw=1, zorder=2, label="Pareto front")
    for m in methods:
        ax.plot([], [], "o", color=colours(methods.index(m) % colours.N), label=plain(m))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    if min(cost(s) for s in runs) > 0:   # costs span decades; plain numbers read better than 10^k
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:                                 # a zero cost (the reference runs no model): log cannot show it
        ax.set_xscale("symlog", linthresh=10)
    ax.grid(alpha=0.3)
    ax.autoscale_view()
    to_axes = ax.transData + ax.transAxes.inverted()
    at: dict[tuple[float, float], list[str]] = {}   # runs with equal numbers share one label
    for s, on in zip(runs, front):
        if on:
            at.setdefault((cost(s), s["accuracy"]), []).append(names[s["run_id"]])
    for i, ((x, acc), ns) in enumerate(sorted(at.items())):
        text = ns[0] if len(ns) == 1 else f"{ns[0]} (+{len(ns) - 1} equal)"
        right = to_axes.transform((x, acc))[0] > 0.7   # near the right edge: the label goes left of its point
        ax.annotate(plain(text), (x, acc), textcoords="offset points", fontsize=7,
                    xytext=(-5 if right else 5, 5 if i % 2 == 0 else -11), ha="right" if right else "left")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title(plain(title), fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1480px;padding:0 16px;
color:#1b1f24;line-height:1.45}
h1{font-size:1.6em;margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums;width:100%}
th,td{padding:4px 7px;border-bottom:1px solid #e5e8ec;white-space:nowrap}td.wrap{white-space:normal;min-width:8em}
.scroll{overflow-x:auto}
th{background:#eef1f5;position:sticky;top:0;text-align:left}td.num,th.num{text-align:right}
tbody tr:nth-child(even){background:#f6f8fa}tr.front td:first-child{font-weight:600}
.na{color:#8b949e}.plots{display:flex;flex-wrap:wrap;gap:16px}.plots figure{margin:0;flex:1 1 600px;max-width:820px}
.plots img{max-width:100%;border:1px solid #e5e8ec}figcaption,.note{font-size:13px;color:#57606a}
code{background:#f0f2f4;padding:1px 4px;border-radius:3px}
"""

# Marks the body once the page has loaded, with how many plots decoded: a headless browser's DOM dump
# (the slow test) sees whether every image really loaded.
_SCRIPT = """window.addEventListener('load',function(){var im=[].slice.call(document.images);
document.body.setAttribute('data-images-loaded',im.filter(function(i){return i.complete&&i.naturalWidth>0}).length
+'/'+im.length);});"""


def _cell(text: str, num: bool = True, extra: str = "") -> str:
    cls = " ".join(c for c in ("num" if num else "", "na" if text == "n/a" else "", extra) if c)
    return f'<td class="{cls}">{escape(text)}</td>' if cls else f"<td>{escape(text)}</td>"


def build_html(summaries: list[dict], sources: list[Path], out: Path, title: str = "leanthink report") -> str:
    """The page: a header naming the sources, the table, the plots per task, a section per method."""
    by_task: dict[str, list[dict]] = {}
    for s in summaries:
        by_task.setdefault(task_of(s), []).append(s)
    varying = varying_settings(summaries)
    models: dict[tuple[str, str], set[str]] = {}
    for s in summaries:
        models.setdefault((s["method"], task_of(s)), set()).add(s["model"])
    # what tells a run from the others in plots: its settings, and its model where that varies
    names = {s["run_id"]: " ".join(x for x in (label(s), varying[s["run_id"]], f"[{s['model']}]"
                                               if len(models[s["method"], task_of(s)]) > 1 else "") if x)
             for s in summaries}
    head = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{_CSS}</style><script>{_SCRIPT}</script></head><body><h1>{escape(title)}</h1>"
            f'<p class="note">{len(summaries)} run(s) from '
            + ", ".join(f"<code>{escape(str(p))}</code>" for p in sources)
            + ". Means are per problem; <i>n/a</i>: a counter the engine could not measure (remote engines). "
            "Pareto: the run is on the accuracy-cost front of its task for that cost.</p>")
    return "\n".join([head, _table(summaries, by_task, varying), _plots(by_task, names),
                      _methods(summaries, names, Path(out).parent), "</body></html>\n"])


def _table(summaries: list[dict], by_task: dict[str, list[dict]], varying: dict[str, str]) -> str:
    on_front: dict[str, list[str]] = {}
    for runs in by_task.values():
        for key, _, cost in COSTS:
            for s, on in zip(runs, pareto_front([(cost(s), s["accuracy"]) for s in runs])):
                if on:
                    on_front.setdefault(s["run_id"], []).append(key)
    rows = ['<h2>Runs</h2><div class="scroll"><table><thead><tr>'
            '<th>method</th><th>settings</th><th>task</th><th>model</th>'
            + "".join(f'<th class="num">{escape(h)}</th>' for h, _ in _COLUMNS) + "<th>Pareto</th></tr></thead><tbody>"]
    for s in summaries:
        front = on_front.get(s["run_id"], [])
        tip = f"run {s['run_id']}, seed {s.get('seed')}, settings {json.dumps(s.get('settings') or {}, default=str)}"
        rows.append(f'<tr class="{"front" if front else "dominated"}" title="{escape(tip)}">'
                    + _cell(label(s), False) + _cell(varying[s["run_id"]], False, "wrap") + _cell(task_of(s), False)
                    + _cell(s["model"], False) + "".join(_cell(fmt(s)) for _, fmt in _COLUMNS)
                    + _cell(", ".join(front), False) + "</tr>")
    return "\n".join(rows) + "</tbody></table></div>"


def _plots(by_task: dict[str, list[dict]], names: dict[str, str]) -> str:
    parts = ["<h2>Accuracy against cost</h2>"]
    for task, runs in by_task.items():
        parts.append(f"<h3>{escape(task)}</h3><div class=\"plots\">")
        for key, xlabel, cost in COSTS:
            unknown = sum(cost(s) is None for s in runs)
            if unknown == len(runs):
                parts.append(f'<p class="note">{escape(key)}: unknown for every run of this task (n/a).</p>')
                continue
            png = plot_png(runs, cost, xlabel, f"{task}: accuracy vs {xlabel.split(' per ')[0]}", names)
            note = f" ({unknown} run(s) with unknown {key} left out)" if unknown else ""
            parts.append(f'<figure><img alt="{escape(task)}: accuracy against {escape(key)}" '
                         f'src="data:image/png;base64,{base64.b64encode(png).decode()}">'
                         f"<figcaption>Filled points joined by the line: the Pareto front; hollow: dominated; "
                         f"bars: 95% Wilson CI{escape(note)}.</figcaption></figure>")
        parts.append("</div>")
    return "\n".join(parts)


def _methods(summaries: list[dict], names: dict[str, str], out_dir: Path) -> str:
    parts = ["<h2>Methods</h2>"]
    for method in dict.fromkeys(s["method"] for s in summaries):
        about = ABOUT.get(method, (None, "Not one of leanthink's built-in methods; no description."))[1]
        link = doc_href(method, out_dir)
        more = "" if link is None else (f' See <a href="{escape(link[0])}">{escape(link[1])}</a>.' if link[0]
                                          else f" See <code>{escape(link[1])}</code> in the repository.")
        runs = "; ".join(f"{names[s['run_id']]} on {task_of(s)}: {s['accuracy']:.1%}"
                         for s in summaries if s["method"] == method)
        parts.append(f'<section id="method-{escape(method)}"><h3>{escape(method)}</h3><p>{escape(about)}{more}</p>'
                     f'<p class="note">Runs: {escape(runs)}</p></section>')
    return "\n".join(parts)


def write_html(out: Path, summaries: list[dict], sources: list[Path]) -> Path:
    """Write the page of `summaries` (from report.load_summaries of `sources`) to `out`, whole or not at all."""
    write_text(out, build_html(summaries, [Path(p) for p in sources], Path(out)))
    return Path(out)
