"""Where models live: built-in names, directories, validation, saving.

`builtin:NAME` resolves to a checkpoint shipped in the package (src/leanthink/assets/models/NAME);
anything else is a path to a Hugging Face directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import LeanthinkError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BUILTIN_MODELS = ASSETS / "models"
TOKENIZER_DIR = ASSETS / "tokenizer"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth", "model.ckpt")


def builtin_names() -> list[str]:
    return sorted(p.name for p in BUILTIN_MODELS.iterdir() if (p / "config.json").exists()) if BUILTIN_MODELS.exists() else []


def resolve_model(spec: str) -> Path:
    """The checkpoint directory that `spec` names, validated: it exists, has config.json and
    safetensors weights (pickle checkpoints are refused: loading them can run arbitrary code)."""
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1]
        path = BUILTIN_MODELS / name
        if not (path / "config.json").exists():
            raise LeanthinkError(f"unknown built-in model {spec!r}; available: "
                                 f"{', '.join('builtin:' + n for n in builtin_names()) or 'none'}")
        return path
    path = Path(spec).expanduser()
    if not path.exists():
        raise LeanthinkError(f"model directory {spec!r} does not exist (give a Hugging Face model directory "
                             f"or builtin:NAME, one of: {', '.join(builtin_names()) or 'none'})")
    if not path.is_dir():
        raise LeanthinkError(f"model {spec!r} is a file; give the Hugging Face model directory that holds it")
    if not (path / "config.json").exists():
        raise LeanthinkError(f"model directory {spec!r} has no config.json: not a Hugging Face model directory")
    if not _safetensors_present(path, spec):
        pickles = [f for f in PICKLE_FILES if (path / f).exists()]
        if pickles:
            raise LeanthinkError(f"model directory {spec!r} holds only a pickle checkpoint ({pickles[0]}); "
                                 "convert it to model.safetensors (pickles can run arbitrary code on load)")
        raise LeanthinkError(f"model directory {spec!r} has no model.safetensors weights")
    return path


def _safetensors_present(path: Path, spec: str) -> bool:
    """Whether the directory's weights are safetensors files that exist. A shard index counts only
    with every shard it names present and in safetensors (a stub index beside a pickle does not)."""
    if (path / "model.safetensors").is_file():
        return True
    index = path / "model.safetensors.index.json"
    if not index.exists():
        return False
    try:
        shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise LeanthinkError(f"model directory {spec!r}: model.safetensors.index.json is not a valid shard index "
                             "(a JSON object with a weight_map)") from None
    bad = sorted(s for s in shards if not isinstance(s, str) or not s.endswith(".safetensors")
                 or not (path / s).is_file())
    if bad or not shards:
        raise LeanthinkError(f"model directory {spec!r}: the shard index names {bad[0] if bad else 'no files'}, "
                             "which is not a safetensors file in the directory")
    return True


def model_hash(directory: Path) -> str:
    """A short content hash of a checkpoint: config plus the weights' bytes (first and last MiB and
    size of each weight file, so multi-GB models hash in milliseconds)."""
    h = hashlib.sha256()
    h.update((directory / "config.json").read_bytes())
    for f in sorted(directory.glob("*.safetensors")):
        h.update(f.name.encode())
        digest_file(h, f)
    return h.hexdigest()[:16]


def digest_file(h, path: Path) -> None:
    """Feed a file's size and its first and last MiB to hash `h` (fast for multi-GB weights)."""
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(1 << 20))
        if size > 2 << 20:
            fh.seek(-(1 << 20), os.SEEK_END)
            h.update(fh.read())


def read_meta(directory: Path) -> dict:
    """The checkpoint's leanthink.json ({} if it has none)."""
    from ..errors import DataError

    f = directory / "leanthink.json"
    if not f.exists():
        return {}
    try:
        meta = json.loads(f.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError(f, "not UTF-8 text") from None
    except (ValueError, RecursionError) as e:
        raise DataError(f, f"not valid JSON ({getattr(e, 'msg', e)})") from None
    if not isinstance(meta, dict):
        raise DataError(f, f"expected a JSON object, got {type(meta).__name__}")
    return meta


def builtin_tokenizer():
    from transformers import AutoTokenizer

    if not (TOKENIZER_DIR / "tokenizer.json").exists():
        raise LeanthinkError(f"built-in tokenizer missing at {TOKENIZER_DIR}; run `leanthink build-tokenizer`")
    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def save_checkpoint(model, tokenizer, out: Path, meta: dict, dtype=None) -> None:
    """Write a Hugging Face directory atomically: build it beside `out`, then swap it in (a resume/
    folder already inside `out` is carried over)."""
    import torch

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    from ..engine.loading import quiet_transformers

    with quiet_transformers():   # no "Writing model shards" bar in the user's log
        model.to(dtype or torch.bfloat16).save_pretrained(tmp, safe_serialization=True)
        model.to(torch.float32)
        tokenizer.save_pretrained(tmp)
    (tmp / "leanthink.json").write_text(json.dumps(meta, indent=2))
    if (out / "resume").exists():
        shutil.move(str(out / "resume"), tmp / "resume")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
