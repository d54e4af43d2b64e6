"""Row operations on a Hugging Face `DynamicCache`: the only code that reshapes KV tensors.

Written by hand because transformers' cache only repeats or selects whole rows; leanthink also needs
to compact rows with different holes (evicted spans, paused rows) into a smaller right-aligned block.
Tensors are (batch, heads, slots, head_dim) in every layer.
"""

from __future__ import annotations

import torch

from ..errors import UnsupportedVerb


def layers(cache):
    """The per-layer key/value holders of a DynamicCache (transformers >= 4.56 keeps them in .layers)."""
    if not hasattr(cache, "layers"):
        raise UnsupportedVerb("this transformers version's cache has no per-layer tensors to edit")
    return cache.layers


def select_rows(cache, index: torch.Tensor) -> None:
    """Keep rows `index` (repeats allowed: a resampled particle appears twice)."""
    for layer in layers(cache):
        if getattr(layer, "keys", None) is not None and layer.keys.numel():
            layer.keys = layer.keys.index_select(0, index.to(layer.keys.device))
            layer.values = layer.values.index_select(0, index.to(layer.values.device))


def gather_slots(cache, slot_index: torch.Tensor) -> None:
    """Rebuild every row from `slot_index` (rows, new_slots): new slot j of row b is old slot
    slot_index[b, j]. Used to squeeze out dead slots; the caller masks the padding it creates."""
    for layer in layers(cache):
        if getattr(layer, "is_sliding", False):
            raise UnsupportedVerb("compacting a sliding-window KV cache is not supported")
        if getattr(layer, "keys", None) is None or not layer.keys.numel():
            continue
        b, h, _, d = layer.keys.shape
        idx = slot_index.to(layer.keys.device)[:, None, :, None].expand(b, h, slot_index.shape[1], d)
        layer.keys = torch.gather(layer.keys, 2, idx)
        layer.values = torch.gather(layer.values, 2, idx)
