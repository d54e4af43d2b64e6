"""The ProsQA trace check: each line of an output graded against the question's graph, and where a
wrong output first departs from the gold trace."""

from __future__ import annotations

import re

from leanthink.tasks.prosqa import ProsQATask, question_parents
from leanthink.tasks.prosqa_check import at_ceiling, check, first_error


def test_trace_check_grades_each_backward_line_against_the_graph():
    task = ProsQATask(trace="backward")
    p = task.load("small", limit=1, seed=5)[0]
    gold = check(p, task.cot_target(p))
    n = len(backward_lines := task.cot_target(p).splitlines()[:-1])
    assert gold["several_first"] == gold["several"]  # counted by test_trace_check_counts_first_of_several...
    gold = {k: v for k, v in gold.items() if not k.startswith("several")}
    assert n and gold == {"lines": n, "lookup": n, "first": n, "linked": n, "reached": int(
        any(line.endswith(f": {p.question.rsplit(' Is ', 1)[1].split()[0]}.") for line in backward_lines))}
    # a line naming a non-parent fails the lookup; a line that does not follow the chain is not linked
    person, first, _ = re.search(r"Is (\w+) a (\w+) or (\w+)\?", p.question).groups()
    stranger = next(s for s in p.meta["idx_to_symbol"] if s not in question_parents(p.question).get(first, []))
    bad = check(p, f"{first}: {stranger}.\nnotanode: {person}.\nAnswer: {person} is a {first}.")
    assert bad["lines"] == 2 and bad["lookup"] == 0 and bad["linked"] == 1 and bad["reached"] == 1


def test_trace_check_reads_who_lines_as_well():
    for p in ProsQATask(trace="who").load("small", limit=20, seed=6):
        who = check(p, ProsQATask(trace="who").cot_target(p))
        backward = check(p, ProsQATask(trace="backward").cot_target(p))
        assert who == backward and who["lines"] == who["first"] == who["linked"] > 0


def test_trace_check_names_where_a_wrong_output_first_departs_from_the_gold_chain():
    task = ProsQATask(trace="who")
    # a problem whose gold chain takes two chains (the first one ends at another person)
    p = next(p for p in task.load("small", limit=200, seed=1)   # names are capitalised, concepts not
             if sum(line.split()[-1][0].isupper() for line in task.cot_target(p).splitlines()[:-1]) == 2)
    gold = task.cot_target(p).splitlines()
    assert first_error(p, "\n".join(gold)) is None
    assert first_error(p, ProsQATask(trace="backward").cot_target(p)) is None  # either line format
    first_person = next(i for i, line in enumerate(gold) if line.split()[-1][0].isupper())
    assert first_error(p, "\n".join(gold[:first_person + 1] + ["Answer: x is a y."])) == "stopped at another person"
    assert first_error(p, "\n".join(gold[:-1] + ["Who is a a b."])) == "went on past the asked person"
    assert first_error(p, "\n".join(gold[:-1] + ["Answer: Tom is a nope."])) == "answer line"
    assert first_error(p, "Who is a nope Tom.\n" + gold[-1]) == "lookup line"


def test_trace_check_reads_both_traces():
    task = ProsQATask(trace="both")
    p = task.load("small", limit=1, seed=2)[0]
    gold = task.cot_target(p).splitlines()
    counts = check(p, "\n".join(gold))  # "So" lines are not lookups; every chain line is
    assert counts["lines"] == counts["first"] == len(gold) - 3
    assert first_error(p, "\n".join(gold)) is None
    so = next(i for i, line in enumerate(gold) if line.startswith("So "))
    wrong_so = gold[:so] + ["So Nobody " + gold[so].split()[2]] + gold[so + 1:]
    assert first_error(p, "\n".join(wrong_so)) == "So line"
    assert first_error(p, "\n".join(gold[:-1] + ["Answer: Tom is a nope."])) == "answer line"
    assert first_error(p, "Who is a nope Tom.\n" + "\n".join(gold[1:])) == "lookup line"


def test_trace_check_counts_first_of_several_and_the_ceiling():
    task = ProsQATask(trace="both")
    problems = task.load("small", limit=200, seed=3)
    several = capped = 0
    for p in problems:
        gold = task.cot_target(p)
        counts = check(p, gold)
        assert counts["several_first"] == counts["several"]  # gold traces take the first parent
        several += counts["several"]
        person = p.question.rsplit("Is ", 1)[1].split()[0]
        names_person = any(line.split()[1] == person for line in gold.splitlines() if line.startswith("So "))
        assert at_ceiling(p) == (not names_person)
        capped += at_ceiling(p)
        # taking the last of several parents, where they differ, is counted as not the first
        parents = question_parents(p.question)
        multi = [x for x in parents if len(parents[x]) > 1]
        if multi:
            wrong = check(p, f"Who is a {multi[0]} {parents[multi[0]][-1]}.")
            assert wrong["several"] == 1 and wrong["several_first"] == 0
    assert several > 0 and 0 < capped < 0.1 * len(problems)
