"""The `leanthink` command line: train, eval, report, demo (and `concepts`, a separate module).

Flags map onto the frozen settings dataclasses; user errors become one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from .bench.ray_sweep import RAY, RAY_CPUS, RAY_SHARD, RAY_WORKERS, sweep_workers
from .errors import LeanthinkError
from .train.config import SFTConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Cheaper inference for reasoning language models, measured.")


def _mount_training() -> None:
    from . import cli_train   # train-prm, train-litereason, train-litereason-rl

    cli_train.register(app)


def _mount_concepts() -> None:
    try:
        from .concepts.cli import app as concepts_app
    except ImportError:  # the module is optional; the rest of the CLI works without it
        return
    app.add_typer(concepts_app, name="concepts", help="Concept-Centric Transformers (interpretable concepts).")


_mount_concepts()
_mount_training()


def _mount_bench() -> None:
    from .bench.cli import app as bench_app

    app.add_typer(bench_app, name="bench", help="Benchmarks that compare methods on the same problems and seeds.")


_mount_bench()


def _mount_serve() -> None:
    from . import cli_serve   # serve: the OpenAI-compatible server

    cli_serve.register(app)


_mount_serve()


@app.command("eval")
def eval_cmd(
    task: str = typer.Option(..., help="Task: arith, prosqa, gsm8k, math500, aime."),
    method: str = typer.Option("cot", help="Method: cot, direct, reference."),
    model: str = typer.Option("builtin:arith", help="builtin:NAME, a Hugging Face model directory, a .gguf file, "
                              "openai:URL#MODEL (an OpenAI-compatible server) or vllm:PATH."),
    out: Path = typer.Option(Path("results/eval.jsonl"), help="Results file (JSONL; appended, resumable)."),
    split: Optional[str] = typer.Option(None, help="Generated split (arith: easy, hard; prosqa: small, ...)."),
    data: Optional[Path] = typer.Option(None, help="Data file (JSONL/JSON) instead of a generated split."),
    limit: Optional[int] = typer.Option(None, help="Only the first N problems."),
    seed: int = typer.Option(0, help="Sampling seed (each problem samples from a stream seeded by it and its id)."),
    data_seed: Optional[int] = typer.Option(None, help="Seed of generated splits (default: --seed)."),
    max_new_tokens: Optional[int] = typer.Option(None, help="Token budget per problem."),
    temperature: Optional[float] = typer.Option(None, help="Sampling temperature (0 = greedy)."),
    batch_size: Optional[int] = typer.Option(None, help="Problems decoded together (outputs do not depend on it)."),
    budget: Optional[int] = typer.Option(None, help="Samples / particles per problem (scaling methods)."),
    prm: Optional[str] = typer.Option(None, help="Scorer for scaling methods: a PRM directory (Qwen2.5-Math-PRM "
                                                 "format), builtin:arith-prm, or oracle (the exact verifier)."),
    set_: list[str] = typer.Option([], "--set", help="Other method settings, KEY=VALUE (repeatable)."),
    prompt_style: Optional[str] = typer.Option(None, help="plain, chat or completion (default: from the model)."),
    instruction: Optional[str] = typer.Option(None, help="Replace the CoT instruction of chat/completion prompts."),
    prompt_template: Optional[str] = typer.Option(None, help="Compact-reasoning instruction: cot, cod (Chain of "
                                                  "Draft) or tale:B (TALE-EP, B tokens); chat/completion styles."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:1, ... (auto: cuda when available)."),
    dtype: str = typer.Option("auto", help="auto, float32, bfloat16, float16."),
    max_context: Optional[int] = typer.Option(None, help="Context limit in tokens (default: the model's)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    ray: Optional[str] = RAY, ray_shard: Optional[int] = RAY_SHARD, ray_workers: Optional[int] = RAY_WORKERS,
    ray_cpus: int = RAY_CPUS,
):
    """Run METHOD on TASK and append one JSON line per problem to OUT (re-run to resume)."""
    from .bench.harness import RunInfo, run
    from .bench.report import console, render_table, summarise
    from .methods import get_method, has_setting, method_settings
    from .tasks import get_task

    from . import checks
    from .bench.results import ResultsFile

    if limit is not None:
        checks.integer("--limit", limit, 1)
    checks.seed("--seed", seed)
    if data_seed is not None:
        checks.seed("--data-seed", data_seed)
    if max_context is not None:
        checks.integer("--max-context", max_context, 1)
    checks.output_file("--out", out)
    if data is not None:
        checks.input_file("--data", data)
        checks.distinct("--out", out, "--data", data)
    ResultsFile(out).refresh()   # a damaged results file is an error now, not after the model loads
    if prompt_template is not None:
        from .prompting import template_instruction

        if instruction is not None:
            raise LeanthinkError("give --instruction or --prompt-template, not both")
        instruction = template_instruction(prompt_template)
    settings = method_settings(method, set_, max_new_tokens=max_new_tokens, temperature=temperature,
                               batch_size=batch_size, budget=budget,
                               **({"seed": seed} if has_setting(method, "seed") else {}))
    m = get_method(method, **settings)
    if prm is not None and not m.needs_scorer():
        raise LeanthinkError(f"--prm does not apply to method {method!r}"
                             + (" with weights=self-certainty" if m.scorer != "no" else " (it scores nothing)"))
    if prm is None and m.needs_scorer():
        raise LeanthinkError(f"method {method!r} needs a scorer: give --prm (a PRM directory, builtin:arith-prm or "
                             "oracle), or --set weights=self-certainty")
    t = get_task(task)
    data_seed = seed if data_seed is None else data_seed
    problems = t.load(split=split, data=data, limit=limit, seed=data_seed)
    if not problems:
        raise LeanthinkError(f"task {task!r} gave no problems (check --data/--split/--limit)")
    from functools import partial

    from .scorers import load_scorer

    load = partial(_engine_for, m, method, model, prompt_style, instruction, device, dtype, max_context)
    load_prm = partial(load_scorer, prm, device=device, dtype=dtype) if prm is not None else None
    with sweep_workers(ray, ray_shard, ray_workers, ray_cpus, device, load, load_prm) as pool:   # None: local
        engine = pool.engine if pool else load()   # on Ray: the facts of the workers' engine (for the run id)
        if prompt_template is not None and engine.prompt_style.name == "plain":
            raise LeanthinkError(f"--prompt-template instructs instruction models; {model} uses the plain style, "
                                 "which has no instruction (give --prompt-style chat or completion)")
        scorer = pool.scorer if pool else (load_prm() if load_prm else None)
        info = RunInfo.create(task, split, data, data_seed, m, method, model if method != "reference" else "none",
                              engine, scorer=scorer)
        rows = (pool.run if pool else run)(m, engine, t, problems, info, out, chunk_size=getattr(m, "batch_size", 16),
                                           progress=progress, scorer=scorer)
    console().print(render_table(summarise(rows), title=f"{out}"))


class _NoModel:
    """Stand-in engine for methods that run no model (`reference`)."""

    name, model_hash, tokenizer = "none", "", None

    def __init__(self, style):
        self.prompt_style = style


def _engine_for(m, method: str, model: str, prompt_style, instruction, device, dtype, max_context):
    from .engine import load_engine
    from .prompting import PromptStyle

    options = {"cot_instruction": instruction} if instruction else {}
    if method == "reference":
        return _NoModel(PromptStyle(prompt_style or "plain", **options))
    return load_engine(model, requires=m.requires, method=method, device=device, dtype=dtype,
                       prompt_style=prompt_style, max_context=max_context, **options)


@app.command()
def report(
    results: list[Path] = typer.Argument(..., help="Results files written by `leanthink eval`."),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
    png: Optional[Path] = typer.Option(None, help="Where to write the accuracy-vs-tokens PNG "
                                                  "(default: next to the first results file)."),
    markdown: Optional[Path] = typer.Option(None, help="Also write the table as Markdown here."),
    html: Optional[Path] = typer.Option(None, "--html", help="Also write one self-contained HTML page here: "
                                        "the table, Pareto plots and a section per method."),
):
    """Table per run (accuracy with 95% CI, tokens, Peak, Dep, forward tokens, latency) and a PNG."""
    from . import checks
    from .bench.report import FIELDS, load_summaries, markdown_table, plot_accuracy_vs_tokens, render_table

    png = png or results[0].with_suffix(".png")
    checks.output_file("--png", png)
    for flag, path in (("--markdown", markdown), ("--html", html)):
        if path:
            checks.output_file(flag, path)
    for path in (png, markdown, html):
        for r in results:
            checks.distinct("a results file", r, "--png/--markdown/--html", path)
    summaries = load_summaries(results)
    plot_accuracy_vs_tokens(summaries, png)
    if markdown:
        from .fileio import write_text

        write_text(markdown, markdown_table(summaries))
    if html:
        from .bench.html_report import write_html

        write_html(html, summaries, results)
    if as_json:
        keep = ("run_id", "method", "task", "split", "model", "settings", "seed") + FIELDS
        typer.echo(json.dumps([{k: s[k] for k in keep} for s in summaries], indent=2))
        return
    from .bench.report import console

    console().print(render_table(summaries))
    console().print(f"plot: {png}" + (f"; page: {html}" if html else ""))


@app.command()
def train(
    task: str = typer.Option(SFTConfig.task, help="Task whose generator gives training problems."),
    task_option: list[str] = typer.Option([], help="Task constructor option KEY=VALUE, e.g. trace=search (prosqa)."),
    split: str = typer.Option(SFTConfig.split, help="Generated split, a curriculum 'SPLIT:STEPS,SPLIT:STEPS', "
                                              "or a mixture 'A+B' in any stage."),
    out: Path = typer.Option(Path(SFTConfig.out), help="Output checkpoint directory (resumes if it holds a run)."),
    size: str = typer.Option(SFTConfig.size, help="micro, tiny (~3M), small (~25M), or a shape LAYERSxWIDTHxHEADS."),
    task_tokens: bool = typer.Option(SFTConfig.task_tokens,
                                     help="Add the task's role tokens to a new model's tokenizer (prosqa)."),
    init: Optional[str] = typer.Option(SFTConfig.init, help="Start from this checkpoint instead of a new model."),
    steps: int = typer.Option(SFTConfig.steps, help="Optimiser steps (without stages in --split)."),
    batch_size: int = typer.Option(SFTConfig.batch_size),
    lr: float = typer.Option(SFTConfig.lr, help="Peak learning rate (cosine decay to 10%)."),
    warmup: int = typer.Option(SFTConfig.warmup, help="Linear warm-up steps."),
    direct_fraction: float = typer.Option(SFTConfig.direct_fraction, help="Share of direct-answer examples."),
    eval_every: int = typer.Option(SFTConfig.eval_every),
    eval_split: str = typer.Option(SFTConfig.eval_split),
    eval_limit: int = typer.Option(SFTConfig.eval_limit),
    seed: int = typer.Option(SFTConfig.seed),
    threads: Optional[int] = typer.Option(SFTConfig.threads),
    compile: bool = typer.Option(SFTConfig.compile, help="torch.compile the training forward."),
    bf16: bool = typer.Option(SFTConfig.bf16, help="bf16 autocast for the forward pass (--no-bf16: float32)."),
    recipe: str = typer.Option(SFTConfig.recipe, help="sft; lightthinker (thoughts compressed into cache tokens); "
                               "coconut (continuous thoughts: --split stage k makes the first k steps latent); "
                               "tokenskip (chains pruned to a ratio named in the prompt); l1 (length in the prompt)."),
    cache_tokens: int = typer.Option(SFTConfig.cache_tokens, help="LightThinker: cache tokens per thought."),
    segment_every: int = typer.Option(SFTConfig.segment_every,
                                      help="LightThinker: 0 = a thought per trace line; k = every k tokens."),
    latents_per_step: int = typer.Option(SFTConfig.latents_per_step, help="Coconut: continuous thoughts per step."),
    latent_supervision: float = typer.Option(0.0, help="Coconut: weight of the key-token loss on thoughts (ours)."),
    ratios: str = typer.Option(SFTConfig.ratios, help="TokenSkip: ratios of reasoning tokens kept, e.g. 0.5,0.7,1.0."),
    progress: bool = typer.Option(True),
):
    """SFT a built-in reasoner on generated CoT traces; writes a Hugging Face directory."""
    from .train.sft import train as run_train

    options = []
    for item in task_option:
        key, sep, value = item.partition("=")
        if not sep:
            raise LeanthinkError(f"--task-option {item!r}: expected KEY=VALUE")
        options.append((key, value))
    cfg = SFTConfig(task=task, task_options=tuple(options), split=split, out=str(out), size=size,
                    task_tokens=task_tokens, init=init, steps=steps, batch_size=batch_size,
                    lr=lr, warmup=warmup, direct_fraction=direct_fraction, eval_every=eval_every, eval_split=eval_split,
                    eval_limit=eval_limit, seed=seed, threads=threads, compile=compile, bf16=bf16,
                    recipe=recipe, cache_tokens=cache_tokens, segment_every=segment_every,
                    latents_per_step=latents_per_step, latent_supervision=latent_supervision, ratios=ratios)
    path = run_train(cfg, progress=progress)
    typer.echo(f"saved {path}")


@app.command()
def demo(
    out: Path = typer.Option(Path("results/demo.jsonl"), help="Results file."),
    limit: int = typer.Option(100, help="Problems per task and method."),
    progress: bool = typer.Option(True),
):
    """The built-in reasoners on their tasks, `direct` vs `cot`: a table and a PNG."""
    from .bench.demo import run_demo

    run_demo(out, limit=limit, progress=progress)


@app.command("build-tokenizer")
def build_tokenizer(out: Optional[Path] = typer.Option(None, help="Default: the package's built-in tokenizer.")):
    """Rebuild the built-in tokenizer (byte-level BPE) from generated task text."""
    from .models.registry import TOKENIZER_DIR
    from .models.tokenizer import builtin_corpus, check_tokenizer_dir, save_tokenizer, train_tokenizer

    target = check_tokenizer_dir("--out", out or TOKENIZER_DIR)  # before the slow training, not after
    tok = train_tokenizer(builtin_corpus(), vocab_size=1024)
    save_tokenizer(tok, target)
    typer.echo(f"saved {target} ({len(tok)} tokens)")


@app.command()
def models():
    """List the built-in checkpoints (and SmolLM2-135M-Instruct's GGUF file when it is installed)."""
    from .models.gguf import find_smollm2
    from .models.registry import BUILTIN_MODELS, builtin_names, read_meta

    for name in builtin_names():
        meta = read_meta(BUILTIN_MODELS / name)
        lt, co = meta.get("lightthinker"), meta.get("coconut")
        ts, l1 = meta.get("tokenskip"), meta.get("l1")
        recipe = (f"\trecipe=lightthinker(cache_tokens={lt.get('cache_tokens')})" if lt else
                  f"\trecipe=coconut(latents={co.get('latents')})" if co else
                  f"\trecipe=tokenskip(ratios={','.join(map(str, ts.get('ratios', [])))})" if ts else
                  "\trecipe=l1" + ("+lcpo" if "lcpo" in l1 else "") if l1 is not None else "")
        typer.echo(f"builtin:{name}\ttask={meta.get('task')}{recipe}\ttrain_time_s={meta.get('train_time_s')}")
    smollm2 = find_smollm2()
    if smollm2:
        typer.echo(f"{smollm2}\tSmolLM2-135M-Instruct (GGUF, real pretrained chat model)")


_DEBUG = {"on": bool(os.environ.get("LEANTHINK_DEBUG"))}


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show the full traceback of unexpected errors.")):
    """Cheaper inference for reasoning language models, measured."""
    _DEBUG["on"] = _DEBUG["on"] or debug


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM. A BaseException of our own, so that neither our code nor typer (which turns
    KeyboardInterrupt into a silent exit status 130) swallows it before `main` can say what happened."""

    def __init__(self, code: int):
        self.code = code


def _interrupt(signum, frame):
    raise Interrupted(128 + signum)


def main(argv: list[str] | None = None) -> None:
    """The entry point. Every failure ends as one line on stderr: `error: ...` with exit status 2 for
    input the user can fix, 1 for anything unexpected (with a pointer to --debug), 130 after Ctrl-C
    (143 after SIGTERM), with a note that the results written so far are kept."""
    import signal

    handlers = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = app(args=argv, standalone_mode=False)
    except Interrupted as e:
        print("interrupted: results written so far are kept; re-run the same command to resume", file=sys.stderr)
        sys.exit(e.code)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as e:   # usage errors (unknown flag, a value of the wrong type): one line too
        ctx = getattr(e, "ctx", None)
        where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        print(f"error: {_one_line(message)}{where}", file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 2))
    except LeanthinkError as e:
        print(f"error: {_one_line(str(e))}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:   # output piped into `head`: nothing left to say
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - the guard: never a bare traceback
        if _DEBUG["on"]:
            raise
        print(f"error: {_unexpected(e)}", file=sys.stderr)
        sys.exit(2 if isinstance(e, OSError) else 1)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "(no message)"


def _unexpected(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:   # a full disk, a vanished file: the user can act on it
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror}"
    if isinstance(e, MemoryError):
        return "out of memory (try a smaller --batch-size or --limit)"
    first = _one_line(str(e).split("\n")[0])[:300]
    return f"unexpected {type(e).__name__}: {first} (re-run with --debug for the traceback)"


if __name__ == "__main__":
    main()
