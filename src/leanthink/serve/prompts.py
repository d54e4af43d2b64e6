"""How a request becomes what methods work on: a `Problem` (no gold answer) and a prompt.

Methods render prompts from problems through the engine's prompt style, so the server gives its
engine a `RequestPromptStyle`: the same style (plain, chat or completion), which also knows two kinds
of request problems:

- a chat request (`/v1/chat/completions`): rendered as `leanthink eval` renders a problem. Plain and
  completion styles take the one user message as the question; the chat style renders the whole
  conversation with the model's chat template, the instruction of the method's mode (cot or direct)
  appended to the last user message, as the eval prompt does.
- a completions request (`/v1/completions`): the prompt is used verbatim (no template, no
  instruction).
"""

from __future__ import annotations

import dataclasses

from ..prompting import PromptStyle
from ..tasks.base import Problem, Task, extract_answer
from .errors import bad

ROLES = ("system", "developer", "user", "assistant")


@dataclasses.dataclass(frozen=True)
class RequestPromptStyle(PromptStyle):
    """A prompt style that also renders request problems (see the module docstring)."""

    @classmethod
    def of(cls, style: PromptStyle) -> "RequestPromptStyle":
        return cls(**{f.name: getattr(style, f.name) for f in dataclasses.fields(style)})

    def render(self, problem: Problem, mode: str, tokenizer=None) -> str:
        raw = problem.meta.get("prompt")
        if raw is not None:
            return raw
        messages = problem.meta.get("messages")
        if messages and self.name == "chat":
            super().render(problem, mode, tokenizer)   # the checks of the mode and the chat template
            instruction = self.cot_instruction if mode == "cot" else self.direct_instruction
            last = dict(messages[-1], content=f"{messages[-1]['content']}\n\n{instruction}")
            return tokenizer.apply_chat_template(list(messages[:-1]) + [last], tokenize=False,
                                                 add_generation_prompt=True)
        return super().render(problem, mode, tokenizer)


class RequestTask(Task):
    """The task of request problems: answers are extracted as the model's own task extracts them (the
    built-ins name theirs in leanthink.json), and never graded (requests carry no gold answer)."""

    name = "request"

    def __init__(self, base: Task | None = None):
        self.base = base

    def load(self, split=None, data=None, limit=None, seed=0):
        raise NotImplementedError("request problems come from requests")

    def grade(self, predicted, problem) -> bool:
        return False

    def extract(self, output: str) -> str | None:
        return self.base.extract(output) if self.base is not None else extract_answer(output)


def model_task(meta: dict) -> RequestTask:
    """The RequestTask of a checkpoint whose leanthink.json names its task (else generic extraction)."""
    from ..tasks import get_task

    try:
        return RequestTask(get_task(meta["task"]) if meta.get("task") else None)
    except Exception:  # noqa: BLE001 - an unknown task name only loses task-specific extraction
        return RequestTask(None)


def valid_text(text: str, param: str) -> str:
    """`text`, if it can be encoded (JSON's "\\ud800" escapes give lone surrogates, which no tokenizer takes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise bad(f"{param} is not valid Unicode (it holds a lone surrogate)", param=param) from None
    return text


def _text(content, where: str) -> str:
    """A message's content: a string, or a list of text parts (OpenAI's multi-part form)."""
    if isinstance(content, str):
        return valid_text(content, f"{where}.content")
    if isinstance(content, list) and content:
        parts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise bad(f"{where}.content[{i}] must be a text part {{\"type\": \"text\", \"text\": ...}}; this "
                          "server takes text only", param=f"{where}.content")
            parts.append(part["text"])
        return valid_text("".join(parts), f"{where}.content")
    raise bad(f"{where}.content must be a string or a list of text parts", param=f"{where}.content")


def chat_problem(messages, style: str, problem_id: str) -> Problem:
    """The Problem of a chat request's `messages` (checked; errors name the message)."""
    if not isinstance(messages, list) or not messages:
        raise bad("messages must be a non-empty list of {role, content} objects", param="messages")
    clean = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise bad(f"{where} must be an object with role and content", param=where)
        role = m.get("role")
        if role not in ROLES:
            raise bad(f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}", param=f"{where}.role")
        if "content" not in m:
            raise bad(f"{where} has no content", param=f"{where}.content")
        unknown = sorted(set(m) - {"role", "content", "name"})
        if unknown:
            raise bad(f"{where} has unsupported field(s) {', '.join(unknown)}", param=f"{where}.{unknown[0]}")
        clean.append({"role": "system" if role == "developer" else role, "content": _text(m["content"], where)})
    if clean[-1]["role"] != "user":
        raise bad("the last message must come from the user", param=f"messages[{len(clean) - 1}].role")
    if style != "chat" and len(clean) != 1:
        raise bad(f"this model uses the {style!r} prompt style (no chat template), which renders one question: send "
                  "exactly one user message (or use /v1/completions with your own prompt)", param="messages")
    question = clean[-1]["content"]
    if not question.strip():
        raise bad("the user message is empty", param=f"messages[{len(clean) - 1}].content")
    return Problem(id=problem_id, question=question, answer="", meta={"messages": tuple(clean)})


def completion_problem(prompt, problem_id: str) -> Problem:
    """The Problem of a completions request's `prompt` (a string, or a list of one string)."""
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if isinstance(prompt, list):
        raise bad("this server takes one prompt per request (send several requests: they are batched together)",
                  param="prompt")
    if not isinstance(prompt, str) or not prompt:
        raise bad("prompt must be a non-empty string", param="prompt")
    valid_text(prompt, "prompt")
    return Problem(id=problem_id, question=prompt, answer="", meta={"prompt": prompt})
