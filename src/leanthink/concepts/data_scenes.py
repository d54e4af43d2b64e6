"""`scenes`: a CUB-like attribute task: many concepts per image, at varying counts and positions.

Each 24×24 canvas holds 2-4 non-overlapping objects. An object has a colour (red, green, blue,
yellow), a kind (square, circle, triangle) and a size (small, large); those 9 attributes plus
`background` are the concepts, labelled globally (attributes present anywhere) and per patch (the
attributes of every object with a pixel in the patch, read off the painted masks, or `background`).

The class (`species`, 4-way, balanced) is the one *signature* object in the image: a red square, a
red circle, a blue square or a blue circle. The other 1-3 objects are distractors drawn from every
other (colour, kind) pair: green or yellow anything, red or blue triangles. So, as for birds in CUB,
the class is a bound combination of attributes: the global concept set of a "red square" image with a
blue-triangle and a green-circle distractor ({red, blue, green, square, triangle, circle, ...}) is
also that of a "red circle" or "blue square" image. Telling them apart needs to know which colour
sits on which kind, which a model can only carry through information beyond *which concepts are
present* (the point where a workspace written from the image, CCT, differs from fixed concept
embeddings, CT).
"""

from __future__ import annotations

import numpy as np

from leanthink.concepts.data import ConceptData
from leanthink.concepts.data_shapes import shape_mask

COLOURS = ("red", "green", "blue", "yellow")
KINDS = ("square", "circle", "triangle")
SIZES = ("small", "large")
CONCEPT_NAMES = COLOURS + KINDS + SIZES + ("background",)
BACKGROUND = CONCEPT_NAMES.index("background")
SIGNATURES = (("red", "square"), ("red", "circle"), ("blue", "square"), ("blue", "circle"))
CLASS_NAMES = tuple(f"{c} {k}" for c, k in SIGNATURES)
DISTRACTORS = tuple((c, k) for c in COLOURS for k in KINDS if (c, k) not in SIGNATURES)
_RGB = {"red": (0.9, 0.1, 0.1), "green": (0.1, 0.8, 0.1), "blue": (0.15, 0.25, 0.95), "yellow": (0.9, 0.85, 0.1)}
_SIDE = {"small": 5, "large": 7}
_TEST_SEED, _VAL_SEED = 104729, 130363  # held-out canvases never depend on a run's seed


def _concept_ids(colour: str, kind: str, size: str) -> list[int]:
    return [CONCEPT_NAMES.index(colour), CONCEPT_NAMES.index(kind), CONCEPT_NAMES.index(size)]


def sample_objects(rng: np.random.Generator, species: int) -> list[tuple[str, str, str]]:
    """The signature object of `species` plus 1-3 distractors, in random order."""
    objects = [(*SIGNATURES[species], SIZES[rng.integers(2)])]
    for _ in range(int(rng.integers(1, 4))):
        c, k = DISTRACTORS[rng.integers(len(DISTRACTORS))]
        objects.append((c, k, SIZES[rng.integers(2)]))
    return [objects[i] for i in rng.permutation(len(objects))]


def place(objects, canvas: int, rng: np.random.Generator) -> list[tuple[int, int]] | None:
    """Top-left corners with a 1-pixel gap between bounding boxes; None when 50 tries failed."""
    boxes: list[tuple[int, int, int]] = []
    for _, _, size in objects:
        side = _SIDE[size]
        for _ in range(50):
            top, left = int(rng.integers(0, canvas - side + 1)), int(rng.integers(0, canvas - side + 1))
            if all(top + side + 1 <= t or t + s + 1 <= top or left + side + 1 <= l or l + s + 1 <= left
                   for t, l, s in boxes):
                boxes.append((top, left, side))
                break
        else:
            return None
    return [(t, l) for t, l, _ in boxes]


def render_scene(objects, corners, canvas: int, patch: int, rng: np.random.Generator):
    """(image (3, H, W), global concepts (C,), spatial concepts (P, C))."""
    image = np.zeros((3, canvas, canvas), dtype=np.float32)
    owner = np.full((canvas, canvas), -1, dtype=np.int64)
    for i, ((colour, kind, size), (top, left)) in enumerate(zip(objects, corners)):
        side = _SIDE[size]
        mask = shape_mask(kind, side)
        rgb = np.asarray(_RGB[colour], dtype=np.float32) * rng.uniform(0.85, 1.0)
        rows, cols = slice(top, top + side), slice(left, left + side)
        image[:, rows, cols][:, mask] = rgb[:, None]
        owner[rows, cols][mask] = i
    image = np.clip(image + rng.normal(0, 0.03, image.shape).astype(np.float32), 0, 1)
    glob = np.zeros(len(CONCEPT_NAMES), dtype=np.float32)
    for obj in objects:
        glob[_concept_ids(*obj)] = 1.0
    g = canvas // patch
    blocks = owner.reshape(g, patch, g, patch).transpose(0, 2, 1, 3).reshape(g * g, patch * patch)
    spatial = np.zeros((g * g, len(CONCEPT_NAMES)), dtype=np.float32)
    for p in range(g * g):
        for i in np.unique(blocks[p]):
            if i >= 0:
                spatial[p, _concept_ids(*objects[i])] = 1.0
        if not spatial[p].any():
            spatial[p, BACKGROUND] = 1.0
    return image, glob, spatial


def make_scenes(n: int, rng: np.random.Generator, canvas: int, patch: int) -> ConceptData:
    """n canvases, classes as balanced as n allows (species j % 4 for the j-th canvas, then shuffled)."""
    images, globs, spatials, labels = [], [], [], []
    for j in range(n):
        species = j % len(SIGNATURES)
        while True:
            objects = sample_objects(rng, species)
            corners = place(objects, canvas, rng)
            if corners is not None:
                break
        image, glob, spatial = render_scene(objects, corners, canvas, patch, rng)
        images.append(image), globs.append(glob), spatials.append(spatial), labels.append(species)
    order = rng.permutation(n)
    return ConceptData(np.stack(images)[order], np.array(labels, dtype=np.int64)[order], np.stack(globs)[order],
                       np.stack(spatials)[order], np.ones(n, dtype=bool), CONCEPT_NAMES, CLASS_NAMES)


def make_scenes_split(n_train: int, n_test: int, seed: int, canvas: int, patch: int, split: str = "test"):
    """(train, held-out). `split="val"` returns validation canvases (their own fixed seed) instead of
    the test canvases, for tuning; the training canvases are the same either way."""
    train = make_scenes(n_train, np.random.default_rng([seed, 3]), canvas, patch)
    held_seed = _VAL_SEED if split == "val" else _TEST_SEED
    return train, make_scenes(n_test, np.random.default_rng([held_seed, canvas, patch]), canvas, patch)
