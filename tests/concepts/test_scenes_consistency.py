"""The CUB-like scenes data, the validation splits, the stream switch and the consistency metric."""

import numpy as np
import pytest
import torch

from leanthink.concepts.config import DataConfig, ModelConfig
from leanthink.concepts.consistency import (METRICS, augment, class_agreement, class_consistency, consistency,
                                            consistency_from, flip_permutation, overlap)
from leanthink.concepts.data import ConceptData, load_data
from leanthink.concepts.data_scenes import (BACKGROUND, CLASS_NAMES, CONCEPT_NAMES, SIGNATURES, make_scenes,
                                            render_scene)
from leanthink.concepts.metrics import Predictions
from leanthink.concepts.models import build_model
from leanthink.errors import LeanthinkError


def _ids(*names):
    return [CONCEPT_NAMES.index(n) for n in names]


def test_render_scene_exact_global_and_spatial_concepts():
    objects = [("red", "square", "small"), ("yellow", "triangle", "large")]
    image, glob, spatial = render_scene(objects, [(0, 0), (12, 12)], 24, 4, np.random.default_rng(0))
    assert set(np.flatnonzero(glob)) == set(_ids("red", "square", "small", "yellow", "triangle", "large"))
    grid = spatial.reshape(6, 6, -1)
    red = CONCEPT_NAMES.index("red")
    # the 5×5 square at (0, 0) covers patches (0..1, 0..1) only
    assert set(zip(*np.nonzero(grid[..., red]))) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert grid[0, 0, CONCEPT_NAMES.index("triangle")] == 0
    assert grid[5, 0, BACKGROUND] == 1 and grid[5, 0].sum() == 1
    assert image[0, 2, 2] > 0.6 and image[2, 2, 2] < 0.2


def test_scenes_classes_are_bound_pairs_that_global_presence_cannot_tell_apart():
    data = make_scenes(400, np.random.default_rng(3), 24, 4)
    assert np.bincount(data.labels).tolist() == [100] * 4 and data.class_names == CLASS_NAMES
    counts = data.concepts[:, :7].sum(1)  # colours + kinds present
    assert counts.min() >= 2 and counts.max() >= 6  # 2-4 objects: varying numbers of concepts
    for k, (colour, kind) in enumerate(SIGNATURES):  # the signature's colour and kind are always present
        rows = data.concepts[data.labels == k]
        assert (rows[:, _ids(colour, kind)] == 1).all()
    # the point of the task: one global concept set can belong to several classes
    by_set: dict[bytes, set[int]] = {}
    for c, y in zip(data.concepts, data.labels):
        by_set.setdefault(c.tobytes(), set()).add(int(y))
    assert sum(len(v) > 1 for v in by_set.values()) >= 5
    # global = union of patch concepts without background; every patch labelled
    union = (data.spatial.sum(1) > 0).astype(np.float32)
    union[:, BACKGROUND] = 0
    np.testing.assert_array_equal(data.concepts, union)
    assert (data.spatial.sum(-1) > 0).all()


@pytest.mark.parametrize("dataset,task", [("scenes", "species"), ("shapes", "red_square")])
def test_canvas_val_split_is_fixed_and_differs_from_test(dataset, task):
    kw = dict(dataset=dataset, task=task, n_train=8, n_test=12)
    tr, test = load_data(DataConfig(**kw, seed=0))
    tr_v, val = load_data(DataConfig(**kw, seed=0, split="val"))
    _, val1 = load_data(DataConfig(**kw, seed=1, split="val"))
    np.testing.assert_array_equal(tr.images, tr_v.images)  # training canvases do not depend on the split
    np.testing.assert_array_equal(val.images, val1.images)  # nor the val canvases on the seed
    assert not np.array_equal(val.images, test.images)


