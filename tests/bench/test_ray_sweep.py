"""Sweeps on Ray (`--ray`, bench/ray_sweep.py): sharded results equal a local run's, line for line;
resuming adds only what is missing; a failing worker leaves whole lines that a local run completes.

One local Ray instance (2 CPUs) serves the whole module; the CLI reuses it (`ray.is_initialized()`)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

import pytest

from leanthink.bench.results import read_results

from cli_helpers import run_cli

EVAL = ["eval", "--model", "builtin:arith", "--task", "arith", "--split", "easy", "--limit", "12", "--no-progress"]


def same_run(line: dict) -> dict:
    """A line without what differs between two runs of the same problem: when and how long it took."""
    return {**line, "time": None, "usage": {**line["usage"], "wall_time_s": None}}


def check_error(capsys, argv, *needles):
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "Traceback" not in err, err
    assert [ln for ln in err.splitlines() if ln.strip()][-1].startswith("error:")
    for n in needles:
        assert n in err, err


def test_bad_ray_flags_are_one_line_errors(tmp_path, capsys, monkeypatch):
    import socket

    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps({"run_id": "keep", "problem_id": "p0"}) + "\n")
    before = out.read_bytes()
    args = EVAL + ["--out", str(out)]
    check_error(capsys, args + ["--ray", "no-port"], "--ray 'no-port'", "HOST:PORT")
    check_error(capsys, args + ["--ray-shard", "4"], "--ray ADDRESS")
    check_error(capsys, args + ["--ray", "local", "--ray-shard", "0"], "--ray-shard must be >= 1")
    with socket.socket() as s:   # a port where nothing listens: refused at once, not after ray.init's minutes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray = pytest.importorskip("ray")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    check_error(capsys, args + ["--ray", f"127.0.0.1:{port}"], f"--ray 127.0.0.1:{port}: cannot connect")
    check_error(capsys, ["bench", "scaling", "--ray", "ray://h", "--out", str(tmp_path / "s")], "--ray 'ray://h'")
    monkeypatch.setitem(sys.modules, "ray", None)   # as if Ray were not installed
    check_error(capsys, args + ["--ray", "local"], "--ray needs Ray", "leanthink[ray]")
    assert out.read_bytes() == before


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def local_lines(tmp_path_factory):
    """The reference: the same eval run here, without Ray."""
    from leanthink.cli import main

    out = tmp_path_factory.mktemp("local") / "local.jsonl"
    with pytest.raises(SystemExit) as e:
        main(EVAL + ["--out", str(out)])
    assert e.value.code == 0
    return out


@pytest.mark.slow
def test_eval_on_ray_equals_a_local_run_and_resumes_only_what_is_missing(ray_cluster, local_lines, tmp_path, capsys):
    local = read_results(local_lines)
    assert len(local) == 12
    out = tmp_path / "ray.jsonl"
    code, _, err = run_cli(EVAL + ["--out", out, "--ray", "local", "--ray-shard", "3", "--ray-workers", "2"], capsys)
    assert code == 0, err
    sharded = read_results(out)
    assert len(sharded) == 12 and len({r["problem_id"] for r in sharded}) == 12   # no loss, no duplicates
    by_id = {r["problem_id"]: same_run(r) for r in sharded}
    assert by_id == {r["problem_id"]: same_run(r) for r in local}   # run id, outputs, answers, usage: all equal

    # a sweep killed with shards in flight: some problems written (not a prefix), a torn last line
    resumed = tmp_path / "resumed.jsonl"
    raw = local_lines.read_bytes().splitlines(keepends=True)
    kept = b"".join(raw[i] for i in (0, 1, 4, 5, 9))
    resumed.write_bytes(kept + raw[2][:40])
    code, _, err = run_cli(EVAL + ["--out", resumed, "--ray", "local", "--ray-shard", "2"], capsys)
    assert code == 0, err
    assert resumed.read_bytes().startswith(kept)   # what was there stays, byte for byte
    rows = read_results(resumed)
    assert len(rows) == 12 and len({r["problem_id"] for r in rows}) == 12
    assert {r["problem_id"] for r in rows[5:]} == {local[i]["problem_id"] for i in (2, 3, 6, 7, 8, 10, 11)}
    assert {r["problem_id"]: same_run(r) for r in rows} == {r["problem_id"]: same_run(r) for r in local}


@dataclass(frozen=True)
class _FailsInWorkers:
    """cot, except that it raises on one problem when it runs in another process than the test's."""

    fail_on: str = ""
    driver_pid: int = 0

    def solve(self, engine, task, problems, scorer=None):
        from leanthink.methods import get_method

        if any(p.id == self.fail_on for p in problems) and os.getpid() != self.driver_pid:
            raise RuntimeError(f"injected failure on {self.fail_on}")
        return get_method("cot").solve(engine, task, problems, scorer=scorer)


