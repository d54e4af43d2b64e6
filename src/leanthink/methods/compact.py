"""Explicit compact reasoning at decode time (../shared/research.md §5).

`budget-forcing` (s1, Muennighoff et al. 2025): `budget=K` caps the reasoning at K sampled tokens; a
row that reaches it gets the end-of-reasoning marker forced and writes its answer. `extend=N`
suppresses the marker N times: when the model writes it, it is taken back (`engine.rewind`) and the
continuation cue (s1's "Wait") is appended instead. The marker is one token: `end`, by default the
prompt style's (`Answer` for the built-ins' plain style, whose answer line is `Answer: X`); give
`--set end=</think>` for a thinking model. `cut=step` takes back the unfinished step before forcing
the marker (its tokens stay counted), so the answer follows a complete step; `cut=token` (default) is
s1's. Reasoning tokens (sampled before the marker; a suppressed marker counts) never exceed the
budget; the trace records them, and usage counts every sampled token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import checks
from ..engine.base import BASIC
from ..errors import LeanthinkError
from .base import Decoding, Result


@dataclass(frozen=True)
class BudgetForcing(Decoding):
    name = "budget-forcing"
    requires: ClassVar[frozenset[str]] = BASIC | {"append", "rewind"}
    budget: int = 0
    """Cap on reasoning tokens (0: none, only max_new_tokens)."""
    extend: int = 0
    """Times the end-of-reasoning marker is suppressed and the cue appended."""
    cue: str = "Wait"
    """Text appended where a suppressed marker was."""
    end: str = ""
    """The end-of-reasoning marker, one token ("": the prompt style's; `Answer` for plain)."""
    answer_tokens: int = 32
    """Cap on the tokens after the marker."""
    cut: str = "token"
    """Where a spent budget ends the reasoning: `token` (s1: right there) or `step` (the unfinished step
    is taken back first, so the answer follows a complete step)."""

    def __post_init__(self):
        super().__post_init__()
        checks.choice("cut", self.cut, ("token", "step"))
        checks.integer("budget", self.budget, 0, self.max_new_tokens)
        checks.integer("extend", self.extend, 0, 1000)
        checks.integer("answer_tokens", self.answer_tokens, 1, 4096)

    def marker(self, engine) -> tuple[str, int]:
        end = self.end or ("Answer" if engine.prompt_style.name == "plain" else "")
        if not end:
            raise LeanthinkError("budget-forcing needs the end-of-reasoning marker of this prompt style: give "
                                 "--set end=TOKEN (e.g. </think> for a thinking model)")
        return end, engine.token_id(end)   # one token, else a one-line error

    def solve(self, engine, task, problems, scorer=None):
        end, end_id = self.marker(engine)
        cap = self.budget or self.max_new_tokens
        plain = engine.prompt_style.name == "plain"
        results = []
        for chunk, seqs in self.prefilled(engine, problems):
            n = len(chunk)
            texts, used, suppressed, reasons, ended = [""] * n, [0] * n, [0] * n, [""] * n, [False] * n
            live, answering = list(range(n)), []
            while live:
                params = [self.sampling(max_new_tokens=cap - used[r], stop_token_ids=(end_id,)) for r in live]
                nxt = []
                for r, c in zip(live, engine.extend(seqs, params, rows=live)):
                    used[r] += len(c.token_ids) + (c.finish_reason == "eos")
                    if c.finish_reason == "eos":
                        texts[r], reasons[r] = texts[r] + c.text, "eos"
                    elif c.finish_reason == "stop" and suppressed[r] < self.extend and used[r] < cap:
                        engine.rewind(seqs, r, len(c.stop))           # the marker, taken back
                        texts[r] += c.text[:len(c.text) - len(c.stop)] + self.cue
                        engine.append(seqs, [self.cue if i == r else None for i in range(n)], defer=True)
                        suppressed[r] += 1
                        nxt.append(r)
                    elif c.finish_reason == "stop":               # the model ends its reasoning
                        texts[r] += c.text
                        ended[r] = True
                        answering.append(r)
                    else:                                         # the budget is spent: force the marker
                        text = c.text
                        if self.cut == "step":                    # take back the unfinished step
                            delim = engine.prompt_style.step_delimiter
                            partial = (texts[r] + text).rsplit(delim, 1)[-1] if delim in texts[r] + text else ""
                            if 0 < len(partial) <= len(text):
                                engine.rewind(seqs, r, len(partial))
                                text = text[:len(text) - len(partial)]
                        force = ("\n" if plain and not (texts[r] + text).endswith("\n") else "") + end
                        texts[r] += text + force
                        engine.append(seqs, [force if i == r else None for i in range(n)], defer=True)
                        reasons[r] = "budget"
                        answering.append(r)
                live = nxt
            if answering:
                for r, c in zip(answering, engine.extend(seqs, self.sampling(max_new_tokens=self.answer_tokens),
                                                         rows=answering)):
                    texts[r] += c.text
                    reasons[r] = reasons[r] or c.finish_reason
            for p, r, u in zip(chunk, range(n), engine.usage(seqs)):
                results.append(Result(problem_id=p.id, output=texts[r], usage=u,
                                      trace={"reasoning_tokens": used[r] - ended[r],   # the marker is not reasoning
                                             "suppressed": suppressed[r], "finish_reason": reasons[r]}))
        return results


@dataclass(frozen=True)
class EarlyExit(Decoding):
    """`early-exit` (DEER, Yang et al. 2025): at every step boundary, probe a trial answer on a copy of
    the row (the answer marker appended, a short greedy answer decoded) and stop reasoning when its
    confidence, the mean probability of its tokens (from the engine's logprobs), reaches `threshold`;
    the row then ends with that answer. `agree=k` is the certainty-by-agreement variant in the style
    of Dynasor: stop when the last k probed answers are the same (`threshold` is then not used). The
    probes are paid for: their tokens, passes and the copied cache count in the row's usage."""

    name = "early-exit"
    requires: ClassVar[frozenset[str]] = BASIC | {"append", "copy", "logprobs"}
    threshold: float = 0.95
    agree: int = 0
    answer_tokens: int = 16
    min_steps: int = 1
    """Reasoning steps before the first probe."""
    end: str = ""
    """The answer marker appended to probe ("": `Answer:` for plain, `\\boxed{` otherwise)."""

    def __post_init__(self):
        super().__post_init__()
        checks.number("threshold", self.threshold, 0, 1)
        checks.integer("agree", self.agree, 0, 100)
        checks.integer("answer_tokens", self.answer_tokens, 1, 4096)
        checks.integer("min_steps", self.min_steps, 0, 100_000)

    def solve(self, engine, task, problems, scorer=None):
        import math

        style = engine.prompt_style
        marker = self.end or style.answer_cue
        results = []
        for chunk, seqs in self.prefilled(engine, problems):
            n = len(chunk)
            texts, used, steps, probes = [""] * n, [0] * n, [0] * n, [[] for _ in range(n)]
            reasons, live = ["length"] * n, list(range(n))
            while live:
                params = [self.sampling(max_new_tokens=self.max_new_tokens - used[r], stop=(style.step_delimiter,))
                          for r in live]
                boundary = []
                for r, c in zip(live, engine.extend(seqs, params, rows=live)):
                    used[r] += len(c.token_ids) + (c.finish_reason == "eos")
                    texts[r] += c.text
                    reasons[r] = c.finish_reason
                    if c.finish_reason == "stop" and marker not in texts[r] and used[r] < self.max_new_tokens:
                        steps[r] += 1
                        boundary.append(r)
                probe = [r for r in boundary if steps[r] >= self.min_steps]
                stop = set()
                if probe:
                    trial = engine.copy(seqs, probe)
                    engine.append(trial, [marker] * len(probe))
                    outs = engine.extend(trial, self.sampling(max_new_tokens=self.answer_tokens, temperature=0.0))
                    del trial   # its rows (and cache) are freed
                    for r, c in zip(probe, outs):
                        conf = math.exp(sum(c.logprobs) / len(c.logprobs)) if c.logprobs else 0.0
                        probes[r].append({"step": steps[r], "answer": c.text.strip(), "confidence": round(conf, 4)})
                        last = [p["answer"] for p in probes[r][-self.agree:]] if self.agree else []
                        if (len(last) == self.agree and len(set(last)) == 1) if self.agree else conf >= self.threshold:
                            texts[r] += marker + c.text
                            reasons[r] = "early exit"
                            stop.add(r)
                live = [r for r in boundary if r not in stop]
            for p, r, u in zip(chunk, range(n), engine.usage(seqs)):
                results.append(Result(problem_id=p.id, output=texts[r], usage=u,
                                      trace={"finish_reason": reasons[r], "steps": steps[r], "probes": probes[r]}))
        return results
