"""LiteReason's Reasoning Projector (Gurung et al. 2025; ../shared/research.md §4): a small stack of
copies of the base model's last-block MLP that maps the last hidden state to the next input embedding
of a latent step. Each block is residual, h + MLP(norm(h)), with a copy of the block's own norm, so it
starts from the base model's weights rather than from noise. Saved beside the model's weights as
`projector.safetensors` (its block count in leanthink.json under `litereason.blocks`); the model's
content hash covers it, so a retrained projector never resumes another's results.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from ..errors import LeanthinkError

PROJECTOR_FILE = "projector.safetensors"


class ReasoningProjector(nn.Module):
    """`rescale` (ours, `train-litereason --rescale`): the output is set to the mean norm of the base's
    input embeddings (a buffer, `scale`, saved with the weights). Without it a latent enters the
    residual stream at the final hidden state's scale, which SFT grows: 455 against the tokens' 1.9
    on builtin:arith-verbose."""

    def __init__(self, model, blocks: int = 3, rescale: bool = False):
        super().__init__()
        if blocks < 1:
            raise LeanthinkError(f"the reasoning projector needs at least one block, got {blocks}")
        layer = model.get_decoder().layers[-1]
        for part in ("post_attention_layernorm", "mlp"):
            if not hasattr(layer, part):
                raise LeanthinkError(f"the model's last decoder layer has no {part}: the reasoning projector copies "
                                     "a Llama-style block (RMSNorm + gated MLP)")
        self.norms = nn.ModuleList(copy.deepcopy(layer.post_attention_layernorm) for _ in range(blocks))
        self.mlps = nn.ModuleList(copy.deepcopy(layer.mlp) for _ in range(blocks))
        if rescale:
            with torch.no_grad():
                norm = model.get_input_embeddings().weight.float().norm(dim=-1).mean()
            self.register_buffer("scale", norm.reshape(1).clone())
        else:
            self.register_buffer("scale", None)
        self.float()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        dtype = h.dtype
        h = h.float()
        for norm, mlp in zip(self.norms, self.mlps):
            h = h + mlp(norm(h))
        if self.scale is not None:
            h = h * (self.scale / h.norm(dim=-1, keepdim=True).clamp(min=1e-6))
        return h.to(dtype)


def save_projector(projector: ReasoningProjector, directory: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous() for k, v in projector.state_dict().items()},
              Path(directory) / PROJECTOR_FILE)


def load_projector(directory: Path, model, blocks: int) -> ReasoningProjector:
    from safetensors.torch import load_file

    path = Path(directory) / PROJECTOR_FILE
    if not path.is_file():
        raise LeanthinkError(f"{directory}: no {PROJECTOR_FILE}; train one with `leanthink train-litereason`")
    weights = load_file(path)
    projector = ReasoningProjector(model, blocks, rescale="scale" in weights)
    try:
        projector.load_state_dict(weights)
    except RuntimeError as e:
        raise LeanthinkError(f"{path}: does not fit a {blocks}-block projector of this model "
                             f"({str(e).splitlines()[0]})") from None
    device = next(model.parameters()).device
    return projector.to(device).eval().requires_grad_(False)   # inference: no autograd graph
