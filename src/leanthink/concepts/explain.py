"""Load a trained run, score it on its held-out split and draw its concept attention."""

from __future__ import annotations

from pathlib import Path

from leanthink import checks
from leanthink.concepts.checkpoint import check_fits_data, load_run
from leanthink.concepts.consistency import consistency
from leanthink.concepts.diagnose import attention_ablation
from leanthink.concepts.data import load_data
from leanthink.concepts.figures import per_class_attention, per_example, pick_examples
from leanthink.concepts.io import write_json
from leanthink.concepts.metrics import predict, score

FIGURES = ("per_class.png", "examples.png")


def explain_run(run_dir: Path, out_dir: Path | None = None, n_examples: int = 6, seed: int = 0) -> dict:
    """Writes explain.json, per_class.png and examples.png under out_dir (default run_dir/explain)."""
    checks.integer("--examples", n_examples, 1, 64)
    checks.seed("--seed", seed)
    model, data_cfg, model_cfg, _, meta = load_run(run_dir)
    flag = "--out" if out_dir is not None else "RUN_DIR/explain"
    out_dir = Path(out_dir) if out_dir is not None else Path(run_dir) / "explain"
    checks.output_dir(flag, out_dir)
    for name in ("explain.json", *FIGURES):
        checks.output_file(flag, out_dir / name)
    # the test split is regenerated from the saved data settings: it never depends on the run's seed
    _, test = load_data(data_cfg)
    check_fits_data(run_dir, model_cfg, data_cfg, test)
    preds = predict(model, test)
    result = {"run_dir": str(run_dir), "kind": model_cfg.kind, "slots": model_cfg.slots,
              "dataset": data_cfg.dataset, "task": data_cfg.task, **score(preds, test),
              **consistency(model, test, data_cfg.dataset, preds), **attention_ablation(model, test),
              "figures": []}
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
