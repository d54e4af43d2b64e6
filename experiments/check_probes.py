"""Self-checks of the probes' data builders: what each probe supervises is what its docstring claims
(the numbers in docs/builtin-models.md rest on it). Runs in a few seconds, no training:

    .venv/bin/python experiments/check_probes.py
"""

from __future__ import annotations

import random

import torch

import prosqa_lookup_probe as lookup
import prosqa_role_token_probe as role
import recall_density_probe as recall
from leanthink.models.registry import builtin_tokenizer
from leanthink.tasks.prosqa import question_children, question_parents


def check_recall_batch_supervises_exactly_the_queried_values():
    for gap, query_gap, value_first, sep, prefix, extra in [
            (0, None, False, 0, 0, 0), (2, None, False, 0, 0, 0), (2, 0, False, 0, 0, 0), (1, 3, False, 0, 0, 0),
            (0, None, True, 0, 0, 0), (2, 1, True, 1, 0, 0), (0, None, True, 2, 3, 0), (0, None, True, 1, 4, 3),
            (2, None, False, 0, 0, 2)]:
        for shared in (False, True):
            _recall_batch(gap, query_gap, value_first, sep, prefix, extra, shared)


def _recall_batch(gap, query_gap, value_first, sep, prefix, extra, shared):
    pairs, queries, vocab = 5, 3, 32
    ids, labels = recall.batch(torch.Generator().manual_seed(1), 4, pairs, queries, vocab, shared, gap, query_gap,
                               value_first, sep, prefix, extra)
    qgap = gap if query_gap is None else query_gap
    width, qwidth = gap + 2 + sep, prefix + qgap + 2 + sep
    n = pairs + extra
    assert ids.shape == (4, width * n + qwidth * queries)
    assert int(ids.max()) < vocab + recall.filler_ids(gap, qgap, sep, prefix)
    gap_ids, sep_ids = list(range(vocab, vocab + gap)), list(range(vocab + max(gap, qgap), vocab + max(gap, qgap) + sep))
    pre_ids = list(range(vocab + max(gap, qgap) + sep, vocab + max(gap, qgap) + sep + prefix))
    for row, lab in zip(ids.tolist(), labels.tolist()):
        context = [row[i * width: (i + 1) * width] for i in range(n)]
        assert all(c[1:1 + gap] == gap_ids and c[2 + gap:] == sep_ids for c in context)  # fixed fillers
        found = [(c[gap + 1], c[0]) if value_first else (c[0], c[gap + 1]) for c in context]
        table: dict[int, list[int]] = {}
        for k, v in found:
            table.setdefault(k, []).append(v)
        assert len(table) == pairs and sum(len(v) > 1 for v in table.values()) <= extra
        if not shared:
            assert all(k < vocab // 2 <= v < vocab for k, v in found)
        else:
            assert len({k for k, _ in found} | {v for _, v in found}) == 2 * pairs + extra
        tail = row[width * n:]
        supervised = [t for t in lab if t != -100]
        asked = []
        for q in range(queries):
            chunk = tail[q * qwidth: (q + 1) * qwidth]
            assert chunk[:prefix] == pre_ids and chunk[prefix + 1: prefix + 1 + qgap] == list(range(vocab, vocab + qgap))
            key, value = chunk[prefix], chunk[prefix + 1 + qgap]
            assert chunk[prefix + 2 + qgap:] == sep_ids
            assert table[key] == [value]                                 # queried keys have one value
            asked.append(key)
        assert len(set(asked)) == queries                                    # distinct queries
        assert supervised == [table[k][0] for k in asked]


def check_recall_batch_supervise_sep_adds_exactly_the_separator_after_each_answer():
    args = (5, 3, 32, True, 0, None, True, 2, 4, 1)
    ids, plain = recall.batch(torch.Generator().manual_seed(2), 3, *args)
    ids2, with_sep = recall.batch(torch.Generator().manual_seed(2), 3, *args, supervise_sep=True)
    assert torch.equal(ids, ids2)
    extra = (with_sep != -100) & (plain == -100)
    assert torch.equal(with_sep[plain != -100], plain[plain != -100])
    assert extra.sum(dim=1).tolist() == [3, 3, 3]                        # one per answer
    assert torch.equal(extra[:, 1:], (plain != -100)[:, :-1])            # right after each answer
    assert (ids[extra] == 32 + 0).all()                                  # the first separator id (gap 0)


def check_prosqa_probe_queries_are_true_unique_lookups():
    tok = builtin_tokenizer()
    for direction, links_of, query in (("backward", question_parents, "Is a {}:"), ("forward", question_children, "A {} is:")):
        rng = random.Random(3)
        for _ in range(5):
            ids, labels, chance = lookup.example(direction, "xsmall", rng, tok, queries=3)
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


def check_role_tokens_put_each_parent_right_before_its_object():
    tok = role.role_tokenizer()
    for random_facts in (0, 5):
        rng = random.Random(7)
        for _ in range(5):
            ids, labels = role.example(tok, "small", random_facts, 3, rng)
            text = tok.decode(ids, skip_special_tokens=True)
            facts, *lines = text.split("\n")
            assert tok.decode(tok(facts, add_special_tokens=False)["input_ids"]) == facts   # round trip
            pieces = tok.convert_ids_to_tokens(tok(facts, add_special_tokens=False)["input_ids"])
            parents = question_parents(facts)
            objects = [i for i, p in enumerate(pieces) if p.startswith(" is a ")]
            assert len(objects) == sum(len(v) for v in parents.values())   # one object token per sentence
            # the subject is one token, just before (a name opening the question has no leading space,
            # so BPE may split it: that one sentence is exempt)
            for i in objects if facts.startswith("Every ") else objects[1:]:
                subject = tok.convert_tokens_to_string([pieces[i - 1]]).strip()
                assert subject in parents[pieces[i][len(" is a "):]]
            for line in lines:
                node, answer = line.removeprefix("Who is a ").rstrip(".").split(" ")
                assert parents[node] == [answer]
            if random_facts:
                assert len(objects) == random_facts and all(len(v) == 1 for v in parents.values())
            assert len([t for t in labels if t != -100]) == 2 * len(lines) + 1   # answer, ".", and EOS
    # --answer-only: the same sequence, only the answer words supervised
    ids_a, labels_a = role.example(tok, "small", 0, 3, random.Random(11), answer_only=True)
    ids_b, labels_b = role.example(tok, "small", 0, 3, random.Random(11))
    assert ids_a == ids_b
    kept = [(a, b) for a, b in zip(labels_a, labels_b) if a != -100]
    assert kept and all(a == b for a, b in kept) and len(kept) == (len([t for t in labels_b if t != -100]) - 1) // 2
    assert all(tok.convert_ids_to_tokens(a).startswith(("Ġ", " ")) for a, _ in kept)


def check_role_probe_random_fraction_mixes_random_facts_with_graphs():
    tok = role.role_tokenizer()
    rng = random.Random(3)
    kinds = []
    for _ in range(60):
        ids, _ = role.example(tok, "xsmall", 5, 3, rng, answer_only=True, random_fraction=0.5)
        facts = tok.decode(ids, skip_special_tokens=True).split("\n")[0]
        parents = question_parents(facts)
        # a graph always has a person's sentence ("Tom is a X."); random facts are all "Every X is a Y."
        sentences = [s.strip() for s in facts.split(".") if s.strip()]
        kinds.append(all(s.startswith("Every ") for s in sentences) and len(parents) == len(sentences) == 5)
    assert 15 < sum(kinds) < 45   # about half are random facts, the rest graphs
    # fraction 1 (the default) keeps every example random facts
    ids, _ = role.example(tok, "xsmall", 5, 3, random.Random(4))
    assert len(question_parents(tok.decode(ids, skip_special_tokens=True).split("\n")[0])) == 5


if __name__ == "__main__":
    for name, check in list(globals().items()):
        if name.startswith("check_"):
            check()
            print(f"ok  {name}")
