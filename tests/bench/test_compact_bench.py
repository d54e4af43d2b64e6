"""`bench compact` on micro checkpoints: every run lands in one resumable file, the Pareto front is
computed from the same counters for every method, and fidelity compares requested with produced."""

from __future__ import annotations

import json

from leanthink.bench.compact import fidelity, pareto, run_compact_bench
from leanthink.models.registry import save_checkpoint

from helpers import micro_llama


def test_pareto_front():
    pts = [(100, 0.5), (50, 0.5), (60, 0.6), (200, 0.6), (10, 0.1), (60, 0.6)]
    assert pareto(pts) == [False, True, True, False, True, True]


def test_fidelity_by_kind():
    rows = [{"problem_id": "a", "usage": {"generated_tokens": 40}, "trace": {"reasoning_tokens": 20}},
            {"problem_id": "b", "usage": {"generated_tokens": 60}, "trace": {"reasoning_tokens": 30}}]
    f = fidelity("budget", 25, rows, None)
    assert f["mean_produced"] == 25 and f["median_ratio"] == 1.0 and f["share_over"] == 0.5
    f = fidelity("target", 50, rows, None)
    assert abs(f["median_abs_error"] - 0.2) < 1e-12
    f = fidelity("ratio", 0.5, rows, {"a": 100, "b": 100})   # requested: half of each problem's own full length
    assert f["mean_requested"] == 50 and f["median_ratio"] == 1.0


def _micro(path, **meta):
    model, tok = micro_llama()
    save_checkpoint(model, tok, path, {"prompt_style": "plain", "task": "arith", **meta})
    return str(path)


def test_compact_bench_end_to_end(tmp_path):
    base, ts = _micro(tmp_path / "base"), _micro(tmp_path / "ts", tokenskip={"ratios": [0.5, 1.0]})
    args = dict(model=base, tokenskip=ts, l1=str(tmp_path / "missing"), task_name="arith", split="easy", limit=3,
                out_dir=tmp_path / "out", budgets=(4, 8), thresholds=(0.99,), agree=(), ratios=(0.5,),
                targets=(10,), max_new_tokens=12, batch_size=2, progress=False)
    report = run_compact_bench(**args)
    labels = [s["label"] for s in report["runs"]]
    assert labels == ["cot", "budget 4", "budget 8", "budget 4 step", "budget 8 step", "early-exit p≥0.99",
                      "tokenskip γ=1.0", "tokenskip γ=0.5"]
    assert any("--l1" in n and "skipped" in n for n in report["notes"])
    assert report["runs"][0]["tokens_vs_cot"] == 1.0 and any(s["pareto"] for s in report["runs"])
    for f in report["fidelity"]:
        if f["kind"].startswith("budget"):   # budget forcing never reasons past its budget
            assert f["mean_produced"] <= f["requested"] and f["share_over"] == 0
    assert [f["kind"] for f in report["fidelity"]] == ["budget"] * 2 + ["budget-step"] * 2 + ["ratio", "ratio"]
    file = tmp_path / "out" / "compact.jsonl"
    before = file.read_text()
    assert len(before.splitlines()) == 3 * 8
    run_compact_bench(**args)   # resumed: nothing recomputed, nothing duplicated
    assert file.read_text() == before
    assert (tmp_path / "out" / "pareto.png").stat().st_size > 0 and (tmp_path / "out" / "fidelity.png").exists()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["n"] == 3
