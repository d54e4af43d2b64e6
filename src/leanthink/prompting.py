"""Prompt styles: how a problem becomes the text a model sees, and what marks a reasoning step.

- `plain`: the built-in reasoners' own format (no chat template). CoT: question, "\\nReasoning:\\n",
  then steps one per line and "Answer: X". Direct: question, "\\nAnswer:", then " X".
- `chat`: real instruction models with a chat template; the user message asks for step-by-step
  reasoning and the final answer in \\boxed{} (the usual convention for MATH/AIME/GSM8K). Steps are
  separated by blank lines, as in the particle-filtering paper.
- `completion`: real base models without a chat template: the same instruction in plain text.

Instructions are settings, so users can change them (`--instruction` on the CLI), or pick a compact
reasoning template (`--prompt-template`, `TEMPLATES`): Chain of Draft (Xu et al. 2025: at most five
words a step) and TALE-EP's token-budget prompt (Han et al. 2024: "use less than B tokens"; the
paper's zero-shot estimate of B is left to the user, `tale:B`). Templates instruct an instruction
model; the built-ins' plain style has no instruction and refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import LeanthinkError
from .tasks.base import Problem

MODES = ("cot", "direct")

COT_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
DIRECT_INSTRUCTION = "Answer with only the final answer within \\boxed{}, without any reasoning."


#: compact-reasoning instructions of `--prompt-template` (the papers' wording, answer in \\boxed{})
TEMPLATES = {
    "cot": COT_INSTRUCTION,
    "cod": "Think step by step, but only keep a minimum draft for each thinking step, with 5 words at most. "
           "Put your final answer within \\boxed{}.",
    "tale": "Let's think step by step and use less than {budget} tokens. Put your final answer within \\boxed{{}}.",
}


def template_instruction(spec: str) -> str:
    """The CoT instruction of `--prompt-template` NAME (cot, cod) or tale:B (B tokens)."""
    name, _, budget = spec.partition(":")
    if name not in TEMPLATES:
        raise LeanthinkError(f"--prompt-template {spec!r}: choose one of cot, cod, tale:B (B a token budget)")
    if name != "tale":
        if budget:
            raise LeanthinkError(f"--prompt-template {spec!r}: only tale takes a budget (tale:B)")
        return TEMPLATES[name]
    if not (budget.isascii() and budget.isdigit()) or not 1 <= int(budget) <= 1_000_000:
        raise LeanthinkError(f"--prompt-template {spec!r}: tale needs a budget in [1, 1000000], e.g. tale:50")
    return TEMPLATES["tale"].format(budget=int(budget))


@dataclass(frozen=True)
class PromptStyle:
    name: str = "plain"
    """One of plain, chat, completion."""
    cot_instruction: str = COT_INSTRUCTION
    """Appended to the question for `cot` (chat and completion styles)."""
    direct_instruction: str = DIRECT_INSTRUCTION
    """Appended to the question for `direct` (chat and completion styles)."""

    def __post_init__(self):
        if self.name not in ("plain", "chat", "completion"):
            raise LeanthinkError(f"unknown prompt style {self.name!r}; choose plain, chat or completion")

    @property
    def step_delimiter(self) -> str:
        """Text that ends one reasoning step."""
        return "\n" if self.name == "plain" else "\n\n"

    def render(self, problem: Problem, mode: str, tokenizer=None) -> str:
        """The full prompt text for `mode` (cot or direct)."""
        if mode not in MODES:
            raise LeanthinkError(f"unknown prompt mode {mode!r}; choose one of {', '.join(MODES)}")
        if self.name == "plain":
            return problem.question + ("\nReasoning:\n" if mode == "cot" else "\n") + self.response_prefix(mode)
        instruction = self.cot_instruction if mode == "cot" else self.direct_instruction
        if self.name == "chat":
            if tokenizer is None or not getattr(tokenizer, "chat_template", None):
                raise LeanthinkError("prompt style 'chat' needs a tokenizer with a chat template")
            messages = [{"role": "user", "content": f"{problem.question}\n\n{instruction}"}]
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"Question: {problem.question}\n{instruction}\nSolution:" + (" " if mode == "direct" else "\n")

    @property
    def answer_cue(self) -> str:
        """Text that, appended after reasoning, makes the model write its answer next (early exit's probe,
        LiteReason's settled placement): `Answer:` in the plain style, `\\boxed{` otherwise."""
        return "Answer:" if self.name == "plain" else "\\boxed{"

    def response_prefix(self, mode: str) -> str:
        """Text the prompt forces at the start of the response; methods record it as part of the output
        so the answer can be extracted from the output alone."""
        return "Answer:" if (self.name == "plain" and mode == "direct") else ""

    def completion(self, task, problem: Problem, mode: str) -> str:
        """Training target after the prompt (plain style: what the built-ins learn to write)."""
        return task.cot_target(problem) if mode == "cot" else " " + task.direct_target(problem)
