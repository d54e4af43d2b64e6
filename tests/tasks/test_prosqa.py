"""ProsQA: generator well-formedness and determinism, both trace formats, the real file, grading."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from leanthink.errors import DataError, LeanthinkError
from leanthink.tasks import get_task
from leanthink.tasks.base import Problem
from leanthink.tasks.prosqa import (
    ProsQATask,
    graph_of,
    question_children,
    question_parents,
    search_trace,
)
from leanthink.tasks.prosqa_gen import ProsQAConfig, distances, generate_item, sentence

REAL = Path(__file__).parents[2].parent / "shared" / "data" / "prosqa_valid.json"
needs_real = pytest.mark.skipif(not REAL.exists(), reason="shared data not present")


def check_path(p: Problem) -> None:
    """The gold steps are a shortest root-target path through the listed edges."""
    g = graph_of(p)
    dist = distances(g.root, g.children())
    assert len(p.steps) == dist[g.target]
    by_sentence = {sentence(g, e): e for e in g.edges}
    node = g.root
    for step in p.steps:
        a, b = by_sentence[step]
        assert a == node
        node = b
    assert node == g.target


def check_well_formed(p: Problem) -> None:
    g = graph_of(p)
    assert all(a < b for a, b in g.edges)  # numbered in topological order, hence acyclic
    reach = distances(g.root, g.children())
    assert g.target in reach and g.neg_target not in reach
    check_path(p)
    sentences = re.findall(r"[^.?]+[.?]", p.question)
    assert sorted(s.strip() for s in sentences[:-1]) == sorted(sentence(g, e) for e in g.edges)
    asked = sentences[-1].strip()
    names = {g.symbols[g.target], g.symbols[g.neg_target]}
    assert re.fullmatch(rf"Is {g.symbols[g.root]} a (\w+) or (\w+)\?", asked)
    assert set(asked[:-1].split()[-3::2]) == names
    assert p.answer == g.symbols[g.target]
    assert p.meta["answer_sentence"] == f"{g.symbols[g.root]} is a {p.answer}."


def check_search(p: Problem) -> None:
    """Each line lists one node's children as the question states them; BFS order; ends at target."""
    g = graph_of(p)
    kids = {g.symbols[a]: [] for a, _ in g.edges}
    for a, b in g.edges:
        kids[g.symbols[a]].append(g.symbols[b])
    lines = search_trace(p)
    expanded, frontier = [], [g.symbols[g.root]]
    for line in lines:
        node, rest = line.split(": ")
        listed = rest.rstrip(".").split(", ")
        assert sorted(listed) == sorted(kids[node])
        assert node not in expanded
        # the next node with children in first-seen order
        while not kids.get(frontier[0]):
            frontier.pop(0)
        assert node == frontier.pop(0)
        expanded.append(node)
        frontier += [k for k in listed if k not in frontier and k not in expanded]
    assert p.answer in lines[-1].split(": ")[1].rstrip(".").split(", ")
    assert all(p.answer not in line.split(": ")[1].rstrip(".").split(", ") for line in lines[:-1])


@pytest.mark.parametrize("split", ["xsmall", "small", "medium", "full", "train-small"])
def test_generated_problems_are_well_formed(split):
    task = ProsQATask(trace="search")
    for p in task.load(split=split, limit=60, seed=3):
        check_well_formed(p)
        check_search(p)
        assert task.grade(task.extract(task.cot_target(p)), p)
        assert task.grade(task.extract(task.reference_output(p)), p)


def test_split_sizes_follow_their_config():
    for split, (lo, hi) in {"xsmall": (1, 2), "small": (1, 3), "medium": (2, 4), "full": (3, 6)}.items():
        lengths = {len(p.steps) for p in ProsQATask().load(split=split, limit=100)}
        assert lengths <= set(range(lo, hi + 1)) and len(lengths) > 1
    small = ProsQATask().load(split="small", limit=50)
    assert max(len(p.meta["idx_to_symbol"]) for p in small) <= 10


def test_generation_is_deterministic_by_seed():
    task = ProsQATask()
    a = task.load(split="full", limit=20, seed=7)
    assert a == task.load(split="full", limit=20, seed=7)
    assert a[:5] == task.load(split="full", limit=5, seed=7)  # limit takes a prefix
    assert [p.question for p in a] != [p.question for p in task.load(split="full", limit=20, seed=8)]
    assert a[0].id == "prosqa-full-7-0"


def test_train_and_eval_splits_do_not_share_problems():
    task = ProsQATask()
    train = {p.question for p in task.load(split="train-small", limit=200, seed=0)}
    evals = {p.question for p in task.load(split="small", limit=200, seed=0)}
    assert len(train & evals) < 5  # tiny graphs may coincide by chance; the streams differ


def test_config_knobs_change_the_graphs():
    cfg = ProsQAConfig(min_nodes=12, max_nodes=12, min_path=2, max_path=2)
    for i in range(20):
        item = generate_item(cfg, random.Random(i))
        assert len(item["steps"]) == 2 and len(item["idx_to_symbol"]) <= 12
    dense = ProsQATask().with_config(parents_mean=3.0).load(split="full", limit=30)
    sparse = ProsQATask().load(split="full", limit=30)
    assert sum(len(p.meta["edges"]) for p in dense) > sum(len(p.meta["edges"]) for p in sparse)
    with pytest.raises(LeanthinkError, match="min_path"):
        ProsQATask(config=ProsQAConfig(min_path=4, max_path=2)).load(split="full", limit=1)


