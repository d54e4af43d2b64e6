"""Context limits fail fast with both numbers; capabilities are checked before loading; loading is
quiet and strict (missing tensors, foreign tokenizers and caches the engine cannot edit are errors)."""

from __future__ import annotations

import json

import pytest
import torch

from leanthink.engine import SamplingParams, check_capabilities, engine_class, load_engine
from leanthink.engine.base import Engine
from leanthink.engine.hf import HFEngine
from leanthink.errors import LeanthinkError, UnsupportedVerb
from leanthink.prompting import PromptStyle

from cli_helpers import run_cli
from helpers import micro_llama


@pytest.fixture(scope="module")
def engine():
    model, tok = micro_llama()
    return HFEngine.from_model(model, tok, PromptStyle("plain"), max_context=64)


def test_prompt_plus_budget_beyond_the_context_is_an_error_naming_both(engine):
    long = "x=1. " * 40 + "What is x?\n"
    with pytest.raises(LeanthinkError, match=r"prompt 0 is \d+ tokens; the model's context is 64"):
        engine.prefill([long])
    seqs = engine.prefill(["a=1. What is a?\n"])
    n = seqs.num_tokens(0)
    with pytest.raises(LeanthinkError, match=rf"row 0: {n} tokens in context \+ max_new_tokens 60 exceeds .* 64"):
        engine.extend(seqs, SamplingParams(max_new_tokens=60))
    engine.extend(seqs, SamplingParams(max_new_tokens=64 - n))   # exactly fits


def test_a_huge_question_fails_fast_through_the_cli(micro_dir, tmp_path, capsys):
    data = tmp_path / "big.jsonl"
    data.write_text(json.dumps({"question": "What is 1+1? " * 80_000, "answer": "#### 2"}) + "\n")
    out = tmp_path / "r.jsonl"
    code, _, err = run_cli(["eval", "--task", "gsm8k", "--data", data, "--model", micro_dir, "--out", out,
                            "--no-progress"], capsys)
    assert code == 2 and "context is 1024" in err and "Traceback" not in err
    assert not out.exists() or out.read_text() == ""
    code, _, err = run_cli(["eval", "--task", "arith", "--model", micro_dir, "--max-context", "40", "--out", out,
                            "--no-progress", "--limit", "1"], capsys)
    assert code == 2 and "max_new_tokens 512 exceeds the model's context of 40 (--max-context)" in err


class RemoteLike(Engine):
    capabilities = frozenset({"prefill", "extend"})
    kind = "OpenAI-compatible"

    def prefill(self, prompts, seeds=None, keys=None): ...

    def extend(self, seqs, params, rows=None): ...

    def usage(self, seqs): ...


def test_capabilities_are_checked_before_anything_loads():
    check_capabilities("cot", frozenset({"prefill", "extend"}), RemoteLike, "openai:x")
    with pytest.raises(UnsupportedVerb, match="method 'lightthinker' needs the engine verb\\(s\\) evict, score"):
        check_capabilities("lightthinker", frozenset({"prefill", "extend", "evict", "score"}), RemoteLike, "openai:x")
    assert engine_class("builtin:arith") is HFEngine and "evict" in HFEngine.capabilities
    with pytest.raises(LeanthinkError, match="unknown verbs"):   # checked before the model is looked up
        load_engine("/does/not/exist", requires=frozenset({"prefill", "telepathy"}), method="x")
    with pytest.raises(UnsupportedVerb):
        RemoteLike().evict(None, 0, 0, 1)


def test_loading_is_quiet(micro_dir, capfd):
    e = HFEngine.load(str(micro_dir))
    e.generate(["a=1. What is a?\n"], SamplingParams(max_new_tokens=3))
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def save(model, tok, path):
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_missing_tensors_and_foreign_tokenizers_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    model, tok = micro_llama()
    path = save(model, tok, tmp_path / "m")
    weights = load_file(path / "model.safetensors")
    del weights[next(k for k in weights if "layers.1.mlp" in k)]
    save_file(weights, path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(LeanthinkError, match="missing tensor"):
        HFEngine.load(str(path))
    small = save(*micro_llama(), tmp_path / "s")
    cfg = json.loads((small / "config.json").read_text())
    big = tok.__class__.from_pretrained(small)
    big.add_tokens([f"<extra{i}>" for i in range(cfg["vocab_size"])])
    big.save_pretrained(small)
    with pytest.raises(LeanthinkError, match="tokenizer has \\d+ tokens but the embedding only"):
        HFEngine.load(str(small))


def test_sliding_window_models_are_refused_at_load(tmp_path):
    from transformers import MistralConfig, MistralForCausalLM

    _, tok = micro_llama()
    cfg = MistralConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=2, num_key_value_heads=1, sliding_window=16,
                        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    path = save(MistralForCausalLM(cfg), tok, tmp_path / "mistral")
    with pytest.raises(LeanthinkError, match="DynamicSlidingWindowLayer .* supports only full attention"):
        HFEngine.load(str(path))
