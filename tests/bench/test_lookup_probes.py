"""The data builders of the lookup probes in benchmarks/: what they supervise is what they claim."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
import torch

from leanthink.tasks.prosqa import question_children, question_parents

BENCH = Path(__file__).parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("gap,query_gap,value_first", [(0, None, False), (2, None, False), (2, 0, False),
                                                       (1, 3, False), (0, None, True), (2, 1, True)])
@pytest.mark.parametrize("shared", [False, True])
def test_recall_batch_supervises_exactly_the_queried_values(gap, query_gap, value_first, shared):
    probe = _load("recall_density_probe")
    pairs, queries, vocab = 5, 3, 32
    ids, labels = probe.batch(torch.Generator().manual_seed(1), 4, pairs, queries, vocab, shared, gap, query_gap,
                              value_first)
    qgap = gap if query_gap is None else query_gap
    assert ids.shape == (4, (gap + 2) * pairs + (qgap + 2) * queries)
    for row, lab in zip(ids.tolist(), labels.tolist()):
        context = [row[i * (gap + 2): (i + 1) * (gap + 2)] for i in range(pairs)]
        table = {c[-1]: c[0] for c in context} if value_first else {c[0]: c[-1] for c in context}
        assert len(table) == pairs                                   # distinct keys
        assert all(c[1:-1] == list(range(vocab, vocab + gap)) for c in context)  # the fixed filler
        if not shared:
            assert all(k < vocab // 2 <= v < vocab for k, v in table.items())
        else:
            assert len(set(table) | set(table.values())) == 2 * pairs
        tail = row[(gap + 2) * pairs:]
        supervised = [(i, t) for i, t in enumerate(lab) if t != -100]
        assert len(supervised) == queries
        asked = []
        for q in range(queries):
            key, *filler, value = tail[q * (qgap + 2): (q + 1) * (qgap + 2)]
            assert filler == list(range(vocab, vocab + qgap)) and table[key] == value
            asked.append(key)
        assert len(set(asked)) == queries                            # distinct queries
        assert [t for _, t in supervised] == [table[k] for k in asked]


def test_prosqa_probe_queries_are_true_unique_lookups():
    from leanthink.models.registry import builtin_tokenizer

    probe = _load("prosqa_lookup_probe")
    tok = builtin_tokenizer()
    for direction, links_of, query in (("backward", question_parents, "Is a {}:"), ("forward", question_children, "A {} is:")):
        rng = random.Random(3)
        for _ in range(5):
            ids, labels, chance = probe.example(direction, "xsmall", rng, tok, queries=3)
            assert 0 < chance <= 1 and len(ids) == len(labels)
            text = tok.decode(ids, skip_special_tokens=True)
            facts, *lines = text.split("\n")
            links = links_of(facts)
            assert 1 <= len(lines) <= 3
            for line in lines:
                ask, answer = line.rsplit(":", 1) if direction == "backward" else line.rsplit(" is:", 1)
                node = ask.split()[-1]
                assert (query.format(node) + answer) == line
                assert links[node] == [answer.strip(" .")]                 # unique and right
            # supervised: each answer word and its period, plus EOS; nothing of the facts or queries
            answers = tok.decode([t for t in labels if t != -100], skip_special_tokens=True)
            assert answers == "".join(line[line.rindex(":") + 1:] for line in lines)
