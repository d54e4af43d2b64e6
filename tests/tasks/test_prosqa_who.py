"""ProsQA's `who` and `both` traces, its lookup drills and role tokens (the recipe of builtin:prosqa)."""

from __future__ import annotations

import re

import pytest

from leanthink.models.registry import builtin_tokenizer
from leanthink.prompting import PromptStyle
from leanthink.tasks.prosqa import ProsQATask, backward_trace, question_parents
from leanthink.train.data import sample_batch, sft_example
from leanthink.train.sft import add_task_tokens

WHO = re.compile(r"Who is a (\w+) (\w+)\.")


@pytest.fixture(scope="module")
def role_tok():
    tok = builtin_tokenizer()
    added = add_task_tokens(tok, ProsQATask().added_tokens())
    assert added > 38  # one object phrase per concept at least, plus the names BPE splits
    return tok


def test_who_trace_is_the_backward_chain_written_as_questions():
    task = ProsQATask(trace="who")
    for p in task.load("small", limit=200, seed=3):
        lines = task.cot_target(p).splitlines()
        assert lines[-1] == f"Answer: {p.meta['answer_sentence']}"
        pairs = [WHO.fullmatch(line).groups() for line in lines[:-1]]
        assert [f"{x}: {s}." for x, s in pairs] == backward_trace(p)
        assert task.grade(task.extract(task.cot_target(p)), p)


def test_drills_are_unique_subject_lookups_half_of_them_on_random_facts():
    task = ProsQATask(trace="who")
    problems = task.load("train-drill", limit=300, seed=1)
    assert problems == task.load("train-drill", limit=300, seed=1)  # deterministic in the seed
    random_facts = 0
    for p in problems:
        parents = question_parents(p.question)
        lines = task.cot_target(p).splitlines()
        asked = [WHO.fullmatch(line).groups() for line in lines]
        assert 1 <= len(asked) <= 3 and len({x for x, _ in asked}) == len(asked)
        for node, subject in asked:
            assert parents[node] == [subject]  # the object of exactly one sentence, and its subject
        assert p.answer == asked[0][1] and " Is " not in p.question
        sentences = re.findall(r"[^.]+\.", p.question)
        words = re.findall(r"Every (\w+) is an? (\w+)\.", p.question)
        if len(sentences) == 5 and len(words) == 5 and len({w for pair in words for w in pair}) == 10:
            random_facts += 1
    assert 0.35 < random_facts / len(problems) < 0.65
    assert "train-drill" in task.cot_only_splits


def test_drills_learn_only_their_answer_words(role_tok):
    task = ProsQATask(trace="who")
    style = PromptStyle("plain")
    for p in task.load("train-drill", limit=20, seed=0):
        ids, labels = sft_example(task, p, "cot", role_tok, style)
        learned = [role_tok.decode([t]) for t in labels if t != -100]
        assert learned == [f" {subject}" for _, subject in p.meta["drill"]]
        assert ids[-1] == role_tok.eos_token_id and labels[-1] == -100
    # a trace learns every token it writes, and its EOS
    p = task.load("small", limit=1)[0]
    ids, labels = sft_example(task, p, "cot", role_tok, style)
    n_prompt = len(role_tok(style.render(p, "cot"), add_special_tokens=False)["input_ids"])
    assert labels[:n_prompt] == [-100] * n_prompt and labels[n_prompt:] == ids[n_prompt:]


