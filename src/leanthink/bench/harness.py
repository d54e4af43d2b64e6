"""The harness: run a method on a task's problems and append one JSON line per problem, resumably.

A results file may hold several runs (methods, settings, models); each line carries its `run_id`, a
hash of everything that defines the run (task, split, data file, method and settings, model hash,
seed, prompt style). Re-running the same command skips the problems that already have a line for that
run, so an interrupted run (even by SIGKILL) continues where it stopped:

  * each finished problem is written as one `write()` of a whole line to a file opened for appending,
    then flushed to disk, so a line is either complete or (only if killed inside that write) a torn
    last line without its newline;
  * on resume a torn last line is cut off before anything is appended; a malformed line anywhere else
    is an error naming file and line, and the file is left untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError, LeanthinkError
from ..methods.base import Method, Result
from ..tasks.base import Problem, Task


@dataclass(frozen=True)
class RunInfo:
    """What identifies a run; written into every line."""

    task: str
    split: str | None
    data: str | None
    method: str
    settings: dict
    model: str
    model_hash: str
    seed: int
    prompt_style: str
    extra: dict = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        key = json.dumps([self.task, self.split, self.data and os.path.abspath(self.data), self.method,
                          self.settings, self.model_hash or self.model, self.seed, self.prompt_style],
                         sort_keys=True, default=str)
        return hashlib.sha256(key.encode()).hexdigest()[:12]


def read_results(path: Path, repair: bool = False) -> list[dict]:
    """All complete lines of a results file. A torn last line (no newline, not JSON) is ignored, and
    cut off the file when `repair` is set; any other bad line is a DataError naming its line."""
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    rows = []
    for i, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise DataError(path, f"not a valid results line ({e.msg}); fix or remove it", line=i) from None
    tail = lines[-1]
    if tail.strip():
        try:
            rows.append(json.loads(tail))
            if repair:  # a complete object that lost only its newline: keep it, add the newline
                with open(path, "ab") as f:
                    f.write(b"\n")
        except json.JSONDecodeError:
            if repair:
                with open(path, "r+b") as f:
                    f.truncate(len(raw) - len(tail))
    return rows


def _append_line(path: Path, record: dict) -> None:
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def grade(task: Task, problem: Problem, result: Result) -> tuple[str | None, bool]:
    answer = result.answer if result.answer is not None else task.extract(result.output)
    return answer, bool(task.grade(answer, problem))


def run(method: Method, engine, task: Task, problems: list[Problem], info: RunInfo, out: Path,
        chunk_size: int = 16, progress: bool = True) -> list[dict]:
    """Solve the problems not yet in `out` for this run, appending a line per problem; returns every
    line of this run (old and new) in problem order."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    run_id = info.run_id
    done = {r["problem_id"] for r in read_results(out, repair=True) if r.get("run_id") == run_id}
    todo = [p for p in problems if p.id not in done]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(f"[bold]{info.method}[/] on {info.task}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("acc {task.fields[acc]}"), TimeElapsedColumn(), disable=not progress, transient=False)
    correct = 0
    with bar:
        job = bar.add_task("eval", total=len(problems), completed=len(done), acc="-")
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start:start + chunk_size]
            results = method.solve(engine, task, chunk)
            if len(results) != len(chunk):
                raise LeanthinkError(f"method {info.method!r} returned {len(results)} results for {len(chunk)} problems")
            for p, res in zip(chunk, results):
                answer, ok = grade(task, p, res)
                correct += ok
                _append_line(out, {
                    "run_id": run_id, "task": info.task, "split": info.split, "data": info.data,
                    "method": info.method, "settings": info.settings, "model": info.model,
                    "model_hash": info.model_hash, "seed": info.seed, "prompt_style": info.prompt_style,
                    **info.extra, "problem_id": p.id, "gold": p.answer, "output": res.output,
                    "answer": answer, "correct": ok, "usage": res.usage.to_dict(), "trace": res.trace,
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                })
            finished = start + len(chunk)
            bar.update(job, completed=len(done) + finished, acc=f"{correct / finished:.1%}")
    order = {p.id: i for i, p in enumerate(problems)}
    rows = [r for r in read_results(out) if r.get("run_id") == run_id and r["problem_id"] in order]
    return sorted(rows, key=lambda r: order[r["problem_id"]])
