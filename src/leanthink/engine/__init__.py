"""Engines own the model, the tokenizer and the KV cache; methods only hold opaque handles.

`load_engine(spec)` is where every model spec turns into an engine: `builtin:NAME`, a Hugging Face
directory or a GGUF file load in process (`HFEngine`); `openai:URL#MODEL` is any OpenAI-compatible
server (`RemoteEngine`) and `vllm:PATH` vLLM in process (`VLLMEngine`).
`engine_class(spec)` names the class without loading anything, so a method's needs can be checked
against its `capabilities` first.
"""

from __future__ import annotations

from pathlib import Path

from .base import BASIC, VERBS, Engine, check_capabilities
from .params import Completion, SamplingParams
from .sampling import stream_seed
from .usage import Request, Usage


def engine_class(spec: str) -> type[Engine]:
    """The engine class that `load_engine(spec)` would build (nothing is loaded): `openai:URL#MODEL` is
    an OpenAI-compatible server (engine/remote.py), `vllm:PATH` vLLM in process (engine/vllm.py)."""
    if spec.startswith("openai:"):
        from .remote import RemoteEngine

        return RemoteEngine
    if spec.startswith("vllm:"):
        from .vllm import VLLMEngine

        return VLLMEngine
    from .hf import HFEngine

    return HFEngine


def load_engine(spec: str | Path, requires: frozenset[str] = BASIC, method: str = "", **options) -> Engine:
    """An engine for a model spec; with `requires`, first check that it offers those verbs."""
    spec = str(spec)
    cls = engine_class(spec)
    check_capabilities(method or "this method", frozenset(requires), cls, spec)
    engine = cls.load(spec, **options)
    if engine.capabilities != cls.capabilities:   # what a server offers is known once it answered (logprobs)
        check_capabilities(method or "this method", frozenset(requires), engine, spec)
    return engine


__all__ = ["BASIC", "VERBS", "Completion", "Engine", "Request", "SamplingParams", "Usage", "check_capabilities",
           "engine_class", "load_engine", "stream_seed"]
