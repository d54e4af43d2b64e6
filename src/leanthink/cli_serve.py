"""`leanthink serve`: the OpenAI-compatible server (src/leanthink/serve/, docs/serving.md)."""

from __future__ import annotations

from typing import Optional

import typer

from .serve.config import ServeConfig

_D = ServeConfig()


def serve(
    model: str = typer.Option(_D.model, help="builtin:NAME, a Hugging Face model directory or a .gguf file."),
    prm: Optional[str] = typer.Option(None, help="A PRM for search methods that weigh with one (builtin:arith-prm, "
                                                 "a PRM directory)."),
    router: Optional[str] = typer.Option(None, help="A router file (`leanthink train-router`) for method \"route\"."),
    host: str = typer.Option(_D.host, help="Interface to bind (loopback by default)."),
    port: int = typer.Option(_D.port),
    api_key: Optional[str] = typer.Option(None, envvar="LEANTHINK_API_KEY",
                                          help="Require `Authorization: Bearer KEY` (or set LEANTHINK_API_KEY)."),
    served_model_name: Optional[str] = typer.Option(None, help="Model id for clients (default: --model)."),
    max_tokens: int = typer.Option(_D.max_tokens, help="Most tokens a request may ask for."),
    max_budget: int = typer.Option(_D.max_budget, help="Most samples / particles a request may ask for."),
    request_timeout: float = typer.Option(_D.request_timeout_s, help="Seconds a request may take, queueing included."),
    max_body_bytes: int = typer.Option(_D.max_body_bytes, help="Largest request body."),
    max_batch: int = typer.Option(_D.max_batch, help="Most rows decoding together (continuous batch)."),
    step_tokens: int = typer.Option(_D.step_tokens, help="Tokens decoded between joins and leaves of the batch."),
    max_queue: int = typer.Option(_D.max_queue, help="Most requests in the server at once; more get 429."),
    search_batch: int = typer.Option(_D.search_batch, help="Most requests of one search method solved together."),
    search_threads: int = typer.Option(_D.search_threads, help="Search calls running at once."),
    prompt_style: Optional[str] = typer.Option(None, help="plain, chat or completion (default: from the model)."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:1, ... (auto: cuda when available)."),
    dtype: str = typer.Option("auto", help="auto, float32, bfloat16, float16."),
    max_context: Optional[int] = typer.Option(None, help="Context limit in tokens (default: the model's)."),
    threads: Optional[int] = typer.Option(None, help="torch threads (default: torch's)."),
):
    """Serve MODEL behind an OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/models,
    /health); the method and budget of each request go in its `reasoning` field (docs/serving.md)."""
    from .serve import serve as run

    config = ServeConfig(model=model, prm=prm, router=router, host=host, port=port, api_key=api_key,
                         served_model_name=served_model_name, max_tokens=max_tokens, max_budget=max_budget,
                         request_timeout_s=request_timeout, max_body_bytes=max_body_bytes, max_batch=max_batch,
                         step_tokens=step_tokens, max_queue=max_queue, search_batch=search_batch, search_threads=search_threads,
                         prompt_style=prompt_style, device=device, dtype=dtype, max_context=max_context,
                         threads=threads)
    run(config)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
