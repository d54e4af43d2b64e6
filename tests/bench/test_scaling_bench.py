"""`bench scaling` and `bench its-hub` on a micro policy and a random PRM: outputs, resumption, and
the two particle filters side by side."""

from __future__ import annotations

import json

import pytest

from leanthink.bench.scaling import reach_table, run_scaling
from leanthink.bench.results import read_results

from cli_helpers import run_cli
from helpers import tiny_prm

TINY = {"max_steps": 3, "step_tokens": 5, "max_new_tokens": 15}


@pytest.fixture(scope="module")
def prm_dir(tmp_path_factory):
    return tiny_prm(tmp_path_factory.mktemp("prm") / "prm")


def test_scaling_sweep_writes_summary_plot_and_resumes(micro_dir, prm_dir, tmp_path):
    args = dict(model=str(micro_dir), prm=str(prm_dir), task_name="arith", split="easy", data=None, limit=2,
                out_dir=tmp_path / "s", methods=("self-consistency", "dvts", "particle-filter", "particle-gibbs"),
                budgets=(1, 2), settings=TINY, progress=False)
    summaries = run_scaling(**args)
    assert {(s["method"], s["budget"]) for s in summaries} == {
        (m, b) for m in ("self-consistency", "dvts", "particle-filter") for b in (1, 2)} | {("particle-gibbs", 2)}
    for f in ("summary.md", "summary.json", "scaling.png"):
        assert (tmp_path / "s" / f).stat().st_size > 100
    lines = read_results(tmp_path / "s" / "scaling.jsonl")
    assert len(lines) == 7 * 2
    run_scaling(**args)
    assert len(read_results(tmp_path / "s" / "scaling.jsonl")) == 7 * 2      # resumed: nothing redone
    for s in summaries:
        # the recomputation ratios: no method reruns what it already ran, except that each particle
        # Gibbs iteration prefills the prompt again and replays its reference (all counted: usage adds up
        # over iterations)
        assert 0 < s["forward_ratio"] <= (1.0 if s["method"] != "particle-gibbs" else 2 * 1.1)
        assert (s["scorer_ratio"] > 0) == (s["method"] != "self-consistency")
    reach = {r["method"]: r for r in reach_table(summaries)}
    assert reach["dvts"]["reaches"] in (1, 2) and reach["dvts"]["target"] == "dvts@2"


def test_its_hub_side_by_side(micro_dir, prm_dir, capsys):
    pytest.importorskip("its_hub")
    code, out, err = run_cli(["bench", "its-hub", "--model", micro_dir, "--prm", prm_dir, "--split", "easy",
                              "--budget", "2", "--limit", "2", "--max-steps", "3", "--json"], capsys)
    assert code == 0, err
    r = json.loads(out)
    for side in ("leanthink", "its_hub"):
        assert set(r[side]) == {"accuracy", "wall_s", "forward_tokens", "prm_tokens"}
    # the same work, without recomputation: ours runs fewer policy and PRM tokens
    assert r["leanthink"]["forward_tokens"] < r["its_hub"]["forward_tokens"]
    assert r["leanthink"]["prm_tokens"] < r["its_hub"]["prm_tokens"]
    assert r["speedup"] > 0


def test_report_labels_keep_budgets_and_weights_apart():
    from leanthink.bench.report import label, markdown_table

    base = {"task": "arith", "split": "search", "model": "m", "n": 1, "accuracy": 1.0, "ci95": [0.2, 1.0],
            "mean_generated_tokens": 1, "mean_peak_tokens": 1, "mean_dep": 1, "mean_forward_tokens": 1,
            "mean_latency_s": 0.1}
    rows = [{**base, "method": "particle-filter", "settings": {"budget": b, "weights": w}}
            for b, w in ((4, "prm"), (8, "prm"), (8, "self-certainty"))] + [{**base, "method": "cot", "settings": {}}]
    assert [label(s) for s in rows] == ["particle-filter@4", "particle-filter@8",
                                        "particle-filter[self-certainty]@8", "cot"]
    assert "| particle-filter@8 |" in markdown_table(rows)


def test_unknown_counters_of_a_remote_engine_stay_unknown(tmp_path):
    """A remote engine writes null for what it cannot count: ratios and table cells are n/a, never 0."""
    from leanthink.bench.report import summarise
    from leanthink.bench.scaling import add_ratios, write_outputs

    def line(pid, forward, gen=10):
        usage = {"prompt_tokens": 5, "generated_tokens": gen, "latent_tokens": 0, "forward_tokens": forward,
                 "peak_tokens": None if forward is None else 15, "dep": None, "model_calls": None,
                 "scorer_tokens": 0, "scorer_calls": 0, "wall_time_s": 0.5}
        return {"run_id": "r1" if forward is None else "r2", "method": "self-consistency", "task": "arith",
                "split": "search", "model": "openai:http://x#m", "settings": {"budget": 2}, "seed": 0,
                "problem_id": pid, "correct": True, "usage": usage}

    rows = [line("a", None), line("b", None), line("a", 30), line("b", 20)]
    remote, local = add_ratios(summarise(rows), rows)
    assert remote["forward_ratio"] is None and remote["mean_peak_tokens"] is None
    assert local["forward_ratio"] == pytest.approx(50 / 30) and local["scorer_ratio"] == 0
    write_outputs([remote, local], tmp_path)
    table = (tmp_path / "summary.md").read_text()
    assert "| self-consistency | 2 | 2 | 100.0%" in table and "n/a" in table
    assert (tmp_path / "scaling.png").stat().st_size > 1000
