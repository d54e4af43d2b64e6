"""`leanthink concepts train | explain | bench`: flags map one-to-one onto the config dataclasses."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from leanthink import checks
from leanthink.errors import LeanthinkError

app = typer.Typer(help="Concept-Centric Transformers: interpretable concept workspace on CPU-sized data.",
                  no_args_is_help=True)


def _ints(flag: str, text: str) -> tuple[int, ...]:
    """A comma-separated list of integers; empty, non-integer or repeated items name the flag."""
    items = _items(flag, text, "integers, e.g. 50,100,200")
    try:
        return tuple(int(x) for x in items)
    except ValueError:
        raise LeanthinkError(f"{flag} {text!r} must be comma-separated integers, e.g. 50,100,200") from None


def _names(flag: str, text: str, allowed) -> tuple[str, ...]:
    items = _items(flag, text, f"names from {', '.join(allowed)}")
    for x in items:
        if x not in allowed:
            raise LeanthinkError(f"{flag}: {x!r} is not one of {', '.join(allowed)}")
    return tuple(items)


def _items(flag: str, text: str, what: str) -> list[str]:
    items = [x.strip() for x in text.split(",")]
    if not any(items):
        raise LeanthinkError(f"{flag} {text!r} names no value; give comma-separated {what}")
    if not all(items):  # "50,,100" or a trailing comma: most likely a typo, never silently dropped
        raise LeanthinkError(f"{flag} {text!r} has an empty item; give comma-separated {what}")
    repeated = sorted({x for x in items if items.count(x) > 1})
    if repeated:  # a repeated value would train the same run twice and count it twice
        raise LeanthinkError(f"{flag} {text!r} repeats {', '.join(repeated)}; give each value once")
    return items


def _refuse_ignored(model: str, cct_only: dict, concept_only: dict) -> None:
    """A setting the chosen model never reads is an error, not a silent no-op: the run record would claim
    it. Only values changed from the default count (passing the default is harmless)."""
    given = {**(cct_only if model != "cct" else {}), **(concept_only if model == "plain" else {})}
    changed = [flag for flag, (value, default) in given.items() if value != default]
    if changed:
        why = "only cct uses slots" if model == "ct" else "plain uses no concepts"
        one = len(changed) == 1
        raise LeanthinkError(f"{', '.join(changed)} {'has' if one else 'have'} no effect with --model {model} ({why}); "
                             f"drop {'it' if one else 'them'} or choose another --model")


def _or(value, default):
    """The flag's value, or its default when it was not given (an empty string is a given value)."""
    return default if value is None else value


def _fmt(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


@app.command()
def train(
    out: Path = typer.Option(..., help="Output folder for model.safetensors + config.json + results.jsonl."),
    dataset: str = typer.Option("digits", help="digits or shapes."),
    task: str = typer.Option("parity", help="digits: parity, mod3, lt5; shapes: red_square, circle_and_triangle."),
    model: str = typer.Option("cct", help="cct, ct (Concept Transformer) or plain."),
    slots: str = typer.Option("sa", help="cct slot attention: sa, isa or boqsa."),
    n_train: int = typer.Option(1000, help="Training examples (digits: at most 1297)."),
    n_test: int = typer.Option(500, help="Test examples (digits: fixed at 500)."),
    concept_fraction: float = typer.Option(1.0, help="Share of training examples with concept labels."),
    steps: int = typer.Option(1500, help="Optimizer steps."),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-3),
    expl_lambda: float = typer.Option(2.0, help="λ_expl, weight of the explanation MSE."),
    sparse_lambda: float = typer.Option(0.0, help="λ_sparse, weight of the attention entropy."),
    dim: int = typer.Option(64),
    depth: int = typer.Option(2),
    slot_iters: int = typer.Option(3),
    seed: int = typer.Option(0, help="Seeds the training subset, the weights and the batch order."),
    threads: int = typer.Option(1, help="torch CPU threads (at most the number of cores)."),
    quiet: bool = typer.Option(False, help="No progress bar."),
):
    """Train one model, score it on the held-out split, save it (safetensors + JSON)."""
    import torch

    from leanthink.concepts.checkpoint import RESULTS, check_writable
    from leanthink.concepts.config import DataConfig, ModelConfig, TrainConfig
    from leanthink.concepts.io import append_jsonl
    from leanthink.concepts.train import run_record, train as train_model

    # every setting and the output folder are checked before any work starts
    # (more threads than cores only slows torch down; far more crashes OpenBLAS)
    checks.integer("--threads", threads, 1, os.cpu_count() or 1)
    data_cfg = DataConfig(dataset=dataset, task=task, n_train=n_train, n_test=n_test,
                          concept_fraction=concept_fraction, seed=seed)
    model_cfg = ModelConfig(kind=model, slots=slots, dim=dim, depth=depth, slot_iters=slot_iters)
    train_cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, expl_lambda=expl_lambda,
                            sparse_lambda=sparse_lambda, seed=seed)
    _refuse_ignored(model,
                    {"--slots": (slots, ModelConfig.slots), "--slot-iters": (slot_iters, ModelConfig.slot_iters)},
                    {"--concept-fraction": (concept_fraction, DataConfig.concept_fraction),
                     "--expl-lambda": (expl_lambda, TrainConfig.expl_lambda),
                     "--sparse-lambda": (sparse_lambda, TrainConfig.sparse_lambda)})
    check_writable("--out", out)
    torch.set_num_threads(threads)
    result = train_model(data_cfg, model_cfg, train_cfg, out_dir=out, progress=not quiet)
    append_jsonl(out / RESULTS, run_record(data_cfg, result.model_cfg, train_cfg, result.metrics))
    m = result.metrics
    typer.echo(f"{model} on {dataset}/{task} (n_train={n_train}): accuracy {_fmt(m['accuracy'])}, "
               f"explanation accuracy global {_fmt(m['expl_acc_global'])} spatial {_fmt(m['expl_acc_spatial'])}, "
               f"consistency class {_fmt(m['consist_class'])} augmented {_fmt(m['consist_aug_global'])}, "
               f"{m['train_seconds']:.1f} s; saved to {out}")


