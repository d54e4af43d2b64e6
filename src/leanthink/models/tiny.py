"""Configs of the built-in reasoners: ordinary `LlamaForCausalLM`, so every method that runs on them
runs on a real model directory without special cases."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LeanthinkError


@dataclass(frozen=True)
class TinySize:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int = 1024


#: ~3M and ~25M parameters with the 2048-token vocabulary (embeddings tied).
SIZES: dict[str, TinySize] = {
    "micro": TinySize(hidden=64, layers=2, heads=2, intermediate=128),   # tests only
    "tiny": TinySize(hidden=192, layers=6, heads=6, intermediate=512),  # ~3.1M
    "small": TinySize(hidden=384, layers=14, heads=6, intermediate=1024),  # ~25M
}


def parse_size(size: str) -> TinySize:
    """A named size, or a shape "LAYERSxWIDTHxHEADS" (MLP width 8/3 of the width, rounded to 64)."""
    if size in SIZES:
        return SIZES[size]
    parts = size.split("x")
    if len(parts) == 3 and all(p.isdigit() and int(p) > 0 for p in parts):
        layers, width, heads = map(int, parts)
        if width % heads or (width // heads) % 2:
            raise LeanthinkError(f"model shape {size!r}: the width must split into heads of an even size")
        return TinySize(hidden=width, layers=layers, heads=heads, intermediate=max(64, round(width * 8 / 3 / 64) * 64))
    raise LeanthinkError(f"unknown model size {size!r}; choose one of {', '.join(SIZES)} or LAYERSxWIDTHxHEADS "
                         "(e.g. 4x256x8)")


def llama_config(size: str, tokenizer):
    from transformers import LlamaConfig

    s = parse_size(size)
    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=s.hidden, num_hidden_layers=s.layers,
        num_attention_heads=s.heads, num_key_value_heads=s.heads, intermediate_size=s.intermediate,
        max_position_embeddings=s.max_positions, rope_theta=10000.0, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