def test_search_trace_example():
    p = Problem(id="x", answer="c",
                question="Every b is a d. Tom is a a. Every a is a b. Tom is a e. Every e is a a. "
                         "Every b is a c. Every f is a g. Is Tom a g or c?")
    assert question_children(p.question)["Tom"] == ["a", "e"]
    assert search_trace(p) == ["Tom: a, e.", "a: b.", "e: a.", "b: d, c."]
    assert ProsQATask(trace="search").cot_target(p).endswith("b: d, c.\nAnswer: Tom is a c.")


@needs_real
def test_real_file_loads_and_verifies():
    task = get_task("prosqa", trace="search")
    problems = task.load(data=REAL)
    assert len(problems) == 300 and problems[0].id == "prosqa-0"
    assert problems[0].answer == "lempus" and problems[0].meta["answer_sentence"] == "Tom is a lempus."
    for p in problems:
        check_well_formed(p)
        check_search(p)
        assert task.grade(task.extract(task.reference_output(p)), p), p.id
        assert task.grade(task.extract(task.cot_target(p)), p), p.id
    assert len(task.load(data=REAL, limit=7)) == 7


@pytest.mark.parametrize("output,expected", [
    ("Tom is a terpus.\nAnswer: Tom is a lempus.", "lempus"),
    ("Answer: lempus", "lempus"),
    ("reasoning...\nTom is a lempus.", "lempus"),
    ("lempus", "lempus"),
    ("\\boxed{lempus}", "lempus"),
    ("Every terpus is a brimpus.\nEvery brimpus is a lempus.", None),  # a step is not an answer
    ("", None),
])
def test_extract(output, expected):
    assert ProsQATask().extract(output) == expected


def test_grade_edge_cases():
    task = ProsQATask()
    p = task.load(split="small", limit=1)[0]
    target, neg = p.answer, p.meta["neg_answer"]
    assert task.grade(target, p) and task.grade(target.upper(), p)
    assert not task.grade(neg, p)
    assert not task.grade(f"{target} or {neg}", p)  # hedging names both
    assert not task.grade(None, p) and not task.grade("", p)
    assert not task.grade(target + "x", p)  # whole words only
    hand = Problem(id="h", question="Tom is a a. Is Tom a a or b?", answer="a")  # no graph in meta
    assert task.grade("a", hand) and not task.grade("b", hand) and not task.grade("a or b", hand)


def test_bad_arguments():
    with pytest.raises(LeanthinkError, match="unknown split"):
        ProsQATask().load(split="huge")
    with pytest.raises(LeanthinkError, match="unknown trace"):
        ProsQATask(trace="tree")


@pytest.mark.parametrize("content,message", [
    ('{"question": "x"}', "expected a JSON list"),
    ("[1]", "item 0: expected a JSON object"),
    ('[{"question": "q"}]', "item 0: missing field 'answer'"),
    ("not json", "not valid JSON"),
])
def test_malformed_files(tmp_path, content, message):
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(DataError, match=message):
        ProsQATask().load(data=f)


def _item(**changes):
    item = {"question": "Tom is a a. Is Tom a a or b?", "answer": "Tom is a a.", "steps": ["Tom is a a."],
            "idx_to_symbol": ["Tom", "Bob", "a", "b"], "edges": [[0, 2], [1, 3]], "root": 0,
            "target": 2, "neg_target": 3}
    return {**item, **changes}


@pytest.mark.parametrize("changes,message", [
    ({"edges": [[0, 9]]}, "item 1: field 'edges'"),
    ({"target": 4}, "item 1: field 'target' must be a node index"),
    ({"steps": "Tom is a a."}, "item 1: field 'steps' must be a list of strings"),
    ({"question": None}, "item 1: field 'question' is null"),
])
def test_malformed_items_name_item_and_field(tmp_path, changes, message):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps([_item(), _item(**changes)]))
    with pytest.raises(DataError, match=message):
        ProsQATask().load(data=f)
    f.write_text(json.dumps([_item()]))
    assert ProsQATask().load(data=f)[0].answer == "a"


def test_backward_trace_lines_are_first_parent_lookups():
    from leanthink.tasks.prosqa import backward_trace

    task = ProsQATask(trace="backward")
    reached = 0
    problems = task.load("small", limit=300, seed=2)
    for p in problems:
        parents = question_parents(p.question)
        lines = backward_trace(p)
        person = p.question.rsplit(" Is ", 1)[1].split()[0]
        for line in lines:
            child, parent = line.rstrip(".").split(": ")
            assert parents[child][0] == parent
            assert (f"Every {parent} is a {child}." in p.question) or (f"{parent} is a {child}." in p.question)
        reached += any(line.endswith(f": {person}.") for line in lines)
        target = task.cot_target(p)
        assert target.endswith(f"Answer: {p.meta['answer_sentence']}")
        assert task.grade(task.extract(target), p)
    # first-parent chaining reaches the person for nearly every problem (the rest end at another root)
    assert reached / len(problems) >= 0.9
