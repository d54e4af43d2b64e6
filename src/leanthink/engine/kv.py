"""Row operations on a Hugging Face `DynamicCache`: the only code that reshapes KV tensors.

Written by hand because transformers' cache only repeats or selects whole rows; leanthink also needs
to compact rows with different holes (evicted spans, paused rows) into a smaller block, join two
caches of different widths (requests joining a live batch) and cut dead columns off the end.
Tensors are (batch, heads, slots, head_dim) in every layer.
"""

from __future__ import annotations

import torch

from ..errors import LeanthinkError, UnsupportedVerb


def new_cache(config):
    from transformers import DynamicCache

    return DynamicCache(config=config)


def check_editable(config) -> None:
    """Refuse models whose cache is not a plain per-layer (keys, values) store: sliding windows drop
    old slots by themselves, linear-attention and indexed layers keep state that rows cannot be cut
    out of. Called at load, so the user learns it before any work."""
    from transformers.cache_utils import DynamicLayer

    try:
        cache = new_cache(config)
    except Exception as e:  # noqa: BLE001 - transformers raises many kinds for configs it cannot cache
        raise LeanthinkError(f"this model's KV cache cannot be built ({e.__class__.__name__}: {e})") from None
    kinds = sorted({type(layer).__name__ for layer in getattr(cache, "layers", []) if type(layer) is not DynamicLayer})
    if kinds:
        raise LeanthinkError(f"model type {config.model_type!r} uses {', '.join(kinds)} KV-cache layers (sliding window "
                             "or recurrent state); leanthink's engine edits caches row by row and supports only full "
                             "attention caches")


def _filled(cache):
    for layer in cache.layers:
        if getattr(layer, "keys", None) is not None and layer.keys.numel():
            yield layer


def select_rows(cache, index: torch.Tensor) -> None:
    """Keep rows `index` (repeats allowed: a resampled particle appears twice)."""
    for layer in cache.layers:
        if getattr(layer, "keys", None) is not None and layer.keys.dim() == 4:
            layer.keys = layer.keys.index_select(0, index.to(layer.keys.device))
            layer.values = layer.values.index_select(0, index.to(layer.values.device))


def copy_rows(cache, index: torch.Tensor, config):
    """A new cache holding rows `index` of `cache` (which is left as it was)."""
    import copy

    out = new_cache(config)
    out.layers = [copy.copy(layer) for layer in cache.layers]
    select_rows(out, index)
    return out


def gather_slots(cache, slot_index: torch.Tensor) -> None:
    """Rebuild every row from `slot_index` (rows, new_slots): new slot j of row b is old slot
    slot_index[b, j]. Used to squeeze out dead slots; the caller masks the padding it creates."""
    for layer in _filled(cache):
        b, h, _, d = layer.keys.shape
        idx = slot_index.to(layer.keys.device)[:, None, :, None].expand(b, h, slot_index.shape[1], d)
        layer.keys = torch.gather(layer.keys, 2, idx)
        layer.values = torch.gather(layer.values, 2, idx)


def crop(cache, width: int) -> None:
    """Keep the first `width` slots of every row (the rest are dead in every row)."""
    for layer in _filled(cache):
        layer.keys = layer.keys[:, :, :width]
        layer.values = layer.values[:, :, :width]


def concat(cache, other, width: int, other_width: int) -> None:
    """Append `other`'s rows to `cache`'s, right-aligning both to the wider one (the caller shifts its
    slot indices by the padding it gets). A cache whose layers are still empty takes the other's
    shapes."""
    if len(cache.layers) != len(other.layers):
        raise UnsupportedVerb("cannot merge caches of different models")
    target = max(width, other_width)
    for a, b in zip(cache.layers, other.layers):
        ka, va = _padded(a, target, width, b)
        kb, vb = _padded(b, target, other_width, a)
        a.keys, a.values = torch.cat([ka, kb]), torch.cat([va, vb])
        a.is_initialized = True
        if hasattr(b, "dtype") and not hasattr(a, "dtype"):
            a.dtype, a.device = b.dtype, b.device


def _padded(layer, target: int, width: int, like):
    """(keys, values) of `layer` with `target - width` zero slots on the left; a layer with no tensors
    yet (an empty handle) becomes (0, heads, target, dim) shaped like `like`."""
    ref = layer if getattr(layer, "keys", None) is not None and layer.keys.dim() == 4 else like
    k, v = ref.keys, ref.values
    if ref is not layer:
        shape = (0, k.shape[1], target, k.shape[3])
        return k.new_zeros(shape), v.new_zeros(shape)
    pad = target - width
    if pad:
        z = k.new_zeros((k.shape[0], k.shape[1], pad, k.shape[3]))
        return torch.cat([z, k], 2), torch.cat([z.to(v.dtype), v], 2)
    return k, v
