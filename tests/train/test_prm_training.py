"""`leanthink train-prm` on a micro policy: rollouts are labelled by exact checking, the PRM is saved
in the Qwen format and loads through the same loader as a real PRM."""

from __future__ import annotations

import json

from leanthink.scorers import ProcessRewardModel
from leanthink.tasks import get_task
from leanthink.train.prm import corruptions, encode

from cli_helpers import run_cli


def test_step_labels_are_prefix_correctness():
    task = get_task("arith")
    p = task.load(split="hard", limit=1)[0]
    gold = [line for line in task.cot_target(p).split("\n") if line.strip()]
    assert task.step_labels(p, gold) == [True] * len(gold)
    wrong = list(gold)
    wrong[1] = wrong[1][:-1] + str((int(wrong[1][-1]) + 1) % 10)
    assert task.step_labels(p, wrong) == [True, False] + [False] * (len(gold) - 2)
    assert task.step_labels(p, gold + ["extra"])[-1] is False
    assert get_task("gsm8k").step_labels(p, gold) is None


def test_corruptions_are_cut_after_one_changed_number_and_labelled_exactly():
    task = get_task("arith")
    records = corruptions(task, "search", 30, 3, 2)
    assert len(records) == 60 and records == corruptions(task, "search", 30, 3, 2)
    problems = {p.question: p for p in task.load(split="search", limit=30, seed=3)}
    for r in records:
        gold = [x for x in task.cot_target(problems[r["question"]]).split("\n") if x.strip()]
        *head, last = r["steps"]
        assert head == gold[: len(head)] and last != gold[len(head)]
        assert r["labels"] == task.step_labels(problems[r["question"]], r["steps"])
        assert r["labels"] == [True] * len(head) + [False]   # a moved number is never the gold step
    assert corruptions(task, "search", 30, 3, 0) == []


def test_encoding_puts_labels_at_separators(engine):
    tok = engine.tokenizer
    record = {"question": "a=1. What is a?", "steps": ["a=1", "Answer: 1"], "labels": [True, True]}
    import random

    ids, pos, labels = encode(record, tok, 5, joined=False, rng=random.Random(0))
    assert [ids[i] for i in pos] == [5, 5] and labels == [1, 1] and ids[-1] == 5
    ids, pos, labels = encode(record, tok, 5, joined=True, rng=random.Random(0))
    assert len(pos) == 1 and pos[0] == len(ids) - 1


def test_train_prm_end_to_end(micro_dir, tmp_path, capsys):
    out = tmp_path / "prm"
    code, _, err = run_cli(["train-prm", "--task", "arith", "--split", "train", "--policy", micro_dir, "--init",
                            micro_dir, "--out", out, "--problems", "8", "--samples", "2", "--temperatures", "1.0",
                            "--eval-split", "easy", "--eval-problems", "4", "--steps", "4", "--batch-size", "4",
                            "--no-progress"], capsys)
    assert code == 0, err
    meta = json.loads((out / "model" / "leanthink.json").read_text())
    assert meta["prm"]["step_separator"] == "<extra_0>" and meta["prm"]["chat"] is False
    assert meta["data"]["train_solutions"] == 8 * 2 + 8 + 8 * 2 and meta["data"]["hard_negatives"] >= 16
    assert {"auc_steps", "auc_joined", "auc_solution"} <= set(meta["history"][-1])
    records = [json.loads(x) for x in (out / "data" / "train.jsonl").read_text().splitlines()]
    assert all(len(r["labels"]) == len(r["steps"]) for r in records)
    prm = ProcessRewardModel.load(str(out / "model"))
    task = get_task("arith")
    scores, tokens = prm.score_texts([task.load(split="easy", limit=1)[0].question], ["b=1+2=3\nAnswer: 3"])
    assert 0 < scores[0] < 1 and tokens > 0
    code, _, err = run_cli(["train-prm", "--task", "gsm8k", "--out", tmp_path / "x", "--no-progress"], capsys)
    assert code == 2 and "split" in err
