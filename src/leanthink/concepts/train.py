"""Train one concept model (CCT, Concept Transformer or plain) and score it on the held-out split."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from leanthink.concepts.checkpoint import check_writable, save_run
from leanthink.concepts.config import DataConfig, ModelConfig, TrainConfig, to_dict
from leanthink.concepts.data import ConceptData, load_data
from leanthink.concepts.losses import concept_loss
from leanthink.concepts.consistency import consistency
from leanthink.concepts.metrics import evaluate, predict, score
from leanthink.concepts.models import build_model


@dataclass
class TrainResult:
    model: torch.nn.Module
    model_cfg: ModelConfig
    metrics: dict  # accuracy, explanation accuracies, final losses, wall time
    train: ConceptData
    test: ConceptData


def fit_model_config(model_cfg: ModelConfig, data: ConceptData, data_cfg: DataConfig) -> ModelConfig:
    """Fill the data-dependent sizes (image, channels, patch, classes, concepts) from the data."""
    _, ch, h, _ = data.images.shape
    return replace(model_cfg, image_size=h, channels=ch, patch=data_cfg.patch,
                   n_classes=len(data.class_names), n_concepts=len(data.concept_names))


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warmup then cosine decay to 0."""
    warm = int(cfg.warmup * cfg.steps)
    if step < warm:
        return (step + 1) / warm
    t = (step - warm) / max(1, cfg.steps - warm)
    return 0.5 * (1 + math.cos(math.pi * t))


def _batches(n: int, batch: int, gen: torch.Generator):
    """Endless stream of index batches, a fresh permutation per epoch."""
    batch = min(batch, n)
    while True:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - batch + 1, batch):  # drop the ragged tail: equal-sized steps
            yield perm[i:i + batch]


def train(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
          out_dir: Path | None = None, progress: bool = True, data=None) -> TrainResult:
    """Train and evaluate; with `out_dir`, save model.safetensors + config.json there.

    `data` = (train, test) skips loading (the benchmark reuses one test split across runs).
    """
    if out_dir is not None:  # before the work, not after it: a bad folder must not cost a training run
        check_writable("out_dir", out_dir)
    torch.manual_seed(train_cfg.seed)
    np.random.seed(train_cfg.seed % 2**32)  # numpy's legacy global seeder takes 32 bits; seeds go up to 2**63
    train_data, test_data = data if data is not None else load_data(data_cfg)
    model_cfg = fit_model_config(model_cfg, train_data, data_cfg)
    model = build_model(model_cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, train_cfg))

    images = torch.from_numpy(train_data.images)
    labels = torch.from_numpy(train_data.labels)
    concepts = torch.from_numpy(train_data.concepts)
    spatial = None if train_data.spatial is None else torch.from_numpy(train_data.spatial)
    has = torch.from_numpy(train_data.has_concepts)
    gen = torch.Generator().manual_seed(train_cfg.seed)
    batches = _batches(len(train_data), train_cfg.batch_size, gen)

    history = []
    start, cpu_start = time.perf_counter(), time.process_time()
    model.train()
    bar = _progress(progress, f"{model_cfg.kind} {data_cfg.dataset}/{data_cfg.task} n={data_cfg.n_train}")
    with bar:
        task = bar.add_task("train", total=train_cfg.steps)
        for step in range(train_cfg.steps):
            idx = next(batches)
            out = model(images[idx])
            parts = concept_loss(out, labels[idx], concepts[idx], None if spatial is None else spatial[idx],
                                 has[idx], train_cfg.expl_lambda, train_cfg.sparse_lambda)
            opt.zero_grad(set_to_none=True)
            parts.total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            bar.update(task, advance=1)
            if train_cfg.eval_every and (step + 1) % train_cfg.eval_every == 0:
                history.append({"step": step + 1, "loss": parts.total.item(), **evaluate(model, test_data)})
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    preds = predict(model, test_data)
    metrics = {**score(preds, test_data), **consistency(model, test_data, data_cfg.dataset, preds),
               "train_seconds": round(wall, 2),
               # CPU time of this process: what the run costs on one core, whatever else shares the machine
               "train_cpu_seconds": round(cpu, 2),
               "final_loss": parts.total.item(), "final_nll": parts.nll.item(),
               "final_expl": parts.expl.item(), "final_sparse": parts.sparse.item(),
               "n_train": len(train_data), "history": history}
    model.eval()
    if out_dir is not None:
        metrics["weights_sha256"] = save_run(out_dir, model, data_cfg, model_cfg, train_cfg,
                                             train_data.concept_names, train_data.class_names, metrics)
    return TrainResult(model, model_cfg, metrics, train_data, test_data)


def run_record(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, metrics: dict) -> dict:
    """One JSON line: everything needed to reproduce the run, and what it scored."""
    m = {k: v for k, v in metrics.items() if k != "history"}
    return {"data": to_dict(data_cfg), "model": to_dict(model_cfg), "train": to_dict(train_cfg), **m}


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass


def _progress(enabled: bool, label: str):
    if not enabled:
        return _NoBar()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
