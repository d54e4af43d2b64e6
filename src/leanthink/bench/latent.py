"""`leanthink bench latent`: latent reasoning (Coconut, LiteReason) against `direct` and `cot` of the
reasoner it was trained from, on the same problems.

Suites: ProsQA `small` (generated), the real ProsQA valid file, arith `easy` (against builtin:arith,
and against builtin:arith-verbose, the base of the LiteReason built-ins). For each: accuracy,
generated tokens, latent tokens, reasoning length (generated + latent: the papers count continuous
thoughts as tokens, and the same sum is used for every method) as a share of CoT's, and wall time per
problem at every batch size (each batch size in its own resumable results file: outputs do not depend
on it). A latent method whose model is missing is skipped with a note, not an error.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .. import checks
from ..errors import LeanthinkError

#: suite -> (task, task options, split, base reasoner, {label: (latent method, its model)})
SUITES = {
    "prosqa-small": ("prosqa", {"trace": "both"}, "small", "builtin:prosqa",
                     {"coconut": ("coconut", "builtin:prosqa-coconut")}),
    "prosqa-valid": ("prosqa", {"trace": "both"}, None, "builtin:prosqa",
                     {"coconut": ("coconut", "builtin:prosqa-coconut")}),
    "arith-easy": ("arith", {}, "easy", "builtin:arith", {"coconut": ("coconut", "builtin:arith-coconut")}),
    # builtin:arith-litereason (projector and policy SFT) starts from the over-thinking reasoner
    # (docs/methods/litereason.md); after GRPO it was no better, so that model is not shipped: name one
    # with --model arith-easy-verbose:litereason-rl=DIR
    "arith-easy-verbose": ("arith", {}, "easy", "builtin:arith-verbose",
                           {"litereason": ("litereason", "builtin:arith-litereason"),
                            "litereason-rl": ("litereason", "builtin:arith-litereason-rl")}),
}


def run_latent_bench(suites: list[str], limit: int, out_dir: Path, batch_sizes=(1, 16), seed: int = 0,
                     prosqa_data: Path | None = None, models: dict[str, str] | None = None,
                     progress: bool = True, max_new_tokens: int = 256) -> dict:
    """`models` overrides a suite's models: keys "<suite>:<label>" (base, coconut, litereason, litereason-rl)."""
    from ..engine import load_engine
    from ..methods import get_method
    from ..models.registry import resolve_model
    from ..tasks import get_task
    from .harness import RunInfo, run
    from .report import summarise

    checks.integer("--limit", limit, 1)
    for b in batch_sizes:
        checks.integer("--batch-sizes", b, 1, 4096)
    out_dir = checks.output_dir("--out", out_dir)
    models = dict(models or {})
    report, notes = {"suites": {}}, []
    for name in suites:
        if name not in SUITES:
            raise LeanthinkError(f"--suites: unknown suite {name!r}; choose from {', '.join(SUITES)}")
        task_name, options, split, base, latent = SUITES[name]
        data = prosqa_data if split is None else None
        if split is None and (data is None or not Path(data).exists()):
            notes.append(f"{name}: skipped (no data file {data})")
            continue
        task = get_task(task_name, **options)
        problems = task.load(split=split, data=data, limit=limit, seed=seed)
        plan = [("direct", "direct", models.get(f"{name}:base", base)), ("cot", "cot", models.get(f"{name}:base", base))]
        for label, (method, spec) in latent.items():
            spec = models.get(f"{name}:{label}", spec)
            try:
                resolve_model(spec)
            except LeanthinkError:
                notes.append(f"{name}: {label} skipped (no model {spec})")
                continue
            plan.append((label, method, spec))
        engines = {spec: load_engine(spec) for _, _, spec in plan}
        runs = []
        for b in batch_sizes:
            file = out_dir / f"{name}_b{b}.jsonl"
            checks.output_file("--out", file)
            for label, method_name, spec in plan:
                method = get_method(method_name, batch_size=b, seed=seed, max_new_tokens=max_new_tokens)
                info = RunInfo.create(task_name, split, data, seed, method, method_name, spec, engines[spec])
                t0 = time.perf_counter()
                rows = run(method, engines[spec], task, problems, info, file, chunk_size=b, progress=progress)
                s = summarise(rows)[0]
                s.update(label=label, batch_size=b, wall_s=time.perf_counter() - t0,
                         reasoning_tokens=s["mean_generated_tokens"] + s["mean_latent_tokens"])
                s["wall_per_problem_s"] = s["wall_s"] / len(problems)
                runs.append(s)
        for s in runs:
            cot = next(c for c in runs if c["method"] == "cot" and c["batch_size"] == s["batch_size"])
            s["tokens_vs_cot"] = s["reasoning_tokens"] / cot["reasoning_tokens"]
            s["accuracy_vs_cot"] = s["accuracy"] - cot["accuracy"]
        report["suites"][name] = {"task": task_name, "split": split, "data": str(data) if data else None,
                                  "runs": runs}
    report["notes"] = notes
    _write(report, out_dir)
    return report


def _write(report: dict, out_dir: Path) -> None:
    from ..fileio import write_text

    lines = ["# Latent reasoning against CoT", ""]
    for name, suite in report["suites"].items():
        lines += [f"## {name}", "", "| method | model | batch | n | accuracy [95% CI] | Δ vs cot | generated | latent | "
                  "reasoning / cot | wall s per problem |", "|---|---|---|---|---|---|---|---|---|---|"]
        for s in suite["runs"]:
            lines.append(f"| {s['label']} | {s['model']} | {s['batch_size']} | {s['n']} | {s['accuracy']:.1%} "
                         f"[{s['ci95'][0]:.1%}, {s['ci95'][1]:.1%}] | {s['accuracy_vs_cot'] * 100:+.1f} | "
                         f"{s['mean_generated_tokens']:.1f} | {s['mean_latent_tokens']:.1f} | {s['tokens_vs_cot']:.1%} | "
                         f"{s['wall_per_problem_s']:.3f} |")
        lines.append("")
    lines += [f"- {n}" for n in report["notes"]]
    write_text(out_dir / "summary.md", "\n".join(lines) + "\n")
    write_text(out_dir / "summary.json", json.dumps(report, indent=2, default=str))
