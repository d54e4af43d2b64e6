"""Where a ProsQA reasoner goes wrong: checks every line of its `backward`, `who` or `both` traces against the graph.

    .venv/bin/leanthink eval --task prosqa --split small --method cot --model builtin:prosqa \
        --limit 500 --out results/prosqa_small.jsonl
    .venv/bin/python experiments/prosqa_trace_check.py results/prosqa_small.jsonl

For each ProsQA `cot` run in the results file, the problems are rebuilt from the run's split (or data
file) and seed, and each trace line "X: P." (or "Who is a X P.") is graded by
`leanthink.tasks.prosqa_check.check` (its docstring defines the columns): `lookup` (P is a parent of
X), `first` (the first parent in question order), `linked` (the chain is followed), `reached` (a
chain got back to the asked person) and `first of several` (of the right lookups of an X with
several parents, the share that name the first).

Lookup accuracy near the share of right answers means the model answers by its own chain; lookups
at chance (about one over the number of names in the question) mean it never learned the retrieval.

A second table sorts the wrong answers by where the output first departs from the gold trace
(`backward_chain`, in either line format): it went on after reaching the asked person, stopped at
another person, wrote a wrong lookup line, or a wrong answer line. An output with "So P C." lines
is checked against the `both` trace (`both_lines`), where the departure can also be a wrong "So"
line. The table also counts the problems at the traces' ceiling (`at_ceiling`: the answer concept's
first-parent chain ends at someone other than the asked person, so no gold trace reaches the person
and the answer line is a guess) and the wrong answers among them.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from leanthink.bench.harness import read_results
from leanthink.tasks import get_task
from leanthink.tasks.prosqa_check import FIRST_ERRORS, at_ceiling, check, first_error


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", type=Path, help="a results file written by `leanthink eval --task prosqa`")
    args = ap.parse_args()
    runs: dict[str, list[dict]] = defaultdict(list)
    for row in read_results(args.results):
        if row["task"] == "prosqa" and row["method"] == "cot":
            runs[row["run_id"]].append(row)
    if not runs:
        raise SystemExit(f"error: {args.results}: no prosqa cot runs")
    task = get_task("prosqa", trace="backward")
    print("| run | data | n | accuracy | lines/problem | lookup | first parent | linked | reached person "
          "| first of several |")
    print("| --- " * 10 + "|")
    errors: dict[str, list[str | None]] = {}
    ceiling: dict[str, tuple[int, int]] = {}
    for run_id, rows in runs.items():
        r0 = rows[0]
        data = Path(r0["data"]) if r0["data"] else None
        problems = {p.id: p for p in task.load(r0["split"], data=data, seed=r0["seed"],
                                               limit=None if data else 1 + max(
                                                   int(r["problem_id"].rsplit("-", 1)[1]) for r in rows))}
        total = defaultdict(int)
        for row in rows:
            for k, v in check(problems[row["problem_id"]], row["output"]).items():
                total[k] += v
        n, lines = len(rows), max(total["lines"], 1)
        acc = sum(r["correct"] for r in rows) / n
        print(f"| {run_id} | {r0['data'] or r0['split']} | {n} | {acc:.1%} | {total['lines'] / n:.2f} | "
              f"{total['lookup'] / lines:.1%} | {total['first'] / lines:.1%} | {total['linked'] / lines:.1%} | "
              f"{total['reached'] / n:.1%} | {total['several_first'] / max(total['several'], 1):.1%} "
              f"({total['several_first']}/{total['several']}) |")
        errors[run_id] = [first_error(problems[r["problem_id"]], r["output"]) for r in rows if not r["correct"]]
        capped = [at_ceiling(problems[r["problem_id"]]) for r in rows]
        ceiling[run_id] = (sum(capped), sum(c and not r["correct"] for c, r in zip(capped, rows)))
    print("\n| run | wrong | " + " | ".join(FIRST_ERRORS) + " | problems at the ceiling | wrong there |")
    print("| --- " * (len(FIRST_ERRORS) + 4) + "|")
    for run_id, kinds in errors.items():
        print(f"| {run_id} | {len(kinds)} | " + " | ".join(str(kinds.count(k)) for k in FIRST_ERRORS)
              + f" | {ceiling[run_id][0]} | {ceiling[run_id][1]} |")


if __name__ == "__main__":
    main()