@pytest.mark.slow
def test_a_failing_worker_keeps_the_written_lines_and_a_local_run_finishes(ray_cluster, local_lines, tmp_path):
    from functools import partial

    from leanthink.bench.harness import RunInfo, run
    from leanthink.bench.ray_sweep import RayOptions, ray_workers
    from leanthink.engine import load_engine
    from leanthink.errors import LeanthinkError
    from leanthink.methods import get_method
    from leanthink.tasks import get_task

    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # workers cannot import tests/
    local = read_results(local_lines)
    task = get_task("arith")
    problems = task.load(split="easy", limit=12, seed=0)
    method = _FailsInWorkers(fail_on=problems[6].id, driver_pid=os.getpid())
    cot = get_method("cot")
    out = tmp_path / "r.jsonl"
    with pytest.raises(LeanthinkError, match="a worker failed.*injected failure on arith-easy-0-6.*re-run"):
        with ray_workers(RayOptions("local", shard=2, workers=2), partial(load_engine, "builtin:arith")) as pool:
            info = RunInfo.create("arith", "easy", None, 0, cot, "cot-failing", "builtin:arith", pool.engine)
            pool.run(method, pool.engine, task, problems, info, out, chunk_size=2, progress=False)
    written = read_results(out)   # every line whole (read_results raises on a bad one)
    ids = [r["problem_id"] for r in written]
    # the failing shard was the 4th dispatched, each after a finished (and written) one: >= 2 shards written
    assert len(ids) == len(set(ids)) >= 4 and problems[6].id not in ids
    rows = run(method, load_engine("builtin:arith"), task, problems, info, out, chunk_size=4, progress=False)
    assert read_results(out)[:len(written)] == written and len(read_results(out)) == 12
    want = {r["problem_id"]: (r["output"], r["answer"], r["correct"]) for r in local}
    assert {r["problem_id"]: (r["output"], r["answer"], r["correct"]) for r in rows} == want


@pytest.mark.slow
def test_bench_scaling_on_ray_gives_the_local_sweep(ray_cluster, micro_dir, tmp_path):
    from leanthink.bench.scaling import run_scaling

    args = dict(model=str(micro_dir), prm=None, task_name="arith", split="easy", data=None, limit=3,
                methods=("self-consistency", "best-of-n"), budgets=(1, 2), weights="self-certainty",
                settings={"max_steps": 3, "step_tokens": 5, "max_new_tokens": 15}, progress=False)
    here = run_scaling(out_dir=tmp_path / "local", **args)
    there = run_scaling(out_dir=tmp_path / "ray", ray=("local", 1, 2, 1), **args)
    keep = ("run_id", "method", "budget", "n", "accuracy", "mean_generated_tokens", "mean_forward_tokens")
    assert [{k: s[k] for k in keep} for s in there] == [{k: s[k] for k in keep} for s in here]
    lines = {json.dumps(same_run(r), sort_keys=True) for r in read_results(tmp_path / "ray" / "scaling.jsonl")}
    assert len(lines) == 4 * 3 and lines == {json.dumps(same_run(r), sort_keys=True)
                                             for r in read_results(tmp_path / "local" / "scaling.jsonl")}
