"""Where a ProsQA reasoner goes wrong: each line of a `backward`, `who` or `both` output checked against
the question's graph (experiments/prosqa_trace_check.py prints these counts for a results file).

Each trace line "X: P." (or "Who is a X P.") is graded by `check`:

- `lookup`: P is a parent of X (some sentence of the question says "P is a X" or "Every P is a X");
- `first`: P is the first such parent in question order, the line the training trace would write;
- `linked`: X is one of the two asked concepts or the P of the line before (the chain is followed);
- `reached`: some line names the asked person as a parent (a chain got back to the root);
- `several` / `several_first`: the right lookups of an X with several parents, and those that name
  the first (the rule the traces follow, and the one that fails first on larger graphs).

`first_error` names where a wrong output first departs from the gold trace (`backward_chain`, in
either line format, or `both_lines` for an output with "So P C." lines); `at_ceiling` says whether
no gold trace can reach the asked person, so that the answer line is a guess.
"""

from __future__ import annotations

import re
from collections import defaultdict

from .base import Problem
from .prosqa import _ASKED, _answer_sentence, backward_chain, both_lines, concept_chain, question_parents

# "X: P." (and the "Is a X: P." variant), or the `who` trace's "Who is a X P."
_LINE = re.compile(r"(?:Is an? )?(?!Answer\b)(\w+): (\w+)\.|Who is an? (\w+) (\w+)\.")


def check(problem: Problem, output: str) -> dict[str, int]:
    """Counts of trace lines and of lines passing each check, for one output."""
    person, *asked = _ASKED.search(problem.question).groups()
    parents = question_parents(problem.question)
    counts = defaultdict(int)
    previous = None
    for line in output.splitlines():
        m = _LINE.fullmatch(line.strip())
        if not m:
            continue
        child, parent = m.groups()[:2] if m.group(1) else m.groups()[2:]
        counts["lines"] += 1
        counts["lookup"] += parent in parents.get(child, ())
        counts["first"] += parents.get(child, [None])[0] == parent
        if len(parents.get(child, ())) > 1 and parent in parents[child]:
            counts["several"] += 1
            counts["several_first"] += parents[child][0] == parent
        counts["linked"] += child in asked or child == previous
        counts["reached"] = max(counts["reached"], int(parent == person))
        previous = parent
    return counts


def at_ceiling(problem: Problem) -> bool:
    """True if the answer concept's first-parent chain does not end at the asked person: then neither
    the `who` nor the `both` gold trace reaches the person, and its answer line cannot be read off."""
    person = _ASKED.search(problem.question).group(1)
    chain = concept_chain(question_parents(problem.question), problem.answer)
    return not chain or chain[-1][1] != person


FIRST_ERRORS = ("went on past the asked person", "stopped at another person", "lookup line", "So line",
                "answer line")


def first_error(problem: Problem, output: str) -> str | None:
    """Where the output first departs from the gold chain (one of FIRST_ERRORS), None if it does not.
    A departing line that is neither a lookup nor an `Answer` line counts as a wrong line of the kind
    the gold chain has there."""
    lines = [s.strip() for s in output.splitlines() if s.strip()]
    parsed = [_LINE.fullmatch(line) for line in lines]
    wrote = [(" ".join(m.groups()[:2] if m.group(1) else m.groups()[2:]) if m else line)
             for line, m in zip(lines, parsed)]
    if any(line.startswith("So ") for line in lines):  # the `both` trace: no decision to get wrong
        gold = [(" ".join(m.groups()[2:]) if (m := _LINE.fullmatch(line)) else line) for line in both_lines(problem)]
    else:
        gold = [f"{x} {p}" for x, p in backward_chain(problem)]
    gold.append(f"Answer: {_answer_sentence(problem)}")
    for i, want in enumerate(gold):
        got = wrote[i] if i < len(wrote) else ""
        if want == got:
            continue
        if want.startswith("So "):
            return FIRST_ERRORS[3]
        if want.startswith("Answer:"):
            return FIRST_ERRORS[0] if i < len(parsed) and parsed[i] else FIRST_ERRORS[4]
        return FIRST_ERRORS[1] if got.startswith("Answer") else FIRST_ERRORS[2]
    return None
