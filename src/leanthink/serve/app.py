"""The OpenAI-compatible HTTP server (FastAPI): routes, authentication, limits and streaming.

Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health. Request
handlers run on the asyncio loop and never touch the model: they parse and check a request
(protocol.py), hand it to the decoding scheduler (cot, direct: continuous batching, scheduler.py) or
the search worker (every other method, search.py), and wait for its events (jobs.py). Every refusal
and failure is an OpenAI-shaped error; nothing a request does can stop the server.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import sys
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request   # the `serve` extra; this module is imported only to serve
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from .config import ServeConfig
from .errors import APIError
from .jobs import Job, timeout_error
from .protocol import Context, parse_request
from .responses import DONE, chunk, final_body, sse, usage_chunk

#: seconds a handler waits past a request's deadline for its worker to report it
GRACE_S = 5.0
KEEPALIVE_S = 15.0


class Server:
    """What one running server holds: the engine, the scorer, the scheduler and the search worker."""

    def __init__(self, config: ServeConfig, engine=None, scorer=None):
        import torch

        from ..engine import load_engine
        from ..scorers import load_scorer
        from .prompts import RequestPromptStyle, model_task
        from .scheduler import DecodeScheduler
        from .search import SearchWorker

        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)
        if engine is None:
            engine = load_engine(config.model, device=config.device, dtype=config.dtype,
                                 prompt_style=config.prompt_style, max_context=config.max_context)
        if scorer is None and config.prm:
            scorer = load_scorer(config.prm, device=config.device, dtype=config.dtype)
        engine.prompt_style = RequestPromptStyle.of(engine.prompt_style)
        self.engine, self.scorer = engine, scorer
        self.ctx = Context(config.model_id, engine, config.max_tokens, config.max_budget, scorer is not None,
                           config.router)
        self.decoder = DecodeScheduler(engine, config.max_batch, config.step_tokens)
        self.search = SearchWorker(engine, model_task(getattr(engine, "meta", {}) or {}), scorer, config.search_batch,
                                   scheduler=self.decoder, threads=config.search_threads)
        self.inflight = 0
        self.created = int(time.time())

    def start(self) -> None:
        self.decoder.start()
        self.search.start()

    def stop(self) -> None:
        self.decoder.stop()
        self.search.stop()

    def model_card(self) -> dict:
        from ..methods import method_names
        from .protocol import NOT_SERVED

        e = self.engine
        return {"id": self.config.model_id, "object": "model", "created": self.created, "owned_by": "leanthink",
                "max_model_len": e.max_context,
                "leanthink": {"prompt_style": e.prompt_style.name, "step_delimiter": e.prompt_style.step_delimiter,
                              "methods": [m for m in method_names() if m not in NOT_SERVED], "prm": self.scorer is not None,
                              "logprobs": True, "stop_reason": True}}


def create_app(config: ServeConfig, engine=None, scorer=None):
    """The FastAPI app of a server (loads the model unless `engine` is given)."""
    server = Server(config, engine, scorer)

    @asynccontextmanager
    async def lifespan(app):
        server.start()
        try:
            yield
        finally:
            server.stop()

    app = FastAPI(title="leanthink", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.server = server

    def error_response(e: APIError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers())

    @app.exception_handler(APIError)
    async def _api_error(request, e: APIError):
        return error_response(e)

    @app.exception_handler(HTTPException)
    async def _http_error(request, e: HTTPException):
        return error_response(APIError(e.status_code, f"{request.method} {request.url.path}: {e.detail}"))

    @app.exception_handler(Exception)
    async def _unexpected(request, e: Exception):
        return error_response(APIError(500, f"internal error: {type(e).__name__}: {str(e)[:200]}"))

    def authorize(request: Request) -> None:
        if config.api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), config.api_key.encode()):
            raise APIError(401, "missing or wrong API key: send the header Authorization: Bearer KEY",
                           code="invalid_api_key")

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": config.model_id, "inflight": server.inflight,
                "decode": server.decoder.stats(), "search": server.search.stats()}

    @app.get("/v1/models")
    async def models(request: Request):
        authorize(request)
        return {"object": "list", "data": [server.model_card()]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        return await handle(request, "chat")

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await handle(request, "completions")

    async def handle(request: Request, endpoint: str):
        authorize(request)
        spec = parse_request(await read_json(request, config.max_body_bytes), endpoint, server.ctx)
        if server.inflight >= config.max_queue:
            raise APIError(429, f"the server has {server.inflight} requests in flight (--max-queue); retry later",
                           code="server_busy")
        job = Job(spec, config.request_timeout_s)
        server.inflight += 1
        streaming = False
        try:
            (server.decoder if spec.decode else server.search).submit(job)
            event = await next_event(job, request)
            if event[0] == "error":
                raise event[1]
            if spec.stream:
                streaming = True
                return StreamingResponse(stream(job), media_type="text/event-stream",
                                         headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
            while event[0] != "done":
                event = await next_event(job, request)
                if event[0] == "error":
                    raise event[1]
            return JSONResponse(final_body(job, event[1], config.model_id))
        finally:
            if not streaming:
                job.cancelled = job.cancelled or not job.finished
                server.inflight -= 1

    async def next_event(job: Job, request: Request | None = None):
        """The job's next event; 408 past its deadline (plus grace); 499 if the client left."""
        while True:
            left = job.deadline + GRACE_S - time.monotonic()
            if left <= 0:
                job.cancelled = True
                raise timeout_error()
            try:
                return await job.next_event(min(1.0, left))
            except asyncio.TimeoutError:
                if request is not None and await request.is_disconnected():
                    job.cancelled = True
                    raise APIError(499, "the client closed the request", code="cancelled", type="cancelled") from None

    async def stream(job: Job):
        model, spec = config.model_id, job.spec
        try:
            if spec.endpoint == "chat":
                yield chunk(job, model, text="", role=True)
            while True:
                left = job.deadline + GRACE_S - time.monotonic()
                if left <= 0:
                    yield sse(timeout_error().body())
                    return
                try:
                    event = await job.next_event(min(KEEPALIVE_S, left))
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"     # an SSE comment: clients skip it, proxies see traffic
                    continue
                if event[0] == "delta":
                    yield chunk(job, model, text=event[1])
                elif event[0] == "error":
                    yield sse(event[1].body())
                    return
                elif event[0] == "done":
                    out = event[1]
                    if not spec.decode:        # a search method's answer arrives whole
                        yield chunk(job, model, text=out.text)
                    yield chunk(job, model, finish=out.finish_reason, stop_reason=out.stop_reason)
                    if spec.include_usage:
                        yield usage_chunk(job, model, out)
                    yield DONE
                    return
        finally:
            job.cancelled = job.cancelled or not job.finished
            server.inflight -= 1

    return app


async def read_json(request, limit: int) -> dict:
    """The body as a JSON object, refusing (413) a body over `limit` bytes before reading all of it."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise APIError(413, f"the request body is {length} bytes; this server takes at most {limit} (--max-body-bytes)")
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > limit:
            raise APIError(413, f"the request body is over {limit} bytes (--max-body-bytes)")

    def constant(name):
        raise ValueError(f"{name} is not valid JSON")

    try:
        body = json.loads(bytes(data), parse_constant=constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise APIError(400, f"the request body is not valid JSON: {str(e)[:200]}") from None
    if not isinstance(body, dict):
        raise APIError(400, f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def serve(config: ServeConfig, engine=None) -> None:
    """Run the server until interrupted (`leanthink serve`)."""
    import uvicorn

    app = create_app(config, engine)
    where = f"http://{config.host}:{config.port}"
    print(f"serving {config.model_id} on {where} (OpenAI-compatible API under {where}/v1)", file=sys.stderr)
    if config.host not in ("127.0.0.1", "localhost", "::1") and config.api_key is None:
        print(f"warning: {config.host} is reachable from other machines and no --api-key is set", file=sys.stderr)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=5)
