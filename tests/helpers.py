"""Builders shared by tests: micro models from configs, no downloads."""

from __future__ import annotations

from pathlib import Path

import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def micro_llama(seed: int = 0):
    from transformers import LlamaForCausalLM

    from leanthink.models.registry import builtin_tokenizer
    from leanthink.models.tiny import llama_config

    tok = builtin_tokenizer()
    torch.manual_seed(seed)
    cfg = llama_config("micro", tok)
    # a wider init than training's 0.02: logits then vary from token to token and position to position,
    # so greedy choices are far from ties and a wrong mask or position changes the output
    cfg.initializer_range = 0.3
    model = LlamaForCausalLM(cfg).eval()
    return model, tok




def tiny_prm(out: Path, seed: int = 0) -> Path:
    """A randomly initialised PRM in the Qwen2.5-Math-PRM format (Qwen2 decoder + two-class head, step
    separator <extra_0>, ChatML template), built offline and saved as a directory."""
    from transformers import Qwen2Config, Qwen2Model

    from leanthink.models.registry import builtin_tokenizer
    from leanthink.scorers.prm import reward_head, save_prm

    tok = builtin_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<extra_0>"]})
    tok.chat_template = CHATML
    tok.eos_token = "<|im_end|>"
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                      eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tok.pad_token_id,
                      initializer_range=0.3)
    torch.manual_seed(seed)
    base = Qwen2Model(cfg).eval()
    head = reward_head(32)
    return save_prm(base, head, tok, out)
