"""`bench latent` on a micro Coconut model: every method at every batch size, reasoning length counted
the same way for all, notes for what is skipped, resumption."""

from __future__ import annotations

from leanthink.bench.latent import run_latent_bench

from cli_helpers import run_cli


def test_latent_bench_end_to_end(tmp_path, capsys):
    co = tmp_path / "co"
    code, _, err = run_cli(["train", "--task", "arith", "--split", "train-easy:2,train-easy:2", "--size", "micro",
                            "--batch-size", "4", "--eval-limit", "0", "--no-compile", "--recipe", "coconut",
                            "--out", co, "--no-progress"], capsys)
    assert code == 0, err
    args = dict(suites=["arith-easy", "arith-easy-verbose", "prosqa-valid"], limit=2, out_dir=tmp_path / "b", batch_sizes=(1, 2),
                prosqa_data=tmp_path / "missing.json", progress=False, max_new_tokens=12,
                models={"arith-easy:base": str(co), "arith-easy:coconut": str(co), "arith-easy-verbose:base": str(co),
                        "arith-easy-verbose:litereason": str(tmp_path / "none"),
                        "arith-easy-verbose:litereason-rl": str(tmp_path / "none")})
    report = run_latent_bench(**args)
    runs = report["suites"]["arith-easy"]["runs"]
    assert {(s["method"], s["batch_size"]) for s in runs} == {(m, b) for m in ("direct", "cot", "coconut")
                                                              for b in (1, 2)}
    for s in runs:
        assert s["reasoning_tokens"] == s["mean_generated_tokens"] + s["mean_latent_tokens"]
        assert s["mean_latent_tokens"] == (2 if s["method"] == "coconut" else 0)   # 2 stages x 1 per step
        if s["method"] == "cot":
            assert s["tokens_vs_cot"] == 1.0 and s["accuracy_vs_cot"] == 0.0
    assert "prosqa-valid" not in report["suites"]
    assert any("litereason-rl skipped" in n for n in report["notes"]) and any("prosqa-valid" in n for n in report["notes"])
    assert {s["method"] for s in report["suites"]["arith-easy-verbose"]["runs"]} == {"direct", "cot"}
    files = sorted((tmp_path / "b").glob("*.jsonl"))
    before = [f.read_text() for f in files]
    assert [len(x.splitlines()) for x in before] == [4, 4, 6, 6]   # verbose suite first (sorted names)
    run_latent_bench(**args)
    assert [f.read_text() for f in files] == before
    assert "## arith-easy" in (tmp_path / "b" / "summary.md").read_text()
