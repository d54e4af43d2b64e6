"""Slot attention that writes C concept slots from image tokens, in the paper's three variants.

All three share one update step (Locatello et al. 2020): slots query the tokens, the attention is
normalised over *slots* (tokens compete for slots), each slot takes the weighted mean of the values,
and a GRU folds that update into the slot. They differ in where the slots start and which
iterations carry gradients:

- SA     (Locatello et al.): random Gaussian start (learned mean and log-std), every iteration
          differentiated.
- ISA    (Chang et al. 2022, implicit slot attention): learned start, the first iters-1 iterations run
          without gradient, then one differentiated step from the detached fixed point (a first-order
          implicit-differentiation approximation). With iters >= 2 the learned start therefore gets
          no gradient; the slots' identity comes from the per-slot position added afterwards.
- BO-QSA (Jia et al. 2023): learned queries as the start, iterations without gradient, then a
          straight-through last step: slots.detach() + init - init.detach(), so the start receives
          the last step's gradient as if it had been applied to it directly.
"""

from __future__ import annotations

import torch
from torch import nn


class SlotAttention(nn.Module):
    """SA: random start, GRU update, gradients through every iteration."""

    def __init__(self, n_slots: int, dim: int, iters: int = 3, eps: float = 1e-8):
        super().__init__()
        self.n_slots, self.dim, self.iters, self.eps = n_slots, dim, iters, eps
        self.norm_inputs = nn.LayerNorm(dim)
        self.norm_slots = nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.gru = nn.GRUCell(dim, dim)
        self._init_start()

    def _init_start(self) -> None:
        self.mu = nn.Parameter(torch.randn(1, 1, self.dim) * self.dim ** -0.5)
        self.log_sigma = nn.Parameter(torch.full((1, 1, self.dim), -1.0))

    def start(self, batch: int) -> torch.Tensor:
        """Initial slots (B, C, D). At eval time SA starts from the mean, so explanations are
        reproducible; the noise only matters as a regulariser during training."""
        mu = self.mu.expand(batch, self.n_slots, -1)
        if not self.training:
            return mu
        return mu + self.log_sigma.exp() * torch.randn_like(mu)

    def step(self, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One update. slots (B, C, D), k/v (B, N, D) -> new slots (B, C, D), attention (B, N, C)."""
        q = self.to_q(self.norm_slots(slots))
        logits = torch.einsum("bnd,bcd->bnc", k, q) * self.dim ** -0.5
        attn = logits.softmax(dim=-1)  # over slots: tokens compete for slots
        weights = attn + self.eps
        weights = weights / weights.sum(dim=1, keepdim=True)  # weighted mean over tokens
        updates = torch.einsum("bnc,bnd->bcd", weights, v)
        b, c, d = slots.shape
        new = self.gru(updates.reshape(b * c, d), slots.reshape(b * c, d)).reshape(b, c, d)
        return new, attn

    def iterate(self, slots: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        attn = None
        for _ in range(self.iters):
            slots, attn = self.step(slots, k, v)
        return slots, attn

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, N, D) -> slots (B, C, D), last attention of tokens over slots (B, N, C)."""
        x = self.norm_inputs(tokens)
        k, v = self.to_k(x), self.to_v(x)
        return self.iterate(self.start(len(tokens)), k, v)


class ImplicitSlotAttention(SlotAttention):
    """ISA: learned start, iterations detached, one differentiated step."""

    def _init_start(self) -> None:
        self.init_slots = nn.Parameter(torch.randn(1, self.n_slots, self.dim) * self.dim ** -0.5)

    def start(self, batch: int) -> torch.Tensor:
        return self.init_slots.expand(batch, -1, -1)

    def iterate(self, slots, k, v):
        with torch.no_grad():
            for _ in range(self.iters - 1):
                slots, _ = self.step(slots, k, v)
        if self.iters > 1:
            slots = slots.detach()
        return self.step(slots, k, v)


class QuerySlotAttention(ImplicitSlotAttention):
    """BO-QSA: learned queries, iterations detached, straight-through last step."""

    def iterate(self, slots, k, v):
        init = slots
        with torch.no_grad():
            for _ in range(self.iters - 1):
                slots, _ = self.step(slots, k, v)
        # straight-through: the value of the fixed point, the gradient of the learned queries
        slots = slots.detach() + init - init.detach()
        return self.step(slots, k, v)


SLOT_CLASSES = {"sa": SlotAttention, "isa": ImplicitSlotAttention, "boqsa": QuerySlotAttention}


def make_slot_attention(variant: str, n_slots: int, dim: int, iters: int) -> SlotAttention:
    return SLOT_CLASSES[variant](n_slots, dim, iters)
