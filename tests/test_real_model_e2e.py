"""Real models are first-class: a tiny random Qwen2 with a chat template, saved as a directory, runs
through the same CLI as the built-ins."""

from __future__ import annotations

import json


from leanthink.bench.harness import read_results
from leanthink.engine.hf import HFEngine

from cli_helpers import run_cli
from helpers import SHARED_DATA


def test_chat_model_gets_a_boxed_instruction_in_its_template(qwen_dir):
    from leanthink.tasks import get_task

    engine = HFEngine.load(str(qwen_dir))
    assert engine.prompt_style.name == "chat"
    p = get_task("gsm8k").load(data=_gsm8k_file(qwen_dir.parent), limit=1)[0]
    prompt = engine.prompt_style.render(p, "cot", engine.tokenizer)
    assert prompt.startswith("<|im_start|>user\n") and prompt.endswith("<|im_start|>assistant\n")
    assert "\\boxed{}" in prompt and p.question in prompt
    assert engine.prompt_style.step_delimiter == "\n\n"


def _gsm8k_file(tmp):
    real = SHARED_DATA / "gsm8k_test.jsonl"
    if real.exists():
        return real
    path = tmp / "gsm8k.jsonl"
    path.write_text(json.dumps({"question": "What is 2+3?", "answer": "2+3=5\n#### 5"}) + "\n"
                    + json.dumps({"question": "What is 4*4?", "answer": "#### 16"}) + "\n")
    return path


def test_eval_on_a_qwen2_directory_with_gsm8k(qwen_dir, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    code, stdout, err = run_cli(["eval", "--model", qwen_dir, "--task", "gsm8k", "--data", _gsm8k_file(tmp_path),
                                 "--limit", "2", "--out", out, "--no-progress"], capsys)
    assert code == 0, err
    rows = read_results(out)
    assert len(rows) == 2
    for r in rows:
        assert r["prompt_style"] == "chat" and r["model"] == str(qwen_dir)
        u = r["usage"]
        assert u["prompt_tokens"] > 20 and 1 <= u["generated_tokens"] <= 512
        assert u["forward_tokens"] <= u["prompt_tokens"] + u["generated_tokens"]
    assert "gsm8k" in stdout
