"""`leanthink concepts train | explain | bench`: flags map one-to-one onto the config dataclasses."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from leanthink.errors import LeanthinkError

app = typer.Typer(help="Concept-Centric Transformers: interpretable concept workspace on CPU-sized data.",
                  no_args_is_help=True)


def _ints(name: str, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise LeanthinkError(f"{name}={text!r} must be comma-separated integers, e.g. 50,100,200") from None


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
    threads: int = typer.Option(1, help="torch CPU threads."),
    quiet: bool = typer.Option(False, help="No progress bar."),
):
    """Train one model, score it on the held-out split, save it (safetensors + JSON)."""
    import torch

    from leanthink.concepts.config import DataConfig, ModelConfig, TrainConfig
    from leanthink.concepts.io import append_jsonl
    from leanthink.concepts.train import run_record, train as train_model

    if threads < 1:
        raise LeanthinkError(f"threads={threads} must be >= 1")
    torch.set_num_threads(threads)
    data_cfg = DataConfig(dataset=dataset, task=task, n_train=n_train, n_test=n_test,
                          concept_fraction=concept_fraction, seed=seed)
    model_cfg = ModelConfig(kind=model, slots=slots, dim=dim, depth=depth, slot_iters=slot_iters)
    train_cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, expl_lambda=expl_lambda,
                            sparse_lambda=sparse_lambda, seed=seed)
    result = train_model(data_cfg, model_cfg, train_cfg, out_dir=out, progress=not quiet)
    append_jsonl(out / "results.jsonl", run_record(data_cfg, result.model_cfg, train_cfg, result.metrics))
    m = result.metrics
    typer.echo(f"{model} on {dataset}/{task} (n_train={n_train}): accuracy {_fmt(m['accuracy'])}, "
               f"explanation accuracy global {_fmt(m['expl_acc_global'])} spatial {_fmt(m['expl_acc_spatial'])}, "
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
               f"spatial {_fmt(r['expl_acc_spatial'])}")
    for f in r["figures"]:
        typer.echo(f"wrote {f}")


@app.command()
def bench(
    results_dir: Path = typer.Option(..., help="Folder for results.jsonl, summary.md/json, sample_efficiency.png."),
    dataset: str = typer.Option("digits"),
    task: str = typer.Option("parity"),
    sizes: str = typer.Option("50,100,200,500,1000", help="Comma-separated training-set sizes."),
    seeds: str = typer.Option("0,1,2", help="Comma-separated seeds."),
    models: str = typer.Option("cct,ct,plain", help="Comma-separated models."),
    slots: str = typer.Option("sa", help="CCT slot-attention variant."),
    steps: int = typer.Option(1500),
    quiet: bool = typer.Option(False),
):
    """Sample-efficiency sweep (resumable): CCT vs Concept Transformer vs plain, mean ± std over seeds."""
    from leanthink.concepts.bench import BenchConfig, run_benchmark

    cfg = BenchConfig(dataset=dataset, task=task, sizes=_ints("sizes", sizes), seeds=_ints("seeds", seeds),
                      models=tuple(m.strip() for m in models.split(",") if m.strip()), slots=slots, steps=steps)
    run_benchmark(cfg, results_dir, progress=not quiet)
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