@app.command()
def explain(
    run_dir: Path = typer.Argument(..., help="Folder written by `concepts train`."),
    out: Path = typer.Option(None, help="Where to write explain.json and PNGs (default RUN_DIR/explain)."),
    examples: int = typer.Option(6, help="Examples in the per-example figure (1-64)."),
    seed: int = typer.Option(0, help="Which examples are drawn."),
):
    """Accuracy, explanation accuracy and concept-attention PNGs of a trained run."""
    import torch

    from leanthink.concepts.explain import explain_run

    torch.set_num_threads(1)
    r = explain_run(run_dir, out, n_examples=examples, seed=seed)
    typer.echo(f"accuracy {_fmt(r['accuracy'])}, explanation accuracy global {_fmt(r['expl_acc_global'])} "
               f"spatial {_fmt(r['expl_acc_spatial'])}, consistency class {_fmt(r['consist_class'])} "
               f"augmented {_fmt(r['consist_aug_global'])} / spatial {_fmt(r['consist_aug_spatial'])}")
    for f in r["figures"]:
        typer.echo(f"wrote {f}")


@app.command()
def bench(
    results_dir: Path = typer.Option(..., help="Folder for results.jsonl, summary.md/json and the PNGs."),
    settings: str = typer.Option(None, help="Settings benchmark over these comma-separated settings "
                                 "(scenes, superclass, scenes_partial); without it, the sample-efficiency sweep."),
    dataset: str = typer.Option(None, help="Sample-efficiency sweep: data set (default digits)."),
    task: str = typer.Option(None, help="Sample-efficiency sweep: label rule (default parity)."),
    sizes: str = typer.Option(None, help="Sample-efficiency sweep: training-set sizes (default 50,100,200,500,1000)."),
    seeds: str = typer.Option(None, help="Comma-separated seeds (default 0,1,2; with --settings 0,1,2,3,4)."),
    models: str = typer.Option(None, help="Comma-separated models (default cct,ct,plain; with --settings "
                               "cct-sa,cct-isa,cct-boqsa,ct,plain)."),
    slots: str = typer.Option(None, help="Sample-efficiency sweep: CCT slot-attention variant (default sa)."),
    steps: int = typer.Option(None, help="Sample-efficiency sweep: optimizer steps (default 1500)."),
    split: str = typer.Option(None, help="--settings only: held-out split scored, test (default) or val."),
    set_: str = typer.Option(None, "--set", help="--settings only: field=value,... applied to every run "
                             "(e.g. expl_lambda=0.5,streams=global)."),
    quiet: bool = typer.Option(False),
):
    """Resumable benchmarks: the settings benchmark (--settings; mean and 95% CI over seeds, a PNG per
    setting) or the sample-efficiency sweep (CCT vs Concept Transformer vs plain over training-set sizes)."""
    if settings is not None:
        return _bench_settings(results_dir, settings, seeds, models, split, set_, quiet,
                               {"--dataset": dataset, "--task": task, "--sizes": sizes, "--slots": slots,
                                "--steps": steps})
    from leanthink.concepts.bench import BenchConfig, check_results_dir, run_benchmark
    from leanthink.concepts.config import MODEL_KINDS

    for flag, value in (("--split", split), ("--set", set_)):
        if value is not None:
            raise LeanthinkError(f"{flag} needs --settings (the sample-efficiency sweep always scores the test split)")
    cfg = BenchConfig(dataset=_or(dataset, "digits"), task=_or(task, "parity"),
                      sizes=_ints("--sizes", _or(sizes, "50,100,200,500,1000")),
                      seeds=_ints("--seeds", _or(seeds, "0,1,2")),
                      models=_names("--models", _or(models, "cct,ct,plain"), MODEL_KINDS), slots=_or(slots, "sa"),
                      steps=_or(steps, 1500))
    check_results_dir(results_dir, "--results-dir")
    run_benchmark(cfg, results_dir, progress=not quiet)
    typer.echo((results_dir / "summary.md").read_text())


def _bench_settings(results_dir, settings, seeds, models, split, set_, quiet, sweep_only) -> None:
    from leanthink.concepts.bench_settings import (DEFAULT_SEEDS, MODELS, SETTINGS, SettingsBenchConfig,
                                                   check_results_dir, parse_overrides, run_settings_benchmark)

    given = [flag for flag, value in sweep_only.items() if value is not None]
    if given:
        raise LeanthinkError(f"{', '.join(given)} {'has' if len(given) == 1 else 'have'} no effect with --settings "
                             f"(each setting fixes its data and steps; use --set to change a field)")
    cfg = SettingsBenchConfig(settings=_names("--settings", settings, tuple(SETTINGS)),
                              models=_names("--models", _or(models, ",".join(MODELS)), MODELS),
                              seeds=_ints("--seeds", _or(seeds, ",".join(map(str, DEFAULT_SEEDS)))),
                              split=_or(split, "test"), overrides=parse_overrides(_or(set_, "")))
    check_results_dir(results_dir, "--results-dir")
    run_settings_benchmark(cfg, results_dir, progress=not quiet)
    typer.echo((results_dir / "summary.md").read_text())


def main() -> None:
    """Standalone entry: user errors become one line on stderr and exit status 2, as in the main CLI.
    Usage errors (unknown flag, missing value) keep typer's own message and exit status."""
    try:
        app()
    except LeanthinkError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
