"""`leanthink bench ...`: the benchmarks that compare methods (each writes JSONL, a summary and a PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import LeanthinkError
from .ray_sweep import RAY, RAY_CPUS, RAY_SHARD, RAY_WORKERS

app = typer.Typer(no_args_is_help=True, help="Benchmarks that compare methods on the same problems and seeds.")


def _list(flag: str, text: str, kind=str) -> tuple:
    try:
        items = tuple(kind(x.strip()) for x in text.split(",") if x.strip())
    except ValueError:
        raise LeanthinkError(f"{flag} {text!r}: expected comma-separated {kind.__name__}s") from None
    if not items or len(set(items)) != len(items):
        raise LeanthinkError(f"{flag} {text!r}: expected a non-empty list without repeats")
    return items


@app.command()
def scaling(
    model: str = typer.Option("builtin:arith-weak", help="Policy: builtin:NAME, a model directory or a .gguf file."),
    prm: Optional[str] = typer.Option("builtin:arith-prm", help="PRM directory, builtin:NAME, or oracle."),
    task: str = typer.Option("arith"),
    split: Optional[str] = typer.Option("search", help="Generated split (or --data)."),
    data: Optional[Path] = typer.Option(None, help="Data file instead of a generated split."),
    limit: int = typer.Option(100, help="Problems."),
    methods: str = typer.Option(",".join(("self-consistency", "best-of-n", "weighted-best-of-n", "beam", "dvts",
                                          "particle-filter", "particle-gibbs", "parallel-tempering"))),
    budgets: str = typer.Option("1,2,4,8,16,32"),
    weights: str = typer.Option("prm", help="prm or self-certainty."),
    set_: list[str] = typer.Option([], "--set", help="A setting for every method, KEY=VALUE."),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("results/scaling"), help="Output directory."),
    progress: bool = typer.Option(True),
    ray: Optional[str] = RAY, ray_shard: Optional[int] = RAY_SHARD, ray_workers: Optional[int] = RAY_WORKERS,
    ray_cpus: int = RAY_CPUS,
):
    """Every scaling method at every budget: accuracy and cost, a PNG and the budget that matches DVTS."""
    from ..methods.settings import parse_value
    from ..methods.scaling.base import Scaling
    from .scaling import run_scaling

    extra = {}
    for item in set_:
        key, sep, raw = item.partition("=")
        if not sep or key not in Scaling.__dataclass_fields__:
            raise LeanthinkError(f"--set {item!r}: expected KEY=VALUE with a setting every scaling method has "
                                 f"({', '.join(Scaling.__dataclass_fields__)})")
        extra[key] = parse_value(Scaling, key, raw)
    if data is not None:
        split = None
    summaries = run_scaling(model, prm if weights == "prm" else None, task, split, data, limit, out,
                            _list("--methods", methods), _list("--budgets", budgets, int), seed, weights, extra, progress,
                            ray=(ray, ray_shard, ray_workers, ray_cpus))
    typer.echo((out / "summary.md").read_text())
    typer.echo(f"results: {out / 'scaling.jsonl'}   plot: {out / 'scaling.png'}   ({len(summaries)} runs)")


@app.command("its-hub")
def its_hub(
    model: str = typer.Option("builtin:arith-weak"),
    prm: str = typer.Option("builtin:arith-prm"),
    task: str = typer.Option("arith"),
    split: Optional[str] = typer.Option("search"),
    data: Optional[Path] = typer.Option(None),
    budget: int = typer.Option(8, help="Particles per problem."),
    limit: int = typer.Option(20, help="Problems."),
    seed: int = typer.Option(0),
    max_steps: int = typer.Option(48),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only."),
):
    """Particle filtering by its_hub and by leanthink on the same model, PRM, problems and seeds."""
    import json

    from .. import checks
    from .its_hub import compare

    checks.integer("--budget", budget, 1, 4096)
    checks.integer("--limit", limit, 1, 100_000)
    checks.seed("--seed", seed)
    result = compare(model, prm, task, None if data else split, data, budget, limit, seed, max_steps)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    for side in ("leanthink", "its_hub"):
        r = result[side]
        typer.echo(f"{side:10s} accuracy {r['accuracy']:.1%}  wall {r['wall_s']:.1f} s  forward tokens "
                   f"{r['forward_tokens']}  PRM tokens {r['prm_tokens']}")
    typer.echo(f"speedup (its_hub wall / leanthink wall): {result['speedup']:.2f}x")


@app.command("lightthinker")
def lightthinker(
    model: str = typer.Option("builtin:iterate-lightthinker", help="The LightThinker reasoner."),
    vanilla: str = typer.Option("builtin:iterate", help="The vanilla CoT reasoner it is compared with."),
    task: str = typer.Option("iterate"),
    split: Optional[str] = typer.Option("long", help="Generated split (or --data)."),
    data: Optional[Path] = typer.Option(None, help="Data file instead of a generated split (e.g. ProsQA valid)."),
    limit: int = typer.Option(100, help="Problems."),
    batch_sizes: str = typer.Option("1,16", help="Batch sizes to time, comma-separated."),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("results/lightthinker"), help="Output directory."),
    sweep: str = typer.Option("", help="More LightThinker models, comma-separated (one per |C|): the |C| sweep."),
    progress: bool = typer.Option(True),
):
    """LightThinker against vanilla CoT and H2O (at LightThinker's Peak): accuracy, Peak, Dep, wall time."""
    from .lightthinker import run_lightthinker_bench

    run_lightthinker_bench(vanilla, model, task, None if data else split, data, limit, out,
                           _list("--batch-sizes", batch_sizes, int), seed, progress,
                           sweep=tuple(_list("--sweep", sweep, str)) if sweep.strip() else ())
    typer.echo((out / "summary.md").read_text())
    typer.echo(f"results: {out}/lightthinker_b*.jsonl   plot: {out / 'context.png'}")


@app.command("latent")
def latent(
    suites: str = typer.Option("prosqa-small,prosqa-valid,arith-easy,arith-easy-verbose", help="Comma-separated suites."),
    limit: int = typer.Option(100, help="Problems per suite."),
    batch_sizes: str = typer.Option("1,16", help="Batch sizes to time, comma-separated."),
    prosqa_data: Path = typer.Option(Path("../shared/data/prosqa_valid.json"), help="The real ProsQA file."),
    model: list[str] = typer.Option([], help="Override a model: SUITE:LABEL=SPEC (LABEL base, coconut, litereason, litereason-rl)."),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("results/latent"), help="Output directory."),
    progress: bool = typer.Option(True),
):
    """Coconut (and LiteReason) against direct and CoT: accuracy, reasoning tokens, wall time."""
    from .latent import run_latent_bench

    overrides = {}
    for item in model:
        key, sep, spec = item.partition("=")
        if not sep or ":" not in key:
            raise LeanthinkError(f"--model {item!r}: expected SUITE:LABEL=SPEC, e.g. arith-easy:coconut=runs/co")
        overrides[key] = spec
    run_latent_bench(list(_list("--suites", suites, str)), limit, out, _list("--batch-sizes", batch_sizes, int),
                     seed, prosqa_data, overrides, progress)
    typer.echo((out / "summary.md").read_text())


