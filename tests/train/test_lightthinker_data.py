"""LightThinker training data: the sequence layout, the labels and the attention mask, checked
position by position against the specification (../shared/research.md §2)."""

from __future__ import annotations

import pytest
import torch

from leanthink.errors import LeanthinkError
from leanthink.train.lightthinker import (IGNORE, Markers, batch_masks, build_example, segment_thoughts,
                                          segment_tokens, visibility)

M = Markers(splitter=90, cache=(91, 92), output=93)


def toy():
    """prompt (3 tokens), two compressed thoughts of 2 and 3 tokens, a final answer of 2 tokens."""
    return build_example([1, 2, 3], [[10, 11], [20, 21, 22]], [30, 31], M)


def test_layout_and_labels():
    ex = toy()
    assert ex.ids == [1, 2, 3, 10, 11, 90, 91, 92, 93, 20, 21, 22, 90, 91, 92, 93, 30, 31]
    # loss on thoughts, <w> and the answer; never on the prompt, C or [o]
    assert ex.labels == [IGNORE] * 3 + [10, 11, 90] + [IGNORE] * 3 + [20, 21, 22, 90] + [IGNORE] * 3 + [30, 31]
    assert [(t.start, t.splitter, t.output) for t in ex.thoughts] == [(3, 5, 8), (9, 12, 15)]


def test_mask_matches_the_specification_at_every_position():
    ex = toy()
    n = len(ex.ids)
    allowed = visibility(n, ex.thoughts)
    kind = {}   # position -> (role, thought index)
    for i in range(3):
        kind[i] = ("q", None)
    for j, t in enumerate(ex.thoughts):
        for p in range(t.start, t.splitter):
            kind[p] = ("s", j)
        kind[t.splitter] = ("w", j)
        for p in range(t.splitter + 1, t.output):
            kind[p] = ("c", j)
        kind[t.output] = ("o", j)
    for p in range(ex.thoughts[-1].output + 1, n):
        kind[p] = ("a", None)
    o = [t.output for t in ex.thoughts]

    def spec(q, k):
        """The paper's rules, written independently of `visibility`."""
        if k > q:
            return False
        rk, jk = kind[k]
        rq, jq = kind[q]
        if rk in ("q", "c", "o", "a"):
            return True                      # question, caches and outputs stay visible; answer is causal
        # k is a raw thought token or a splitter of thought jk: visible only before [o]_jk
        return q < o[jk]

    for q in range(n):
        for k in range(n):
            assert bool(allowed[q, k]) == spec(q, k), (q, k, kind[q], kind[k])
    # the cases the paper names: C_i sees S_i; [o]_i does not; S_{i+1} sees C_i and [o]_i, not S_i
    t0 = ex.thoughts[0]
    assert allowed[t0.splitter + 1, t0.start] and not allowed[t0.output, t0.start]
    assert allowed[ex.thoughts[1].start, t0.splitter + 1] and not allowed[ex.thoughts[1].start, t0.splitter]


def test_batched_additive_mask_pads_safely():
    ex = toy()
    short = build_example([1], [[5]], [6], M)
    m = batch_masks([ex, short], len(ex.ids))
    assert m.shape == (2, 1, len(ex.ids), len(ex.ids)) and m.dtype == torch.bool
    assert torch.equal(m[0, 0], visibility(len(ex.ids), ex.thoughts))
    assert bool(m[1, 0].any(-1).all())                                  # every query row sees something
    assert not bool(m[1, 0, :len(short.ids), len(short.ids):].any())    # never padding


def test_segmentation():
    assert segment_thoughts("a=1\nb=2\nAnswer: 2") == ["a=1\n", "b=2\n", "Answer: 2"]
    assert segment_thoughts("x\n\ny\n\n", "\n\n") == ["x\n\n", "y\n\n"]
    assert segment_tokens(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(LeanthinkError):
        segment_tokens([1], 0)


def test_markers_come_from_the_builtin_tokenizer():
    from transformers import AutoTokenizer

    from leanthink.models.registry import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model("builtin:arith"))
    m = Markers.from_tokenizer(tok, 4)
    assert len(set(m.cache) | {m.splitter, m.output}) == 6
    with pytest.raises(LeanthinkError, match="c16"):
        Markers.from_tokenizer(tok, 17)


def test_recipe_turns_trace_lines_into_thoughts():
    from leanthink.models.registry import builtin_tokenizer
    from leanthink.prompting import PromptStyle
    from leanthink.tasks import get_task
    from leanthink.train.lightthinker import Recipe

    tok = builtin_tokenizer()
    task, style = get_task("iterate"), PromptStyle("plain")
    p = task.load(split="easy", limit=5)[-1]
    recipe = Recipe(Markers.from_tokenizer(tok, 2))
    ex = recipe.example(task, p, "cot", tok, style)
    assert len(ex.thoughts) == len(p.steps)
    for t, step in zip(ex.thoughts, p.steps):
        assert tok.decode(ex.ids[t.start:t.splitter]) == step + "\n"
    tail = ex.ids[ex.thoughts[-1].output + 1:]
    assert tok.decode(tail[:-1]) == f"Answer: {p.answer}" and tail[-1] == tok.eos_token_id
    assert tok.decode(ex.ids[:ex.prompt_len]) == style.render(p, "cot")
    direct = recipe.example(task, p, "direct", tok, style)
    assert direct.thoughts == [] and tok.decode(direct.ids[direct.prompt_len:-1]) == f" {p.answer}"
    every = Recipe(Markers.from_tokenizer(tok, 2), segment_every=4).example(task, p, "cot", tok, style)
    assert all(t.splitter - t.start <= 4 for t in every.thoughts) and len(every.thoughts) > len(p.steps)
    batch = recipe.collate([ex, direct], tok.pad_token_id)
    assert batch["attention_mask"].shape == (2, 1, len(ex.ids), len(ex.ids))


def test_train_lightthinker_recipe_end_to_end(tmp_path, capsys):
    import json

    from cli_helpers import run_cli, train_micro_lightthinker

    out = tmp_path / "lt"
    code, _, err = train_micro_lightthinker(out, capsys, cache_tokens=3)
    assert code == 0, err
    meta = json.loads((out / "leanthink.json").read_text())
    assert meta["lightthinker"] == {"cache_tokens": 3, "segment_every": 0}
    code, _, err = run_cli(["train", "--recipe", "lightthinker", "--cache-tokens", "0", "--out", tmp_path / "x",
                            "--no-progress"], capsys)
    assert code == 2 and "--cache-tokens" in err
