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


