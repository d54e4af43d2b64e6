"""PNGs of concept attention: per class (mean CLS attention over concepts) and per example (the
image, its CLS attention as bars, and spatial attention maps of its top concepts over the image)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from leanthink.concepts.data import ConceptData  # noqa: E402
from leanthink.concepts.io import save_figure  # noqa: E402
from leanthink.concepts.metrics import Predictions  # noqa: E402


def _show_image(ax, image: np.ndarray) -> None:
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray_r", vmin=0, vmax=1)
    else:
        ax.imshow(np.clip(image.transpose(1, 2, 0), 0, 1))
    ax.set_xticks([]), ax.set_yticks([])


def per_class_attention(preds: Predictions, data: ConceptData, path: Path, title: str = "") -> None:
    """Heatmap: rows = true classes, columns = concepts, cell = mean CLS attention."""
    attn = preds.global_attn
    k = len(data.class_names)
    mat = np.stack([attn[data.labels == i].mean(0) if (data.labels == i).any() else np.zeros(attn.shape[1])
                    for i in range(k)])
    fig, ax = plt.subplots(figsize=(0.55 * len(data.concept_names) + 2.5, 0.5 * k + 1.6))
    im = ax.imshow(mat, cmap="viridis", vmin=0, aspect="auto")
    ax.set_xticks(range(len(data.concept_names)), data.concept_names, rotation=45, ha="right")
    ax.set_yticks(range(k), data.class_names)
    ax.set_xlabel("concept"), ax.set_ylabel("true class")
    for i in range(k):
        for j in range(mat.shape[1]):
            ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if mat[i, j] < mat.max() / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.04)
    ax.set_title(title or "mean concept attention (CLS) per class")
    save_figure(fig, path)


def per_example(preds: Predictions, data: ConceptData, indices, path: Path, top: int = 3) -> None:
    """One row per example: image | CLS attention bars (true concepts in orange) | spatial maps."""
    indices = list(indices)
    n_cols = 2 + (top if preds.spatial_attn is not None else 0)
    fig, axes = plt.subplots(len(indices), n_cols, figsize=(2.3 * n_cols, 2.7 * len(indices)), squeeze=False,
                             layout="constrained")
    names = data.concept_names
    for row, i in enumerate(indices):
        ax = axes[row, 0]
        _show_image(ax, data.images[i])
        ax.set_title(f"true {data.class_names[data.labels[i]]}\npred {data.class_names[preds.pred[i]]}", fontsize=8)
        ax = axes[row, 1]
        attn = preds.global_attn[i]
        colours = ["tab:orange" if data.concepts[i, c] > 0 else "tab:blue" for c in range(len(names))]
        ax.bar(range(len(names)), attn, color=colours)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
        ax.set_ylim(0, 1), ax.tick_params(axis="y", labelsize=7)
        ax.set_title("CLS attention (orange = true)", fontsize=8)
        if preds.spatial_attn is None:
            continue
        sp = preds.spatial_attn[i]  # (P, C)
        g = int(round(np.sqrt(sp.shape[0])))
        h = data.images.shape[-1]
        chosen = np.argsort(-attn)[:top]  # the concepts the CLS token relied on for this image
        vmax = max(float(sp[:, chosen].max()), 1e-6)  # one scale per row, so maps compare
        for col, c in enumerate(chosen):
            ax = axes[row, 2 + col]
            _show_image(ax, data.images[i])
            # nearest-neighbour upsampling: each patch is one cell, as the model saw it
            ax.imshow(sp[:, c].reshape(g, g), cmap="inferno", alpha=0.65, vmin=0, vmax=vmax,
                      extent=(-0.5, h - 0.5, h - 0.5, -0.5), interpolation="nearest")
            ax.set_title(f"patch attention → {names[c]}\n(scale 0–{vmax:.2f})", fontsize=8)
    if preds.spatial_attn is not None and data.spatial is None:
        fig.suptitle("patch maps are unsupervised here: this data has no per-patch concept labels", fontsize=9)
    save_figure(fig, path)


def pick_examples(preds: Predictions, data: ConceptData, n: int, seed: int = 0) -> list[int]:
    """A few examples per class (so every class is shown), deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    k = len(data.class_names)
    out: list[int] = []
    for c in range(k):
        idx = np.flatnonzero(data.labels == c)
        out += list(rng.choice(idx, size=min(len(idx), max(1, n // k)), replace=False))
    return out[:n]
