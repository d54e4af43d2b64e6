"""`ServeConfig`: what `leanthink serve` is started with, validated once (before the model loads)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import checks
from ..errors import LeanthinkError


@dataclass(frozen=True)
class ServeConfig:
    model: str = "builtin:arith"
    """The policy: builtin:NAME, a Hugging Face directory or a GGUF file (in process; a remote model
    cannot be served again)."""
    prm: str | None = None
    """A PRM for search methods that weigh with one (`weights=prm`); without it they need
    `settings.weights=self-certainty`."""
    router: str | None = None
    """A router file (`leanthink train-router`) for `reasoning.method = "route"`; requests cannot name one."""
    host: str = "127.0.0.1"
    """Interface to bind; loopback by default, so nothing outside the machine reaches the server."""
    port: int = 8000
    api_key: str | None = None
    """When set, every /v1 request needs `Authorization: Bearer KEY` (else 401)."""
    served_model_name: str | None = None
    """The model id clients send and /v1/models lists (default: the --model spec)."""
    max_body_bytes: int = 1 << 20
    """Largest request body; bigger ones get 413 before they are parsed."""
    max_tokens: int = 2048
    """Most tokens a request may ask for (max_tokens, or the method's max_new_tokens); a method's
    default above it is lowered to it."""
    max_budget: int = 64
    """Most samples / particles a request may ask for (`reasoning.budget`)."""
    request_timeout_s: float = 300.0
    """Wall-clock limit per request, queueing included; then the request fails with 408."""
    max_batch: int = 64
    """Most rows decoding together in the continuous batch (more requests wait their turn)."""
    step_tokens: int = 1
    """Tokens decoded between two points where requests may join or leave the batch."""
    max_queue: int = 1024
    """Most requests in the server at once (waiting or running); more get 429."""
    search_batch: int = 8
    """Most queued requests of one search method and settings solved in one batched call."""
    search_threads: int = 4
    """Search calls running at once (their decoding shares the continuous batch)."""
    device: str = "auto"
    dtype: str = "auto"
    prompt_style: str | None = None
    max_context: int | None = None
    threads: int | None = None
    """torch threads (None: torch's default)."""

    def __post_init__(self):
        if not isinstance(self.model, str) or not self.model:
            raise LeanthinkError("--model must name a model")
        if self.model.startswith(("openai:", "vllm:")):
            raise LeanthinkError(f"--model {self.model}: `leanthink serve` runs the model in process (builtin:NAME, a "
                                 "Hugging Face directory or a GGUF file); a remote or vLLM model is served already")
        if self.prm in ("oracle", "exact-verifier"):
            raise LeanthinkError("--prm oracle reads gold answers, which requests do not have; give a PRM directory")
        if self.router is not None:
            from ..methods.router import RouterModel

            RouterModel.load(self.router)   # a bad router file stops the server before it starts
        if self.api_key is not None and not self.api_key.strip():
            raise LeanthinkError("--api-key (or LEANTHINK_API_KEY) is empty; give a key, or leave it unset for none")
        checks.integer("--port", self.port, 0, 65535)
        checks.integer("--max-body-bytes", self.max_body_bytes, 1024, 1 << 30)
        checks.integer("--max-tokens", self.max_tokens, 1, 1 << 20)
        checks.integer("--max-budget", self.max_budget, 1, 4096)
        checks.number("--request-timeout", self.request_timeout_s, 0, 86400, low_open=True)
        checks.integer("--max-batch", self.max_batch, 1, 4096)
        checks.integer("--step-tokens", self.step_tokens, 1, 1024)
        checks.integer("--max-queue", self.max_queue, 1, 1 << 20)
        checks.integer("--search-batch", self.search_batch, 1, 1024)
        checks.integer("--search-threads", self.search_threads, 1, 256)
        if self.threads is not None:
            checks.integer("--threads", self.threads, 1, 1024)
        if self.max_context is not None:
            checks.integer("--max-context", self.max_context, 1)

    @property
    def model_id(self) -> str:
        return self.served_model_name or self.model
