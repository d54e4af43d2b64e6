"""The harness: run a method on a task's problems and append one JSON line per problem, resumably.

A results file may hold several runs (methods, settings, models); each line carries its `run_id`, a
hash of everything that defines the run (task, split, data file, method and settings, model hash,
seed, prompt style). Re-running the same command skips the problems that already have a line for that
run, so an interrupted run (even by SIGKILL) continues where it stopped:

  * each finished problem is written as one `write()` of a whole line, under a lock, then flushed
    to disk, so a line is either complete or (only if killed inside that write) a torn last line;
  * on resume a torn last line is cut off before anything is appended; a malformed line anywhere else
    is an error naming file and line, and the file is left untouched;
  * concurrent runs on one file share it (see results.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LeanthinkError
from ..methods.base import Method, Result
from ..tasks.base import Problem, Task
from .results import ResultsFile, read_results  # noqa: F401  (read_results: the public reader)


@dataclass(frozen=True)
class RunInfo:
    """What identifies a run; written into every line. `run_id` hashes everything that can change an
    output: task, split and data-generation seed or the data file's content, the method's identifying
    settings (not its batch size: outputs do not depend on it), the model's content hash, the sampling
    seed, the prompt style with its instructions, dtype, device type, context limit and the scorer
    (a PRM's content hash)."""

    task: str
    split: str | None
    data: str | None
    method: str
    settings: dict
    model: str
    model_hash: str
    seed: int
    prompt_style: str
    data_seed: int | None = None
    data_hash: str | None = None
    prompt: dict = field(default_factory=dict)
    device: str = "cpu"
    dtype: str = "float32"
    max_context: int | None = None
    identity: dict | None = None
    scorer: str | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def create(cls, task: str, split: str | None, data, data_seed: int | None, method, method_name: str,
               model: str, engine, scorer=None, extra: dict | None = None) -> "RunInfo":
        style = engine.prompt_style
        return cls(task=task, split=split, data=str(data) if data else None, method=method_name,
                   settings=method.settings(), identity=method.identity(), model=model,
                   model_hash=engine.model_hash, seed=method.settings().get("seed", 0),
                   prompt_style=style.name, prompt=dataclasses.asdict(style),
                   data_seed=None if data else data_seed, data_hash=file_hash(data) if data else None,
                   device=getattr(engine, "device_type", "none"), dtype=getattr(engine, "dtype_name", "none"),
                   max_context=getattr(engine, "max_context", None),
                   scorer=scorer.identity() if scorer is not None else None, extra=extra or {})

    @property
    def run_id(self) -> str:
        key = json.dumps([self.task, self.split, self.data_hash or (self.data and os.path.abspath(self.data)),
                          self.data_seed, self.method, self.identity if self.identity is not None else self.settings,
                          self.model_hash or self.model, self.seed, self.prompt or self.prompt_style, self.device,
                          self.dtype, self.max_context] + ([self.scorer] if self.scorer else []),
                         sort_keys=True, default=str)
        return hashlib.sha256(key.encode()).hexdigest()[:12]

    def record(self) -> dict:
        """The run's fields as every results line carries them."""
        return {"run_id": self.run_id, "task": self.task, "split": self.split, "data": self.data,
                "data_seed": self.data_seed, "data_hash": self.data_hash, "method": self.method,
                "settings": self.settings, "model": self.model, "model_hash": self.model_hash, "seed": self.seed,
                "prompt_style": self.prompt_style, "prompt": self.prompt, "device": self.device, "dtype": self.dtype,
                "max_context": self.max_context, "scorer": self.scorer, **self.extra}


def file_hash(path) -> str:
    """SHA-256 (16 hex digits) of a data file's bytes: editing a file at the same path is a new run."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def grade(task: Task, problem: Problem, result: Result) -> tuple[str | None, bool]:
    answer = result.answer if result.answer is not None else task.extract(result.output)
    return answer, bool(task.grade(answer, problem))


def problem_lines(method: Method, engine, task: Task, problems: list[Problem], record: dict,
                  scorer=None) -> list[dict]:
    """Solve `problems` in one batched call and grade them: their results lines, not yet written.
    The local loop below and the Ray workers (ray_sweep.py) both make lines here, so a sharded sweep
    writes exactly the lines a local run writes."""
    solved = method.solve(engine, task, problems, scorer=scorer)
    if len(solved) != len(problems):
        raise LeanthinkError(f"method {record['method']!r} returned {len(solved)} results for {len(problems)} problems")
    lines = []
    for p, res in zip(problems, solved):
        answer, ok = grade(task, p, res)
        lines.append({**record, "problem_id": p.id, "gold": p.answer, "output": res.output, "answer": answer,
                      "correct": ok, "usage": res.usage.to_dict(), "trace": res.trace,
                      "time": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return lines


def append_new(results: ResultsFile, run_id: str, lines: list[dict]) -> list[dict]:
    """Append the lines whose problem has no line of this run yet, under the lock (another process may
    have written some meanwhile); returns the lines written."""
    written = []
    with results.locked():
        done = results.done(run_id)
        for line in lines:
            if line["problem_id"] not in done:
                results.append(line)
                done.add(line["problem_id"])
                written.append(line)
    return written


def run_rows(results: ResultsFile, run_id: str, problems: list[Problem]) -> list[dict]:
    """This run's lines for `problems` (the first line of each), in problem order."""
    order = {p.id: i for i, p in enumerate(problems)}
    rows, seen = [], set()
    for r in results.rows:
        if r.get("run_id") == run_id and r["problem_id"] in order and r["problem_id"] not in seen:
            seen.add(r["problem_id"])
            rows.append(r)
    return sorted(rows, key=lambda r: order[r["problem_id"]])


def progress_bar(label: str, progress: bool = True):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("acc {task.fields[acc]}"),
                    TimeElapsedColumn(), disable=not progress, transient=False)


def run(method: Method, engine, task: Task, problems: list[Problem], info: RunInfo, out: Path,
        chunk_size: int = 16, progress: bool = True, scorer=None) -> list[dict]:
    """Solve the problems not yet in `out` for this run, appending a line per problem; returns every
    line of this run (old and new) in problem order. Safe to run twice at once on the same file: each
    process skips what the other has written and no line is written twice."""
    results = ResultsFile(out)
    run_id = info.run_id
    record = info.record()
    with results.locked():
        done = results.done(run_id)
    todo = [p for p in problems if p.id not in done]
    bar = progress_bar(f"[bold]{info.method}[/] on {info.task}", progress)
    correct = written = 0
    with bar:
        job = bar.add_task("eval", total=len(problems), completed=len(done), acc="-")
        for start in range(0, len(todo), chunk_size):
            with results.locked():   # another process may have solved some of these meanwhile
                done = results.done(run_id)
            chunk = [p for p in todo[start:start + chunk_size] if p.id not in done]
            if not chunk:
                continue
            new = append_new(results, run_id, problem_lines(method, engine, task, chunk, record, scorer=scorer))
            correct += sum(line["correct"] for line in new)
            written += len(new)
            done_now = len(results.done(run_id) & {p.id for p in problems})
            bar.update(job, completed=done_now, acc=f"{correct / written:.1%}" if written else "-")
    return run_rows(results, run_id, problems)

__all__ = ["RunInfo", "append_new", "file_hash", "grade", "problem_lines", "progress_bar", "read_results", "run",
           "run_rows"]
