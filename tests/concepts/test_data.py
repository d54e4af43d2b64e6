import numpy as np
import pytest

from leanthink.concepts.config import DataConfig
from leanthink.concepts.data import load_data
from leanthink.concepts.data_shapes import (CONCEPT_NAMES, RULES, Shape, make_shapes, render, shape_mask)
from leanthink.errors import LeanthinkError


def test_digits_split_is_fixed_and_disjoint():
    tr0, te0 = load_data(DataConfig(dataset="digits", task="parity", n_train=100, seed=0))
    tr1, te1 = load_data(DataConfig(dataset="digits", task="parity", n_train=100, seed=1))
    assert te0.images.shape == (500, 1, 8, 8) and tr0.images.shape == (100, 1, 8, 8)
    np.testing.assert_array_equal(te0.images, te1.images)  # test split does not depend on the seed
    assert not np.array_equal(tr0.images, tr1.images)
    # no training image is a test image
    test_rows = {im.tobytes() for im in te0.images}
    assert sum(im.tobytes() in test_rows for im in tr0.images) <= 1  # digits has a few exact duplicates
    assert tr0.spatial is None


@pytest.mark.parametrize("task,rule", [("parity", lambda d: d % 2), ("mod3", lambda d: d % 3),
                                       ("lt5", lambda d: (d >= 5).astype(int))])
def test_digit_concept_is_one_hot_digit_and_label_follows_rule(task, rule):
    tr, _ = load_data(DataConfig(dataset="digits", task=task, n_train=200))
    assert (tr.concepts.sum(1) == 1).all()
    digit = tr.concepts.argmax(1)
    np.testing.assert_array_equal(tr.labels, rule(digit))


def test_concept_fraction_masks_labels():
    tr, te = load_data(DataConfig(dataset="digits", n_train=200, concept_fraction=0.25))
    assert tr.has_concepts.sum() == 50 and te.has_concepts.all()


def test_shape_masks():
    assert shape_mask("square", 5).all()
    circle, tri = shape_mask("circle", 9), shape_mask("triangle", 9)
    assert circle[4, 4] and not circle[0, 0] and circle[0, 4]
    assert tri[8].all() and tri[0, 4] and not tri[0, 0]  # base full, apex only in the middle


def test_render_gives_exact_global_and_spatial_concepts():
    rng = np.random.default_rng(0)
    shapes = [Shape("red", "square", "small", top=0, left=0), Shape("blue", "circle", "large", top=12, left=12)]
    image, glob, spatial = render(shapes, canvas=24, patch=4, rng=rng)
    on = {CONCEPT_NAMES[i] for i in np.flatnonzero(glob)}
    assert on == {"red", "square", "small", "blue", "circle", "large"}
    grid = spatial.reshape(6, 6, -1)
    red, blue = CONCEPT_NAMES.index("red"), CONCEPT_NAMES.index("blue")
    # the 5×5 red square at (0,0) covers patches (0,0),(0,1),(1,0),(1,1) and nothing else
    assert set(zip(*np.nonzero(grid[..., red]))) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert grid[0, 0, CONCEPT_NAMES.index("circle")] == 0
    assert grid[..., blue].sum() > 0 and grid[0:2, 0:2, blue].sum() == 0
    # a background patch has only the background concept, and its pixels are only faint noise
    bg = CONCEPT_NAMES.index("background")
    assert grid[5, 0].sum() == 1 and grid[5, 0, bg] == 1 and image[:, 20:24, 0:4].max() < 0.2
    assert grid[0, 0, bg] == 0 and glob[bg] == 0
    assert image[0, 2, 2] > 0.6 and image[2, 2, 2] < 0.2  # red pixel inside the square


def test_shapes_labels_balanced_and_follow_rule():
    data = make_shapes("red_square", 200, np.random.default_rng(1), canvas=24, patch=4)
    assert data.labels.mean() == 0.5
    assert data.images.shape == (200, 3, 24, 24) and data.spatial.shape == (200, 36, 9)
    # global concepts are exactly the union of the patch concepts, background aside
    bg = CONCEPT_NAMES.index("background")
    union = (data.spatial.sum(1) > 0).astype(np.float32)
    union[:, bg] = 0
    np.testing.assert_array_equal(data.concepts, union)
    # every patch has a concept: its shapes' attributes, or background, never both
    assert (data.spatial.sum(-1) > 0).all()
    assert not ((data.spatial[..., bg] == 1) & (data.spatial[..., :bg].sum(-1) > 0)).any()
    # a red square present => red and square are both global concepts
    pos = data.concepts[data.labels == 1]
    assert (pos[:, CONCEPT_NAMES.index("red")] == 1).all() and (pos[:, CONCEPT_NAMES.index("square")] == 1).all()
    assert RULES["red_square"]([Shape("red", "square", "large", 0, 0)])


def test_shapes_test_split_is_fixed():
    _, a = load_data(DataConfig(dataset="shapes", task="red_square", n_train=10, n_test=20, seed=0))
    _, b = load_data(DataConfig(dataset="shapes", task="red_square", n_train=10, n_test=20, seed=5))
    np.testing.assert_array_equal(a.images, b.images)


@pytest.mark.parametrize("kwargs,field", [
    ({"dataset": "mnist"}, "dataset"), ({"task": "red_square"}, "task"), ({"n_train": 1298}, "n_train"),
    ({"n_test": 100}, "n_test"), ({"concept_fraction": 1.5}, "concept_fraction"),
    ({"dataset": "shapes", "task": "red_square", "canvas": 25}, "patch"),
])
def test_bad_data_settings_name_the_field(kwargs, field):
    with pytest.raises(LeanthinkError, match=field):
        DataConfig(**kwargs)


def test_patch_defaults_to_the_data_sets_own():
    assert DataConfig(dataset="digits").patch == 2
    assert DataConfig(dataset="shapes", task="red_square").patch == 4
    assert DataConfig(dataset="digits", patch=4).patch == 4
