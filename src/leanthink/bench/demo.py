"""`leanthink demo`: the built-in reasoners on their tasks, `direct` vs `cot`, in one table and PNG.

Everything goes through the same harness as `leanthink eval`, into one resumable results file.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import LeanthinkError

#: (model, task, split) pairs the demo runs, when the model is shipped
DEMO_RUNS = (
    ("builtin:arith", "arith", "easy"),
    ("builtin:arith", "arith", "hard"),
    ("builtin:prosqa", "prosqa", "small"),
)
METHODS = ("direct", "cot")


def run_demo(out: Path, limit: int = 100, progress: bool = True, seed: int = 0) -> list[dict]:
    from .. import checks
    from ..engine import load_engine
    from ..fileio import write_text
    from ..methods import get_method
    from ..models.registry import builtin_names
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
    runs = [r for r in DEMO_RUNS if r[0].split(":", 1)[1] in available]
    if not runs:
        raise LeanthinkError("no built-in checkpoints are installed; train one with `leanthink train` (see README)")
    rows = []
    engines = {}
    for model, task_name, split in runs:
        if model not in engines:
            engines[model] = load_engine(model)
        engine = engines[model]
        task = get_task(task_name)
        problems = task.load(split=split, limit=limit, seed=seed)
        for method_name in METHODS:
            method = get_method(method_name, batch_size=32)
            info = RunInfo.create(task_name, split, None, seed, method, method_name, model, engine)
            rows += run(method, engine, task, problems, info, out, chunk_size=32, progress=progress)
    summaries = summarise(rows)
    png = plot_accuracy_vs_tokens(summaries, out.with_suffix(".png"))
    write_text(out.with_suffix(".md"), "# leanthink demo\n\n" + markdown_table(summaries))
    c = console()
    c.print(render_table(summaries, title="leanthink demo: direct vs cot on the built-in reasoners"))
    c.print(f"results: {out}   table: {out.with_suffix('.md')}   plot: {png}")
    return summaries
