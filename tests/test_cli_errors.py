"""Bad input: a one-line error naming what is wrong, exit code != 0, no traceback, nothing lost."""

from __future__ import annotations

import json

import pytest

from cli_helpers import run_cli


@pytest.fixture
def results(tmp_path):
    """A results file with one finished line that no failing command may touch."""
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"run_id": "keep", "problem_id": "p0"}) + "\n")
    return path


def check_error(capsys, argv, results, *needles):
    before = results.read_bytes()
    code, _, err = run_cli(argv + ["--out", results, "--no-progress"], capsys)
    assert code != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error:") and len([ln for ln in lines if ln.startswith("error:")]) == 1
    for n in needles:
        assert n in err, err
    assert results.read_bytes() == before


def test_malformed_data_line(tmp_path, capsys, results):
    data = tmp_path / "g.jsonl"
    data.write_text('{"question": "q", "answer": "#### 1"}\n{"question": \n')
    check_error(capsys, ["eval", "--task", "gsm8k", "--data", data, "--method", "reference"], results,
                f"{data}:2", "JSON")


def test_missing_field(tmp_path, capsys, results):
    data = tmp_path / "g.jsonl"
    data.write_text('{"question": "q"}\n')
    check_error(capsys, ["eval", "--task", "gsm8k", "--data", data, "--method", "reference"], results,
                f"{data}:1", "answer")


def test_unknown_task_and_method(capsys, results):
    check_error(capsys, ["eval", "--task", "nope", "--method", "reference"], results, "unknown task 'nope'", "arith")
    check_error(capsys, ["eval", "--task", "arith", "--method", "nope"], results, "unknown method 'nope'", "cot")


def test_model_directory_missing_or_pickle_only(tmp_path, capsys, results):
    check_error(capsys, ["eval", "--task", "arith", "--model", tmp_path / "absent"], results, "does not exist")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"\x80")
    check_error(capsys, ["eval", "--task", "arith", "--model", pickled], results, "pickle", "safetensors")
    check_error(capsys, ["eval", "--task", "arith", "--model", "builtin:nope"], results, "unknown built-in model")


def test_limit_zero_and_negative_budget(micro_dir, capsys, results):
    check_error(capsys, ["eval", "--task", "arith", "--limit", "0", "--model", micro_dir], results, "--limit", "got 0")
    check_error(capsys, ["eval", "--task", "arith", "--max-new-tokens", "-5", "--model", micro_dir], results,
                "max_new_tokens", ">= 1")


def test_unknown_split_and_setting(micro_dir, capsys, results):
    check_error(capsys, ["eval", "--task", "arith", "--split", "tough", "--model", micro_dir], results,
                "unknown split 'tough'", "easy")
    check_error(capsys, ["eval", "--task", "arith", "--set", "beams=4", "--model", micro_dir], results,
                "no such setting")
    check_error(capsys, ["eval", "--task", "arith", "--method", "reference", "--temperature", "0.5"], results,
                "--temperature does not apply")


def test_set_values_are_typed(micro_dir, capsys, results):
    check_error(capsys, ["eval", "--task", "arith", "--set", "top_p=lots", "--model", micro_dir], results,
                "--set top_p=lots", "float")
    from leanthink.methods import method_settings

    assert method_settings("cot", ["top_p=0.5", "max_new_tokens=7"]) == {"top_p": 0.5, "max_new_tokens": 7}
