"""Accuracy and explanation accuracy on a data split.

Explanation accuracy: how often the top-attended concept is a true concept of the input.
- global: CLS attention's argmax is among the image's concepts (examples with concept labels);
- spatial: each foreground patch's argmax is among that patch's concepts. Patches whose only concept
  is `background` are not scored: they are most of a canvas and would make the number easy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from leanthink.concepts.data import ConceptData


@dataclass
class Predictions:
    pred: np.ndarray  # (N,) predicted class
    global_attn: np.ndarray | None  # (N, C)
    spatial_attn: np.ndarray | None  # (N, P, C)


@torch.no_grad()
def predict(model, data: ConceptData, batch_size: int = 256) -> Predictions:
    was_training = model.training
    model.eval()
    preds, g, s = [], [], []
    for i in range(0, len(data), batch_size):
        out = model(torch.from_numpy(data.images[i:i + batch_size]))
        preds.append(out.logits.argmax(-1).numpy())
        if out.global_attn is not None:
            g.append(out.global_attn.numpy())
        if out.spatial_attn is not None:
            s.append(out.spatial_attn.numpy())
    model.train(was_training)
    return Predictions(np.concatenate(preds), np.concatenate(g) if g else None, np.concatenate(s) if s else None)


def top_concept_hit_rate(attn: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> float | None:
    """Share of rows (selected by mask and having >= 1 true concept) whose argmax is a true concept."""
    mask = mask & (targets.sum(-1) > 0)
    if not mask.any():
        return None
    top = attn[mask].argmax(-1)
    return float(targets[mask][np.arange(len(top)), top].astype(np.float64).mean())


def score(preds: Predictions, data: ConceptData) -> dict:
    out = {"accuracy": float((preds.pred == data.labels).mean()), "n_test": len(data),
           "expl_acc_global": None, "expl_acc_spatial": None}
    if preds.global_attn is not None:
        out["expl_acc_global"] = top_concept_hit_rate(preds.global_attn, data.concepts, data.has_concepts)
    if preds.spatial_attn is not None and data.spatial is not None:
        mask = np.broadcast_to(data.has_concepts[:, None], data.spatial.shape[:2])
        if "background" in data.concept_names:
            mask = mask & (data.spatial[..., data.concept_names.index("background")] == 0)
        out["expl_acc_spatial"] = top_concept_hit_rate(preds.spatial_attn, data.spatial, mask)
    return out


def evaluate(model, data: ConceptData) -> dict:
    return score(predict(model, data), data)