def test_digits_val_split_is_disjoint_from_test_and_training():
    tr, val = load_data(DataConfig(dataset="digits", n_train=900, split="val"))
    _, test = load_data(DataConfig(dataset="digits", n_train=900))
    assert len(val) == 300
    test_rows, val_rows = {im.tobytes() for im in test.images}, {im.tobytes() for im in val.images}
    assert len(val_rows & test_rows) <= 2  # sklearn's digits has a few exact duplicates
    assert sum(im.tobytes() in val_rows for im in tr.images) <= 2
    with pytest.raises(LeanthinkError, match="n_train"):
        DataConfig(dataset="digits", n_train=1000, split="val")  # 1297 - 300 left to train on
    with pytest.raises(LeanthinkError, match="split"):
        DataConfig(split="train")


def test_streams_switch_drops_a_streams_logits():
    cfg = dict(dim=16, depth=1, image_size=8, channels=1, patch=2, n_classes=3, n_concepts=5)
    x = torch.rand(3, 1, 8, 8)
    for streams, changes in (("global", False), ("spatial", True), ("both", True)):
        torch.manual_seed(0)
        model = build_model(ModelConfig(streams=streams, **cfg)).eval()
        before = model(x).logits.clone()
        with torch.no_grad():
            model.spatial_read.proj.bias += 1.0 + torch.arange(3.0)  # only the spatial stream's output moves
        assert (not torch.allclose(before, model(x).logits)) == changes, streams
    with pytest.raises(LeanthinkError, match="streams"):
        ModelConfig(streams="none")