def test_role_tokens_put_the_subject_right_before_its_object_and_round_trip(role_tok):
    def pieces(text):
        return [role_tok.decode([i]) for i in role_tok(text, add_special_tokens=False)["input_ids"]]

    # ProsQA writes "is a" before every concept, "impus" too; the role token is the question's own
    tokens = pieces("Every bompus is a tumpus. Oliver is a impus.")
    assert tokens == ["Every", " bompus", " is a tumpus", ".", " Oliver", " is a impus", "."]
    assert pieces("Who is a impus Oliver.")[:3] == ["Who", " is a impus", " Oliver"]
    assert pieces("Who is a tumpus bompus.")[:2] == ["Who", " is a tumpus"]
    task = ProsQATask(trace="who")
    style = PromptStyle("plain")
    for p in task.load("small", limit=30, seed=4) + task.load("train-drill", limit=30):
        text = style.render(p, "cot") + task.cot_target(p)
        ids = role_tok(text, add_special_tokens=False)["input_ids"]
        assert role_tok.decode(ids) == text
        for subject, obj in re.findall(r"(\w+) is a (\w+)\.", p.question):
            assert pieces(f" {subject} is a {obj}.") == [f" {subject}", f" is a {obj}", "."]


def test_a_mixture_fills_each_batch_from_both_splits(role_tok):
    task = ProsQATask(trace="who")
    style = PromptStyle("plain")
    batch = sample_batch(task, "train-drill+train-small", 3, 0, 5, 0.5, role_tok, style)
    again = sample_batch(task, "train-drill+train-small", 3, 0, 5, 0.5, role_tok, style)
    assert batch["input_ids"].equal(again["input_ids"])
    texts = [role_tok.decode(row[mask.bool()]) for row, mask in zip(batch["input_ids"], batch["attention_mask"])]
    drills = [t for t in texts if " Is " not in t]
    assert len(texts) == 5 and len(drills) == 3  # the first split takes the remainder
    assert all("\nReasoning:\n" in t for t in drills)  # drills are never in the direct format


def test_key_loss_learns_the_words_of_a_trace_but_not_its_punctuation(role_tok):
    task = ProsQATask(trace="who", loss="key")
    style = PromptStyle("plain")
    for p in task.load("small", limit=10, seed=8):
        ids, labels = sft_example(task, p, "cot", role_tok, style)
        learned = "".join(role_tok.decode([t]) for t in labels if t != -100)
        words = task.cot_target(p).replace(".", "").replace(":", "").replace("\n", "")
        assert learned == words and labels[-1] == -100
    # drills keep their answer-only labels; an unknown loss is an error naming the choices
    drill = task.load("train-drill", limit=1)[0]
    assert task.loss_spans(drill, task.cot_target(drill)) == ProsQATask(trace="who").loss_spans(
        drill, task.cot_target(drill))
    with pytest.raises(Exception, match="unknown loss 'some'; choose one of all, key"):
        ProsQATask(loss="some")


def test_both_trace_chains_both_concepts_and_its_so_line_names_the_answer():
    from leanthink.tasks.prosqa import concept_chain

    task = ProsQATask(trace="both")
    problems = task.load("small", limit=300, seed=4)
    named = 0
    for p in problems:
        person, first, second = re.search(r"Is (\w+) an? (\w+) or (\w+)\?$", p.question).groups()
        parents = question_parents(p.question)
        lines = task.cot_target(p).splitlines()
        assert lines[-1] == f"Answer: {p.meta['answer_sentence']}"
        so = [i for i, line in enumerate(lines) if line.startswith("So ")]
        assert len(so) == 2 and so[1] == len(lines) - 2
        ends = {}
        for concept, chain_lines, so_line in ((first, lines[:so[0]], lines[so[0]]),
                                              (second, lines[so[0] + 1:so[1]], lines[so[1]])):
            chain = [WHO.fullmatch(line).groups() for line in chain_lines]
            assert chain == concept_chain(parents, concept) and chain[0][0] == concept
            assert not parents.get(chain[-1][1])  # each chain runs to a name with no parent
            assert so_line == f"So {chain[-1][1]} {concept}."
            ends[concept] = chain[-1][1]
        assert ends[p.meta["neg_answer"]] != person  # the negative concept never reaches the person
        named += ends[p.answer] == person
        assert task.grade(task.extract(task.cot_target(p)), p)
    # the answer is the concept of the asked person's "So" line, unless the first-parent chain of
    # the answer ends at someone else (a few percent of `small` problems)
    assert named / len(problems) > 0.9
