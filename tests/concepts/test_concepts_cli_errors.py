"""Bad input to `leanthink concepts train | explain | bench`, as a new user would type it.

Every case must end in exit status 2 and exactly one `error:` line that names the flag, field or file
at fault, with no traceback and no "unexpected" error; no training may start, and nothing on disk may
change (a finished run, a benchmark's results.jsonl and summaries stay byte-identical).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from cli_helpers import run_cli
from leanthink.concepts.bench import BenchConfig, run_benchmark
from leanthink.concepts.config import DataConfig, ModelConfig, TrainConfig
from leanthink.concepts.io import append_jsonl, read_jsonl
from leanthink.errors import DataError

TINY = ["--steps", "2", "--n-train", "20", "--dim", "16", "--depth", "1", "--slot-iters", "2", "--quiet"]
BENCH = ["--steps", "2", "--sizes", "20", "--seeds", "0", "--models", "plain", "--quiet"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One finished micro run and one finished micro benchmark, copied fresh into every case."""
    from leanthink.concepts.train import run_record, train

    root = tmp_path_factory.mktemp("made")
    data, model, tr = DataConfig(n_train=20), ModelConfig(dim=16, depth=1, slot_iters=2), TrainConfig(steps=2)
    result = train(data, model, tr, out_dir=root / "run", progress=False)
    append_jsonl(root / "run" / "results.jsonl", run_record(data, result.model_cfg, tr, result.metrics))
    run_benchmark(BenchConfig(sizes=(20,), seeds=(0,), models=("plain",), steps=2), root / "bench", progress=False)
    return root


@pytest.fixture
def ctx(made, tmp_path, monkeypatch):
    shutil.copytree(made / "run", tmp_path / "run")
    shutil.copytree(made / "bench", tmp_path / "bench")
    (tmp_path / "afile").write_text("not a folder\n")

    def no_training(*a, **k):  # every case is bad input: it must be refused before any training
        raise AssertionError("training started before the settings were checked")

    monkeypatch.setattr("leanthink.concepts.train.train", no_training)
    return {"tmp": tmp_path, "run": tmp_path / "run", "bench": tmp_path / "bench", "file": tmp_path / "afile"}


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else "dir") for p in sorted(root.rglob("*"))}


def check_error(capsys, ctx, argv, needles):
    before = _snapshot(ctx["tmp"])
    code, out, err = run_cli([str(a).format(**ctx) for a in argv], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (code, err)
    assert "Traceback" not in err and "unexpected" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles:
        assert str(n).format(**ctx) in lines[0], (n, err)
    assert _snapshot(ctx["tmp"]) == before, "a failing command changed files on disk"


# --- edits that turn a good run folder or results file into a bad one -------------------------------------

def _edit_config(**sections):
    def edit(ctx):
        path = ctx["run"] / "config.json"
        cfg = json.loads(path.read_text())
        for key, value in sections.items():
            cfg[key] = value(cfg[key]) if callable(value) else value
        path.write_text(json.dumps(cfg))
    return edit


def _write(rel: str, content):
    def edit(ctx):
        path = ctx["tmp"] / rel
        if content is None:
            path.unlink()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return edit


def _truncate_weights(ctx):
    path = ctx["run"] / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _weights_missing_a_tensor(ctx):
    """Weights that are valid safetensors but lack a tensor, with the digest removed from config.json
    (a hand-assembled folder): the loader must say they do not fit, not crash."""
    path = ctx["run"] / "model.safetensors"
    tensors = load_file(str(path))
    tensors.pop(sorted(tensors)[0])
    save_file(tensors, str(path))
    _edit_config(weights_sha256=None)(ctx)


def _no_digest_and(edit):
    def both(ctx):
        edit(ctx)
        _edit_config(weights_sha256=None)(ctx)
    return both


def _make_dir(rel: str):
    return lambda ctx: (ctx["tmp"] / rel).mkdir(parents=True)


def _results_lines(*extra: bytes, first: bytes | None = None):
    """The benchmark's good results.jsonl with bad lines before and/or after its finished line."""
    def edit(ctx):
        path = ctx["bench"] / "results.jsonl"
        good = path.read_bytes()
        path.write_bytes((first or b"") + good + b"".join(extra))
    return edit


def _deny_write(rel: str):
    """Root ignores permission bits, so an unwritable folder is simulated at `os.access`."""
    def edit(ctx):
        locked = ctx["tmp"] / rel
        locked.mkdir(exist_ok=True)
        real = os.access
        ctx["_patch"].setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == locked and mode & os.W_OK
                              else real(p, mode, *a, **k))
    return edit


