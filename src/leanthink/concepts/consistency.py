"""Explanation consistency: do explanations agree where they should?

Two measures, both averages of the *overlap* of two attention distributions over concepts,
overlap(p, q) = Σ_c min(p_c, q_c) = 1 − total-variation distance (1: identical, 0: disjoint):

- `consist_class`: images of the same (true) class should be explained alike. For each class, the
  mean overlap of the CLS attention over all pairs of its held-out images; then the mean over classes.
- `consist_aug_global` / `consist_aug_spatial`: an image and an augmented copy that keeps its concepts
  (and its label) should be explained alike. Global: overlap of the two CLS attentions. Spatial: the
  overlap of each foreground patch's attention with that of the same pixels' patch in the copy
  (the patch grid is mapped through the augmentation), averaged over foreground patches.

Augmentations keep every concept: canvases (shapes, scenes) are flipped left-right (all their kinds
are mirror-symmetric) with fresh pixel noise (σ 0.03); digits get stronger pixel noise (σ 0.1) and
have no spatial measure (no patch labels). A one-pixel shift of the 8×8 digits (`kind="shift"`) was
tried first and dropped: no model here is trained to be shift-invariant, so the shifted copy is
mostly a different input (top concept unchanged for only ~25% of images, for every model), which
measures robustness, not whether explanations are consistent.

Overlap also rewards diffuse attention (two near-uniform distributions overlap almost fully), so each
measure comes with a top-concept version that does not: `agree_class` (share of same-class pairs whose
most-attended concept is the same), `agree_aug_global` / `agree_aug_spatial` (share of images /
foreground patches whose most-attended concept survives the augmentation), and `peak_global`, the mean
largest CLS attention weight (how sharp the explanations are). And consistency alone rewards a model
that ignores its input (a constant explanation is perfectly consistent), so all of these are reported
beside explanation accuracy, never instead of it.
"""

from __future__ import annotations

import numpy as np

from leanthink.concepts.data import ConceptData
from leanthink.concepts.metrics import Predictions, predict

AUGMENT = {"digits": "noise", "shapes": "flip", "scenes": "flip"}
METRICS = ("consist_class", "consist_aug_global", "consist_aug_spatial", "agree_class", "agree_aug_global",
           "agree_aug_spatial", "peak_global")
_NOISE, _STRONG_NOISE = 0.03, 0.1


def overlap(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Σ min(p, q) over the last axis: 1 − total variation distance for distributions."""
    return np.minimum(p, q).sum(-1)


def class_consistency(attn: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean over classes of the mean pairwise overlap of `attn` rows within the class (pairs i ≠ j)."""
    per_class = []
    for k in np.unique(labels):
        a = attn[labels == k].astype(np.float64)
        n = len(a)
        if n < 2:
            continue
        total = sum(overlap(a[i], a).sum() - 1.0 for i in range(n))  # drop the self-pair (overlap 1)
        per_class.append(total / (n * (n - 1)))
    return float(np.mean(per_class)) if per_class else None


def class_agreement(attn: np.ndarray, labels: np.ndarray) -> float | None:
    """Mean over classes of the share of pairs i ≠ j within the class whose argmax concept is the same."""
    per_class = []
    for k in np.unique(labels):
        top = attn[labels == k].argmax(-1)
        n = len(top)
        if n < 2:
            continue
        counts = np.bincount(top).astype(np.float64)
        per_class.append(float((counts * (counts - 1)).sum() / (n * (n - 1))))
    return float(np.mean(per_class)) if per_class else None


def flip_permutation(n_patches: int) -> np.ndarray:
    """perm[p] = the patch of the flipped image that holds patch p's pixels (row-major grid)."""
    g = int(round(np.sqrt(n_patches)))
    rows, cols = np.divmod(np.arange(n_patches), g)
    return rows * g + (g - 1 - cols)


def augment(data: ConceptData, kind: str, seed: int = 0) -> tuple[ConceptData, np.ndarray | None]:
    """(augmented copy, patch permutation or None). Labels and concept targets are carried over;
    the spatial targets are permuted with the patches."""
    rng = np.random.default_rng([seed, 29])
    images = data.images
    perm = None
    if kind == "flip":
        images = images[..., ::-1]
        if data.spatial is not None:
            perm = flip_permutation(data.spatial.shape[1])
    elif kind == "shift":
        n = len(images)
        dy, dx = rng.integers(-1, 2, size=n), rng.integers(-1, 2, size=n)
        dy[(dy == 0) & (dx == 0)] = 1  # always move
        shifted = np.zeros_like(images)
        h, w = images.shape[-2:]
        for i in range(n):
            src = images[i, :, max(0, -dy[i]):h - max(0, dy[i]), max(0, -dx[i]):w - max(0, dx[i])]
            shifted[i, :, max(0, dy[i]):max(0, dy[i]) + src.shape[1], max(0, dx[i]):max(0, dx[i]) + src.shape[2]] = src
        images = shifted
    elif kind != "noise":
        raise ValueError(f"unknown augmentation {kind!r}")
    sigma = _STRONG_NOISE if kind == "noise" else _NOISE
    images = np.clip(images + rng.normal(0, sigma, images.shape), 0, 1).astype(np.float32)
    spatial = None
    if data.spatial is not None and perm is not None:
        spatial = np.empty_like(data.spatial)
        spatial[:, perm] = data.spatial
    aug = ConceptData(images, data.labels, data.concepts, spatial, data.has_concepts,
                      data.concept_names, data.class_names)
    return aug, perm


def consistency_from(preds: Predictions, aug_preds: Predictions, data: ConceptData,
                     perm: np.ndarray | None) -> dict:
    """The three numbers from predictions on the held-out split and on its augmented copy."""
    out = dict.fromkeys(METRICS)
    if preds.global_attn is None:
        return out
    g, g_aug = preds.global_attn, aug_preds.global_attn
    out["consist_class"] = class_consistency(g, data.labels)
    out["agree_class"] = class_agreement(g, data.labels)
    out["consist_aug_global"] = float(overlap(g, g_aug).mean())
    out["agree_aug_global"] = float((g.argmax(-1) == g_aug.argmax(-1)).mean())
    out["peak_global"] = float(g.max(-1).mean())
    if preds.spatial_attn is not None and perm is not None and data.spatial is not None:
        fg = data.spatial.sum(-1) > 0
        if "background" in data.concept_names:
            fg &= data.spatial[..., data.concept_names.index("background")] == 0
        aligned = aug_preds.spatial_attn[:, perm]  # (N, P, C): the copy's patch holding the same pixels
        if fg.any():
            out["consist_aug_spatial"] = float(overlap(preds.spatial_attn, aligned)[fg].mean())
            out["agree_aug_spatial"] = float((preds.spatial_attn.argmax(-1) == aligned.argmax(-1))[fg].mean())
    return out


def consistency(model, data: ConceptData, dataset: str, preds: Predictions | None = None, seed: int = 0) -> dict:
    """Consistency scores of `model` on `data` (a held-out split of `dataset`)."""
    preds = preds if preds is not None else predict(model, data)
    if preds.global_attn is None:
        return consistency_from(preds, preds, data, None)
    aug, perm = augment(data, AUGMENT[dataset], seed)
    return consistency_from(preds, predict(model, aug), data, perm)
