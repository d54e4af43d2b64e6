"""Sweeps on Ray: `--ray ADDRESS` shards a sweep's problems across Ray workers (the `[ray]` extra).

Each worker is a Ray actor that loads the model (and scorer) once, from the same loader the local
path calls (a picklable partial of it, never the torch objects), and solves shards of problems with
`harness.problem_lines`, the function the local loop calls: a shard of `batch_size` problems is the
same batched `solve` call a local run makes. What comes back is finished results lines.

The driver alone writes the results file: it appends each shard's lines as they arrive through
`harness.append_new`, the local path's writer (one line per `write()`, under the file lock, skipping
problems that already have a line of this run). Why not let workers append themselves:
  * workers on other machines cannot reach the driver's file (and `flock` over NFS is unreliable), so
    a single writer is the only design that works on a real cluster without shared storage;
  * the file's rules (whole lines only, no duplicates, torn tail repaired, resumable) stay exactly the
    local path's, so a file written on Ray cannot be told from a local one, and a sweep killed at any
    point, resumed with or without Ray, finishes only what is missing;
  * the cost is shipping each line back once (kilobytes), nothing next to solving it.
A worker failure ends the sweep with one line; every line already written stays (it never touched
the file), and only the shards in flight are redone on resume.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import typer

from .. import checks
from ..errors import LeanthinkError

# The harness (torch, the methods) is imported where it is used: `leanthink --help` stays fast.

# Typer options shared by `leanthink eval` and `leanthink bench scaling`.
RAY = typer.Option(None, "--ray", help="Shard the problems across Ray workers: auto, HOST:PORT, ray://HOST:PORT "
                   "(a running cluster) or local (start one here). Needs the [ray] extra.")
RAY_SHARD = typer.Option(None, "--ray-shard", help="Problems per Ray task (default: the method's batch size).")
RAY_WORKERS = typer.Option(None, "--ray-workers", help="Ray workers, each loading the model once "
                           "(default: the cluster's CPUs / --ray-cpus).")
RAY_CPUS = typer.Option(1, "--ray-cpus", help="CPUs, and torch threads, per Ray worker.")


@dataclass(frozen=True)
class RayOptions:
    address: str
    """auto, HOST:PORT, ray://HOST:PORT, or local."""
    shard: int | None = None
    """Problems per Ray task; None: each run's batch size (then a shard is one local `solve` call)."""
    workers: int | None = None
    """Actors; None: as many as the cluster's CPUs (or GPUs, for GPU workers) allow."""
    cpus: int = 1
    """CPUs per worker; the worker's torch threads."""
    device: str = "auto"
    """The run's --device: cuda* gives each worker a GPU; auto does when the cluster has GPUs."""

    def __post_init__(self):
        address = self.address.strip()
        if address not in ("auto", "local"):
            host, port = _host_port(address)
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise LeanthinkError(f"--ray {self.address!r}: expected auto, local, HOST:PORT or ray://HOST:PORT")
        if self.shard is not None:
            checks.integer("--ray-shard", self.shard, 1)
        if self.workers is not None:
            checks.integer("--ray-workers", self.workers, 1, 4096)
        checks.integer("--ray-cpus", self.cpus, 1, 1024)


def _host_port(address: str) -> tuple[str, str]:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    return host.strip("[]"), port


@dataclass(frozen=True)
class EngineFacts:
    """What the driver needs of a worker's engine and scorer: the fields `RunInfo.create` reads, so the
    run id is the one a local run with the same engine gets."""

    prompt_style: object
    model_hash: str
    device_type: str
    dtype_name: str
    max_context: int | None
    scorer: object = None

    @classmethod
    def of(cls, engine, scorer) -> "EngineFacts":
        return cls(engine.prompt_style, engine.model_hash, getattr(engine, "device_type", "none"),
                   getattr(engine, "dtype_name", "none"), getattr(engine, "max_context", None),
                   scorer.identity() if scorer is not None else None)


@dataclass(frozen=True)
class ScorerFacts:
    identity_: object

    def identity(self):
        return self.identity_


@dataclass(frozen=True)
class Failure:
    """A LeanthinkError inside a worker, returned as a value so its one-line message reaches the user."""

    message: str


