"""A small ViT trained from scratch: patch embedding + a few pre-norm transformer layers.

No pretrained weights are reachable here, and 8×8 digits or 24×24 shapes need none. The output is
the CLS token (the global stream's query) and one token per patch (the spatial stream's queries).
"""

from __future__ import annotations

import torch
from torch import nn

from leanthink.concepts.config import ModelConfig


class Block(nn.Module):
    """Pre-norm transformer layer (attention + MLP, each residual)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        hidden = max(1, int(dim * mlp_ratio))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, N, D)
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, h, h, need_weights=False)[0])
        return x + self.drop(self.mlp(self.norm2(x)))


class Backbone(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.patch = cfg.patch
        self.embed = nn.Linear(cfg.channels * cfg.patch * cfg.patch, cfg.dim)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.pos = nn.Parameter(torch.randn(1, cfg.n_patches + 1, cfg.dim) * 0.02)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.dropout) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim)

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """(B, ch, H, W) -> (B, P, ch·p·p), patches in row-major order (the order of spatial labels)."""
        b, ch, h, w = images.shape
        p = self.patch
        x = images.reshape(b, ch, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return x.reshape(b, (h // p) * (w // p), ch * p * p)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.embed(self.patchify(images))  # (B, P, D)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1) + self.pos
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return x[:, 0], x[:, 1:]  # CLS (B, D), patches (B, P, D)
