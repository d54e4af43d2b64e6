"""A request in flight: its spec, its deadline, and the channel its events come back on.

The engine works on threads of its own (the decoding scheduler and the search worker); the HTTP side
runs on asyncio. A `Job` joins them: worker threads `emit` events, which land on the job's asyncio
queue through `call_soon_threadsafe`, and the handler reads them in order:

  ("start",)            accepted: the prompt fits and is in the batch (decoding) or queued (search)
  ("delta", text)       new output text (decoding methods, as it is produced)
  ("done", Outcome)     finished
  ("error", APIError)   failed; nothing follows

Waking the event loop from another thread writes to its self-pipe, which costs a system call under
the GIL; a decoding step may emit dozens of events, so the scheduler wraps each turn in `batched()`
and the events of a turn reach the loop in one wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from dataclasses import dataclass, field

from ..engine.usage import Usage
from .errors import APIError
from .protocol import JobSpec


@dataclass
class Outcome:
    text: str
    finish_reason: str                 # "stop" or "length" (OpenAI's)
    usage: Usage
    stop_reason: str | None = None     # the stop string that ended the output (vLLM's field); None at EOS
    answer: str | None = None          # search methods: the answer they chose
    trace: dict = field(default_factory=dict)
    logprobs: list | None = None       # [(token text, logprob, [(alt text, logprob)] or None)]
    queue_time_s: float = 0.0


class Job:
    def __init__(self, spec: JobSpec, timeout_s: float, sink=None):
        """`sink(event)` receives the events (default: this job's asyncio queue on the running loop)."""
        self.spec = spec
        self.id = uuid.uuid4().hex[:24]
        self.created = time.monotonic()
        self.deadline = self.created + timeout_s
        self.started: float | None = None   # when an engine first worked on it
        self.cancelled = False              # the client went away: workers drop the job
        self.finished = False
        self.loop = None
        if sink is None:
            self.loop, self.events = asyncio.get_running_loop(), asyncio.Queue()
        self._sink = sink

    def expired(self, now: float | None = None) -> bool:
        return (now or time.monotonic()) > self.deadline

    def abandoned(self) -> bool:
        return self.cancelled or self.expired()

    def emit(self, *event) -> None:
        """Thread-safe; events after the final one, or after the loop closed, are dropped."""
        if self.finished:
            return
        if event[0] in ("done", "error"):
            self.finished = True
        if self.loop is None:
            self._sink(event)
            return
        outbox = getattr(_turn, "outbox", None)
        if outbox is not None:
            outbox.append((self, event))
            return
        _post([(self, event)])

    def fail(self, error: APIError) -> None:
        self.emit("error", error)

    def fail_abandoned(self) -> None:
        """The error for a job dropped because it was cancelled or ran past its deadline."""
        if self.cancelled:
            self.fail(APIError(499, "the client closed the request", code="cancelled", type="cancelled"))
        else:
            self.fail(timeout_error())

    async def next_event(self, timeout: float):
        return await asyncio.wait_for(self.events.get(), timeout)


_turn = threading.local()


@contextlib.contextmanager
def batched():
    """Events emitted on this thread inside the block reach their loops in one wake-up per loop."""
    _turn.outbox = outbox = []
    try:
        yield
    finally:
        _turn.outbox = None
        loops: dict = {}
        for job, event in outbox:
            loops.setdefault(id(job.loop), []).append((job, event))
        for pairs in loops.values():
            _post(pairs)


def _post(pairs: list) -> None:
    def deliver():
        for job, event in pairs:
            job.events.put_nowait(event)

    try:
        pairs[0][0].loop.call_soon_threadsafe(deliver)
    except RuntimeError:   # the event loop is closed: the server is shutting down
        pass


def timeout_error() -> APIError:
    return APIError(408, "the request ran past this server's time limit per request (--request-timeout)",
                    code="request_timeout")
