"""SFT recipe: learns, saves a loadable Hugging Face directory, resumes exactly."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from leanthink.engine.hf import HFEngine
from leanthink.errors import LeanthinkError
from leanthink.train.data import sample_batch
from leanthink.train.sft import SFTConfig, train
from leanthink.prompting import PromptStyle
from leanthink.tasks import get_task


def cfg(out, **kw):
    base = dict(task="arith", split="train", out=str(out), size="micro", steps=6, batch_size=4, eval_every=3,
                eval_limit=2, eval_split="easy", lr=3e-3, warmup=2, compile=False, bf16=False)
    base.update(kw)
    return SFTConfig(**base)


def test_training_writes_a_checkpoint_the_engine_loads(tmp_path):
    out = train(cfg(tmp_path / "m"), progress=False)
    for f in ("config.json", "model.safetensors", "tokenizer.json", "leanthink.json"):
        assert (out / f).exists()
    meta = json.loads((out / "leanthink.json").read_text())
    assert meta["prompt_style"] == "plain" and meta["train_config"]["steps"] == 6
    assert [h["step"] for h in meta["history"]] == [3, 6] and "eval_accuracy" in meta["history"][-1]
    assert load_file(out / "model.safetensors")["model.embed_tokens.weight"].dtype == torch.bfloat16
    engine = HFEngine.load(str(out))
    assert engine.prompt_style.name == "plain"


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    full = train(cfg(tmp_path / "a"), progress=False)
    train(cfg(tmp_path / "b"), progress=False, stop_after=3)
    assert not (tmp_path / "b" / "model.safetensors").exists()
    resumed = train(cfg(tmp_path / "b"), progress=False)
    wa, wb = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def test_resume_with_another_recipe_is_refused(tmp_path):
    train(cfg(tmp_path / "c"), progress=False, stop_after=3)
    with pytest.raises(LeanthinkError, match="other settings"):
        train(cfg(tmp_path / "c", lr=1e-4), progress=False)


def test_loss_goes_down_on_a_fixed_batch(tmp_path):
    from transformers import LlamaForCausalLM

    from leanthink.models.registry import builtin_tokenizer
    from leanthink.models.tiny import llama_config

    tok = builtin_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config("micro", tok))
    batch = sample_batch(get_task("arith"), "train", 0, 0, 8, 0.2, tok, PromptStyle("plain"))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_batches_mask_the_prompt_and_are_deterministic():
    from leanthink.models.registry import builtin_tokenizer

    tok = builtin_tokenizer()
    task = get_task("arith")
    a = sample_batch(task, "train", 5, 0, 4, 0.5, tok, PromptStyle("plain"))
    b = sample_batch(task, "train", 5, 0, 4, 0.5, tok, PromptStyle("plain"))
    assert torch.equal(a["input_ids"], b["input_ids"])
    first = a["labels"][0]
    n_prompt = int((first == -100).long().cumprod(0).sum())
    text = tok.decode(a["input_ids"][0, :n_prompt])
    assert text.endswith("\nReasoning:\n") or text.endswith("\nAnswer:")
    assert (a["labels"][a["attention_mask"] == 0] == -100).all()


@pytest.mark.parametrize("bad", [{"steps": 0}, {"batch_size": -1}, {"direct_fraction": 2.0}, {"split": "train:x"},
                                 {"split": "train+train"}])
def test_bad_settings_are_errors(tmp_path, bad):
    with pytest.raises(LeanthinkError):
        train(cfg(tmp_path / "d", **bad), progress=False)


def test_train_command_line(tmp_path, capsys):
    from cli_helpers import run_cli

    out = tmp_path / "cli"
    code, stdout, err = run_cli(["train", "--task", "prosqa", "--task-option", "trace=backward", "--split",
                                 "train-small:2,train-medium:1", "--size", "micro", "--batch-size", "2",
                                 "--eval-every", "2", "--eval-limit", "2", "--eval-split", "small", "--no-compile",
                                 "--no-progress", "--out", out], capsys)
    assert code == 0, err
    meta = json.loads((out / "leanthink.json").read_text())
    assert meta["task"] == "prosqa" and meta["train_config"]["task_options"] == [["trace", "backward"]]
    assert [(h["stage"], h["step"]) for h in meta["history"]] == [("train-small", 2), ("train-medium", 1)]
    code, _, err = run_cli(["train", "--task", "prosqa", "--task-option", "trace=sideways", "--out", out,
                            "--no-progress"], capsys)
    assert code == 2 and "unknown trace" in err


def test_task_tokens_and_a_drill_mixture_from_the_command_line(tmp_path, capsys):
    from cli_helpers import run_cli
    from transformers import AutoTokenizer

    out = tmp_path / "who"
    code, _, err = run_cli(["train", "--task", "prosqa", "--task-option", "trace=who", "--task-tokens", "--split",
                            "train-drill:2,train-drill+train-small:1", "--size", "2x32x2", "--batch-size", "3",
                            "--eval-every", "0", "--eval-limit", "0", "--no-compile", "--no-progress", "--out", out],
                           capsys)
    assert code == 0, err
    meta = json.loads((out / "leanthink.json").read_text())
    assert meta["train_config"]["task_tokens"] is True
    assert [(h["stage"], h["step"]) for h in meta["history"]] == [("train-drill", 2), ("train-drill+train-small", 1)]
    tok = AutoTokenizer.from_pretrained(out)
    assert len(tok(" is a tumpus", add_special_tokens=False)["input_ids"]) == 1
    config = json.loads((out / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (2, 32, len(tok))
    HFEngine.load(str(out))
    code, _, err = run_cli(["train", "--task", "prosqa", "--split", "train-drill+nope:1", "--out", tmp_path / "x",
                            "--no-progress"], capsys)
    assert code != 0 and "no generated split 'nope'" in err


def test_train_command_defaults_are_the_sft_config_defaults(monkeypatch, capsys):
    """Every `leanthink train` flag is an SFTConfig field and defaults to that field's default."""
    import dataclasses

    from cli_helpers import run_cli
    from typer.main import get_command

    import leanthink.train.sft as sft
    from leanthink.cli import app

    flags = {p.name for p in get_command(app).commands["train"].params} - {"progress"}
    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    assert {"task_options" if f == "task_option" else f for f in flags} <= fields
    built = []
    monkeypatch.setattr(sft, "train", lambda config, progress: built.append(config) or config.out)
    code, _, err = run_cli(["train"], capsys)
    assert code == 0, err
    assert built == [SFTConfig()]


def test_a_continued_run_records_the_recipes_it_continues(tmp_path):
    first = train(cfg(tmp_path / "first", steps=3, eval_every=0), progress=False)
    second = train(cfg(tmp_path / "second", init=str(first), steps=3, eval_every=0, lr=1e-3), progress=False)
    third = train(cfg(tmp_path / "third", init=str(second), steps=3, eval_every=0, lr=5e-4), progress=False)
    meta = json.loads((third / "leanthink.json").read_text())
    assert meta["train_config"]["init"] == str(second) and meta["train_config"]["lr"] == 5e-4
    assert meta["init_from"]["train_config"]["init"] == str(first)
    assert meta["init_from"]["train_config"]["lr"] == 1e-3
    assert meta["init_from"]["init_from"]["train_config"]["init"] is None
    assert "init_from" not in meta["init_from"]["init_from"]