class ShardWorker:
    """A Ray actor's body: one engine (and scorer), loaded on first use."""

    def __init__(self, load_engine, load_scorer, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.load_engine, self.load_scorer = load_engine, load_scorer
        self.engine = self.scorer = None

    def _loaded(self):
        if self.engine is None:
            self.engine = self.load_engine()
            self.scorer = self.load_scorer() if self.load_scorer is not None else None

    def load(self):
        try:
            self._loaded()
        except LeanthinkError as e:
            return Failure(str(e))
        return EngineFacts.of(self.engine, self.scorer)

    def solve(self, method, task, problems, record: dict, chunk_size: int, with_scorer: bool):
        from .harness import problem_lines

        try:
            self._loaded()
            lines = []
            for start in range(0, len(problems), chunk_size):
                lines += problem_lines(method, self.engine, task, problems[start:start + chunk_size], record,
                                       scorer=self.scorer if with_scorer else None)
            return lines
        except LeanthinkError as e:
            return Failure(str(e))


@dataclass
class Job:
    """One run of a sweep: a method, its RunInfo, the batch size it solves with."""

    method: object
    info: object
    chunk_size: int
    with_scorer: bool
    problems: list = field(default_factory=list)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise LeanthinkError("--ray needs Ray: pip install 'leanthink[ray]' (or pip install 'ray>=2.9')") from None
    return ray


def _connect(ray, options: RayOptions) -> bool:
    """Connect (or start a local instance); True when this call did, so the sweep disconnects after.
    A process that has called `ray.init` itself keeps its connection."""
    if ray.is_initialized():
        return False
    # ray.init replaces the SIGTERM handler (with sys.exit, and its core's handler, which aborts): put back
    # the CLI's, which says that the results written are kept and exits 143
    main = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        _init(ray, options)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    return True


def _init(ray, options: RayOptions) -> None:
    address = options.address.strip()
    quiet = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address == "local":
        need = (options.workers or 1) * options.cpus
        ray.init(num_cpus=max(os.cpu_count() or 1, need), include_dashboard=False, **quiet)
        return
    if address != "auto":   # ray.init waits minutes on an address where nothing listens: ask first
        host, port = _host_port(address)
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as e:
            raise LeanthinkError(f"--ray {address}: cannot connect ({e.strerror or e}); is a Ray head running there "
                                 "(ray start --head)? Or use --ray local") from None
    try:
        ray.init(address=address, **quiet)
    except ConnectionError as e:
        raise LeanthinkError(f"--ray {address}: {' '.join(str(e).split()[:12])} (start one with ray start --head, "
                             "or use --ray local)") from None
    except ValueError as e:   # ray:// without the client package
        raise LeanthinkError(f"--ray {address}: {' '.join(str(e).split())}") from None


@contextmanager
def _signals_surface():
    """A signal handler's exception (the CLI's Ctrl-C / SIGTERM) raised inside Ray's Cython wait or get
    comes out as a SystemError; let the original through, so the CLI reports an interruption."""
    try:
        yield
    except SystemError as e:
        cause = e.__cause__ or e.__context__
        if cause is not None and not isinstance(cause, Exception):
            raise cause from None
        raise


def sweep_workers(address: str | None, shard: int | None, workers: int | None, cpus: int, device: str,
                  load_engine, load_scorer=None):
    """The CLI's entry: Ray workers for `--ray ADDRESS` (a context manager giving a `RayPool`), or, without
    it, a context giving None: the caller runs locally. The options are checked before anything loads."""
    if address is None:
        if shard is not None or workers is not None or cpus != 1:
            raise LeanthinkError("--ray-shard, --ray-workers and --ray-cpus need --ray ADDRESS")
        return nullcontext()
    return ray_workers(RayOptions(address, shard, workers, cpus, device), load_engine, load_scorer)


@contextmanager
def ray_workers(options: RayOptions, load_engine, load_scorer=None):
    """A `RayPool` on the cluster at `options.address`; actors are killed and the connection closed
    (a local instance stopped) on the way out, also after an error or Ctrl-C."""
    ray = _import_ray()
    started = _connect(ray, options)
    pool = None
    try:
        pool = RayPool(ray, options, load_engine, load_scorer)
        yield pool
    finally:
        if pool is not None:
            pool.close()
        if started:
            ray.shutdown()


class RayPool:
    """Ray actors that solve shards of problems; `run` / `run_many` mirror `harness.run`."""

    def __init__(self, ray, options: RayOptions, load_engine, load_scorer):
        self.ray, self.options = ray, options
        res = ray.cluster_resources()
        cpus, gpus = int(res.get("CPU", 0)), int(res.get("GPU", 0))
        self.gpus = 1 if options.device.startswith("cuda") or (options.device == "auto" and gpus) else 0
        if cpus < options.cpus or gpus < self.gpus:
            raise LeanthinkError(f"--ray-cpus {options.cpus}{' with a GPU' if self.gpus else ''}: the Ray cluster at "
                                 f"{options.address} has {cpus} CPUs and {gpus} GPUs")
        fit = cpus // options.cpus if not self.gpus else min(cpus // options.cpus, gpus)
        self.size = options.workers or max(1, fit)
        # no restarts or retries: a dead worker (out of memory, a lost node) ends the sweep with one line, and
        # the re-run redoes just the shards that were in flight
        self.actor = ray.remote(ShardWorker).options(num_cpus=options.cpus, num_gpus=self.gpus)
        self.loaders = (load_engine, load_scorer, options.cpus)
        self.workers = [self.actor.remote(*self.loaders)]
        facts = self._get(self.workers[0].load.remote())
        self.facts = facts
        # what RunInfo.create reads, as the workers have it
        self.engine = facts
        self.scorer = ScorerFacts(facts.scorer) if facts.scorer is not None else None

    def _get(self, ref):
        try:
            with _signals_surface():
                value = self.ray.get(ref)
        except self.ray.exceptions.RayError as e:
            cause = getattr(e, "cause", None) or e
            first = " ".join(str(cause).strip().splitlines()[-1:] or [type(cause).__name__])[:300]
            raise LeanthinkError(f"--ray: a worker failed ({type(cause).__name__}: {first}); the lines written so "
                                 "far are kept: re-run the same command to resume") from None
        if isinstance(value, Failure):
            raise LeanthinkError(value.message)
        return value

    def close(self):
        for w in self.workers:
            self.ray.kill(w)
        self.workers = []

    def run(self, method, engine, task, problems, info, out: Path, chunk_size: int = 16, progress: bool = True,
            scorer=None) -> list[dict]:
        """`harness.run` on Ray (`engine` is the workers' facts: each worker uses its own engine)."""
        job = Job(method, info, chunk_size, scorer is not None, problems)
        return self.run_many([job], task, out, progress, label=f"[bold]{info.method}[/] on {info.task}")[0]

    def run_many(self, jobs: list[Job], task, out: Path, progress: bool = True, label: str | None = None):
        """Every job's missing problems, sharded over the workers; each job's lines in problem order."""
        from .harness import ResultsFile, append_new, progress_bar, run_rows

        results = ResultsFile(out)
        with results.locked():
            done = {id(j): results.done(j.info.run_id) for j in jobs}
        shards = []
        for j in jobs:
            todo = [p for p in j.problems if p.id not in done[id(j)]]
            size = self.options.shard or j.chunk_size
            shards += [(j, todo[s:s + size]) for s in range(0, len(todo), size)]
        shards.reverse()   # popped from the end: first job's first shard first
        task_ref = self.ray.put(task)
        total = sum(len(j.problems) for j in jobs)
        label = label or f"[bold]{len(jobs)} runs[/] on {jobs[0].info.task}"
        bar = progress_bar(f"{label} (ray)", progress)
        pending, correct, written = {}, 0, 0

        def dispatch(worker):
            while shards:
                job, shard = shards.pop()
                with results.locked():   # another process may have solved some of these meanwhile
                    have = results.done(job.info.run_id)
                shard = [p for p in shard if p.id not in have]
                if shard:
                    ref = worker.solve.remote(job.method, task_ref, shard, job.info.record(), job.chunk_size,
                                              job.with_scorer)
                    pending[ref] = (worker, job)
                    return

        with bar:
            bar_task = bar.add_task("eval", total=total, completed=sum(len(done[id(j)] & {p.id for p in j.problems})
                                                                       for j in jobs), acc="-")
            loaded = list(self.workers)
            for _ in range(min(self.size, len(shards)) - len(self.workers)):   # the rest load while these work
                self.workers.append(self.actor.remote(*self.loaders))
                pending[self.workers[-1].load.remote()] = (self.workers[-1], None)
            for w in loaded:
                dispatch(w)
            while pending:
                with _signals_surface():   # Ctrl-C is seen between waits of a second
                    ready, _ = self.ray.wait(list(pending), num_returns=1, timeout=1.0)
                if not ready:
                    continue
                worker, job = pending.pop(ready[0])
                value = self._get(ready[0])
                if job is None:   # a worker came up: it must have loaded what the first one did
                    if value != self.facts:
                        raise LeanthinkError(f"--ray: workers loaded different engines ({value} vs {self.facts}); "
                                             "every node needs the same model files, device type and dtype")
                else:
                    new = append_new(results, job.info.run_id, value)
                    correct += sum(line["correct"] for line in new)
                    written += len(new)
                    bar.update(bar_task, advance=len(new), acc=f"{correct / written:.1%}" if written else "-")
                dispatch(worker)
        return [run_rows(results, j.info.run_id, j.problems) for j in jobs]


__all__ = ["RAY", "RAY_CPUS", "RAY_SHARD", "RAY_WORKERS", "EngineFacts", "Job", "RayOptions", "RayPool",
           "ShardWorker", "ray_workers", "sweep_workers"]
