"""Load a trained run, score it on its held-out split and draw its concept attention."""

from __future__ import annotations

from pathlib import Path

from leanthink.concepts.checkpoint import load_run
from leanthink.concepts.data import load_data
from leanthink.concepts.figures import per_class_attention, per_example, pick_examples
from leanthink.concepts.io import write_json
from leanthink.concepts.metrics import predict, score
from leanthink.errors import LeanthinkError


def explain_run(run_dir: Path, out_dir: Path | None = None, n_examples: int = 6, seed: int = 0) -> dict:
    """Writes explain.json, per_class.png and examples.png under out_dir (default run_dir/explain)."""
    if n_examples < 1 or n_examples > 64:
        raise LeanthinkError(f"examples={n_examples} is out of range; it must be between 1 and 64")
    model, data_cfg, model_cfg, _, meta = load_run(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else Path(run_dir) / "explain"
    # the test split is regenerated from the saved data settings: it never depends on the run's seed
    _, test = load_data(data_cfg)
    preds = predict(model, test)
    result = {"run_dir": str(run_dir), "kind": model_cfg.kind, "slots": model_cfg.slots,
              "dataset": data_cfg.dataset, "task": data_cfg.task, **score(preds, test), "figures": []}
    if preds.global_attn is not None:
        label = f"{model_cfg.kind}{'/' + model_cfg.slots if model_cfg.kind == 'cct' else ''}"
        per_class_attention(preds, test, out_dir / "per_class.png",
                            title=f"{label} on {data_cfg.dataset}/{data_cfg.task}: mean CLS attention per class")
        per_example(preds, test, pick_examples(preds, test, n_examples, seed), out_dir / "examples.png")
        result["figures"] = [str(out_dir / "per_class.png"), str(out_dir / "examples.png")]
    else:
        result["note"] = "plain classifier: no concept attention to draw"
    result["weights_sha256"] = meta.get("weights_sha256")
    write_json(out_dir / "explain.json", result)
    return result
