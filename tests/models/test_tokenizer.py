"""The built-in tokenizer."""

from __future__ import annotations

from leanthink.models.registry import builtin_tokenizer
from leanthink.models.tokenizer import RESERVED


def test_tokenizer_round_trips_and_splits_digits():
    tok = builtin_tokenizer()
    for text in ["k=47+8=55\nAnswer: 55", "Every wumpus is a yumpus. Is Tom a rempus or zumpus?",
                 "Ünïcödé and \\boxed{\\frac{1}{2}} work too"]:
        assert tok.decode(tok(text)["input_ids"]) == text
    assert tok.convert_ids_to_tokens(tok("1234")["input_ids"]) == ["1", "2", "3", "4"]


def test_reserved_method_tokens_are_single_special_tokens():
    tok = builtin_tokenizer()
    for t in RESERVED:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids) == [t]
    assert tok.eos_token_id is not None and tok.pad_token_id is not None and tok.eos_token_id != tok.pad_token_id
