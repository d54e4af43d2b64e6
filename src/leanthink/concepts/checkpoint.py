"""A trained run on disk: model.safetensors + config.json (no pickles), loadable by `explain`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safetensors.torch import load, save

from leanthink import checks
from leanthink.concepts.config import DataConfig, ModelConfig, TrainConfig, from_dict, to_dict
from leanthink.concepts.io import iter_jsonl, write_bytes, write_json
from leanthink.concepts.models import build_model
from leanthink.errors import LeanthinkError

WEIGHTS, CONFIG, RESULTS = "model.safetensors", "config.json", "results.jsonl"


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


def check_writable(flag: str, out_dir: Path) -> Path:
    """Before training: `out_dir` can hold a run (a folder, or nothing yet, whose files can be written),
    and a results.jsonl already there is whole (a bad line is an error now, not after the run)."""
    out_dir = checks.output_dir(flag, out_dir)
    for name in (WEIGHTS, CONFIG, RESULTS):
        checks.output_file(flag, out_dir / name)
    for _ in iter_jsonl(out_dir / RESULTS):
        pass
    return out_dir


def load_run(run_dir: Path):
    """(model in eval mode, DataConfig, ModelConfig, TrainConfig, meta dict).

    Every way a folder can fail to be a run (missing, corrupt or truncated files, weights of another
    run, settings this version cannot build) is a `LeanthinkError` naming the file."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise LeanthinkError(f"run_dir {run_dir}: is a file; expected the output folder of `concepts train`")
    cfg_path, w_path = run_dir / CONFIG, run_dir / WEIGHTS
    for p in (cfg_path, w_path):
        if not p.exists():
            raise LeanthinkError(f"{p}: missing; run_dir must be the output folder of `concepts train`")
        checks.input_file("run_dir", p)
    meta = _read_meta(cfg_path)
    cfgs = []
    for key, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
        try:
            cfgs.append(from_dict(cls, meta[key]))
        except LeanthinkError as e:
            raise LeanthinkError(f"{cfg_path}: {key!r} section: {e}") from None
    data_cfg, model_cfg, train_cfg = cfgs
    blob = w_path.read_bytes()
    expected = meta.get("weights_sha256")
    if expected is not None and hashlib.sha256(blob).hexdigest() != expected:
        raise LeanthinkError(f"{w_path}: does not match weights_sha256 in {cfg_path} (truncated, or the weights "
                             f"of another run); retrain or copy the run folder again")
    try:
        tensors = load(blob)
    except Exception as e:  # safetensors raises its own SafetensorError for a bad header
        raise LeanthinkError(f"{w_path}: not a valid safetensors file ({_first_line(e)})") from None
    model = build_model(model_cfg)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:  # missing, unexpected or mis-shaped tensors
        raise LeanthinkError(f"{w_path}: weights do not fit the model described in {cfg_path} "
                             f"({_first_line(e, skip_header=True)})") from None
    model.eval()
    return model, data_cfg, model_cfg, train_cfg, meta


def _read_meta(cfg_path: Path) -> dict:
    try:
        meta = json.loads(cfg_path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise LeanthinkError(f"{cfg_path}: not UTF-8 text (byte {e.start + 1})") from None
    except json.JSONDecodeError as e:
        raise LeanthinkError(f"{cfg_path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(meta, dict):
        raise LeanthinkError(f"{cfg_path}: expected a JSON object, got {type(meta).__name__}")
    for key in ("data", "model", "train"):
        if key not in meta:
            raise LeanthinkError(f"{cfg_path}: missing key {key!r}")
    return meta


def check_fits_data(run_dir: Path, model_cfg: ModelConfig, data_cfg: DataConfig, data) -> None:
    """The saved model's input and output sizes agree with the data its config regenerates (a hand-edited
    config.json could pair digits weights with shapes data)."""
    _, ch, h, _ = data.images.shape
    want = {"image_size": h, "channels": ch, "patch": data_cfg.patch, "n_classes": len(data.class_names),
            "n_concepts": len(data.concept_names)}
    for name, value in want.items():
        if getattr(model_cfg, name) != value:
            raise LeanthinkError(f"{Path(run_dir) / CONFIG}: model.{name}={getattr(model_cfg, name)} but the data "
                                 f"settings give {value}; the file was edited or mixes two runs")


def _first_line(e: BaseException, skip_header: bool = False) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if skip_header and len(lines) > 1:  # torch: "Error(s) in loading state_dict for X:" then the details
        lines = lines[1:]
    return (lines[0] if lines else type(e).__name__)[:300]
