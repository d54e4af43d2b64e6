"""Stops: a stop string that straddles two `extend` calls, a stop that ends inside a token, minimum
lengths, and incremental detokenization."""

from __future__ import annotations

import pytest
import torch

from leanthink.engine import SamplingParams
from leanthink.engine.detok import Detokenizer
from leanthink.tasks import get_task


@pytest.fixture(scope="module")
def greedy(engine):
    prompt = engine.prompt_style.render(get_task("arith").load(split="hard", limit=1)[0], "cot")
    out = engine.generate([prompt], SamplingParams(max_new_tokens=40))[0][0]
    return prompt, out.token_ids


def test_a_stop_that_straddles_two_calls_is_found(engine, greedy):
    prompt, ids = greedy
    # a stop made of the last character of token k and the text of token k+1, first completed by k+1
    for k in range(2, 30):
        head, whole = engine.decode(ids[:k]), engine.decode(ids[:k + 1])
        stop = whole[len(head) - 1:]
        if whole.find(stop) == len(whole) - len(stop) and len(engine.decode(ids[k:k + 1])) >= 1:
            break
    else:
        pytest.skip("no suitable stop in this output")
    seqs = engine.prefill([prompt])
    first = engine.extend(seqs, SamplingParams(max_new_tokens=k, stop=(stop,)))[0]
    assert first.finish_reason == "length" and first.token_ids == ids[:k]
    second = engine.extend(seqs, SamplingParams(max_new_tokens=10, stop=(stop,)))[0]
    assert second.finish_reason == "stop" and second.token_ids == [ids[k]]
    assert (first.text + second.text).endswith(stop)


def test_a_stop_inside_a_token_cuts_the_row_back_to_the_stop(engine, greedy):
    prompt, ids = greedy
    text = engine.decode(ids)
    # a stop that ends one character into a multi-character token
    for k, tok in enumerate(ids):
        head = engine.decode(ids[:k])
        if len(engine.decode([tok])) >= 2:
            stop = text[:len(head) + 1][-3:]
            if text.find(stop) == len(head) + 1 - len(stop):
                break
    else:
        pytest.skip("no multi-character token in this output")
    seqs = engine.prefill([prompt])
    c = engine.extend(seqs, SamplingParams(max_new_tokens=40, stop=(stop,)))[0]
    assert c.finish_reason == "stop" and c.text == text[:len(head) + 1]
    # the row now holds exactly its text: tokens decode to it and the model sees those tokens
    n = engine.count_tokens(prompt)
    assert engine.decode(seqs.token_ids(0)[n:]) == c.text == engine.decode(c.token_ids)
    nxt = engine.extend(seqs, SamplingParams(max_new_tokens=1))[0].token_ids
    with torch.no_grad():
        ref = engine.model(input_ids=torch.tensor([seqs.token_ids(0)[:-1]])).logits[0, -1].argmax()
    assert nxt == [int(ref)]
    u = engine.usage(seqs)[0]
    assert u.generated_tokens == k + 1 + 1   # the cut token was sampled, then one more


def test_stops_before_min_new_tokens_are_ignored(engine, greedy):
    prompt, ids = greedy
    stop = engine.decode(ids[:2])
    early = engine.generate([prompt], SamplingParams(max_new_tokens=20, stop=(stop,)))[0][0]
    assert early.finish_reason == "stop" and early.token_ids == ids[:2]
    late = engine.generate([prompt], SamplingParams(max_new_tokens=20, stop=(stop,), min_new_tokens=3))[0][0]
    assert late.token_ids[:3] == ids[:3] and len(late.token_ids) > 2


def test_stop_token_ids_pause_a_row(engine, greedy):
    prompt, ids = greedy
    c = engine.generate([prompt], SamplingParams(max_new_tokens=20, stop_token_ids=(ids[4],)))[0][0]
    first = ids.index(ids[4])
    assert c.finish_reason == "stop" and c.token_ids == ids[:first + 1] and c.stop == engine.decode([ids[4]])


def test_texts_of_consecutive_calls_add_up_to_the_decoded_tokens(engine, greedy):
    prompt, ids = greedy
    seqs = engine.prefill([prompt])
    texts, tokens = [], []
    for cap in (3, 1, 5, 7):
        c = engine.extend(seqs, SamplingParams(max_new_tokens=cap))[0]
        texts.append(c.text)
        tokens += c.token_ids
    assert tokens == ids[:16] and "".join(texts) == engine.decode(ids[:16])


def test_detokenizer_waits_for_whole_characters(engine):
    tok = engine.tokenizer
    text = "a€b 日本 c"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    d = Detokenizer([])
    pieces = []
    for t in ids:
        d.add([t])
        pieces.append(d.advance(engine._decode))
    assert "".join(pieces) == text == d.text
    assert all("\ufffd" not in p for p in pieces)
    assert any(p == "" for p in pieces), "some character should span two byte tokens"
