"""The `train-*` commands beside `leanthink train`: a PRM, and LiteReason's projector SFT and GRPO."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .errors import LeanthinkError


def train_prm(
    task: str = typer.Option("arith", help="Generated task whose steps can be checked exactly."),
    policy: str = typer.Option("builtin:arith", help="The reasoner whose solutions are labelled."),
    init: str = typer.Option("builtin:arith", help="Causal LM the PRM's decoder starts from."),
    out: Path = typer.Option(Path("runs/prm"), help="Output directory (OUT/model is the PRM; OUT/data caches rollouts)."),
    split: str = typer.Option("train", help="Generated split of the training problems."),
    problems: int = typer.Option(2000, help="Training problems."),
    samples: int = typer.Option(4, help="Policy solutions per problem and temperature."),
    temperatures: str = typer.Option("0.8,1.2", help="Sampling temperatures of the rollouts, comma-separated."),
    eval_split: str = typer.Option("hard", help="Generated split of the held-out problems (step-level AUC)."),
    eval_problems: int = typer.Option(200),
    steps: int = typer.Option(1500),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(3e-4),
    corruptions: int = typer.Option(2, help="Hard negatives per problem: the gold trace with one number changed."),
    seed: int = typer.Option(0),
    threads: Optional[int] = typer.Option(None),
    progress: bool = typer.Option(True),
):
    """Train a process reward model (Qwen2.5-Math-PRM format) on the policy's labelled solutions."""
    from .train.prm import PRMConfig
    from .train.prm import train_prm as run

    try:
        temps = tuple(float(t) for t in temperatures.split(",") if t.strip())
    except ValueError:
        raise LeanthinkError(f"--temperatures {temperatures!r}: expected comma-separated numbers") from None
    cfg = PRMConfig(task=task, split=split, policy=policy, init=init, out=str(out), problems=problems, samples=samples,
                    temperatures=temps, eval_problems=eval_problems, eval_split=eval_split, steps=steps,
                    batch_size=batch_size, lr=lr, corruptions=corruptions, seed=seed, threads=threads)
    typer.echo(f"saved {run(cfg, progress=progress)}")


def train_litereason(
    init: str = typer.Option("builtin:arith", help="The base reasoner (kept frozen)."),
    task: str = typer.Option("arith"),
    split: str = typer.Option("train-easy", help="Generated split of the training traces."),
    out: Path = typer.Option(Path("runs/litereason"), help="Output directory (the base plus projector.safetensors)."),
    blocks: int = typer.Option(3, help="Copies of the base's last MLP block in the projector."),
    steps: int = typer.Option(600),
    batch_size: int = typer.Option(32),
    lr: float = typer.Option(1e-3),
    eval_every: int = typer.Option(200),
    eval_split: str = typer.Option("easy", help="Held-out split for the teacher-forced loss."),
    eval_limit: int = typer.Option(64),
    policy_steps: int = typer.Option(0, help="Then SFT of the base on the same traces, so it writes markers."),
    policy_lr: float = typer.Option(2e-4),
    placement: str = typer.Option("random", help="random (the paper: 10-25% of the gold steps) or settled (the "
                                  "lines of the base's own correct traces after its answer has settled)."),
    traces: int = typer.Option(2048, help="settled: training problems whose own traces are the pool."),
    rescale: bool = typer.Option(False, help="Projector output at the input embeddings' mean norm (ours)."),
    seed: int = typer.Option(0),
    threads: Optional[int] = typer.Option(None),
    bf16: bool = typer.Option(True, help="bf16 autocast for the forward passes."),
    progress: bool = typer.Option(True),
):
    """LiteReason: SFT of the Reasoning Projector on traces with steps made latent (base frozen), then of the base."""
    from .train.litereason import LiteReasonConfig
    from .train.litereason import train_litereason as run

    cfg = LiteReasonConfig(init=init, task=task, split=split, out=str(out), blocks=blocks, steps=steps,
                           batch_size=batch_size, lr=lr, eval_every=eval_every, eval_split=eval_split,
                           eval_limit=eval_limit, policy_steps=policy_steps, policy_lr=policy_lr,
                           placement=placement, traces=traces, rescale=rescale, seed=seed, threads=threads, bf16=bf16)
    typer.echo(f"saved {run(cfg, progress=progress)}")


