"""Settled marker placement for LiteReason (`train-litereason --placement settled`; ours, not the paper's).

The paper replaces a random 10-25% of a trace's sentences by markers. That presumes a base that can
take a latent in place of any sentence and go on; a small reasoner trained on one trace format cannot
(measured, docs/methods/litereason.md): a marker standing for a line whose value is needed later
teaches it to write numbers nothing computed, and even a line nothing needs cannot be dropped without
the lines after it changing (ΔNLL of the rest 2-270 nats on builtin:arith-verbose, an exploratory
measurement on 100 of its own traces).

Settled placement asks the model instead where its reasoning stops mattering, as early-exit methods
do (DEER, Dynasor): for a training problem the base itself solves greedily (the paper's step 1: the
model's own correct traces), force the answer cue after every line and read the answer; the trace has
settled at the first line from which every forced answer is right. The lines after it are what the
model writes after it already knows the answer; they become one implicit thought (one marker,
N = clamp(round(0.2 × their tokens), 1, 5)), so a latent never stands for a line the answer needs. One
marker rather than one per line: the lines are one stretch of re-checking, and with a marker per line
the answer had to be read across up to 15 latents (84.0% of 300 `easy` problems against 85.7% with
one marker; CoT 91.0%; docs/methods/litereason.md). Uses no task knowledge beyond the grader; a trace
that never settles before its last line keeps every line.
"""

from __future__ import annotations

from dataclasses import dataclass

from .litereason import MarkedExample, marked_example


@dataclass
class Settled:
    """A problem, the base's own correct trace (lines, final line) and the first settled line."""

    problem: object
    lines: list[str]
    final: str
    settled: int
    """Index of the first line after which every forced answer is right (len(lines): never)."""

    @property
    def latent(self) -> set[int]:
        return set(range(self.settled + 1, len(self.lines)))


def settled_traces(engine, task, problems, max_new_tokens: int = 256, batch_size: int = 64,
                   answer_tokens: int = 12, on_batch=None) -> list[Settled]:
    """The base's greedy traces of `problems` that are right, each with its settled line (module doc)."""
    from ..engine import SamplingParams
    from .coconut import split_steps

    style = engine.prompt_style
    cue = style.answer_cue
    greedy = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
    out: list[Settled] = []
    for start in range(0, len(problems), batch_size):
        chunk = problems[start:start + batch_size]
        prompts = [style.render(p, "cot", engine.tokenizer) for p in chunk]
        traces, _ = engine.generate(prompts, greedy)
        kept = []
        for p, prompt, c in zip(chunk, prompts, traces):
            if c.finish_reason == "eos" and task.grade(task.extract(c.text), p):
                lines, final = split_steps(c.text, style.step_delimiter)
                kept.append((p, prompt, lines, final))
        probes = [(k, i, prompt + "".join(lines[:i + 1]) + cue)
                  for k, (_, prompt, lines, _) in enumerate(kept) for i in range(len(lines))]
        right: dict[tuple[int, int], bool] = {}
        for at in range(0, len(probes), batch_size):
            part = probes[at:at + batch_size]
            forced, _ = engine.generate([t for *_, t in part], SamplingParams(max_new_tokens=answer_tokens,
                                                                           temperature=0.0))
            for (k, i, _), c in zip(part, forced):
                right[k, i] = task.grade(task.extract(cue + c.text), kept[k][0])
        for k, (p, _, lines, final) in enumerate(kept):
            settled = len(lines)
            for i in reversed(range(len(lines))):
                if not right[k, i]:
                    break
                settled = i
            out.append(Settled(p, lines, final, settled))
        if on_batch:
            on_batch(len(chunk))
    return out


def settled_example(engine, trace: Settled) -> MarkedExample:
    """Prompt, the trace up to its settled line, one marker for all the lines after it, the final line,
    EOS."""
    enc = engine.encode
    cut = trace.settled + 1
    steps = [enc(s) for s in trace.lines[:cut]] + ([enc("".join(trace.lines[cut:]))] if trace.latent else [])
    return marked_example(enc(engine.prompt_style.render(trace.problem, "cot", engine.tokenizer)), steps,
                          enc(trace.final), {cut} if trace.latent else set(), enc, engine.tokenizer.eos_token_id)

