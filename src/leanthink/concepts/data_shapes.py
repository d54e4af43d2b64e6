"""Synthetic shapes with exact concept ground truth, generated with NumPy.

Each canvas holds 1-3 non-overlapping shapes; a shape has a colour (red, green, blue), a kind
(square, circle, triangle) and a size (small, large). These 8 attributes, plus `background`, are
the concepts:
- global: the attributes present anywhere in the image (never `background`);
- spatial: for each patch, the attributes of every shape with at least one pixel in that patch
  (read off the very masks that were painted, so the ground truth is exact, not estimated), or
  `background` for a patch no shape touches. Without it background patches would be unsupervised
  and fill the spatial maps with noise; the paper instead ignores such patches (CUB's part labels).
Labels come from compositional rules over the shapes ("is there a red square?"), drawn so each
class is half of the data: a rule like red_square is true for only ~20% of random canvases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leanthink.concepts.data import ConceptData

COLOURS = ("red", "green", "blue")
KINDS = ("square", "circle", "triangle")
SIZES = ("small", "large")
CONCEPT_NAMES = COLOURS + KINDS + SIZES + ("background",)
BACKGROUND = CONCEPT_NAMES.index("background")
_RGB = np.array([[0.9, 0.1, 0.1], [0.1, 0.8, 0.1], [0.15, 0.25, 0.95]], dtype=np.float32)
_SIDE = {"small": 5, "large": 9}
_TEST_SEED, _VAL_SEED = 7919, 6091  # the held-out canvases never depend on a run's seed


@dataclass(frozen=True)
class Shape:
    colour: str
    kind: str
    size: str
    top: int
    left: int

    def concept_ids(self) -> list[int]:
        return [CONCEPT_NAMES.index(self.colour), CONCEPT_NAMES.index(self.kind), CONCEPT_NAMES.index(self.size)]


RULES = {
    "red_square": lambda shapes: any(s.colour == "red" and s.kind == "square" for s in shapes),
    "circle_and_triangle": lambda shapes: (any(s.kind == "circle" for s in shapes)
                                           and any(s.kind == "triangle" for s in shapes)),
}
CLASS_NAMES = {"red_square": ("no red square", "red square"),
               "circle_and_triangle": ("not both", "circle and triangle")}


def shape_mask(kind: str, side: int) -> np.ndarray:
    """Boolean (side, side) mask of a shape filling its bounding box."""
    yy, xx = np.mgrid[0:side, 0:side]
    if kind == "square":
        return np.ones((side, side), dtype=bool)
    if kind == "circle":
        c = (side - 1) / 2
        return (yy - c) ** 2 + (xx - c) ** 2 <= (side / 2) ** 2 - 0.25
    # triangle pointing up: row y spans a width growing linearly from the apex to the base
    c = (side - 1) / 2
    half = (yy + 1) / side * side / 2
    return np.abs(xx - c) <= half - 0.25


def _random_attributes(rng: np.random.Generator) -> list[tuple[str, str, str]]:
    n = int(rng.integers(1, 4))
    return [(COLOURS[rng.integers(3)], KINDS[rng.integers(3)], SIZES[rng.integers(2)]) for _ in range(n)]


def _place(attrs, canvas: int, rng: np.random.Generator) -> list[Shape] | None:
    """Non-overlapping placement with a 1-pixel gap between bounding boxes; None if it failed."""
    placed: list[Shape] = []
    boxes: list[tuple[int, int, int]] = []
    for colour, kind, size in attrs:
        side = _SIDE[size]
        for _ in range(50):
            top, left = int(rng.integers(0, canvas - side + 1)), int(rng.integers(0, canvas - side + 1))
            if all(top + side + 1 <= t or t + s + 1 <= top or left + side + 1 <= l or l + s + 1 <= left
                   for t, l, s in boxes):
                break
        else:
            return None
        boxes.append((top, left, side))
        placed.append(Shape(colour, kind, size, top, left))
    return placed


def sample_shapes(rng: np.random.Generator, rule: str, want: bool, canvas: int) -> list[Shape]:
    """Shapes for one canvas whose rule value is `want` (rejection sampling on the attributes)."""
    while True:
        attrs = _random_attributes(rng)
        probe = [Shape(c, k, s, 0, 0) for c, k, s in attrs]
        if RULES[rule](probe) != want:
            continue
        shapes = _place(attrs, canvas, rng)
        if shapes is not None:
            return shapes


def render(shapes: list[Shape], canvas: int, patch: int, rng: np.random.Generator):
    """(image (3, H, W), global concepts (C,), spatial concepts (P, C)) for one canvas."""
    image = np.zeros((3, canvas, canvas), dtype=np.float32)
    owner = np.full((canvas, canvas), -1, dtype=np.int64)  # which shape painted each pixel
    for i, s in enumerate(shapes):
        side = _SIDE[s.size]
        mask = shape_mask(s.kind, side)
        rgb = _RGB[COLOURS.index(s.colour)] * rng.uniform(0.85, 1.0)
        region = (slice(s.top, s.top + side), slice(s.left, s.left + side))
        image[:, region[0], region[1]][:, mask] = rgb[:, None]
        owner[region][mask] = i
    # faint noise so the backbone cannot key on exact pixel values
    image = np.clip(image + rng.normal(0, 0.03, image.shape).astype(np.float32), 0, 1)
    n_c = len(CONCEPT_NAMES)
    glob = np.zeros(n_c, dtype=np.float32)
    for s in shapes:
        glob[s.concept_ids()] = 1.0
    g = canvas // patch
    spatial = np.zeros((g * g, n_c), dtype=np.float32)
    blocks = owner.reshape(g, patch, g, patch).transpose(0, 2, 1, 3).reshape(g * g, patch * patch)
    for p in range(g * g):
        for i in np.unique(blocks[p]):
            if i >= 0:
                spatial[p, shapes[i].concept_ids()] = 1.0
        if not spatial[p].any():
            spatial[p, BACKGROUND] = 1.0
    return image, glob, spatial


def make_shapes(rule: str, n: int, rng: np.random.Generator, canvas: int, patch: int) -> ConceptData:
    images, globs, spatials, labels = [], [], [], []
    for j in range(n):
        want = bool(j % 2) if n > 1 else bool(rng.integers(2))
        shapes = sample_shapes(rng, rule, want, canvas)
        image, glob, spatial = render(shapes, canvas, patch, rng)
        images.append(image), globs.append(glob), spatials.append(spatial), labels.append(int(want))
    order = rng.permutation(n)  # so the labels do not alternate in index order
    return ConceptData(np.stack(images)[order], np.array(labels, dtype=np.int64)[order],
                       np.stack(globs)[order], np.stack(spatials)[order], np.ones(n, dtype=bool),
                       CONCEPT_NAMES, CLASS_NAMES[rule])


def make_shapes_split(rule: str, n_train: int, n_test: int, seed: int, canvas: int, patch: int,
                      split: str = "test"):
    """(train, held-out); split="val" draws the held-out canvases from their own fixed seed."""
    train = make_shapes(rule, n_train, np.random.default_rng([seed, 2]), canvas, patch)
    held_seed = _VAL_SEED if split == "val" else _TEST_SEED
    test = make_shapes(rule, n_test, np.random.default_rng([held_seed, canvas, patch]), canvas, patch)
    return train, test
