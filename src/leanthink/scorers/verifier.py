"""An exact outcome verifier: grades the answer a solution reaches against the gold answer.

For oracle experiments only (an upper bound on what any reward model could do): it reads the gold
answer, so every result line of a run that uses it carries `"oracle": true`.
"""

from __future__ import annotations

from .base import RowData, Scorer


class ExactVerifier(Scorer):
    """Score 1.0 once the solution's extracted answer is correct, 0.0 once it is wrong, 0.5 while the
    solution has no answer yet."""

    name = "exact-verifier"
    oracle = True

    def attach(self, seqs, problems, task=None, aggregation=None) -> None:
        if len(problems) != len(seqs):
            raise ValueError(f"attach got {len(problems)} problems for {len(seqs)} rows")
        self.task = task
        seqs.followers.append(RowData(self, [{"problem": p, "text": "", "scores": []} for p in problems]))

    def score(self, seqs, steps):
        state = self._check(seqs, steps)
        out = []
        for d, step in zip(state.data, steps):
            if step is None:
                out.append(None)
                continue
            d["text"] += step
            answer = self.task.extract(d["text"])
            value = 0.5 if answer is None else float(bool(self.task.grade(answer, d["problem"])))
            d["scores"].append(value)
            out.append(value)
        return out
