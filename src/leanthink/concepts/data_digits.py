"""scikit-learn's bundled 8×8 digits as a concept task: the concept is the digit, the label a
coarser rule over it (parity, digit mod 3, digit < 5), mirroring MNIST odd/even and CIFAR-100's
super-classes in the paper. The digit is a global concept only (the paper's MNIST model has no
spatial concepts), so `spatial` is None.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from leanthink.concepts.config import DIGITS_TEST_SIZE, DIGITS_VAL_SIZE
from leanthink.concepts.data import ConceptData

CONCEPT_NAMES = tuple(str(d) for d in range(10))
RULES = {
    "parity": (lambda d: d % 2, ("even", "odd")),
    "mod3": (lambda d: d % 3, ("0,3,6,9", "1,4,7", "2,5,8")),
    "lt5": (lambda d: (d >= 5).astype(np.int64), ("<5", ">=5")),
}
# The held-out split is drawn once with this fixed seed, independent of any run's seed.
_SPLIT_SEED = 20240101


def digits_as_concept_data(task: str) -> ConceptData:
    raw = load_digits()
    digits = raw.target.astype(np.int64)
    rule, class_names = RULES[task]
    images = (raw.images.astype(np.float32) / 16.0)[:, None]  # pixel values are 0..16
    concepts = np.eye(10, dtype=np.float32)[digits]
    return ConceptData(images, rule(digits).astype(np.int64), concepts, None,
                       np.ones(len(digits), dtype=bool), CONCEPT_NAMES, class_names)


def load_digits_split(task: str, n_train: int, seed: int, patch: int,
                      split: str = "test") -> tuple[ConceptData, ConceptData]:
    """(train, held-out). split="val": the held-out images are the first DIGITS_VAL_SIZE of the training
    pool (fixed), and the training subset is drawn from the rest of the pool; the test images are never
    touched in that mode."""
    del patch  # digits have no spatial ground truth, so the patch size does not shape the data
    data = digits_as_concept_data(task)
    perm = np.random.default_rng(_SPLIT_SEED).permutation(len(data))
    held_idx, pool = perm[:DIGITS_TEST_SIZE], perm[DIGITS_TEST_SIZE:]
    if split == "val":
        held_idx, pool = pool[:DIGITS_VAL_SIZE], pool[DIGITS_VAL_SIZE:]
    train_idx = np.random.default_rng([seed, 1]).choice(pool, size=n_train, replace=False)
    return data.subset(train_idx), data.subset(held_idx)
