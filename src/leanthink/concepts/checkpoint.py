"""A trained run on disk: model.safetensors + config.json (no pickles), loadable by `explain`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safetensors.torch import load_file, save

from leanthink.concepts.config import DataConfig, ModelConfig, TrainConfig, from_dict, to_dict
from leanthink.concepts.io import write_bytes, write_json
from leanthink.concepts.models import build_model
from leanthink.errors import LeanthinkError

WEIGHTS, CONFIG = "model.safetensors", "config.json"


def save_run(out_dir: Path, model, data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
             concept_names, class_names, metrics: dict) -> str:
    """Write weights and config; returns the weights' sha256 (recorded with every result line)."""
    out_dir = Path(out_dir)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    blob = save(tensors)
    digest = hashlib.sha256(blob).hexdigest()
    write_bytes(out_dir / WEIGHTS, blob)
    write_json(out_dir / CONFIG, {
        "data": to_dict(data_cfg), "model": to_dict(model_cfg), "train": to_dict(train_cfg),
        "concept_names": list(concept_names), "class_names": list(class_names),
        "weights_sha256": digest, "metrics": metrics,
    })
    return digest


def load_run(run_dir: Path):
    """(model in eval mode, DataConfig, ModelConfig, TrainConfig, meta dict)."""
    run_dir = Path(run_dir)
    cfg_path, w_path = run_dir / CONFIG, run_dir / WEIGHTS
    for p in (cfg_path, w_path):
        if not p.exists():
            raise LeanthinkError(f"{p}: missing; run_dir must be the output folder of `concepts train`")
    try:
        meta = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise LeanthinkError(f"{cfg_path}:{e.lineno}: not valid JSON ({e.msg})") from None
    for key in ("data", "model", "train"):
        if key not in meta:
            raise LeanthinkError(f"{cfg_path}: missing key {key!r}")
    data_cfg = from_dict(DataConfig, meta["data"])
    model_cfg = from_dict(ModelConfig, meta["model"])
    train_cfg = from_dict(TrainConfig, meta["train"])
    model = build_model(model_cfg)
    model.load_state_dict(load_file(str(w_path)))
    model.eval()
    return model, data_cfg, model_cfg, train_cfg, meta