def test_overlap_and_class_consistency_by_hand():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    assert overlap(p, q) == pytest.approx(0.5) and overlap(p, p) == pytest.approx(1.0)
    attn = np.array([[1, 0, 0], [0.5, 0.5, 0], [0, 0, 1], [0, 0, 1]], dtype=float)
    # class 0: one pair with overlap 0.5; class 1: identical pair, overlap 1
    assert class_consistency(attn, np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    # a class with a single image has no pair and is left out
    assert class_consistency(attn[:3], np.array([0, 0, 1])) == pytest.approx(0.5)
    # top-concept agreement ignores how sharp the maps are: argmaxes 0, 0 | 2, 2 -> 1; 0, 1, 1 -> 1/3
    assert class_agreement(attn, np.array([0, 0, 1, 1])) == pytest.approx(1.0)
    sharp_or_flat = np.array([[0.9, 0.1, 0], [0.4, 0.3, 0.3], [0.2, 0.45, 0.35], [0.3, 0.36, 0.34]])
    assert class_agreement(sharp_or_flat, np.zeros(4, int)) == pytest.approx(4 / 12)


def test_overlap_rewards_flat_maps_and_agreement_does_not():
    data = _fake()
    g_flat = np.full((4, 3), 1 / 3) + np.array([0.01, 0, -0.01]) * np.array([[1], [-1], [1], [-1]])
    flat = Predictions(np.zeros(4, int), g_flat, None)
    flipped = Predictions(np.zeros(4, int), g_flat[:, ::-1], None)  # every argmax changes
    out = consistency_from(flat, flipped, data, None)
    assert out["consist_aug_global"] > 0.95 and out["agree_aug_global"] == 0.0
    assert out["peak_global"] == pytest.approx(1 / 3 + 0.01)


def test_flip_permutation_and_augmented_labels_follow_the_pixels():
    perm = flip_permutation(9)
    assert perm.tolist() == [2, 1, 0, 5, 4, 3, 8, 7, 6]
    data = make_scenes(6, np.random.default_rng(0), 24, 4)
    aug, p = augment(data, "flip")
    np.testing.assert_allclose(aug.images[..., ::-1], data.images, atol=0.2)  # flipped, plus faint noise
    assert not np.allclose(aug.images, data.images, atol=0.2)
    # spatial labels moved with the pixels: they equal the labels of the re-rendered mirror scene's patches
    np.testing.assert_array_equal(aug.spatial[:, p], data.spatial)
    np.testing.assert_array_equal(aug.labels, data.labels)


def test_digit_augmentations_keep_labels_and_move_pixels():
    _, test = load_data(DataConfig(dataset="digits"))
    noisy, perm = augment(test, "noise")
    assert perm is None and noisy.spatial is None
    diff = noisy.images - test.images
    assert 0.05 < diff.std() < 0.1 and noisy.images.min() >= 0 and noisy.images.max() <= 1  # σ 0.1, clipped
    np.testing.assert_array_equal(noisy.labels, test.labels)
    shifted, _ = augment(test, "shift")  # the dropped one-pixel shift: every image moves
    assert (np.abs(shifted.images - test.images).reshape(len(test), -1).max(1) > 0.2).all()
    with pytest.raises(ValueError, match="rotate"):
        augment(test, "rotate")


def _fake(n=4, p=9, c=3, seed=0):
    rng = np.random.default_rng(seed)
    spatial = np.eye(c, dtype=np.float32)[rng.integers(0, c, size=(n, p))]
    return ConceptData(np.zeros((n, 3, 6, 6), np.float32), np.array([0, 0, 1, 1]), np.ones((n, c), np.float32),
                       spatial, np.ones(n, bool), ("a", "b", "c"), ("x", "y"))


def test_spatial_consistency_compares_the_same_pixels():
    data = _fake()
    perm = flip_permutation(9)
    s = data.spatial / data.spatial.sum(-1, keepdims=True)
    g = np.full((4, 3), 1 / 3)
    preds = Predictions(np.zeros(4, int), g, s)
    mirrored = np.empty_like(s)
    mirrored[:, perm] = s  # an explanation that moves with the image: perfectly consistent
    out = consistency_from(preds, Predictions(np.zeros(4, int), g, mirrored), data, perm)
    assert out["consist_aug_spatial"] == pytest.approx(1.0) and out["consist_aug_global"] == pytest.approx(1.0)
    assert out["agree_aug_spatial"] == 1.0
    # one that stays put while the image flips is not (the maps are not mirror-symmetric)
    out = consistency_from(preds, preds, data, perm)
    assert out["consist_aug_spatial"] < 0.9 and out["agree_aug_spatial"] < 0.9


def test_consistency_on_a_model_is_in_range_and_none_for_plain():
    data = make_scenes(8, np.random.default_rng(1), 24, 4)
    cfg = dict(dim=16, depth=1, image_size=24, channels=3, patch=4, n_classes=4, n_concepts=len(CONCEPT_NAMES))
    out = consistency(build_model(ModelConfig(kind="ct", **cfg)).eval(), data, "scenes")
    assert all(0 <= out[k] <= 1 for k in ("consist_class", "consist_aug_global", "consist_aug_spatial"))
    out = consistency(build_model(ModelConfig(kind="plain", **cfg)).eval(), data, "scenes")
    assert set(out) == set(METRICS) and all(v is None for v in out.values())


def test_attention_override_shows_where_the_image_reaches_the_logits():
    from leanthink.concepts.diagnose import attention_ablation

    cfg = dict(dim=16, depth=1, image_size=8, channels=1, patch=2, n_classes=3, n_concepts=5)
    x = torch.rand(4, 1, 8, 8)
    uniform_g, uniform_s = torch.full((4, 5), 0.2), torch.full((4, 16, 5), 0.2)
    for kind, constant in (("ct", True), ("cct", False)):
        model = build_model(ModelConfig(kind=kind, **cfg)).eval()
        out = model(x, global_attn=uniform_g, spatial_attn=uniform_s)
        torch.testing.assert_close(out.global_attn, uniform_g)  # the override is what the streams used
        # CT's values are fixed embeddings: with the attention fixed, every image gets the same logits;
        # CCT's values are slots written from the image, so the image still reaches the logits
        assert torch.allclose(out.logits, out.logits[:1].expand_as(out.logits), atol=1e-6) == constant, kind
    data = ConceptData(np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32), np.array([0, 1, 2] * 2),
                       np.eye(5, dtype=np.float32)[[0, 1, 2, 3, 4, 0]], None, np.ones(6, bool), tuple("abcde"),
                       ("x", "y", "z"))
    ct = attention_ablation(build_model(ModelConfig(kind="ct", **cfg)), data)
    assert ct["acc_attn_uniform"] in (0.0, 1 / 3, 2 / 3, 1.0)  # one constant prediction: a class's share
    assert attention_ablation(build_model(ModelConfig(kind="plain", **cfg)), data)["acc_attn_truth"] is None
