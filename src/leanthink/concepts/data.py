"""One container for images with class labels and exact concept ground truth, and the loader.

Global concepts are a multi-hot vector per image (which concepts the image has); spatial concepts
are a multi-hot vector per patch (which concepts the pixels of that patch belong to), all zeros for
a background patch. Examples without concept labels keep their targets but are masked out of the
explanation loss by `has_concepts`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leanthink.concepts.config import DataConfig


@dataclass(frozen=True)
class ConceptData:
    images: np.ndarray  # (N, channels, H, W) float32 in [0, 1]
    labels: np.ndarray  # (N,) int64 class index
    concepts: np.ndarray  # (N, C) float32 multi-hot global concepts
    spatial: np.ndarray | None  # (N, P, C) float32 multi-hot per patch, None when the data has none
    has_concepts: np.ndarray  # (N,) bool: whether this example's concept labels may be used
    concept_names: tuple[str, ...]
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx) -> "ConceptData":
        idx = np.asarray(idx)
        return ConceptData(self.images[idx], self.labels[idx], self.concepts[idx],
                           None if self.spatial is None else self.spatial[idx],
                           self.has_concepts[idx], self.concept_names, self.class_names)

    def with_concept_fraction(self, fraction: float, seed: int) -> "ConceptData":
        """Keep concept labels on a random `fraction` of the examples (at least one when fraction > 0)."""
        n = len(self)
        k = int(round(fraction * n))
        if fraction > 0:
            k = max(k, 1)
        keep = np.zeros(n, dtype=bool)
        keep[np.random.default_rng([seed, 17]).permutation(n)[:k]] = True
        return ConceptData(self.images, self.labels, self.concepts, self.spatial, keep,
                           self.concept_names, self.class_names)


def load_data(cfg: DataConfig) -> tuple[ConceptData, ConceptData]:
    """(train, held-out). The held-out split (test, or val with `cfg.split == "val"`) is the same for every
    seed, so runs are compared on one set."""
    if cfg.dataset == "digits":
        from leanthink.concepts.data_digits import load_digits_split
        train, test = load_digits_split(cfg.task, cfg.n_train, cfg.seed, cfg.patch, cfg.split)
    elif cfg.dataset == "scenes":
        from leanthink.concepts.data_scenes import make_scenes_split
        train, test = make_scenes_split(cfg.n_train, cfg.n_test, cfg.seed, cfg.canvas, cfg.patch, cfg.split)
    else:
        from leanthink.concepts.data_shapes import make_shapes_split
        train, test = make_shapes_split(cfg.task, cfg.n_train, cfg.n_test, cfg.seed, cfg.canvas, cfg.patch,
                                        cfg.split)
    return train.with_concept_fraction(cfg.concept_fraction, cfg.seed), test