def train_litereason_rl(
    init: str = typer.Option(..., help="A train-litereason checkpoint (base + projector)."),
    task: str = typer.Option("arith"),
    split: str = typer.Option("train-easy"),
    out: Path = typer.Option(Path("runs/litereason-rl")),
    rounds: int = typer.Option(3, help="Rounds; the projector is refreshed by SFT after each."),
    steps: int = typer.Option(20, help="GRPO steps per round."),
    prompts: int = typer.Option(8, help="Problems per step."),
    group: int = typer.Option(8, help="Samples per problem (the GRPO group)."),
    temperature: float = typer.Option(1.0),
    lr: float = typer.Option(2e-5),
    length_penalty: float = typer.Option(0.5, help="Reward = correct - this x (generated + latent) / max tokens."),
    max_new_tokens: int = typer.Option(96),
    refresh_steps: int = typer.Option(0, help="Projector SFT steps between rounds, on the round's right latent "
                                      "samples (0: none; measured harmful on our reasoner, see the docs)."),
    eval_split: str = typer.Option("easy"),
    eval_limit: int = typer.Option(100),
    seed: int = typer.Option(0),
    threads: Optional[int] = typer.Option(None),
    progress: bool = typer.Option(True),
):
    """LiteReason RL: GRPO where the policy decides where to think latently (reward: correct, minus length)."""
    from .train.grpo import GRPOConfig, train_grpo

    cfg = GRPOConfig(init=init, task=task, split=split, out=str(out), rounds=rounds, steps=steps, prompts=prompts,
                     group=group, temperature=temperature, lr=lr, length_penalty=length_penalty,
                     max_new_tokens=max_new_tokens, refresh_steps=refresh_steps, eval_split=eval_split,
                     eval_limit=eval_limit, seed=seed, threads=threads)
    typer.echo(f"saved {train_grpo(cfg, progress=progress)}")


def train_l1(
    init: str = typer.Option(..., help="A `leanthink train --recipe l1` checkpoint (the warm start)."),
    task: str = typer.Option("arith"),
    split: str = typer.Option("train"),
    out: Path = typer.Option(Path("runs/arith-l1")),
    steps: int = typer.Option(60, help="GRPO steps."),
    prompts: int = typer.Option(8, help="Problems per step, each with its own target."),
    group: int = typer.Option(8, help="Samples per problem (the GRPO group)."),
    temperature: float = typer.Option(1.0),
    lr: float = typer.Option(2e-5),
    alpha: float = typer.Option(1.0, help="Reward = correct - alpha x |produced - target| / target."),
    low: int = typer.Option(40, help="Smallest target drawn."),
    high: int = typer.Option(160, help="Largest target drawn."),
    max_new_tokens: int = typer.Option(256),
    eval_split: str = typer.Option("search"),
    eval_limit: int = typer.Option(50),
    eval_targets: str = typer.Option("60,90,120", help="Targets of the fidelity evaluations."),
    seed: int = typer.Option(0),
    threads: Optional[int] = typer.Option(None),
    progress: bool = typer.Option(True),
):
    """L1 (LCPO): GRPO that rewards meeting the target length named in the prompt, and being right."""
    from .train.l1 import L1Config, train_l1 as run

    cfg = L1Config(init=init, task=task, split=split, out=str(out), steps=steps, prompts=prompts, group=group,
                   temperature=temperature, lr=lr, alpha=alpha, low=low, high=high, max_new_tokens=max_new_tokens,
                   eval_split=eval_split, eval_limit=eval_limit, eval_targets=eval_targets, seed=seed, threads=threads)
    typer.echo(f"saved {run(cfg, progress=progress)}")


def train_router(
    results: list[Path] = typer.Argument(..., help="Results files of the candidate runs on training problems."),
    model: str = typer.Option(..., help="The model the runs used (the router probes it)."),
    out: Path = typer.Option(Path("runs/router.json"), help="The router file to write."),
    features: str = typer.Option("query,probe,hidden", help="Feature sets: query, probe, hidden."),
    folds: int = typer.Option(5, help="Folds of the out-of-fold trade-off curve."),
    probe_max_tokens: int = typer.Option(16, help="Token cap of the probe's direct answer."),
    seed: int = typer.Option(0),
):
    """Router: learn which method and budget to send each query to, from results on training problems."""
    from .train.router import train_router as run

    router = run(list(results), model, out, tuple(f.strip() for f in features.split(",") if f.strip()), folds,
                 probe_max_tokens, seed)
    typer.echo(f"{len(router['candidates'])} candidates, {router['train']['problems']} problems; out-of-fold curve:")
    for e in router["curve"][::4] + router["curve"][-1:]:
        typer.echo(f"  mu={e['mu']:.2e}  accuracy {e['accuracy']:.1%}  tokens {e['tokens']:.1f}")
    typer.echo(f"saved {out}")


def register(app: typer.Typer) -> None:
    app.command("train-router")(train_router)
    app.command("train-prm")(train_prm)
    app.command("train-litereason")(train_litereason)
    app.command("train-litereason-rl")(train_litereason_rl)
    app.command("train-l1")(train_l1)