@app.command("compact")
def compact(
    model: str = typer.Option("builtin:arith-verbose", help="The verbose reasoner (cot, budget forcing, early exit)."),
    tokenskip: str = typer.Option("builtin:arith-tokenskip", help="TokenSkip checkpoint ('' to skip)."),
    l1: str = typer.Option("builtin:arith-l1", help="L1 checkpoint ('' to skip)."),
    task: str = typer.Option("arith"),
    split: str = typer.Option("medium", help="Generated split (arith medium: 6 operations)."),
    limit: int = typer.Option(100, help="Problems."),
    budgets: str = typer.Option("60,90,120,150", help="budget-forcing budgets (reasoning tokens)."),
    thresholds: str = typer.Option("0.9,0.99", help="early-exit confidence thresholds."),
    agree: str = typer.Option("2,3", help="early-exit agreement counts."),
    ratios: str = typer.Option("0.5,0.6,0.7,0.8,0.9", help="TokenSkip ratios (1.0 is always run)."),
    targets: str = typer.Option("80,110,140,170", help="L1 targets (generated tokens)."),
    max_new_tokens: int = typer.Option(512),
    batch_size: int = typer.Option(16),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("results/compact"), help="Output directory."),
    progress: bool = typer.Option(True),
):
    """Compact reasoning against CoT: the accuracy-tokens Pareto front and length-control fidelity."""
    from .compact import run_compact_bench

    def some(flag, text, kind):   # '' runs none of them
        return _list(flag, text, kind) if text.strip() else ()

    run_compact_bench(model, tokenskip or None, l1 or None, task, split, limit, out,
                      some("--budgets", budgets, int), some("--thresholds", thresholds, float),
                      some("--agree", agree, int), some("--ratios", ratios, float), some("--targets", targets, int),
                      seed, max_new_tokens, batch_size, progress)
    typer.echo((out / "summary.md").read_text())
    typer.echo(f"results: {out / 'compact.jsonl'}   plots: {out / 'pareto.png'}, {out / 'fidelity.png'}")


@app.command("router")
def router(
    model: str = typer.Option("builtin:arith-verbose", help="The reasoner the router routes for."),
    task: str = typer.Option("arith"),
    split: str = typer.Option("mixed", help="A mixed-difficulty generated split (arith mixed: 1-7 operations)."),
    limit: int = typer.Option(300, help="Test problems (--seed)."),
    train_limit: int = typer.Option(400, help="Training problems of the router (--train-seed; an existing "
                                              "router.json is kept)."),
    candidates: str = typer.Option("", help="'method:key=value,...;method;...' (default: direct, budget forcing "
                                            "30-120, early exit, cot, self-consistency@4)."),
    targets: str = typer.Option("0.3,0.4,0.5,0.6,0.65,0.7,0.75,0.8", help="target_accuracy operating points."),
    budgets: str = typer.Option("30,45,60,80,100", help="max_tokens operating points (mean tokens per problem)."),
    seed: int = typer.Option(0),
    train_seed: int = typer.Option(1),
    batch_size: int = typer.Option(16),
    out: Path = typer.Option(Path("results/router"), help="Output directory."),
    progress: bool = typer.Option(True),
):
    """The router (--method route) against every single method: accuracy-tokens points on unseen problems."""
    from .router import DEFAULT_CANDIDATES, run_router_bench

    run_router_bench(model, task, split, limit, train_limit, out, candidates or DEFAULT_CANDIDATES,
                     _list("--targets", targets, float) if targets.strip() else (),
                     _list("--budgets", budgets, float) if budgets.strip() else (), seed, train_seed, batch_size,
                     progress)
    typer.echo((out / "summary.md").read_text())
    typer.echo(f"results: {out / 'test.jsonl'}   plot: {out / 'pareto.png'}")
