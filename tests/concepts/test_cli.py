"""Micro end-to-end runs through the CLI: train, save, load, explain; bad input; the benchmark."""

import json
import sys

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from leanthink.concepts import cli
from leanthink.concepts.bench import BenchConfig, run_benchmark
from leanthink.concepts.checkpoint import load_run
from leanthink.concepts.data import load_data
from leanthink.concepts.io import read_jsonl
from leanthink.errors import LeanthinkError

runner = CliRunner()
TINY = ["--dim", "16", "--depth", "1", "--slot-iters", "2", "--quiet"]


@pytest.mark.parametrize("dataset,task,n", [("digits", "parity", 40), ("shapes", "red_square", 24)])
def test_train_then_explain(tmp_path, dataset, task, n):
    out = tmp_path / "run"
    r = runner.invoke(cli.app, ["train", "--out", str(out), "--dataset", dataset, "--task", task,
                                "--n-train", str(n), "--n-test", "500" if dataset == "digits" else "30",
                                "--steps", "15", *TINY])
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert "accuracy" in r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["kind"] == "cct" and cfg["data"]["n_train"] == n
    assert set(load_file(str(out / "model.safetensors"))) >= {"backbone.embed.weight", "workspace.position"}
    [line] = read_jsonl(out / "results.jsonl")
    assert 0 <= line["accuracy"] <= 1 and line["weights_sha256"] == cfg["weights_sha256"]

    r = runner.invoke(cli.app, ["explain", str(out), "--examples", "4"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    for name in ("per_class.png", "examples.png"):
        assert (out / "explain" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "explain" / "explain.json").read_text())
    # explain reloads the weights and rescores the same split: same numbers as training reported
    assert report["accuracy"] == pytest.approx(line["accuracy"])
    assert report["expl_acc_global"] == pytest.approx(line["expl_acc_global"])
    if dataset == "shapes":
        assert report["expl_acc_spatial"] is not None


def test_loaded_model_reproduces_outputs(tmp_path):
    out = tmp_path / "ct"
    # --slot-iters is cct-only: passing it to ct is refused as a setting that would be silently ignored
    flags = [f for f in TINY if f not in ("--slot-iters", "2")]
    r = runner.invoke(cli.app, ["train", "--out", str(out), "--model", "ct", "--n-train", "40", "--steps", "3", *flags])
    assert r.exit_code == 0, r.output
    model, data_cfg, model_cfg, _, _ = load_run(out)
    _, test = load_data(data_cfg)
    x = torch.from_numpy(test.images[:5])
    again, *_ = load_run(out)
    torch.testing.assert_close(model(x).logits, again(x).logits)
    assert model_cfg.kind == "ct"


@pytest.mark.parametrize("args,field", [
    (["--model", "vit"], "kind"), (["--slots", "gru"], "slots"), (["--n-train", "5000"], "n_train"),
    (["--dataset", "shapes", "--task", "parity"], "task"), (["--steps", "0"], "steps"),
    (["--expl-lambda", "-1"], "expl_lambda"),
])
def test_bad_train_flags_raise_errors_that_name_the_field(tmp_path, args, field):
    r = runner.invoke(cli.app, ["train", "--out", str(tmp_path / "x"), *args, "--quiet"])
    assert isinstance(r.exception, LeanthinkError)
    assert field in str(r.exception)


def test_explain_on_a_missing_run_names_the_file(tmp_path):
    r = runner.invoke(cli.app, ["explain", str(tmp_path / "nope")])
    assert isinstance(r.exception, LeanthinkError) and "config.json" in str(r.exception)


def test_standalone_main_prints_one_line_and_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["concepts", "train", "--out", str(tmp_path), "--model", "vit", "--quiet"])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: kind='vit'") and "\n" not in err


def test_benchmark_writes_summary_and_resumes(tmp_path):
    cfg = BenchConfig(sizes=(20, 40), seeds=(0, 1), models=("ct", "plain"), steps=3)
    summary = run_benchmark(cfg, tmp_path, progress=False)
    assert len(read_jsonl(tmp_path / "results.jsonl")) == 8
    assert {(r["model"], r["n_train"], r["runs"]) for r in summary["rows"]} == {
        (m, n, 2) for m in ("ct", "plain") for n in (20, 40)}
    assert (tmp_path / "sample_efficiency.png").exists() and "± " in (tmp_path / "summary.md").read_text()
    run_benchmark(cfg, tmp_path, progress=False)  # everything done already: nothing appended
    assert len(read_jsonl(tmp_path / "results.jsonl")) == 8


def test_bad_benchmark_settings():
    with pytest.raises(LeanthinkError, match="n_train"):
        BenchConfig(sizes=(5000,))
    with pytest.raises(LeanthinkError, match="kind"):
        BenchConfig(models=("cct", "resnet"))
