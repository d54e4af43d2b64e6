"""`leanthink bench router`: candidates on training and test problems, a router trained on the former
and run on the latter, resumable; the dominance count and the candidate syntax."""

from __future__ import annotations

import json

import pytest

from leanthink.bench.router import beats, parse_candidates, run_router_bench
from leanthink.errors import LeanthinkError


def _s(acc, tok):
    return {"accuracy": acc, "mean_generated_tokens": tok, "mean_latent_tokens": 0.0}


def test_beats_needs_no_single_method_as_accurate_with_as_few_tokens():
    singles = [_s(0.5, 60), _s(0.75, 100)]
    assert beats(_s(0.6, 50), singles)
    assert not beats(_s(0.5, 60), singles)          # a tie is not a win
    assert beats(_s(0.75, 90), singles)             # equal accuracy, fewer tokens
    assert not beats(_s(0.4, 70), singles)


def test_candidates_are_typed_and_checked():
    assert parse_candidates("cot; budget-forcing:budget=60,cut=step") == [
        ("cot", {}), ("budget-forcing", {"budget": 60, "cut": "step"})]
    with pytest.raises(LeanthinkError, match="unknown method"):
        parse_candidates("cot;nope")
    with pytest.raises(LeanthinkError, match="no such setting"):
        parse_candidates("cot:budget=3")


def test_bench_router_end_to_end_and_resumed(tmp_path):
    kw = dict(candidates="direct;cot", targets=(0.5, 0.99), budgets=(10,), progress=False)
    with pytest.raises(LeanthinkError, match="not trained on"):
        run_router_bench("builtin:arith", "arith", "mixed", 8, 20, tmp_path, seed=1, train_seed=1, **kw)
    report = run_router_bench("builtin:arith", "arith", "mixed", 12, 20, tmp_path, **kw)
    assert [s["label"] for s in report["singles"]] == ["direct", "cot"]
    assert len(report["routed"]) == 3 and all(s["n"] == 12 for s in report["routed"])
    assert report["router"]["problems"] == 20
    test_ids = {json.loads(x)["problem_id"] for x in (tmp_path / "test.jsonl").read_text().splitlines()}
    train_ids = {json.loads(x)["problem_id"] for x in (tmp_path / "train.jsonl").read_text().splitlines()}
    assert len(test_ids) == 12 and not test_ids & train_ids
    for s in report["routed"]:
        assert abs(sum(s["routes"].values()) - 1) < 1e-9
        assert s["beats_singles"] == beats(s, report["singles"])
    lines = (tmp_path / "test.jsonl").read_text()
    again = run_router_bench("builtin:arith", "arith", "mixed", 12, 20, tmp_path, **kw)
    assert (tmp_path / "test.jsonl").read_text() == lines            # resumed: nothing re-run
    assert [s["accuracy"] for s in again["routed"]] == [s["accuracy"] for s in report["routed"]]
    assert (tmp_path / "summary.md").is_file() and (tmp_path / "pareto.png").stat().st_size > 1000
