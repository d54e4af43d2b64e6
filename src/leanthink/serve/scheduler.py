"""Continuous batching for the decoding methods (cot, direct): one live engine batch for every request.

The scheduler thread owns one `Sequences` handle, the live batch, with a row per decoding request.
Each turn of its loop:

  1. admit: requests that arrived since the last turn are checked (prompt + max_tokens within the
     model's context), prefilled together into a fresh handle and `merge`d into the live batch;
  2. step: one `extend` over every live row, `step_tokens` tokens each (1 by default: one forward
     pass), each row with its own SamplingParams (temperature, stop strings, ... ; rows whose token
     choice is alike are sampled together, all rows share the forward pass);
  3. leave: rows that hit EOS, a stop string, their max_tokens, their deadline, or whose client went
     away are `split` out of the live batch; their Usage is read off the split handle, and the
     handle is dropped, freeing their cache rows.

So requests join and leave between decoding steps and never wait for each other to finish. The other
methods' decoding joins the same batch: the search worker's engine hands each of their `extend`
calls to the scheduler as a `Lease` (search.py), whose rows are merged in, decoded step by step
beside everyone else's, and handed back, in their order, once each has stopped. Every row
samples from its own random stream (seeded by the request's seed), so a request's output does not
depend on what else is in the batch (tests/serve/test_scheduler.py checks it against decoding the
request alone, counters included). New text is streamed after every step, minus any tail that could
be the start of a stop string (OpenAI leaves stop strings out of the output).
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import replace

from ..engine import Completion, SamplingParams, stream_seed
from ..errors import LeanthinkError
from .errors import APIError
from .jobs import Job, Outcome, batched


class Lease:
    """One `extend` call of a method, lent to the live batch: `handle`'s rows are decoded with `params`
    (one per row) until each stops; then `back` holds them again, in their order, with `completions`
    as one extend call would have returned them. `abandoned()` cuts it short (the requests are gone)."""

    def __init__(self, handle, params: list[SamplingParams], abandoned=lambda: False):
        self.handle, self.params, self.abandoned = handle, params, abandoned
        self.completions = [Completion(text="") for _ in params]
        self.back, self.order, self.left = None, [], len(params)
        self.done, self.error = threading.Event(), None

    def fail(self, error: Exception) -> None:
        self.error = error
        self.done.set()


class _Row:
    """A live row: a decoding request's (`_Run`) or a lent row of a method's extend call (`_Lent`)."""

    __slots__ = ("params", "sampled", "finish", "stop_reason")

    def __init__(self, params: SamplingParams):
        self.params, self.sampled, self.finish, self.stop_reason = params, 0, None, None

    @property
    def remaining(self) -> int:
        return self.params.max_new_tokens - self.sampled


class _Run(_Row):
    __slots__ = ("job", "text", "sent", "tokens")

    def __init__(self, job: Job):
        super().__init__(job.spec.params)
        self.job = job
        self.text = job.spec.prefix   # output so far: the forced prefix (plain direct's "Answer:"), then the model's
        self.sent = 0                 # characters streamed
        self.tokens = [] if job.spec.logprobs is not None else None


class _Lent(_Row):
    __slots__ = ("lease", "index")

    def __init__(self, lease: Lease, index: int):
        super().__init__(lease.params[index])
        self.lease, self.index = lease, index


class DecodeScheduler:
    def __init__(self, engine, max_batch: int = 64, step_tokens: int = 1):
        self.engine, self.max_batch, self.step_tokens = engine, max_batch, step_tokens
        self._waiting: deque = deque()   # Jobs and Leases, in order of arrival
        self._cv = threading.Condition()
        self._live = None                # the live batch (a Sequences handle), None when empty
        self._rows: list[_Row] = []      # row i of the live batch
        self._stopping = False
        self.steps = self.row_steps = self.admitted = self.lent = self.max_rows = 0   # for /health and benchmarks
        self._thread = threading.Thread(target=self._loop, name="leanthink-decode", daemon=True)

    # ---------------------------------------------------------------- other threads
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._fail(list(self._waiting) + self._rows, APIError(503, "the server is shutting down"))

    def submit(self, job: Job) -> None:
        """A decoding request (cot, direct) joins at the next turn."""
        self._enqueue(job)

    def lend(self, lease: Lease) -> None:
        """A method's extend call joins at the next turn; `lease.done` is set when its rows are back."""
        self._enqueue(lease)

    def _enqueue(self, item) -> None:
        with self._cv:
            self._waiting.append(item)
            self._cv.notify()

    def stats(self) -> dict:
        return {"decoding": sum(isinstance(r, _Run) for r in self._rows), "lent_rows": sum(isinstance(r, _Lent) for r
                in self._rows), "waiting": len(self._waiting), "steps": self.steps, "row_steps": self.row_steps,
                "mean_rows_per_step": round(self.row_steps / self.steps, 3) if self.steps else 0.0,
                "max_rows": self.max_rows, "admitted": self.admitted, "leases": self.lent}

    # ---------------------------------------------------------------- the engine thread
    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stopping and not self._waiting and not self._rows:
                    self._cv.wait()
                if self._stopping:
                    return
            self.run_once()

    def run_once(self) -> None:
        """One turn: admit what waits (as far as the batch has room), then one decoding step."""
        with self._cv:
            newcomers, room = [], self.max_batch - len(self._rows)
            while self._waiting and (room > 0 or not (self._rows or newcomers)):   # a lease over max_batch still goes
                item = self._waiting.popleft()
                newcomers.append(item)
                room -= len(item.params) if isinstance(item, Lease) else 1
        with batched():
            if newcomers:
                self._guard(self._admit, newcomers)
            if self._rows:
                self._guard(self._step, [])

    def _guard(self, work, items: list) -> None:
        """Run `work(items)`; if it fails unexpectedly, those items and everything in the live batch (whose
        state is then unknown) fail with a 500, and the batch is dropped. The server keeps running."""
        try:
            work(items)
        except Exception as e:  # noqa: BLE001 - one bad turn must not end the scheduler
            traceback.print_exc(file=sys.stderr)
            self._fail(items + self._rows, APIError(500, f"internal error while decoding: {type(e).__name__}: "
                                                         f"{str(e)[:200]}"))
            self._live, self._rows = None, []

    @staticmethod
    def _fail(items: list, error: APIError) -> None:
        seen = set()
        for item in items:
            owner = item.job if isinstance(item, _Run) else item.lease if isinstance(item, _Lent) else item
            if id(owner) not in seen:
                seen.add(id(owner))
                owner.fail(error)

    def _join(self, handle, rows: list[_Row]) -> None:
        if self._live is None:
            self._live = handle
        else:
            self.engine.merge(self._live, handle)
        self._rows += rows

    def _admit(self, items: list) -> None:
        e = self.engine
        ok = []
        for item in items:
            if isinstance(item, Lease):
                self._join(item.handle, [_Lent(item, i) for i in range(len(item.params))])
                item.handle = None
                self.lent += 1
                continue
            job = item
            if job.abandoned():
                job.fail_abandoned()
                continue
            try:
                n = len(e.tokenizer(job.spec.prompt, add_special_tokens=e.add_special_tokens)["input_ids"])
            except Exception as err:  # noqa: BLE001 - text the tokenizer refuses fails its request only
                job.fail(APIError(400, f"the tokenizer cannot read the prompt: {str(err)[:200]}", param="prompt"))
                continue
            need = n + job.spec.params.max_new_tokens
            if not n:
                job.fail(APIError(400, "the prompt is empty after tokenisation", param="prompt"))
            elif need > e.max_context:
                job.fail(APIError(400, f"the prompt is {n} tokens and max_tokens is {job.spec.params.max_new_tokens}: "
                                  f"{need} tokens, more than the model's context of {e.max_context}",
                                  param="max_tokens", code="context_length_exceeded"))
            else:
                ok.append(job)
        if not ok:
            return
        try:
            fresh = e.prefill([j.spec.prompt for j in ok], seeds=[stream_seed(0, j.spec.problem.id) for j in ok],
                              keys=[j.id for j in ok])
        except Exception as err:  # noqa: BLE001 - a prompt the model cannot take fails its requests only
            if not isinstance(err, LeanthinkError):
                traceback.print_exc(file=sys.stderr)
            error = (APIError(400, str(err), param="prompt") if isinstance(err, LeanthinkError) else
                     APIError(500, f"internal error in prefill: {type(err).__name__}: {str(err)[:200]}"))
            self._fail(ok, error)
            return
        now = time.monotonic()
        for job in ok:
            job.started = now
            job.emit("start")
        self._join(fresh, [_Run(j) for j in ok])
        self.admitted += len(ok)

    def _step(self, _items) -> None:
        k, params = self.step_tokens, []
        for r in self._rows:
            cap = min(k, r.remaining)
            params.append(replace(r.params, max_new_tokens=cap,
                                  min_new_tokens=min(cap, max(0, r.params.min_new_tokens - r.sampled))))
        outs = self.engine.extend(self._live, params)
        self.steps += 1
        self.row_steps += len(self._rows)
        self.max_rows = max(self.max_rows, len(self._rows))
        leaving = []
        for i, (r, c) in enumerate(zip(self._rows, outs)):
            r.sampled += len(c.logprobs)
            if c.finish_reason == "eos":
                r.finish = "eos"
            elif c.finish_reason == "stop":
                r.finish, r.stop_reason = "stop", c.stop
            elif r.remaining <= 0:
                r.finish = "length"
            if isinstance(r, _Run):
                self._advance_run(r, c)
            else:
                _accumulate(r.lease.completions[r.index], c, r.finish)
                if not r.finish and r.lease.abandoned():
                    r.finish = "length"        # its requests are gone: the method's next verb stops it
            if r.finish:
                leaving.append(i)
        if leaving:
            self._leave(leaving)

    def _advance_run(self, r: _Run, c) -> None:
        r.text += c.text
        if r.tokens is not None:
            self._record(r, c)
        if not r.finish and r.job.abandoned():
            r.finish = "abandoned"
        elif not r.finish and r.job.spec.stream:
            end = len(r.text) - _partial_stop(r.text, r.params.stop)
            if end > r.sent:
                r.job.emit("delta", r.text[r.sent:end])
                r.sent = end

    def _leave(self, rows: list[int]) -> None:
        """Split the finished rows out: each lease's into its own handle, the requests' into one."""
        groups: dict = {}
        for i in rows:
            r = self._rows[i]
            groups.setdefault(id(r.lease) if isinstance(r, _Lent) else "runs", []).append(i)
        alive = list(range(len(self._rows)))
        parts = []
        for indices in groups.values():
            where = {old: new for new, old in enumerate(alive)}
            parts.append(([self._rows[i] for i in indices], self.engine.split(self._live, [where[i] for i in indices])))
            gone = set(indices)
            alive = [i for i in alive if i not in gone]
        self._rows = [self._rows[i] for i in alive]
        if self._rows:
            # the handle remembers every request that ever had a row in it (for usage()); a server's
            # live batch lives for ever, so it forgets those that left
            self._live.requests = {id(row.request): row.request for row in self._live.rows}
        else:
            self._live = None
        for entries, handle in parts:
            if isinstance(entries[0], _Lent):
                self._give_back(entries[0].lease, [r.index for r in entries], handle)
            else:
                self._finish_runs(entries, handle)

    def _give_back(self, lease: Lease, indices: list[int], handle) -> None:
        if lease.back is None:
            lease.back = handle
        else:
            self.engine.merge(lease.back, handle)
        lease.order += indices
        lease.left -= len(indices)
        if not lease.left:
            if lease.order != sorted(lease.order):    # back into the order the method gave them
                where = {index: pos for pos, index in enumerate(lease.order)}
                self.engine.select(lease.back, [where[i] for i in range(len(lease.order))])
            lease.done.set()

    def _finish_runs(self, runs: list[_Run], handle) -> None:
        usages = self.engine.usage(handle)       # one request per row, in row order
        del handle                               # frees the rows' cache
        for r, usage in zip(runs, usages):
            job = r.job
            if r.finish == "abandoned":
                job.fail_abandoned()
                continue
            text = r.text[:len(r.text) - len(r.stop_reason)] if r.stop_reason else r.text
            if job.spec.stream and len(text) > r.sent:
                job.emit("delta", text[r.sent:])
            job.emit("done", Outcome(text=text, finish_reason="length" if r.finish == "length" else "stop",
                                     usage=usage, stop_reason=r.stop_reason, logprobs=r.tokens,
                                     queue_time_s=round((job.started or job.created) - job.created, 6)))

    def _record(self, r: _Run, c) -> None:
        """The sampled tokens' text and logprobs (EOS included, as an empty string) with the top k."""
        decode = self.engine.decode
        for k, lp in enumerate(c.logprobs):
            text = decode([c.token_ids[k]]) if k < len(c.token_ids) else ""
            top = [(decode([t]), v) for t, v in c.top_logprobs[k]] if c.top_logprobs else None
            r.tokens.append((text, lp, top))


def _accumulate(acc: Completion, c: Completion, finish: str | None) -> None:
    """Add one step's Completion of a lent row to what its extend call returns."""
    acc.text += c.text
    acc.token_ids += c.token_ids
    acc.logprobs += c.logprobs
    if c.top_logprobs is not None:
        acc.top_logprobs = (acc.top_logprobs or []) + c.top_logprobs
    if c.entropies is not None:
        acc.entropies = (acc.entropies or []) + c.entropies
    if finish:
        acc.finish_reason, acc.stop = finish, c.stop if finish == "stop" else None


def _partial_stop(text: str, stops) -> int:
    """Length of the longest end of `text` that is the start of a stop string (held back while streaming)."""
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:k]):
                best = k
                break
    return best
