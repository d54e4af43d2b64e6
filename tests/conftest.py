"""Shared fixtures: micro models built from configs (no downloads), saved as Hugging Face directories."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers import CHATML, micro_llama  # noqa: F401  (tests/ is on pythonpath)


@pytest.fixture(scope="session")
def micro_dir(tmp_path_factory) -> Path:
    """A random micro Llama in the built-ins' plain prompt style."""
    from leanthink.models.registry import save_checkpoint

    model, tok = micro_llama()
    out = tmp_path_factory.mktemp("models") / "micro"
    save_checkpoint(model, tok, out, {"prompt_style": "plain", "task": "arith"}, dtype=torch.float32)
    return out


@pytest.fixture(scope="session")
def qwen_dir(tmp_path_factory) -> Path:
    """A tiny randomly initialised Qwen2 with a ChatML chat template, built offline."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from leanthink.models.registry import builtin_tokenizer

    tok = builtin_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.chat_template = CHATML
    tok.eos_token = "<|im_end|>"
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                      eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tok.pad_token_id,
                      tie_word_embeddings=True)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg)
    out = tmp_path_factory.mktemp("models") / "qwen2-tiny"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def engine():
    """A random micro Llama behind the real engine, in the built-ins' plain prompt style."""
    from leanthink.engine.hf import HFEngine
    from leanthink.prompting import PromptStyle

    model, tok = micro_llama()
    return HFEngine.from_model(model, tok, PromptStyle("plain"))


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)
    yield
