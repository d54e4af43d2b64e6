import numpy as np
import pytest
import torch

from leanthink.concepts.config import ModelConfig
from leanthink.concepts.losses import concept_loss, entropy, explanation_mse
from leanthink.concepts.metrics import top_concept_hit_rate
from leanthink.concepts.models import ModelOutput, build_model

TINY = dict(dim=16, depth=1, heads=2, image_size=8, channels=1, patch=2, n_classes=3, n_concepts=5)


@pytest.mark.parametrize("kind,slots", [("cct", "sa"), ("cct", "isa"), ("cct", "boqsa"), ("ct", "sa"), ("plain", "sa")])
def test_output_shapes(kind, slots):
    model = build_model(ModelConfig(kind=kind, slots=slots, **TINY)).eval()
    out = model(torch.rand(4, 1, 8, 8))
    assert out.logits.shape == (4, 3)
    if kind == "plain":
        assert out.global_attn is None and out.spatial_attn is None
        return
    assert out.global_attn.shape == (4, 5) and out.spatial_attn.shape == (4, 16, 5)
    torch.testing.assert_close(out.global_attn.sum(-1), torch.ones(4))  # softmax over concepts
    torch.testing.assert_close(out.spatial_attn.sum(-1), torch.ones(4, 16))


def test_ct_concepts_are_shared_and_cct_concepts_depend_on_the_image():
    images = torch.rand(2, 1, 8, 8)
    for kind, shared in (("ct", True), ("cct", False)):
        model = build_model(ModelConfig(kind=kind, **TINY)).eval()
        tokens = torch.cat([t if t.dim() == 3 else t[:, None] for t in model.backbone(images)], dim=1)
        concepts = model.workspace(tokens)
        assert concepts.shape == (2, 5, 16)
        assert torch.allclose(concepts[0], concepts[1]) == shared


def _out(b=4, p=3, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ModelOutput(torch.randn(b, 2, generator=g), torch.rand(b, c, generator=g).softmax(-1),
                       torch.rand(b, p, c, generator=g).softmax(-1))


def test_unlabelled_examples_contribute_only_the_sparsity_term():
    out = _out()
    labels = torch.tensor([0, 1, 0, 1])
    concepts = torch.eye(5)[:4]
    spatial = torch.eye(5)[torch.tensor([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 0]])]
    has = torch.tensor([True, True, False, False])
    base = concept_loss(out, labels, concepts, spatial, has, 2.0, 0.5)
    # scrambling the concept labels of the unlabelled rows changes nothing
    c2, s2 = concepts.clone(), spatial.clone()
    c2[2:], s2[2:] = 1.0, 1.0
    again = concept_loss(out, labels, c2, s2, has, 2.0, 0.5)
    torch.testing.assert_close(again.total, base.total)
    # ...but scrambling a labelled row does
    c3 = concepts.clone()
    c3[0] = torch.tensor([0, 0, 0, 0, 1.0])
    assert not torch.isclose(concept_loss(out, labels, c3, spatial, has, 2.0, 0.5).total, base.total)
    # with no labelled row the loss is NLL + λ_sparse · entropy exactly
    none = concept_loss(out, labels, concepts, spatial, torch.zeros(4, dtype=torch.bool), 2.0, 0.5)
    assert none.expl == 0
    expected = torch.nn.functional.cross_entropy(out.logits, labels) + 0.5 * (
        entropy(out.global_attn) + entropy(out.spatial_attn))
    torch.testing.assert_close(none.total, expected)


def test_explanation_term_is_c_times_mse_to_the_normalised_targets():
    targets = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    perfect = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    assert explanation_mse(perfect, targets, torch.tensor([True])) == 0
    off = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    # C · mean((0.5)² + (0.5)²) over 4 entries = 4 · 0.125
    torch.testing.assert_close(explanation_mse(off, targets, torch.tensor([True])), torch.tensor(0.5))
    # a background row (no concept) is left out
    assert explanation_mse(off, torch.zeros(1, 4), torch.tensor([True])) == 0


def test_entropy_is_zero_for_one_hot_and_log_c_for_uniform():
    assert entropy(torch.eye(4)) == 0
    torch.testing.assert_close(entropy(torch.full((2, 4), 0.25)), torch.tensor(float(np.log(4))))


def test_top_concept_hit_rate():
    attn = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])
    targets = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]], dtype=float)
    assert top_concept_hit_rate(attn, targets, np.ones(3, bool)) == 0.5  # third row has no concept
    assert top_concept_hit_rate(attn, targets, np.array([True, False, True])) == 1.0
    assert top_concept_hit_rate(attn, targets, np.zeros(3, bool)) is None


def test_spatial_explanation_accuracy_ignores_background_patches():
    from leanthink.concepts.data import ConceptData
    from leanthink.concepts.metrics import Predictions, score

    names = ("red", "square", "background")
    spatial = np.array([[[1, 1, 0], [0, 0, 1]]], dtype=np.float32)  # one foreground, one background patch
    data = ConceptData(np.zeros((1, 1, 2, 2), np.float32), np.array([0]), np.array([[1, 1, 0]], np.float32),
                       spatial, np.array([True]), names, ("a", "b"))
    # foreground patch right, background patch wrong: only the foreground one is scored
    attn = np.array([[[0.6, 0.3, 0.1], [0.9, 0.0, 0.1]]])
    out = score(Predictions(np.array([0]), np.array([[0.5, 0.4, 0.1]]), attn), data)
    assert out["expl_acc_spatial"] == 1.0 and out["expl_acc_global"] == 1.0 and out["accuracy"] == 1.0
