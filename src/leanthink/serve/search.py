"""The search worker: every method other than cot and direct, as batched `solve()` calls.

Search methods (self-consistency, best-of-n, beam, particle filtering, ...) and the other methods
that drive the engine themselves (budget forcing, early exit, LightThinker, Coconut, ...) run their
own loop over a batch of problems. A worker thread takes the oldest waiting request and every other
waiting request of the same method and settings (up to `search_batch`), and solves them in one call,
as `leanthink eval` would. Several workers run at once (`search_threads`).

The method sees the engine through `_Shared`: its `extend` calls are lent to the decoding scheduler
(`Lease`), so the search's particles decode in the same live batch as every cot request and every
other search, step by step; prefill, fork, select, scoring and the rest run on the worker thread, on
the method's own handles (the model's weights are only read). Rows whose attention is tracked (H2O)
decode on their own, since they would make every pass of the shared batch eager; so do the rows of
methods that `rewind` (budget forcing): rewind re-spells the latest decoded chunk, whose extent
depends on how decoding was cut into calls, and the server should return what `leanthink eval` does.

A request is checked before each engine verb: once every request of a call has passed its deadline or
gone away, the call stops there (`Abandoned`), so a long search does not outlive its clients.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
import traceback
from collections import deque

from ..errors import LeanthinkError
from .errors import APIError
from .jobs import Job, Outcome

VERBS = frozenset({"prefill", "extend", "append", "score", "latent_steps", "evict", "rewind", "fork", "select", "drop",
                   "split", "copy", "merge", "hidden"})


class Abandoned(Exception):
    """Every request of a solve() call has passed its deadline or been cancelled."""


class _Shared:
    """The engine as a search method sees it: a check before every verb, and `extend` lent to the
    decoding scheduler's live batch (other verbs run here, on the method's own handles)."""

    def __init__(self, engine, check, scheduler=None, abandoned=lambda: False):
        self._engine, self._check, self._scheduler, self._abandoned = engine, check, scheduler, abandoned

    def __getattr__(self, name):
        attr = getattr(self._engine, name)
        if name not in VERBS:
            return attr

        def verb(*args, **kwargs):
            self._check()
            return attr(*args, **kwargs)

        return verb

    def extend(self, seqs, params, rows=None):
        from ..engine import SamplingParams
        from ..engine.params import Completion
        from .scheduler import Lease

        self._check()
        asked = seqs.check_rows(rows, "extend")
        plist = [params] * len(asked) if isinstance(params, SamplingParams) else list(params)
        # rows whose attention is tracked (H2O) would make every pass of the batch eager: they decode alone
        if (self._scheduler is None or len(set(asked)) != len(asked) or len(plist) != len(asked)
                or any(row.scores is not None for row in seqs.rows)):
            return self._engine.extend(seqs, params, rows)
        out = [Completion(text="", finish_reason="done") for _ in asked]
        go = [i for i, r in enumerate(asked) if not seqs.finished(r)]
        if not go:
            return out
        moving = [asked[i] for i in go]
        for r, p in zip(moving, (plist[i] for i in go)):
            if seqs.next_position(r) + p.max_new_tokens > self._engine.max_context:
                return self._engine.extend(seqs, params, rows)   # the engine says what is wrong
        n = len(seqs)
        lent = self._engine.split(seqs, moving)
        followers, lent.followers = lent.followers, []   # a scorer's rows wait here: extend does not touch them
        lease = Lease(lent, [plist[i] for i in go], self._abandoned)
        self._scheduler.lend(lease)
        lease.done.wait()
        if lease.error is not None:
            raise lease.error
        back = lease.back
        back.followers = followers
        self._engine.merge(seqs, back)
        kept = [r for r in range(n) if r not in set(moving)]
        where = {r: pos for pos, r in enumerate(kept + moving)}     # the order after the merge
        if [where[r] for r in range(n)] != list(range(n)):
            self._engine.select(seqs, [where[r] for r in range(n)])
        for i, c in zip(go, lease.completions):
            out[i] = c
        return out


class SearchWorker:
    def __init__(self, engine, task, scorer=None, max_group: int = 8, scheduler=None, threads: int = 4):
        self.engine, self.task, self.scorer, self.max_group = engine, task, scorer, max_group
        self.scheduler = scheduler   # the decoding scheduler whose batch the methods' extend calls join
        self._waiting: deque[Job] = deque()
        self._cv = threading.Condition()
        self._stopping = False
        self.running = 0
        self.calls = self.solved = 0
        self._threads = [threading.Thread(target=self._loop, name=f"leanthink-search-{i}", daemon=True)
                         for i in range(threads)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        for job in list(self._waiting):
            job.fail(APIError(503, "the server is shutting down"))

    def submit(self, job: Job) -> None:
        job.emit("start")
        with self._cv:
            self._waiting.append(job)
            self._cv.notify()

    def stats(self) -> dict:
        return {"waiting": len(self._waiting), "running": self.running, "calls": self.calls, "solved": self.solved}

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stopping and not self._waiting:
                    self._cv.wait()
                if self._stopping:
                    return
                group = self._take_group()
            self.run(group)

    def _take_group(self) -> list[Job]:
        first = self._waiting.popleft()
        group, keep = [first], deque()
        while self._waiting:
            job = self._waiting.popleft()
            (group if len(group) < self.max_group and _key(job) == _key(first) else keep).append(job)
        self._waiting = keep
        return group

    def run(self, group: list[Job]) -> None:
        """Solve a group of requests of one method and settings (on this thread)."""
        live = []
        for job in group:
            if job.abandoned():
                job.fail_abandoned()
            else:
                live.append(job)
        if not live:
            return
        method = live[0].spec.method
        if any(f.name == "batch_size" for f in dataclasses.fields(method)):
            method = dataclasses.replace(method, batch_size=len(live))

        def abandoned():
            return all(j.abandoned() for j in live)

        def check():
            if abandoned():
                raise Abandoned

        now = time.monotonic()
        for job in live:
            job.started = now
        with self._cv:
            self.running += len(live)
        try:
            # rewind re-spells a row's latest decoded chunk, whose extent depends on how decoding was cut into
            # calls: methods that use it (budget forcing) decode on their own handles, to match `leanthink eval`
            shared = None if "rewind" in method.requires else self.scheduler
            engine = _Shared(self.engine, check, shared, abandoned)
            results = method.solve(engine, self.task, [j.spec.problem for j in live], scorer=self.scorer)
        except Abandoned:
            for job in live:
                job.fail_abandoned()
            return
        except APIError as e:              # the decoding scheduler failed the lease
            for job in live:
                job.fail(e)
            return
        except LeanthinkError as e:
            if len(live) > 1:              # find whose request it was: solve each alone
                for job in live:
                    self.run([job])
                return
            live[0].fail(APIError(400, str(e), param="reasoning"))
            return
        except Exception as e:  # noqa: BLE001 - a failed search fails its requests, never the server
            traceback.print_exc(file=sys.stderr)
            for job in live:
                job.fail(APIError(500, f"internal error in {job.spec.method_name}: {type(e).__name__}: {str(e)[:200]}"))
            return
        finally:
            with self._cv:
                self.running -= len(live)
        with self._cv:
            self.calls += 1
            self.solved += len(live)
        for job, res in zip(live, results):
            if job.abandoned():
                job.fail_abandoned()
                continue
            reason = "length" if (res.trace or {}).get("finish_reason") == "length" else "stop"
            job.emit("done", Outcome(text=res.output, finish_reason=reason, usage=res.usage, answer=res.answer,
                                     trace=res.trace, queue_time_s=round((job.started or job.created) - job.created, 6)))


def _key(job: Job) -> tuple:
    return (job.spec.method_name, repr(sorted(job.spec.method.identity().items())))
