"""The three methods every comparison starts from: `cot`, `direct` and `reference`."""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.usage import Usage
from .base import Decoding, Method, Result


@dataclass(frozen=True)
class _Generate(Decoding):
    """One sampled (by default greedy) generation per problem, from the prompt of `mode`."""

    mode = "cot"

    def solve(self, engine, task, problems, scorer=None):
        style = engine.prompt_style
        prefix = style.response_prefix(self.mode)
        params = self.sampling()
        results = []
        for chunk, seqs in self.prefilled(engine, problems, self.mode):
            completions = engine.extend(seqs, params)
            for p, c, u in zip(chunk, completions, engine.usage(seqs)):
                results.append(Result(problem_id=p.id, output=prefix + c.text, usage=u,
                                      trace={"finish_reason": c.finish_reason}))
        return results


@dataclass(frozen=True)
class CoT(_Generate):
    """Reason step by step, then answer."""

    name = "cot"
    mode = "cot"


@dataclass(frozen=True)
class Direct(_Generate):
    """Answer without reasoning."""

    name = "direct"
    mode = "direct"
    max_new_tokens: int = 64


@dataclass(frozen=True)
class Reference(Method):
    """Answer with the dataset's own gold solution: checks extraction and grading end to end. It runs
    no model, so its usage is zero."""

    name = "reference"

    def solve(self, engine, task, problems, scorer=None):
        return [Result(problem_id=p.id, output=task.reference_output(p), usage=Usage()) for p in problems]
