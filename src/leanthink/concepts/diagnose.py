"""How much of a concept model's prediction flows through its explanation?

The explanation is the attention over concepts, and the logits are a linear map of attention-weighted
concept *values*. In the Concept Transformer the values are fixed embeddings, so the attention is the
only way image information reaches the logits. In CCT the values are slots written from the image,
so the image can also reach the logits through the values, around the attention. Two ablations on a
held-out split measure this, with the same code for both models:

- `acc_attn_uniform`: accuracy with every attention row (CLS and patches) replaced by the uniform
  distribution over concepts. Chance level means the prediction needs the attention; near the model's
  own accuracy means the attention (the explanation) is not what carries the decision.
- `acc_attn_truth`: accuracy with the attention replaced by the ground-truth concept distribution
  (CLS: the image's concepts; patches: the patch's concepts where the data has patch labels, else
  uniform). It asks how well the model's readout does when the explanation is exactly right.
"""

from __future__ import annotations

import numpy as np
import torch

from leanthink.concepts.data import ConceptData


def _normalised(t: np.ndarray) -> np.ndarray:
    t = t.astype(np.float32)
    s = t.sum(-1, keepdims=True)
    uniform = np.full_like(t, 1.0 / t.shape[-1])
    return np.where(s > 0, t / np.maximum(s, 1e-12), uniform)


@torch.no_grad()
def attention_ablation(model, data: ConceptData, batch_size: int = 256) -> dict:
    """{"acc_attn_uniform", "acc_attn_truth"} for a CCT or CT model; None values for plain."""
    if getattr(model.cfg, "kind", "plain") == "plain":
        return {"acc_attn_uniform": None, "acc_attn_truth": None}
    was_training = model.training
    model.eval()
    c, p = model.cfg.n_concepts, model.cfg.n_patches
    hits = {"acc_attn_uniform": 0, "acc_attn_truth": 0}
    for i in range(0, len(data), batch_size):
        x = torch.from_numpy(data.images[i:i + batch_size])
        y = data.labels[i:i + batch_size]
        b = len(x)
        uniform_g, uniform_s = torch.full((b, c), 1.0 / c), torch.full((b, p, c), 1.0 / c)
        truth_g = torch.from_numpy(_normalised(data.concepts[i:i + b]))
        truth_s = uniform_s if data.spatial is None else torch.from_numpy(_normalised(data.spatial[i:i + b]))
        for key, (g, s) in (("acc_attn_uniform", (uniform_g, uniform_s)), ("acc_attn_truth", (truth_g, truth_s))):
            pred = model(x, global_attn=g, spatial_attn=s).logits.argmax(-1).numpy()
            hits[key] += int((pred == y).sum())
    model.train(was_training)
    return {k: v / len(data) for k, v in hits.items()}
