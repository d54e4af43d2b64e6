"""The three classifiers on one backbone: CCT, Concept Transformer, plain.

CCT and the Concept Transformer differ in one place only, where the concepts come from:
- CT: C learned embeddings, the same for every image;
- CCT: C slots written from this image's tokens by slot attention into a shared workspace, plus a
  learned per-slot position so slot c always stands for concept c.
Both then broadcast the concepts back with cross-attention (tokens are queries, concepts are
keys/values, softmax over concepts) in a global stream (CLS query) and a spatial stream (patch
queries, logits averaged over patches); the two streams' logits are summed. The attention weights
are the explanation, and the explanation loss supervises exactly them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from leanthink.concepts.backbone import Backbone
from leanthink.concepts.config import ModelConfig
from leanthink.concepts.slots import make_slot_attention


@dataclass
class ModelOutput:
    logits: torch.Tensor  # (B, K)
    global_attn: torch.Tensor | None  # (B, C): CLS over concepts, rows sum to 1
    spatial_attn: torch.Tensor | None  # (B, P, C): each patch over concepts, rows sum to 1


class ConceptCrossAttention(nn.Module):
    """Tokens read concepts. Returns class logits per token and the head-averaged attention."""

    def __init__(self, dim: int, heads: int, n_classes: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * dim, bias=False)
        self.drop = nn.Dropout(dropout)
        # logits are a linear map of attention-weighted concept values: the prediction is built
        # only from what the tokens attended to, which is what makes the attention an explanation
        self.proj = nn.Linear(dim, n_classes)

    def forward(self, tokens: torch.Tensor, concepts: torch.Tensor,
                attn_override: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, N, D), concepts (B, C, D) -> logits (B, N, K), attention (B, N, C).

        `attn_override` (B, N, C) replaces the attention in every head (diagnosis: how much of the
        prediction flows through the attention, see diagnose.py)."""
        b, n, d = tokens.shape
        c, h = concepts.shape[1], self.heads
        q = self.q(tokens).reshape(b, n, h, d // h).transpose(1, 2)  # (B, h, N, d/h)
        k, v = self.kv(concepts).reshape(b, c, 2, h, d // h).permute(2, 0, 3, 1, 4)  # (B, h, C, d/h) each
        attn = (q @ k.transpose(-2, -1) * (d // h) ** -0.5).softmax(dim=-1)  # (B, h, N, C)
        if attn_override is not None:
            attn = attn_override[:, None].expand_as(attn)
        out = (self.drop(attn) @ v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out), attn.mean(dim=1)


class LearnedConcepts(nn.Module):
    """CT's concepts: C embeddings shared by all images."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.emb = nn.Parameter(torch.randn(1, cfg.n_concepts, cfg.dim) * cfg.dim ** -0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.emb.expand(len(tokens), -1, -1)


class SlotWorkspace(nn.Module):
    """CCT's workspace: slots written from all tokens, then tagged with a learned per-slot position."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.slots = make_slot_attention(cfg.slots, cfg.n_concepts, cfg.dim, cfg.slot_iters)
        # without it the slots are exchangeable and slot c could hold any concept from image to image
        self.position = nn.Parameter(torch.randn(1, cfg.n_concepts, cfg.dim) * cfg.dim ** -0.5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        slots, _ = self.slots(tokens)
        return slots + self.position


class ConceptModel(nn.Module):
    """CCT (workspace = SlotWorkspace) or Concept Transformer (workspace = LearnedConcepts)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        self.workspace = SlotWorkspace(cfg) if cfg.kind == "cct" else LearnedConcepts(cfg)
        self.global_read = ConceptCrossAttention(cfg.dim, cfg.heads, cfg.n_classes, cfg.dropout)
        self.spatial_read = ConceptCrossAttention(cfg.dim, cfg.heads, cfg.n_classes, cfg.dropout)

    def forward(self, images: torch.Tensor, global_attn: torch.Tensor | None = None,
                spatial_attn: torch.Tensor | None = None) -> ModelOutput:
        """images (B, ch, H, W). `global_attn` (B, C) / `spatial_attn` (B, P, C) replace the streams'
        attention (diagnosis only)."""
        cls, patches = self.backbone(images)
        concepts = self.workspace(torch.cat([cls[:, None], patches], dim=1))  # (B, C, D)
        g_logits, g_attn = self.global_read(cls[:, None], concepts,
                                            None if global_attn is None else global_attn[:, None])
        s_logits, s_attn = self.spatial_read(patches, concepts, spatial_attn)
        streams = self.cfg.streams
        logits = (g_logits[:, 0] if streams != "spatial" else 0) + (s_logits.mean(dim=1) if streams != "global" else 0)
        return ModelOutput(logits, g_attn[:, 0], s_attn)


class PlainClassifier(nn.Module):
    """The same backbone with a linear head on CLS: no concepts, no explanations."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        self.head = nn.Linear(cfg.dim, cfg.n_classes)

    def forward(self, images: torch.Tensor) -> ModelOutput:
        cls, _ = self.backbone(images)
        return ModelOutput(self.head(cls), None, None)


def build_model(cfg: ModelConfig) -> nn.Module:
    return PlainClassifier(cfg) if cfg.kind == "plain" else ConceptModel(cfg)
