"""`leanthink demo`: the built-in reasoners on their tasks, `direct` vs `cot`; inference-time scaling
on the search split (greedy CoT, self-consistency, best-of-n and PRM-guided particle filtering at the
same budget); thought compression (LightThinker against vanilla CoT on long chains); compact reasoning
(the verbose reasoner's CoT against early exit by agreement, and the L1 model asked for 80 tokens);
routing (the shipped router against CoT on mixed-difficulty chains); in one table and PNG.

Everything goes through the same harness as `leanthink eval`, into one resumable results file.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import LeanthinkError

#: (model, task, split, methods, scorer) the demo runs, when the model (and scorer) are shipped; a
#: method is a name or (name, settings)
DEMO_RUNS = (
    ("builtin:arith", "arith", "easy", ("direct", "cot"), None),
    ("builtin:arith", "arith", "hard", ("direct", "cot"), None),
    ("builtin:prosqa", "prosqa", "small", ("direct", "cot"), None),
    ("builtin:arith-weak", "arith", "search", ("cot", "self-consistency", "best-of-n", "particle-filter"),
     "builtin:arith-prm"),
    # thought compression: the same long chains with and without evicting finished thoughts (Peak, Dep)
    ("builtin:iterate", "iterate", "long", ("cot",), None),
    ("builtin:iterate-lightthinker", "iterate", "long", ("lightthinker",), None),
    # compact reasoning: a reasoner that re-checks after it knows the answer, and what cuts it
    ("builtin:arith-verbose", "arith", "medium", ("cot", ("early-exit", {"agree": 2})), None),
    ("builtin:arith-l1", "arith", "medium", (("l1", {"target": 80}),), None),
    # latent reasoning: the verbose reasoner's re-checks thought in five latents (docs/methods/litereason.md)
    ("builtin:arith-verbose", "arith", "easy", ("cot",), None),
    ("builtin:arith-litereason", "arith", "easy", ("litereason",), None),
    # routing: per query, the method and budget the shipped router picks (docs/methods/router.md)
    ("builtin:arith-verbose", "arith", "mixed", ("cot", ("route", {"router": "builtin:arith-verbose",
                                                                   "target_accuracy": 0.8})), None),
)
BUDGET = 8


def run_demo(out: Path, limit: int = 100, progress: bool = True, seed: int = 0) -> list[dict]:
    from .. import checks
    from ..engine import load_engine
    from ..fileio import write_text
    from ..methods import get_method
    from ..models.registry import builtin_names
    from ..scorers import load_scorer
    from ..tasks import get_task
    from ..tasks.base import GENERATED_MAX
    from .harness import RunInfo, run
    from .report import console, markdown_table, plot_accuracy_vs_tokens, render_table, summarise
    from .results import ResultsFile

    checks.integer("--limit", limit, 1, GENERATED_MAX)
    out = Path(out)
    for path in (out, out.with_suffix(".png"), out.with_suffix(".md")):
        checks.output_file("--out", path)
    ResultsFile(out).refresh()   # a damaged results file is an error before any model loads
    available = set(builtin_names())
    runs = [r for r in DEMO_RUNS if all(m.split(":", 1)[1] in available for m in (r[0], r[4]) if m)]
    if not runs:
        raise LeanthinkError("no built-in checkpoints are installed; train one with `leanthink train` (see README)")
    rows = []
    engines, scorers = {}, {}
    for model, task_name, split, methods, scorer_spec in runs:
        if model not in engines:
            engines[model] = load_engine(model)
        engine = engines[model]
        if scorer_spec and scorer_spec not in scorers:
            scorers[scorer_spec] = load_scorer(scorer_spec)
        task = get_task(task_name)
        problems = task.load(split=split, limit=limit, seed=seed)
        for item in methods:
            method_name, settings = (item, {}) if isinstance(item, str) else item
            method = get_method(method_name, batch_size=32, **settings,
                                **({"budget": BUDGET, "seed": seed} if method_name != "cot" and scorer_spec else {}))
            scorer = scorers[scorer_spec] if scorer_spec and method.needs_scorer() else None
            info = RunInfo.create(task_name, split, None, seed, method, method_name, model, engine, scorer=scorer)
            rows += run(method, engine, task, problems, info, out, chunk_size=32, progress=progress, scorer=scorer)
    summaries = summarise(rows)
    png = plot_accuracy_vs_tokens(summaries, out.with_suffix(".png"))
    write_text(out.with_suffix(".md"), "# leanthink demo\n\n" + markdown_table(summaries))
    c = console()
    c.print(render_table(summaries, title="leanthink demo: the built-in reasoners, search at budget 8, thought compression, "
                                               "compact reasoning"))
    c.print(f"results: {out}   table: {out.with_suffix('.md')}   plot: {png}")
    return summaries
