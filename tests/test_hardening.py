"""Bad input, as a new user would give it, to `eval`, `report` and `demo`: every case must end in one
`error:` line naming what is wrong, exit status 2, no traceback, and a results file that exists
beforehand must be byte-identical afterwards. (`train`, `concepts` and `build-tokenizer` have their
own corpora under tests/train, tests/concepts and tests/models.)"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from cli_helpers import run_cli

KEEP = json.dumps({"run_id": "keep", "problem_id": "p0", "method": "cot", "task": "arith", "model": "m",
                   "correct": True, "usage": {"generated_tokens": 3}}) + "\n"


@pytest.fixture
def env(tmp_path, micro_dir):
    """Paths the cases use: a results file that must stay untouched, the micro model, a scratch dir."""
    results = tmp_path / "r.jsonl"
    results.write_text(KEEP)
    return {"tmp": tmp_path, "model": micro_dir, "out": results}


def gsm8k(env, text: str, name="g.jsonl"):
    path = env["tmp"] / name
    path.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    return path


def model_copy(env, name="m"):
    dst = env["tmp"] / name
    shutil.copytree(env["model"], dst)
    return dst


def broken_weights(env, data: bytes):
    m = model_copy(env)
    (m / "model.safetensors").write_bytes(data)
    return m


def truncated(env):
    m = model_copy(env)
    raw = (m / "model.safetensors").read_bytes()
    (m / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    return m


def with_file(env, name: str, content: str):
    m = model_copy(env)
    (m / name).write_text(content)
    return m


def pickle_with_stub_index(env):
    m = env["tmp"] / "pk"
    m.mkdir()
    shutil.copy(env["model"] / "config.json", m)
    (m / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    (m / "model.safetensors.index.json").write_text('{"weight_map": {"a": "pytorch_model.bin"}}')
    return m


def shape_mismatch(env):
    m = model_copy(env)
    cfg = json.loads((m / "config.json").read_text())
    cfg["hidden_size"] *= 2
    (m / "config.json").write_text(json.dumps(cfg))
    return m


GOOD = '{"question": "What is 1+1?", "answer": "#### 2"}\n'
EVAL = ["eval", "--task", "gsm8k", "--method", "reference"]
ARITH = ["eval", "--task", "arith", "--limit", "2", "--max-new-tokens", "4"]

# (id, argv from env, words the error must contain)
CASES = [
    # output paths
    ("out-is-dir", lambda e: EVAL + ["--data", gsm8k(e, GOOD), "--out", e["tmp"]], ["--out", "directory"]),
    ("out-parent-is-file", lambda e: EVAL + ["--data", gsm8k(e, GOOD), "--out", e["out"] / "x.jsonl"], ["--out", "is a file"]),
    ("out-dev-full", lambda e: EVAL + ["--data", gsm8k(e, GOOD), "--out", "/dev/full"], ["--out", "not a regular file"]),
    ("out-is-data", lambda e: EVAL + ["--data", e["out"], "--out", e["out"]], ["--out", "--data", "same file"]),
    ("out-not-results", lambda e: EVAL + ["--data", gsm8k(e, GOOD), "--out", gsm8k(e, GOOD, "d2.jsonl")],
     ["d2.jsonl:1", "not a results line"]),
    # data files
    ("data-missing", lambda e: EVAL + ["--data", e["tmp"] / "nope.jsonl"], ["--data", "no such file"]),
    ("data-is-dir", lambda e: EVAL + ["--data", e["tmp"]], ["--data", "directory"]),
    ("data-empty", lambda e: EVAL + ["--data", gsm8k(e, "")], ["g.jsonl", "empty"]),
    ("data-not-utf8", lambda e: EVAL + ["--data", gsm8k(e, b'{"question": "\xff\xfe", "answer": "#### 1"}\n')],
     ["g.jsonl", "UTF-8"]),
    ("data-bad-json", lambda e: EVAL + ["--data", gsm8k(e, GOOD + '{"question": \n')], ["g.jsonl:2", "JSON"]),
    ("data-list-line", lambda e: EVAL + ["--data", gsm8k(e, GOOD + "[1, 2]\n")], ["g.jsonl:2", "object"]),
    ("data-missing-field", lambda e: EVAL + ["--data", gsm8k(e, '{"question": "q"}\n')], ["g.jsonl:1", "answer"]),
    ("data-null-field", lambda e: EVAL + ["--data", gsm8k(e, '{"question": null, "answer": "#### 1"}\n')],
     ["g.jsonl:1", "null"]),
    ("data-empty-question", lambda e: EVAL + ["--data", gsm8k(e, '{"question": "  ", "answer": "#### 1"}\n')],
     ["g.jsonl:1", "question", "empty"]),
    ("data-object-answer", lambda e: EVAL + ["--data", gsm8k(e, '{"question": "q", "answer": {"a": 1}}\n')],
     ["g.jsonl:1", "answer", "string"]),
    ("data-nan", lambda e: EVAL + ["--data", gsm8k(e, '{"question": "q", "answer": NaN}\n')], ["g.jsonl:1", "NaN"]),
    ("data-infinity", lambda e: ["eval", "--task", "aime", "--method", "reference", "--data",
                                 gsm8k(e, '{"problem": "p", "answer": Infinity}\n')], ["g.jsonl:1", "Infinity"]),
    ("data-deep", lambda e: EVAL + ["--data", gsm8k(e, "[" * 100000 + "]" * 100000 + "\n")], ["g.jsonl:1", "deep"]),
    ("data-surrogate", lambda e: EVAL + ["--data", gsm8k(e, '{"question": "x \\ud800 y", "answer": "#### 1"}\n')],
     ["g.jsonl:1", "question", "surrogate"]),
    ("data-duplicate-ids", lambda e: ["eval", "--task", "aime", "--method", "reference", "--data",
                                      gsm8k(e, '{"id": 7, "problem": "p", "answer": 1}\n{"id": 7, "problem": "q", '
                                               '"answer": 2}\n')], ["g.jsonl:2", "aime-7", "unique"]),
    ("data-no-final-answer", lambda e: EVAL + ["--data", gsm8k(e, '{"question": "q", "answer": "2"}\n')],
     ["g.jsonl:1", "####"]),
    ("prosqa-bad-edges", lambda e: ["eval", "--task", "prosqa", "--method", "reference", "--data",
                                    gsm8k(e, json.dumps([{"question": "q", "answer": "a", "steps": [],
                                                          "idx_to_symbol": ["a"], "edges": [[0, 5]], "root": 0,
                                                          "target": 0, "neg_target": 0}]), "p.json")],
     ["p.json", "item 0", "edges"]),
    ("split-with-file-task", lambda e: EVAL + ["--split", "easy"], ["gsm8k", "no generated splits"]),
    ("file-task-without-data", lambda e: EVAL, ["gsm8k", "--data"]),
    ("data-with-generated-task", lambda e: ["eval", "--task", "arith", "--data", gsm8k(e, GOOD)], ["arith", "--data"]),
    # numbers and names
    ("limit-zero", lambda e: ARITH[:4] + ["0"] + ["--model", e["model"]], ["--limit", "0"]),
    ("limit-huge", lambda e: ["eval", "--task", "arith", "--limit", "1000000000", "--model", e["model"]],
     ["--limit", "100000"]),
    ("seed-negative", lambda e: ARITH + ["--seed", "-1", "--model", e["model"]], ["--seed", "got -1"]),
    ("seed-huge", lambda e: ARITH + ["--seed", str(2 ** 70), "--model", e["model"]], ["--seed"]),
    ("data-seed-huge", lambda e: ARITH + ["--data-seed", str(2 ** 64), "--model", e["model"]], ["--data-seed"]),
    ("temperature-nan", lambda e: ARITH + ["--temperature", "nan", "--model", e["model"]], ["temperature", "finite"]),
    ("temperature-inf", lambda e: ARITH + ["--temperature", "inf", "--model", e["model"]], ["temperature", "finite"]),
    ("temperature-negative", lambda e: ARITH + ["--temperature", "-0.5", "--model", e["model"]], ["temperature"]),
    ("max-new-tokens-zero", lambda e: ARITH[:6] + ["0", "--model", e["model"]], ["max_new_tokens"]),
    ("max-new-tokens-beyond-context", lambda e: ARITH[:6] + ["5000", "--model", e["model"]],
     ["max_new_tokens 5000", "context of 1024"]),
    ("batch-size-zero", lambda e: ARITH + ["--batch-size", "0", "--model", e["model"]], ["batch_size"]),
    ("set-unknown", lambda e: ARITH + ["--set", "beams=2", "--model", e["model"]], ["--set beams", "no such setting"]),
    ("set-no-equals", lambda e: ARITH + ["--set", "top_p", "--model", e["model"]], ["--set", "KEY=VALUE"]),
    ("set-bad-type", lambda e: ARITH + ["--set", "top_p=lots", "--model", e["model"]], ["top_p=lots", "float"]),
    ("set-top-p-range", lambda e: ARITH + ["--set", "top_p=2", "--model", e["model"]], ["top_p", "(0, 1]"]),
    ("set-nan", lambda e: ARITH + ["--set", "top_p=nan", "--model", e["model"]], ["top_p", "finite"]),
    ("max-context-zero", lambda e: ARITH + ["--max-context", "0", "--model", e["model"]], ["--max-context"]),
    ("unknown-task", lambda e: ["eval", "--task", "nope"], ["unknown task 'nope'"]),
    ("unknown-method", lambda e: ["eval", "--task", "arith", "--method", "nope"], ["unknown method 'nope'"]),
    ("unknown-split", lambda e: ["eval", "--task", "arith", "--split", "tough", "--model", e["model"]],
     ["unknown split 'tough'"]),
    ("flag-for-other-method", lambda e: EVAL + ["--data", gsm8k(e, GOOD), "--temperature", "0.5"],
     ["--temperature does not apply"]),
    ("prompt-style-unknown", lambda e: ARITH + ["--prompt-style", "poem", "--model", e["model"]], ["prompt style 'poem'"]),
    ("chat-without-template", lambda e: ARITH + ["--prompt-style", "chat", "--model", e["model"]], ["chat template"]),
    ("device-unavailable", lambda e: ARITH + ["--device", "cuda", "--model", e["model"]], ["--device cuda", "CUDA"]),
    ("device-bogus", lambda e: ARITH + ["--device", "tpu9", "--model", e["model"]], ["--device", "tpu9"]),
    ("dtype-bogus", lambda e: ARITH + ["--dtype", "int8", "--model", e["model"]], ["--dtype", "int8"]),
    # models
    ("model-missing", lambda e: ARITH + ["--model", e["tmp"] / "absent"], ["does not exist"]),
    ("model-unknown-builtin", lambda e: ARITH + ["--model", "builtin:nope"], ["unknown built-in model"]),
    ("model-is-file", lambda e: ARITH + ["--model", e["out"]], ["is a file"]),
    ("model-no-config", lambda e: ARITH + ["--model", e["tmp"]], ["config.json"]),
    ("model-pickle-only", lambda e: ARITH + ["--model", pickle_only(e)], ["pickle"]),
    ("model-pickle-stub-index", lambda e: ARITH + ["--model", pickle_with_stub_index(e)], ["safetensors"]),
    ("model-zero-bytes", lambda e: ARITH + ["--model", broken_weights(e, b"")], ["cannot load model"]),
    ("model-random-bytes", lambda e: ARITH + ["--model", broken_weights(e, os.urandom(5000))], ["cannot load model"]),
    ("model-truncated", lambda e: ARITH + ["--model", truncated(e)], ["cannot load model"]),
    ("model-shape-mismatch", lambda e: ARITH + ["--model", shape_mismatch(e)], ["model"]),
    ("model-bad-config-json", lambda e: ARITH + ["--model", with_file(e, "config.json", "{not json")], ["model"]),
    ("model-bad-leanthink-json", lambda e: ARITH + ["--model", with_file(e, "leanthink.json", "{oops")],
     ["leanthink.json", "JSON"]),
    ("model-leanthink-json-list", lambda e: ARITH + ["--model", with_file(e, "leanthink.json", "[1]")],
     ["leanthink.json", "object"]),
    ("model-gguf-not-gguf", lambda e: ARITH + ["--model", gsm8k(e, GOOD, "fake.gguf")], ["fake.gguf"]),
    # report
    ("report-missing", lambda e: ["report", e["tmp"] / "none.jsonl"], ["no such results file"]),
    ("report-dir", lambda e: ["report", e["tmp"]], ["directory"]),
    ("report-empty", lambda e: ["report", gsm8k(e, "", "empty.jsonl")], ["holds no results lines"]),
    ("report-not-utf8", lambda e: ["report", gsm8k(e, KEEP.encode() + b"\xff\n", "b.jsonl")], ["b.jsonl:2", "UTF-8"]),
    ("report-list-line", lambda e: ["report", gsm8k(e, KEEP + "[1]\n", "b.jsonl")], ["b.jsonl:2", "object"]),
    ("report-lacks-fields", lambda e: ["report", gsm8k(e, '{"run_id": "a", "problem_id": "b"}\n', "b.jsonl")],
     ["b.jsonl:1", "lacks field"]),
    ("report-correct-string", lambda e: ["report", gsm8k(e, KEEP.replace("true", '"false"'), "b.jsonl")],
     ["b.jsonl:1", "correct", "true or false"]),
    ("report-usage-not-object", lambda e: ["report", gsm8k(e, KEEP.replace('{"generated_tokens": 3}', "3"), "b.jsonl")],
     ["b.jsonl:1", "usage"]),
    ("report-usage-nan", lambda e: ["report", gsm8k(e, KEEP.replace("3}", "NaN}"), "b.jsonl")], ["b.jsonl:1"]),
    ("report-usage-string", lambda e: ["report", gsm8k(e, KEEP.replace("3}", '"3"}'), "b.jsonl")],
     ["b.jsonl:1", "usage.generated_tokens"]),
    ("report-deep", lambda e: ["report", gsm8k(e, "[" * 100000 + "]" * 100000 + "\n", "b.jsonl")], ["b.jsonl:1"]),
    ("report-png-dir", lambda e: ["report", e["out"], "--png", e["tmp"]], ["--png", "directory"]),
    ("report-png-parent-file", lambda e: ["report", e["out"], "--png", e["out"] / "p.png"], ["--png", "is a file"]),
    ("report-markdown-dev-full", lambda e: ["report", e["out"], "--markdown", "/dev/full"],
     ["--markdown", "regular file"]),
    ("report-png-is-results", lambda e: ["report", e["out"], "--png", e["out"]], ["same file"]),
    # scaling methods and their benches
    ("pf-without-prm", lambda e: ARITH + ["--method", "particle-filter", "--model", e["model"]], ["needs a scorer"]),
    ("sc-with-prm", lambda e: ARITH + ["--method", "self-consistency", "--prm", "oracle", "--model", e["model"]],
     ["--prm does not apply"]),
    ("budget-zero", lambda e: ARITH + ["--method", "particle-filter", "--budget", "0", "--prm", "oracle",
                                       "--model", e["model"]], ["budget", "got 0"]),
    ("pf-bad-resampling", lambda e: ARITH + ["--method", "particle-filter", "--set", "resampling=stratified",
                                             "--prm", "oracle", "--model", e["model"]], ["resampling", "stratified"]),
    ("pg-budget-not-multiple", lambda e: ARITH + ["--method", "particle-gibbs", "--budget", "5", "--prm", "oracle",
                                                  "--model", e["model"]], ["budget 5", "multiple"]),
    ("prm-missing", lambda e: ARITH + ["--method", "best-of-n", "--prm", e["tmp"] / "noprm", "--model", e["model"]],
     ["does not exist"]),
    ("prm-not-a-prm", lambda e: ARITH + ["--method", "best-of-n", "--prm", e["model"], "--model", e["model"]],
     ["score.0.weight"]),
    ("bench-scaling-budget-zero", lambda e: ["bench", "scaling", "--model", e["model"], "--prm", "oracle",
                                             "--budgets", "0,2", "--out", e["tmp"] / "s"], ["--budgets", "got 0"]),
    ("bench-scaling-repeat", lambda e: ["bench", "scaling", "--budgets", "2,2", "--out", e["tmp"] / "s"],
     ["--budgets", "repeats"]),
    ("bench-scaling-method", lambda e: ["bench", "scaling", "--model", e["model"], "--prm", "oracle", "--methods",
                                        "magic", "--out", e["tmp"] / "s"], ["--methods", "magic"]),
    ("bench-scaling-out-file", lambda e: ["bench", "scaling", "--model", e["model"], "--prm", "oracle",
                                          "--out", e["out"]], ["--out", "is a file"]),
    ("bench-scaling-set", lambda e: ["bench", "scaling", "--set", "width=3", "--out", e["tmp"] / "s"], ["--set"]),
    ("bench-its-hub-budget", lambda e: ["bench", "its-hub", "--budget", "0"], ["--budget", "got 0"]),
    ("train-prm-problems", lambda e: ["train-prm", "--problems", "0", "--out", e["tmp"] / "p"], ["--problems"]),
    ("train-prm-temperatures", lambda e: ["train-prm", "--temperatures", "hot", "--out", e["tmp"] / "p"],
     ["--temperatures"]),
    ("train-prm-lr", lambda e: ["train-prm", "--lr", "nan", "--out", e["tmp"] / "p"], ["--lr", "finite"]),
    ("train-prm-out-file", lambda e: ["train-prm", "--out", e["out"]], ["--out", "is a file"]),
    # demo
    ("demo-limit-zero", lambda e: ["demo", "--limit", "0", "--out", e["tmp"] / "d.jsonl"], ["--limit"]),
    ("demo-limit-huge", lambda e: ["demo", "--limit", "10000000", "--out", e["tmp"] / "d.jsonl"], ["--limit"]),
    ("demo-out-dir", lambda e: ["demo", "--out", e["tmp"]], ["--out", "directory"]),
]


def pickle_only(env):
    m = env["tmp"] / "pickle"
    m.mkdir()
    shutil.copy(env["model"] / "config.json", m)
    (m / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    return m


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_error_and_touches_nothing(case, env, capsys):
    name, argv, words = case
    args = [str(a) for a in argv(env)]
    if "--out" not in args and args[0] == "eval":
        args += ["--out", str(env["out"])]
    before = env["out"].read_bytes()
    quiet = [] if args[0] == "report" or args[:2] == ["bench", "its-hub"] else ["--no-progress"]
    code, _, err = run_cli(args + quiet, capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, (name, code, err)
    assert "Traceback" not in err and "unexpected" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for w in words:
        assert w in err, (w, err)
    assert env["out"].read_bytes() == before
