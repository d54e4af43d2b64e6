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
