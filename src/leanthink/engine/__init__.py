"""Engines own the model, the tokenizer and the KV cache; methods only hold opaque handles."""

from .base import Completion, Engine, SamplingParams
from .usage import Usage

__all__ = ["Completion", "Engine", "SamplingParams", "Usage"]
