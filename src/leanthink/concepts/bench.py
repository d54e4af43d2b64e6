"""Sample-efficiency benchmark: CCT vs Concept Transformer vs plain over training-set sizes and seeds.

Every run appends one JSON line to results.jsonl as soon as it finishes; a rerun skips the runs
already there, so an interrupted benchmark resumes. The summary (mean ± std over seeds), a
Markdown table and a PNG are rebuilt from the whole file at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leanthink import checks
from leanthink.concepts.config import (DATASETS, SLOT_VARIANTS, TASKS, DataConfig, ModelConfig, TrainConfig,
                                       check_choice)
from leanthink.concepts.io import append_jsonl, iter_jsonl, save_figure, write_json, write_text
from leanthink.errors import DataError, LeanthinkError

DEFAULT_SIZES = (50, 100, 200, 500, 1000)
DEFAULT_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class BenchConfig:
    """What the benchmark sweeps."""

    dataset: str = "digits"
    """Data set (see DataConfig.dataset)."""
    task: str = "parity"
    """Label rule (see DataConfig.task)."""
    sizes: tuple[int, ...] = DEFAULT_SIZES
    """Training-set sizes."""
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    """Seeds; each seed draws its own training subset and initial weights."""
    models: tuple[str, ...] = ("cct", "ct", "plain")
    """Models compared (cct, ct, plain)."""
    slots: str = "sa"
    """Slot-attention variant of the CCT runs."""
    steps: int = 1500
    """Optimizer steps per run (same for every size: see TrainConfig.steps)."""
    n_test: int = 500
    """Test examples (digits: the fixed 500)."""

    def __post_init__(self):
        # build every config once now, so a bad value fails before any run starts
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("task", self.task, TASKS[self.dataset])
        check_choice("slots", self.slots, SLOT_VARIANTS)
        for name in ("sizes", "seeds", "models"):
            values = getattr(self, name)
            if not values:
                raise LeanthinkError(f"{name} must name at least one value")
            repeated = sorted({v for v in values if values.count(v) > 1}, key=str)
            if repeated:  # a repeat would train the same run twice and count it twice in the mean
                raise LeanthinkError(f"{name} repeats {', '.join(map(str, repeated))}; give each value once")
        if "cct" not in self.models and self.slots != "sa":  # would be recorded but never used
            raise LeanthinkError(f"slots={self.slots!r} has no effect: models {', '.join(self.models)} has no cct")
        for s in self.seeds:
            checks.seed("seeds", s)
        for m in self.models:
            _named("models", ModelConfig, kind=m, slots=self.slots)
        for n in self.sizes:
            _named("sizes", self.data_config, n, self.seeds[0])
        TrainConfig(steps=self.steps)

    def data_config(self, n: int, seed: int) -> DataConfig:
        return DataConfig(dataset=self.dataset, task=self.task, n_train=n, n_test=self.n_test, seed=seed)


def _named(name: str, build, *args, **kwargs) -> None:
    """Build a config for one listed value; its error says which list the value came from."""
    try:
        build(*args, **kwargs)
    except LeanthinkError as e:
        raise LeanthinkError(f"{name}: {e}") from None


RESULT_FILES = ("results.jsonl", "summary.json", "summary.md", "sample_efficiency.png")


def check_results_dir(results_dir: Path, flag: str = "results_dir") -> list[dict]:
    """Before any run: the folder and its files can be written, and every line already in
    results.jsonl is a benchmark record (a bad line is an error naming file:line; the file is only read).
    Returns the records."""
    results_dir = checks.output_dir(flag, results_dir)
    for name in RESULT_FILES:
        checks.output_file(flag, results_dir / name)
    path = results_dir / "results.jsonl"
    records = []
    for line, rec in iter_jsonl(path):
        _check_record(path, line, rec)
        records.append(rec)
    return records


# what `_key` and `summarise` read from each line, and the types they need
_RECORD_FIELDS = {("model", "kind"): str, ("model", "slots"): str, ("data", "dataset"): str, ("data", "task"): str,
                  ("data", "n_train"): int, ("data", "seed"): int, ("train", "steps"): int,
                  ("accuracy",): (int, float), ("train_seconds",): (int, float)}


def _check_record(path: Path, line: int, rec: dict) -> None:
    for keys, kind in _RECORD_FIELDS.items():
        value, name = rec, ".".join(keys)
        for k in keys:
            if not isinstance(value, dict) or k not in value:
                raise DataError(path, f"missing field {name!r}; not a line written by `concepts bench`", line)
            value = value[k]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise DataError(path, f"field {name!r} has the wrong type ({type(value).__name__}: {value!r})", line)
    expl = rec.get("expl_acc_global")
    if expl is not None and (isinstance(expl, bool) or not isinstance(expl, (int, float))):
        raise DataError(path, f"field 'expl_acc_global' must be a number or null, got {expl!r}", line)


def label(kind: str, slots: str) -> str:
    return f"cct-{slots}" if kind == "cct" else kind


def _key(rec: dict) -> tuple:
    return (rec["model"]["kind"], rec["model"]["slots"] if rec["model"]["kind"] == "cct" else "",
            rec["data"]["dataset"], rec["data"]["task"], rec["data"]["n_train"], rec["data"]["seed"],
            rec["train"]["steps"])


def run_benchmark(cfg: BenchConfig, results_dir: Path, progress: bool = True) -> dict:
    import torch

    from leanthink.concepts.train import run_record, train

    results_dir = Path(results_dir)
    path = results_dir / "results.jsonl"
    done = {_key(r) for r in check_results_dir(results_dir)}
    plan = [(kind, n, seed) for n in cfg.sizes for seed in cfg.seeds for kind in cfg.models]
    bar = _bar(progress)
    with bar:
        task = bar.add_task("runs", total=len(plan))
        for kind, n, seed in plan:
            data_cfg = cfg.data_config(n, seed)
            model_cfg = ModelConfig(kind=kind, slots=cfg.slots)
            train_cfg = TrainConfig(steps=cfg.steps, seed=seed)
            key = (kind, cfg.slots if kind == "cct" else "", cfg.dataset, cfg.task, n, seed, cfg.steps)
            bar.update(task, description=f"{label(kind, cfg.slots)} n={n} seed={seed}")
            if key not in done:
                torch.set_num_threads(1)  # the benchmark's timings assume one core
                result = train(data_cfg, model_cfg, train_cfg, progress=False)
                append_jsonl(path, run_record(data_cfg, result.model_cfg, train_cfg, result.metrics))
            bar.advance(task)
    return summarise(results_dir, cfg)


def summarise(results_dir: Path, cfg: BenchConfig) -> dict:
    """summary.json, summary.md and sample_efficiency.png from results.jsonl (this sweep's rows)."""
    results_dir = Path(results_dir)
    rows = [r for r in check_results_dir(results_dir)
            if r["data"]["dataset"] == cfg.dataset and r["data"]["task"] == cfg.task
            and r["train"]["steps"] == cfg.steps]
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        kind = r["model"]["kind"]
        if kind == "cct" and r["model"]["slots"] != cfg.slots:
            continue
        groups.setdefault((label(kind, cfg.slots), r["data"]["n_train"]), []).append(r)
    table = []
    for (name, n), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        acc = np.array([r["accuracy"] for r in rs])
        expl = [r["expl_acc_global"] for r in rs if r.get("expl_acc_global") is not None]
        table.append({"model": name, "n_train": n, "runs": len(rs),
                      "acc_mean": float(acc.mean()), "acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                      "expl_acc_global_mean": float(np.mean(expl)) if expl else None,
                      "train_seconds_mean": float(np.mean([r["train_seconds"] for r in rs])),
                      "train_seconds_max": float(np.max([r["train_seconds"] for r in rs]))})
    summary = {"dataset": cfg.dataset, "task": cfg.task, "steps": cfg.steps, "slots": cfg.slots, "rows": table}
    write_json(results_dir / "summary.json", summary)
    write_text(results_dir / "summary.md", _markdown(summary))
    if table:
        plot_summary(summary, results_dir / "sample_efficiency.png")
    return summary


def _markdown(summary: dict) -> str:
    lines = [f"# Sample efficiency: {summary['dataset']}/{summary['task']} ({summary['steps']} steps per run)", "",
             "| n_train | model | runs | accuracy (mean ± std) | explanation acc. (global) | train s (mean / max) |",
             "|---:|---|---:|---|---|---|"]
    for r in summary["rows"]:
        expl = "–" if r["expl_acc_global_mean"] is None else f"{100 * r['expl_acc_global_mean']:.1f}%"
        lines.append(f"| {r['n_train']} | {r['model']} | {r['runs']} | {100 * r['acc_mean']:.1f} ± "
                     f"{100 * r['acc_std']:.1f}% | {expl} | {r['train_seconds_mean']:.1f} / "
                     f"{r['train_seconds_max']:.1f} |")
    return "\n".join(lines) + "\n"


def plot_summary(summary: dict, path: Path) -> None:
    """Accuracy against training-set size (log axis), one curve per model, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in sorted({r["model"] for r in summary["rows"]}):
        rs = sorted((r for r in summary["rows"] if r["model"] == name), key=lambda r: r["n_train"])
        x = [r["n_train"] for r in rs]
        y = np.array([100 * r["acc_mean"] for r in rs])
        e = np.array([100 * r["acc_std"] for r in rs])
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("training examples")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{summary['dataset']}/{summary['task']}: mean ± std over seeds")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass

    def advance(self, *a, **k):
        pass


def _bar(enabled: bool):
    if not enabled:
        return _NoBar()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