def _good_record(ctx) -> dict:
    return json.loads((ctx["bench"] / "results.jsonl").read_text().splitlines()[0])


def _record_with(**changes):
    def edit(ctx):
        rec = _good_record(ctx)
        for key, value in changes.items():
            rec[key] = value
        with open(ctx["bench"] / "results.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
    return edit


TRAIN = ["concepts", "train", "--out", "{run}", *TINY]
EXPLAIN = ["concepts", "explain", "{run}"]
BENCHC = ["concepts", "bench", "--results-dir", "{bench}", *BENCH]
SETC = ["concepts", "bench", "--results-dir", "{tmp}/settings", "--seeds", "0", "--quiet"]

CASES = [
    # train: the output folder, checked before training (it used to fail only after the run)
    ("train-out-is-file", ["concepts", "train", "--out", "{file}", *TINY], ["--out", "{file}", "is a file"], None),
    ("train-out-under-file", ["concepts", "train", "--out", "{file}/sub", *TINY], ["--out", "is a file"], None),
    ("train-out-unwritable", ["concepts", "train", "--out", "{tmp}/locked/run", *TINY], ["--out", "permission denied"],
     _deny_write("locked")),
    ("train-weights-path-is-dir", ["concepts", "train", "--out", "{tmp}/new", *TINY], ["--out", "model.safetensors"],
     _make_dir("new/model.safetensors")),
    ("train-results-path-is-dir", ["concepts", "train", "--out", "{tmp}/new", *TINY], ["--out", "results.jsonl"],
     _make_dir("new/results.jsonl")),
    ("train-results-bad-line", TRAIN, ["results.jsonl:1", "not valid JSON"],
     lambda ctx: (ctx["run"] / "results.jsonl").write_bytes(b"{bad\n" + (ctx["run"] / "results.jsonl").read_bytes())),
    # train: numbers out of range, NaN/inf, seeds numpy/torch refuse
    ("train-threads-0", [*TRAIN, "--threads", "0"], ["--threads", "got 0"], None),
    ("train-threads-huge", [*TRAIN, "--threads", "100000"], ["--threads", "100000"], None),
    ("train-steps-negative", [*TRAIN, "--steps", "-1"], ["steps", "-1"], None),
    ("train-lr-nan", [*TRAIN, "--lr", "nan"], ["lr", "nan", "finite"], None),
    ("train-lr-inf", [*TRAIN, "--lr", "inf"], ["lr", "inf"], None),
    ("train-lr-negative", [*TRAIN, "--lr", "-0.1"], ["lr", "-0.1", "(0.0, 1.0]"], None),
    ("train-seed-negative", [*TRAIN, "--seed", "-1"], ["seed", "-1"], None),
    ("train-seed-huge", [*TRAIN, "--seed", str(2**64)], ["seed", str(2**64)], None),
    ("train-seed-2**63", [*TRAIN, "--seed", str(2**63)], ["seed", str(2**63)], None),
    ("train-n-train-0", [*TRAIN, "--n-train", "0"], ["n_train", "got 0"], None),
    ("train-n-train-too-big", [*TRAIN, "--n-train", "1298"], ["n_train", "1297", "1298"], None),
    ("train-concept-fraction-nan", [*TRAIN, "--concept-fraction", "nan"], ["concept_fraction", "nan"], None),
    ("train-concept-fraction-above-1", [*TRAIN, "--concept-fraction", "1.5"], ["concept_fraction", "1.5"], None),
    ("train-expl-lambda-nan", [*TRAIN, "--expl-lambda", "nan"], ["expl_lambda", "nan"], None),
    ("train-sparse-lambda-inf", [*TRAIN, "--sparse-lambda", "inf"], ["sparse_lambda", "inf"], None),
    ("train-batch-size-0", [*TRAIN, "--batch-size", "0"], ["batch_size", "got 0"], None),
    ("train-dim-not-divisible", [*TRAIN, "--dim", "15"], ["dim=15", "heads"], None),
    ("train-depth-negative", [*TRAIN, "--depth", "-1"], ["depth", "-1"], None),
    ("train-slot-iters-0", [*TRAIN, "--slot-iters", "0"], ["slot_iters", "got 0"], None),
    ("train-n-test-digits", [*TRAIN, "--n-test", "10"], ["n_test=10", "500"], None),
    ("train-task-of-other-dataset", [*TRAIN, "--dataset", "shapes", "--task", "parity"], ["task='parity'"], None),
    ("train-model-unknown", [*TRAIN, "--model", "vit"], ["kind='vit'", "cct"], None),
    ("train-slots-unknown", [*TRAIN, "--slots", "gru"], ["slots='gru'", "boqsa"], None),
    # train: settings the chosen model never reads (the run record would claim them)
    ("train-slots-for-ct", [*TRAIN, "--model", "ct", "--slots", "isa"],
     ["--slots, --slot-iters", "no effect", "--model ct"], None),
    ("train-lambda-for-plain", [*TRAIN, "--model", "plain", "--expl-lambda", "5", "--concept-fraction", "0.5"],
     ["--concept-fraction, --expl-lambda", "no effect", "--model plain"], None),
    # explain: flags
    ("explain-examples-0", [*EXPLAIN, "--examples", "0"], ["--examples", "got 0"], None),
    ("explain-examples-65", [*EXPLAIN, "--examples", "65"], ["--examples", "65"], None),
    ("explain-seed-negative", [*EXPLAIN, "--seed", "-1"], ["--seed", "-1"], None),
    ("explain-out-is-file", [*EXPLAIN, "--out", "{file}"], ["--out", "{file}", "is a file"], None),
    ("explain-json-is-dir", [*EXPLAIN, "--out", "{tmp}/ex"], ["--out", "explain.json"], _make_dir("ex/explain.json")),
    # explain: folders that are not a run
    ("explain-run-is-file", ["concepts", "explain", "{file}"], ["{file}", "is a file"], None),
    ("explain-run-missing", ["concepts", "explain", "{tmp}/nope"], ["config.json", "missing"], None),
    ("explain-config-missing", EXPLAIN, ["config.json", "missing"], _write("run/config.json", None)),
    ("explain-config-not-json", EXPLAIN, ["config.json:1", "not valid JSON"], _write("run/config.json", "{bad")),
    ("explain-config-a-list", EXPLAIN, ["config.json", "JSON object", "list"], _write("run/config.json", "[1, 2]")),
    ("explain-config-not-utf8", EXPLAIN, ["config.json", "UTF-8"], _write("run/config.json", b"\xff\xfe{}")),
    ("explain-config-missing-section", EXPLAIN, ["config.json", "'train'"],
     _write("run/config.json", '{"data": {}, "model": {}}')),
    ("explain-config-section-not-object", EXPLAIN, ["config.json", "'data'", "JSON object"], _edit_config(data=5)),
    ("explain-config-wrong-type", EXPLAIN, ["config.json", "'data'", "n_train", "'abc'"],
     _edit_config(data=lambda d: {**d, "n_train": "abc"})),
    ("explain-config-nan-string", EXPLAIN, ["config.json", "dropout", "'NaN'"],
     _edit_config(model=lambda m: {**m, "dropout": "NaN"})),
    ("explain-config-unknown-field", EXPLAIN, ["config.json", "extra"],
     _edit_config(model=lambda m: {**m, "extra": 1})),
    ("explain-config-negative-seed", EXPLAIN, ["config.json", "seed", "-5"],
     _edit_config(data=lambda d: {**d, "seed": -5})),
    ("explain-config-other-data", EXPLAIN, ["config.json", "image_size"],
     _edit_config(data=lambda d: {**d, "dataset": "shapes", "task": "red_square", "n_test": 8, "patch": 4})),
    ("explain-config-other-model", EXPLAIN, ["model.safetensors", "do not fit", "size mismatch"],
     _edit_config(model=lambda m: {**m, "dim": 32})),
    ("explain-weights-missing", EXPLAIN, ["model.safetensors", "missing"], _write("run/model.safetensors", None)),
    ("explain-weights-garbage", EXPLAIN, ["model.safetensors", "weights_sha256"],
     _write("run/model.safetensors", b"garbage")),
    ("explain-weights-empty", EXPLAIN, ["model.safetensors", "weights_sha256"], _write("run/model.safetensors", b"")),
    ("explain-weights-truncated", EXPLAIN, ["model.safetensors", "truncated"], _truncate_weights),
    ("explain-weights-truncated-no-digest", EXPLAIN, ["model.safetensors", "not a valid safetensors file"],
     _no_digest_and(_truncate_weights)),
    ("explain-weights-missing-tensor", EXPLAIN, ["model.safetensors", "do not fit", "Missing key"],
     _weights_missing_a_tensor),
    # bench: list flags
    ("bench-sizes-empty", [*BENCHC, "--sizes", ""], ["--sizes", "names no value"], None),
    ("bench-sizes-not-int", [*BENCHC, "--sizes", "abc"], ["--sizes", "'abc'", "integers"], None),
    ("bench-sizes-float", [*BENCHC, "--sizes", "1.5"], ["--sizes", "'1.5'"], None),
    ("bench-sizes-empty-item", [*BENCHC, "--sizes", "20,,40"], ["--sizes", "empty item"], None),
    ("bench-sizes-repeated", [*BENCHC, "--sizes", "20,40,20"], ["--sizes", "repeats 20"], None),
    ("bench-sizes-0", [*BENCHC, "--sizes", "0"], ["sizes", "n_train", "got 0"], None),
    ("bench-sizes-too-big", [*BENCHC, "--sizes", "20,5000"], ["sizes", "n_train", "5000"], None),
    ("bench-seeds-negative", [*BENCHC, "--seeds", "-1"], ["seeds", "-1"], None),
    ("bench-seeds-huge", [*BENCHC, "--seeds", str(2**64)], ["seeds", str(2**64)], None),
    ("bench-seeds-repeated", [*BENCHC, "--seeds", "0,0"], ["--seeds", "repeats 0"], None),
    ("bench-models-unknown", [*BENCHC, "--models", "bogus"], ["--models", "'bogus'", "plain"], None),
    ("bench-models-empty", [*BENCHC, "--models", ""], ["--models", "names no value"], None),
    ("bench-models-repeated", [*BENCHC, "--models", "plain,ct,plain"], ["--models", "repeats plain"], None),
    ("bench-slots-unknown", [*BENCHC, "--slots", "x"], ["slots='x'"], None),
    ("bench-slots-without-cct", [*BENCHC, "--slots", "isa"], ["slots='isa'", "no effect", "plain"], None),
    ("bench-steps-0", [*BENCHC, "--steps", "0"], ["steps", "got 0"], None),
    ("bench-task-of-other-dataset", [*BENCHC, "--dataset", "shapes"], ["task='parity'", "red_square"], None),
    # bench: the results folder
    ("bench-dir-is-file", ["concepts", "bench", "--results-dir", "{file}", *BENCH],
     ["--results-dir", "{file}", "is a file"], None),
    ("bench-dir-under-file", ["concepts", "bench", "--results-dir", "{file}/sub", *BENCH],
     ["--results-dir", "is a file"], None),
    ("bench-dir-unwritable", ["concepts", "bench", "--results-dir", "{tmp}/locked", *BENCH],
     ["--results-dir", "permission denied"], _deny_write("locked")),
    ("bench-results-is-dir", ["concepts", "bench", "--results-dir", "{tmp}/b", *BENCH],
     ["--results-dir", "results.jsonl", "directory"], _make_dir("b/results.jsonl")),
    ("bench-summary-is-dir", ["concepts", "bench", "--results-dir", "{tmp}/b", *BENCH],
     ["--results-dir", "summary.md", "directory"], _make_dir("b/summary.md")),
    # bench: lines of an existing results.jsonl (never skipped: that would drop a finished run)
    ("bench-results-bad-first-line", BENCHC, ["results.jsonl:1", "not valid JSON"], _results_lines(first=b"{bad\n")),
    ("bench-results-bad-middle-line", BENCHC, ["results.jsonl:2", "not valid JSON"],
     lambda ctx: _results_lines(b"{bad\n" + (ctx["bench"] / "results.jsonl").read_bytes())(ctx)),
    ("bench-results-bad-last-line-with-newline", BENCHC, ["results.jsonl:2", "not valid JSON"],
     _results_lines(b'{"accuracy": \n')),
    ("bench-results-not-object", BENCHC, ["results.jsonl:2", "JSON object", "list"], _results_lines(b"[1, 2]\n")),
    ("bench-results-number-line", BENCHC, ["results.jsonl:3", "JSON object", "int"], _results_lines(b"\n7\n")),
    ("bench-results-not-utf8", BENCHC, ["results.jsonl:1", "UTF-8"], _results_lines(first=b"\xff\xfe\n")),
    ("bench-results-missing-field", BENCHC, ["results.jsonl:2", "'model.kind'"], _results_lines(b"{}\n")),
    ("bench-results-wrong-type", BENCHC, ["results.jsonl:2", "'accuracy'", "'high'"], _record_with(accuracy="high")),
    ("bench-results-section-not-object", BENCHC, ["results.jsonl:2", "'data.dataset'"], _record_with(data=[1])),
    # bench --settings: the settings benchmark
    ("settings-unknown", [*SETC, "--settings", "cifar"], ["--settings", "'cifar'", "scenes_partial"], None),
    ("settings-with-sweep-flag", [*SETC, "--settings", "scenes", "--sizes", "50"],
     ["--sizes", "no effect with --settings"], None),
    ("split-without-settings", [*BENCHC, "--split", "val"], ["--split", "needs --settings"], None),
    ("settings-split-unknown", [*SETC, "--settings", "scenes", "--split", "train"], ["split='train'", "val"], None),
    ("settings-model-unknown", [*SETC, "--settings", "scenes", "--models", "cct"], ["--models", "'cct'", "cct-sa"],
     None),
    ("settings-set-not-int", [*SETC, "--settings", "scenes", "--set", "dim=abc"], ["--set", "dim='abc'", "integer"],
     None),
    ("settings-set-unknown-field", [*SETC, "--settings", "scenes", "--set", "seed=1"], ["--set", "'seed'"], None),
    ("settings-set-bad-value", [*SETC, "--settings", "scenes", "--set", "streams=none"], ["streams='none'"], None),
    ("settings-into-sweep-folder", ["concepts", "bench", "--results-dir", "{bench}", "--settings", "scenes", "--quiet"],
     ["results.jsonl:1", "'bench_key'"], None),
]


@pytest.mark.parametrize("argv,needles,setup", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_invocation(capsys, ctx, monkeypatch, argv, needles, setup):
    ctx["_patch"] = monkeypatch
    if setup:
        setup(ctx)
    del ctx["_patch"]
    check_error(capsys, ctx, argv, needles)


def test_enough_cases():
    assert len(CASES) >= 30


# --- what is not an error -----------------------------------------------------------------------------------

def test_torn_last_line_is_skipped_then_cut_by_the_next_append(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')  # a run killed mid-write
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}]
    append_jsonl(path, {"d": 4})
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n{"d": 4}\n'


def test_whole_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}')
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}]
    append_jsonl(path, {"c": 3})
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_malformed_line_that_is_not_the_torn_tail_is_an_error(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": \n{"c": 3}\n')
    with pytest.raises(DataError, match=r"r\.jsonl:2"):
        read_jsonl(path)


def test_explain_does_not_read_or_touch_results_jsonl(ctx, capsys):
    """explain scores the saved weights; a damaged results.jsonl beside them is not its input."""
    bad = b"{bad\n[1]\n"
    (ctx["run"] / "results.jsonl").write_bytes(bad)
    code, out, err = run_cli(["concepts", "explain", ctx["run"], "--examples", "2"], capsys)
    assert code == 0, err
    assert (ctx["run"] / "results.jsonl").read_bytes() == bad
    assert (ctx["run"] / "explain" / "explain.json").exists()


def test_seed_above_32_bits_trains(tmp_path):
    """numpy's legacy seeder takes 32 bits, but seeds up to 2**63 - 1 are accepted everywhere."""
    from leanthink.concepts.train import train

    r = train(DataConfig(n_train=20, seed=2**40), ModelConfig(kind="plain", dim=16, depth=1),
              TrainConfig(steps=2, seed=2**63 - 1), progress=False)
    assert 0 <= r.metrics["accuracy"] <= 1
