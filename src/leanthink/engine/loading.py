"""Loading a model spec into (model, tokenizer, metadata, content hash), quietly and strictly.

Quiet: transformers' own warnings and its "Loading weights" bar are library chatter on the user's
terminal; they are turned off for the duration of a load only (the user's logging settings stay).
Strict: a checkpoint that lacks tensors, has tensors of the wrong shape, or a KV cache the engine
cannot edit row by row (sliding windows, recurrent state) is an error at load, never a randomly
initialised layer that gets scored as a valid run.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import LeanthinkError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Loaded:
    model: object
    tokenizer: object
    meta: dict
    model_hash: str
    device: str
    dtype: str


@contextlib.contextmanager
def quiet_transformers(capture_output: bool = False):
    """Silence transformers' logging and progress bars (and Python warnings) inside the block; with
    `capture_output`, also whatever is printed (plain tqdm bars that transformers' switch misses).
    Errors are still raised, so nothing the user needs is lost."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity(hf_logging.CRITICAL)
    hf_logging.disable_progress_bar()
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.ExitStack() as stack:
            warnings.simplefilter("ignore")
            if capture_output:
                stack.enter_context(contextlib.redirect_stderr(sink))
                stack.enter_context(contextlib.redirect_stdout(sink))
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise LeanthinkError(f"--device {device!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise LeanthinkError(f"--device {device}: CUDA is not available on this machine (use cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise LeanthinkError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise LeanthinkError(f"--device {device}: only cpu and cuda devices are supported")
    return str(dev)


def resolve_dtype(dtype: str, device: str) -> str:
    if dtype == "auto":
        return "bfloat16" if device.startswith("cuda") else "float32"
    if dtype not in DTYPES:
        raise LeanthinkError(f"--dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
    return dtype


def load_checkpoint(spec: str, device: str = "auto", dtype: str = "auto") -> Loaded:
    """Load `builtin:NAME`, a Hugging Face model directory (safetensors only) or a GGUF file (needs the
    `gguf` extra)."""
    from ..models.gguf import gguf_hash, is_gguf, load_gguf
    from ..models.registry import model_hash, read_meta, resolve_model

    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    path = Path(spec).expanduser()
    if not spec.startswith("builtin:") and is_gguf(path):
        model, tokenizer = load_gguf(path, DTYPES[dtype])
        _check_model(model, tokenizer, spec)
        return Loaded(model.to(device), tokenizer, {}, gguf_hash(path), device, dtype)
    directory = resolve_model(spec)
    meta = read_meta(directory)
    if "prm" in meta or any("ProcessRewardModel" in a for a in _architectures(directory)):
        raise LeanthinkError(f"model {spec!r} is a process reward model, not a policy; give it as --prm")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(directory)
            # use_safetensors: never fall back to a pickle that sits beside the safetensors files
            model, info = AutoModelForCausalLM.from_pretrained(directory, dtype=DTYPES[dtype], use_safetensors=True,
                                                               ignore_mismatched_sizes=True, output_loading_info=True)
    except Exception as e:  # noqa: BLE001 - a damaged checkpoint fails in many shapes (SafetensorError, ...)
        raise LeanthinkError(f"cannot load model from {directory}: {first_line(e)}") from None
    # mismatched sizes are loaded as fresh random tensors and listed here, so they are refused below
    problems = [f"{len(info[k])} {label} tensor(s), e.g. {_name(sorted(info[k], key=str)[0])}" for k, label in
                (("missing_keys", "missing"), ("mismatched_keys", "wrongly shaped")) if info.get(k)]
    if problems:
        raise LeanthinkError(f"model {directory}: the weights do not match config.json ({'; '.join(problems)}); "
                             "refusing to run with randomly initialised layers")
    _check_model(model, tokenizer, spec)
    return Loaded(model.to(device), tokenizer, meta, model_hash(directory), device, dtype)


def _architectures(directory: Path) -> list[str]:
    import json

    try:
        arch = json.loads((directory / "config.json").read_text(encoding="utf-8")).get("architectures") or []
    except (ValueError, AttributeError, UnicodeDecodeError):
        return []   # transformers names what is wrong with config.json when it reads it
    return [a for a in arch if isinstance(a, str)]


def _name(key) -> str:
    return key[0] if isinstance(key, tuple) else str(key)   # mismatched keys come as (name, shapes...)


def first_line(e: BaseException) -> str:
    """An exception's first line, for a one-line error."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def _check_model(model, tokenizer, spec: str) -> None:
    from . import kv

    if model.get_output_embeddings() is None:
        raise LeanthinkError(f"model {spec!r} has no language-model head (it is not a causal LM)")
    kv.check_editable(model.config)
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise LeanthinkError(f"model {spec!r}: the tokenizer has {len(tokenizer)} tokens but the embedding only "
                             f"{rows} rows; the tokenizer does not belong to these weights")
