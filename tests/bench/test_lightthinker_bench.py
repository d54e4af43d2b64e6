"""`bench lightthinker` on micro models: every method at every batch size, the H2O budget taken from
LightThinker's measured Peak, the summary, the context plot, resumption."""

from __future__ import annotations

import json

from leanthink.bench.lightthinker import run_lightthinker_bench

from cli_helpers import train_micro_lightthinker


def test_lightthinker_bench_end_to_end(tmp_path, capsys):
    lt = tmp_path / "lt"
    code, _, err = train_micro_lightthinker(lt, capsys)
    assert code == 0, err
    args = dict(vanilla=str(lt), model=str(lt), task_name="iterate", split="easy", data=None, limit=2,
                out_dir=tmp_path / "b", batch_sizes=(1, 2), progress=False, max_new_tokens=24)
    report = run_lightthinker_bench(**args)
    runs = {(s["method"], s["batch_size"]) for s in report["runs"]}
    assert runs == {(m, b) for m in ("cot", "lightthinker", "h2o") for b in (1, 2)}
    lt_peak = [s["mean_peak_tokens"] for s in report["runs"] if s["method"] == "lightthinker"]
    assert report["h2o_kv_budget"] >= max(lt_peak) - 1
    for s in report["runs"]:
        if s["method"] == "h2o":
            assert s["mean_peak_tokens"] <= report["h2o_kv_budget"]
        if s["method"] == "cot":
            assert s["peak_vs_vanilla"] == 1.0
    for f in ("summary.md", "summary.json", "context.png"):
        assert (tmp_path / "b" / f).stat().st_size > 100
    files = sorted((tmp_path / "b").glob("lightthinker_b*.jsonl"))
    assert [f.name for f in files] == ["lightthinker_b1.jsonl", "lightthinker_b2.jsonl"]
    lines = [f.read_text() for f in files]
    assert all(len(x.splitlines()) == 3 * 2 for x in lines)
    run_lightthinker_bench(**args)                                 # resumed: nothing solved again
    assert [f.read_text() for f in files] == lines
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["h2o_kv_budget"] == report["h2o_kv_budget"]


def test_cache_token_sweep_reads_each_models_c_and_compares_with_vanilla(tmp_path, capsys):
    models = {}
    for c in (1, 3):
        models[c] = tmp_path / f"lt{c}"
        code, _, err = train_micro_lightthinker(models[c], capsys, cache_tokens=c)
        assert code == 0, err
    report = run_lightthinker_bench(vanilla=str(models[1]), model=str(models[1]), task_name="iterate", split="easy",
                                    data=None, limit=2, out_dir=tmp_path / "b", batch_sizes=(2,), progress=False,
                                    max_new_tokens=24, sweep=(str(models[3]),))
    assert [s["cache_tokens"] for s in report["sweep"]] == [1, 3]
    vanilla = next(s for s in report["runs"] if s["method"] == "cot")
    for s in report["sweep"]:
        assert s["peak_vs_vanilla"] == s["mean_peak_tokens"] / vanilla["mean_peak_tokens"]
    assert len((tmp_path / "b" / "sweep.jsonl").read_text().splitlines()) == 2
    assert "|C| sweep" in (tmp_path / "b" / "summary.md").read_text()
    assert (tmp_path / "b" / "sweep.png").stat().st_size > 100


def test_a_remote_vanilla_is_refused_before_any_work(tmp_path):
    import pytest

    from leanthink.errors import LeanthinkError

    with pytest.raises(LeanthinkError, match="remote engine cannot count"):
        run_lightthinker_bench(vanilla="openai:http://127.0.0.1:9/v1#m", model="builtin:iterate-lightthinker",
                               task_name="iterate", split="easy", data=None, limit=2, out_dir=tmp_path / "b",
                               progress=False)
    assert not list((tmp_path / "b").glob("*.jsonl"))
