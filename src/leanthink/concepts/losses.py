"""Loss = NLL + λ_expl · C · MSE(attention, ground-truth concept distribution) + λ_sparse · entropy(attention).

The ground-truth distribution is the multi-hot concept vector normalised to sum to 1 (the attention
is a distribution over concepts, so that is what it can match). Multiplying the MSE by C keeps the
term O(1) whatever the number of concepts (the paper's choice). Examples without concept labels,
and background patches (no concept there), are left out of the MSE and feel only the entropy term.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from leanthink.concepts.models import ModelOutput


@dataclass
class LossParts:
    total: torch.Tensor
    nll: torch.Tensor
    expl: torch.Tensor
    sparse: torch.Tensor


def explanation_mse(attn: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """C·MSE over the rows selected by `mask`; 0 when no row is selected.

    attn, targets: (..., C); mask: attn.shape[:-1], True where the row has concept labels.
    """
    mask = mask & (targets.sum(-1) > 0)
    if not bool(mask.any()):
        return attn.new_zeros(())
    t = targets[mask]
    t = t / t.sum(-1, keepdim=True)
    return attn.shape[-1] * F.mse_loss(attn[mask], t)


def entropy(attn: torch.Tensor) -> torch.Tensor:
    """Mean over rows of the entropy (nats) of each attention distribution over concepts."""
    return -(attn * attn.clamp_min(1e-12).log()).sum(-1).mean()


def concept_loss(out: ModelOutput, labels: torch.Tensor, concepts: torch.Tensor,
                 spatial: torch.Tensor | None, has_concepts: torch.Tensor,
                 expl_lambda: float, sparse_lambda: float) -> LossParts:
    """labels (B,), concepts (B, C), spatial (B, P, C) or None, has_concepts (B,) bool."""
    nll = F.cross_entropy(out.logits, labels)
    zero = nll.new_zeros(())
    expl, sparse = zero, zero
    if out.global_attn is not None:
        expl = expl + explanation_mse(out.global_attn, concepts, has_concepts)
        sparse = sparse + entropy(out.global_attn)
    if out.spatial_attn is not None:
        if spatial is not None:
            patch_mask = has_concepts[:, None].expand(spatial.shape[:2])
            expl = expl + explanation_mse(out.spatial_attn, spatial, patch_mask)
        sparse = sparse + entropy(out.spatial_attn)
    total = nll + expl_lambda * expl + sparse_lambda * sparse
    return LossParts(total, nll, expl, sparse)
