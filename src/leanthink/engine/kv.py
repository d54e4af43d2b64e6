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
    """A DynamicCache whose full-attention layers grow in place (see GrowingLayer)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=config)
    cache.layers = [GrowingLayer() if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def _growing_layer_class():
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A DynamicLayer that appends into spare capacity instead of re-concatenating the whole cache
        at every decoding step (transformers' `torch.cat` makes a batch's decoding O(length^2) in copies).
        `keys`/`values` stay ordinary (rows, heads, slots, dim) views, so every row operation above
        works on them unchanged; one that replaces them is noticed, and the next update re-buffers."""

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            old, new = self.keys, key_states.shape[-2]
            n = old.shape[-2] if old.dim() == 4 else 0
            buf = getattr(self, "_kbuf", None)
            if (buf is None or old is not getattr(self, "_kview", None) or buf.shape[0] != key_states.shape[0]
                    or buf.shape[2] < n + new):
                self._kbuf, self._vbuf = (self._grow(old, key_states, n + new), self._grow(self.values, value_states,
                                                                                          n + new))
            self._kbuf[:, :, n:n + new] = key_states
            self._vbuf[:, :, n:n + new] = value_states
            self.keys, self.values = self._kbuf[:, :, :n + new], self._vbuf[:, :, :n + new]
            self._kview = self.keys
            return self.keys, self.values

        @staticmethod
        def _grow(old, like, need: int):
            b, h, _, d = like.shape
            buf = like.new_empty((b, h, max(2 * need, 64), d))
            if old.dim() == 4 and old.shape[-2]:
                buf[:, :, :old.shape[-2]] = old
            return buf

    return GrowingLayer


class _LazyLayer:
    """Defers building GrowingLayer (it subclasses a transformers class) to first use."""

    cls = None

    def __call__(self):
        if _LazyLayer.cls is None:
            _LazyLayer.cls = _growing_layer_class()
        return _LazyLayer.cls()


GrowingLayer = _LazyLayer()


def check_editable(config) -> None:
    """Refuse models whose cache is not a plain per-layer (keys, values) store: sliding windows drop
    old slots by themselves, linear-attention and indexed layers keep state that rows cannot be cut
    out of. Called at load, so the user learns it before any work."""
    from transformers.cache_utils import DynamicLayer

    from transformers import DynamicCache

    try:
        cache = DynamicCache(config=config)
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
            idx = index.to(layer.keys.device)
            if _permute_in_place(layer, idx):
                continue
            layer.keys = layer.keys.index_select(0, idx)
            layer.values = layer.values.index_select(0, idx)


def _permute_in_place(layer, idx: torch.Tensor) -> bool:
    """Resampling keeps the row count: rewrite only the rows that change, inside the growing buffer,
    so the layer keeps its spare capacity (an index_select would hand the next append a cache with
    none, and it would copy every row again to grow). The right-hand side is gathered before it is
    written, so a row that is both read and overwritten is read first."""
    n = layer.keys.shape[0]
    if (getattr(layer, "_kview", None) is not layer.keys or idx.numel() != n
            or layer._kbuf.shape[0] != n):
        return False
    dest = (idx != torch.arange(n, device=idx.device)).nonzero().flatten()
    if dest.numel():
        src, slots = idx[dest], layer.keys.shape[2]
        layer._kbuf[dest, :, :slots] = layer._kbuf[src, :, :slots]
        layer._vbuf[dest, :, :slots] = layer._vbuf[src, :, :slots]
    return True


def copy_rows(cache, index: torch.Tensor, config):
    """A new cache holding rows `index` of `cache` (which is left as it was)."""
    import copy

    out = new_cache(config)
    out.layers = [copy.copy(layer) for layer in cache.layers]
    for layer in out.layers:
        layer._kview = None   # never share a growing layer's spare capacity between two caches
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
        if hasattr(layer, "_kview"):
            layer._kview = layer.keys   # still a prefix of its buffer: keep appending in place


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
