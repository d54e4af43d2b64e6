"""Prompt styles."""

from __future__ import annotations

import pytest

from leanthink.errors import LeanthinkError
from leanthink.prompting import PromptStyle
from leanthink.tasks import extract_answer, get_task


def test_plain_prompts_and_targets_for_the_builtins():
    task = get_task("arith")
    p = task.load("easy", limit=1)[0]
    style = PromptStyle("plain")
    assert style.render(p, "cot") == p.question + "\nReasoning:\n"
    assert style.render(p, "direct") == p.question + "\nAnswer:"
    assert style.response_prefix("direct") == "Answer:" and style.response_prefix("cot") == ""
    # what the model is trained to write is exactly what extraction reads back
    assert extract_answer(style.completion(task, p, "cot")) == p.answer
    assert extract_answer("Answer:" + style.completion(task, p, "direct")) == p.answer
    assert style.step_delimiter == "\n"


def test_completion_and_chat_styles_ask_for_a_boxed_answer():
    p = get_task("arith").load("easy", limit=1)[0]
    text = PromptStyle("completion").render(p, "cot")
    assert p.question in text and "\\boxed{}" in text and text.endswith("Solution:\n")
    custom = PromptStyle("completion", cot_instruction="Think hard.").render(p, "cot")
    assert "Think hard." in custom and "\\boxed" not in custom
    with pytest.raises(LeanthinkError, match="chat template"):
        PromptStyle("chat").render(p, "cot", tokenizer=None)
    with pytest.raises(LeanthinkError):
        PromptStyle("fancy")
    with pytest.raises(LeanthinkError):
        PromptStyle("plain").render(p, "socratic")


def test_prompt_templates_chain_of_draft_and_tale_budget():
    from leanthink.prompting import template_instruction

    p = get_task("arith").load("easy", limit=1)[0]
    cod = PromptStyle("completion", cot_instruction=template_instruction("cod")).render(p, "cot")
    assert "5 words at most" in cod and "\\boxed{}" in cod
    tale = template_instruction("tale:50")
    assert "less than 50 tokens" in tale and "\\boxed{}" in tale
    assert template_instruction("cot") == PromptStyle().cot_instruction
    for bad, msg in (("tale", "budget"), ("tale:0", "budget"), ("cod:5", "only tale"), ("draft", "choose one")):
        with pytest.raises(LeanthinkError, match=msg):
            template_instruction(bad)


def test_prompt_template_flag_refuses_the_plain_style_and_goes_with_instruction_alone(tmp_path, capsys):
    from cli_helpers import run_cli

    args = ["eval", "--task", "arith", "--split", "easy", "--limit", "1", "--model", "builtin:arith",
            "--out", tmp_path / "r.jsonl", "--no-progress"]
    code, _, err = run_cli([*args, "--prompt-template", "cod"], capsys)
    assert code != 0 and "plain style" in err
    code, _, err = run_cli([*args, "--prompt-template", "cod", "--instruction", "x"], capsys)
    assert code != 0 and "not both" in err
