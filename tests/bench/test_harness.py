"""The harness: one line per problem, resumable after SIGKILL, torn lines repaired, report numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from leanthink.bench.harness import read_results
from leanthink.bench.report import load_summaries, wilson
from leanthink.errors import DataError

from cli_helpers import run_cli


def test_eval_writes_one_line_per_problem_and_resumes_without_duplicates(micro_dir, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    args = ["eval", "--task", "arith", "--split", "easy", "--model", micro_dir, "--limit", "6",
            "--max-new-tokens", "8", "--batch-size", "4", "--out", out, "--no-progress"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    first = read_results(out)
    assert len(first) == 6 and len({r["problem_id"] for r in first}) == 6
    line = first[0]
    for key in ("run_id", "method", "settings", "model", "model_hash", "seed", "problem_id", "output", "answer",
                "correct", "usage"):
        assert key in line
    assert line["settings"]["max_new_tokens"] == 8 and line["usage"]["generated_tokens"] >= 1
    before = out.read_bytes()
    code, _, _ = run_cli(args, capsys)          # same run again: nothing to do, nothing rewritten
    assert code == 0 and out.read_bytes() == before
    code, _, _ = run_cli(args[:8] + ["10"] + args[9:], capsys)   # a larger limit only adds the new problems
    rows = read_results(out)
    assert len(rows) == 10 and rows[:6] == first


def test_torn_last_line_is_cut_and_the_run_completes(micro_dir, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    args = ["eval", "--task", "arith", "--model", micro_dir, "--limit", "3", "--max-new-tokens", "4",
            "--out", out, "--no-progress"]
    run_cli(args[:6] + ["2"] + args[7:], capsys)
    good = out.read_bytes()
    with open(out, "ab") as f:
        f.write(b'{"run_id": "abc", "problem_id": "arith-ea')   # what a kill inside write() leaves
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    assert out.read_bytes().startswith(good)
    assert len(read_results(out)) == 3


def test_malformed_line_in_the_middle_is_an_error_and_the_file_is_untouched(micro_dir, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    out.write_text('{"run_id": "x", "problem_id": "a"}\nnot json\n{"run_id": "y", "problem_id": "b"}\n')
    before = out.read_bytes()
    code, _, err = run_cli(["eval", "--task", "arith", "--model", micro_dir, "--limit", "1", "--out", out,
                            "--no-progress"], capsys)
    assert code == 2 and f"{out}:2" in err and "Traceback" not in err
    assert out.read_bytes() == before


def start_eval(micro_dir, out, lines: int):
    """A 40-problem eval in a subprocess, returned once `lines` results are written."""
    cmd = [sys.executable, "-m", "leanthink.cli", "eval", "--task", "arith", "--split", "hard", "--model",
           str(micro_dir), "--limit", "40", "--batch-size", "1", "--max-new-tokens", "24", "--out", str(out),
           "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < lines):
        time.sleep(0.05)
    return proc, cmd


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_loses_and_duplicates_nothing(micro_dir, tmp_path):
    out = tmp_path / "r.jsonl"
    proc, cmd = start_eval(micro_dir, out, 3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = read_results(out)
    assert 3 <= len(partial) < 40, "the kill should land mid-run"
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    rows = read_results(out)
    ids = [r["problem_id"] for r in rows]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert rows[: len(partial)] == partial


def test_report_numbers_follow_from_the_lines(tmp_path, capsys):
    lines = []
    for i, (ok, gen) in enumerate([(True, 10), (False, 20), (True, 30), (True, 40)]):
        lines.append({"run_id": "r1", "method": "cot", "task": "arith", "split": "easy", "model": "m",
                      "problem_id": str(i), "correct": ok,
                      "usage": {"generated_tokens": gen, "peak_tokens": gen + 5, "dep": 100 * gen,
                                "forward_tokens": gen + 4, "wall_time_s": 0.5}})
    lines.append({**lines[0], "run_id": "r2", "method": "direct", "correct": False})
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    code, out, err = run_cli(["report", path, "--json"], capsys)
    assert code == 0, err
    got = {s["method"]: s for s in json.loads(out)}
    cot = got["cot"]
    assert cot["n"] == 4 and cot["accuracy"] == 0.75
    assert cot["mean_generated_tokens"] == 25 and cot["mean_peak_tokens"] == 30 and cot["mean_dep"] == 2500
    assert cot["mean_forward_tokens"] == 29 and cot["mean_latency_s"] == 0.5
    assert cot["ci95"] == pytest.approx(list(wilson(3, 4)))
    assert got["direct"]["n"] == 1 and got["direct"]["accuracy"] == 0.0
    assert path.with_suffix(".png").stat().st_size > 1000


def test_wilson_interval_known_values():
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0


def test_report_rejects_files_that_are_not_results(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"x": 1}\n')
    with pytest.raises(DataError, match="not a results line"):
        load_summaries([bad])
    with pytest.raises(DataError, match="no such results file"):
        load_summaries([tmp_path / "missing.jsonl"])


def test_sampled_runs_are_identical_across_batch_sizes_and_resumes(micro_dir, tmp_path, capsys):
    base = ["eval", "--task", "arith", "--split", "hard", "--model", micro_dir, "--max-new-tokens", "12",
            "--temperature", "0.8", "--seed", "5", "--no-progress"]
    whole = tmp_path / "whole.jsonl"
    assert run_cli(base + ["--limit", "8", "--batch-size", "8", "--out", whole], capsys)[0] == 0
    parts = tmp_path / "parts.jsonl"
    assert run_cli(base + ["--limit", "3", "--batch-size", "1", "--out", parts], capsys)[0] == 0
    assert run_cli(base + ["--limit", "8", "--batch-size", "3", "--out", parts], capsys)[0] == 0  # resumes
    a, b = read_results(whole), read_results(parts)
    assert len(b) == 8 and len({r["run_id"] for r in b}) == 1 and a[0]["run_id"] == b[0]["run_id"]
    assert [r["output"] for r in a] == [r["output"] for r in b]
    assert len({r["output"] for r in a}) > 1


def test_run_id_covers_dtype_prompt_data_content_and_seeds(micro_dir, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    base = ["eval", "--task", "arith", "--model", micro_dir, "--limit", "2", "--max-new-tokens", "4", "--out", out,
            "--no-progress"]
    variants = [[], ["--dtype", "bfloat16"], ["--max-context", "512"], ["--data-seed", "3"], ["--seed", "3"],
                ["--prompt-style", "completion"]]
    for extra in variants:
        assert run_cli(base + extra, capsys)[0] == 0
    rows = read_results(out)
    assert len(rows) == 2 * len(variants) and len({r["run_id"] for r in rows}) == len(variants)
    assert {r["dtype"] for r in rows} == {"float32", "bfloat16"}
    data = tmp_path / "g.jsonl"
    data.write_text(json.dumps({"question": "What is 2+3?", "answer": "#### 5"}) + "\n")
    ref = ["eval", "--task", "gsm8k", "--data", data, "--method", "reference", "--out", out, "--no-progress"]
    assert run_cli(ref, capsys)[0] == 0
    data.write_text(json.dumps({"question": "What is 2+3?", "answer": "#### 6"}) + "\n")   # edited in place
    assert run_cli(ref, capsys)[0] == 0
    golds = [r["gold"] for r in read_results(out) if r["method"] == "reference"]
    assert golds == ["5", "6"]


def test_two_processes_on_one_file_write_each_problem_once(micro_dir, tmp_path):
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "leanthink.cli", "eval", "--task", "arith", "--split", "hard", "--model",
           str(micro_dir), "--limit", "12", "--batch-size", "1", "--max-new-tokens", "16", "--out", str(out),
           "--no-progress"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()
    ids = [r["problem_id"] for r in read_results(out)]
    assert len(ids) == 12 and len(set(ids)) == 12


def test_a_failed_write_leaves_no_partial_line(micro_dir, tmp_path, capsys, monkeypatch):
    import errno

    out = tmp_path / "r.jsonl"
    args = ["eval", "--task", "arith", "--model", micro_dir, "--limit", "2", "--max-new-tokens", "4", "--out", out,
            "--no-progress"]
    assert run_cli(args[:6] + ["1"] + args[7:], capsys)[0] == 0
    before = out.read_bytes()
    real_write = os.write

    def full_disk(fd, data):
        real_write(fd, data[:10])          # a disk that fills up mid-line
        raise OSError(errno.ENOSPC, "No space left on device", str(out))

    monkeypatch.setattr(os, "write", full_disk)
    code, _, err = run_cli(args, capsys)
    monkeypatch.undo()
    assert code == 2 and err.strip() == f"error: {out}: No space left on device"
    assert out.read_bytes() == before
    assert run_cli(args, capsys)[0] == 0 and len(read_results(out)) == 2


def test_report_counts_a_problem_of_a_run_once(tmp_path, capsys):
    line = {"run_id": "r", "method": "cot", "task": "arith", "model": "m", "problem_id": "p", "correct": True,
            "usage": {"generated_tokens": 5}}
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(line) + "\n" + json.dumps({**line, "correct": False}) + "\n")
    code, out, _ = run_cli(["report", path, "--json"], capsys)
    assert code == 0 and json.loads(out)[0]["n"] == 1 and json.loads(out)[0]["accuracy"] == 1.0


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume(micro_dir, tmp_path):
    out = tmp_path / "r.jsonl"
    proc, _ = start_eval(micro_dir, out, 2)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == ("interrupted: results written so far are kept; re-run the same command "
                                           "to resume")
    assert 2 <= len(read_results(out)) < 40
