"""Bad invocations of `leanthink train`: each is one `error:` line naming the flag, field or path, exit
status 2, found before any work (nothing written to a new --out), and leaves what is on disk as it was."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from cli_helpers import run_cli
from safetensors.torch import load_file, save_file

from leanthink import checks
from leanthink.train.config import SFTConfig
from leanthink.train.sft import _signals_deferred, train

#: a valid run that costs a second: the cases change one thing in it
BASE = ["train", "--size", "micro", "--steps", "2", "--batch-size", "2", "--eval-every", "0", "--no-compile",
        "--eval-limit", "2", "--no-progress"]


def _recipe(out, **kw) -> SFTConfig:
    """BASE as a config (the same recipe, so a run saved with it resumes under BASE)."""
    base = dict(size="micro", steps=2, batch_size=2, eval_every=0, eval_limit=2, compile=False, out=str(out))
    return SFTConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A finished micro checkpoint and a run interrupted after step 1 of 2 (its resume state only)."""
    root = tmp_path_factory.mktemp("saved")
    finished = train(_recipe(root / "finished", eval_limit=0), progress=False)
    train(_recipe(root / "partial", eval_every=1, eval_limit=0), progress=False, stop_after=1)
    return {"finished": finished, "partial": root / "partial"}


# -- what each case puts on disk before the run ---------------------------------------------------

def _copy_partial(saved, tmp):
    return shutil.copytree(saved["partial"], tmp / "out")


def _copy_init(saved, tmp):
    init = shutil.copytree(saved["finished"], tmp / "init", ignore=shutil.ignore_patterns("resume"))
    return init


def _weights(init: Path, change) -> None:
    f = init / "model.safetensors"
    change(f)


def _drop_tensor(f: Path) -> None:
    tensors = load_file(f)
    del tensors["model.layers.0.mlp.up_proj.weight"]
    save_file(tensors, f, metadata={"format": "pt"})


def _foreign_tokenizer(init: Path) -> None:
    """The tokenizer of another model: ProsQA's role tokens, which these weights have no rows for."""
    from leanthink.models.registry import builtin_tokenizer
    from leanthink.tasks import get_task
    from leanthink.train.sft import add_task_tokens

    tok = builtin_tokenizer()
    add_task_tokens(tok, get_task("prosqa").added_tokens())
    tok.save_pretrained(init)


SETUPS = {
    # --out
    "out_is_file": lambda s, t: (t / "out").write_text("precious\n"),
    "out_parent_is_file": lambda s, t: (t / "file").write_text("precious\n"),
    "out_unwritable": lambda s, t: (t / "out").mkdir(),
    "out_holds_other_files": lambda s, t: ((t / "out").mkdir(), (t / "out" / "results.jsonl").write_text("{}\n")),
    "partial": lambda s, t: _copy_partial(s, t),
    "partial_bad_state": lambda s, t: (_copy_partial(s, t) / "resume" / "state.json").write_text('{"config": '),
    "partial_torn_weights": lambda s, t: (_copy_partial(s, t) / "resume" / "model.safetensors").write_bytes(b"\0" * 64),
    # --init
    "init": lambda s, t: _copy_init(s, t),
    "init_zero_bytes": lambda s, t: (_copy_init(s, t) / "model.safetensors").write_bytes(b""),
    "init_truncated": lambda s, t: _weights(_copy_init(s, t), lambda f: f.write_bytes(f.read_bytes()[:3000])),
    "init_random": lambda s, t: (_copy_init(s, t) / "model.safetensors").write_bytes(os.urandom(5000)),
    "init_missing_tensor": lambda s, t: _drop_tensor(_copy_init(s, t) / "model.safetensors"),
    "init_bad_meta": lambda s, t: (_copy_init(s, t) / "leanthink.json").write_text("{not json"),
    "init_meta_not_object": lambda s, t: (_copy_init(s, t) / "leanthink.json").write_text("[1, 2]"),
    "init_no_config": lambda s, t: (_copy_init(s, t) / "config.json").unlink(),
    "init_foreign_tokenizer": lambda s, t: _foreign_tokenizer(_copy_init(s, t)),
}

# (id, extra flags, setup, words the error line must hold); {out} and {init} are filled in.
# The kind of failure before this file's fixes: T a traceback ("unexpected ..."), S a silently wrong
# result (exit 0), L found late (after training, or after writing), - already right.
CASES = [
    ("lr_nan", ["--lr", "nan"], None, ["--lr", "nan"]),                                     # T
    ("lr_inf", ["--lr", "inf"], None, ["--lr", "inf"]),                                     # S
    ("lr_negative", ["--lr", "-0.1"], None, ["--lr", "-0.1", "(0, 1]"]),                    # -
    ("lr_zero", ["--lr", "0"], None, ["--lr", "(0, 1]"]),                                   # -
    ("lr_huge", ["--lr", "1e300"], None, ["--lr", "1e+300", "(0, 1]"]),                    # T
    ("threads_negative", ["--threads", "-1"], None, ["--threads", "-1"]),                  # T
    ("threads_zero", ["--threads", "0"], None, ["--threads", "0"]),                        # S
    ("threads_too_many", ["--threads", str(100 * (os.cpu_count() or 1))], None, ["--threads"]),  # S
    ("eval_limit_negative", ["--eval-limit", "-1"], None, ["--eval-limit", "-1"]),         # T, L
    ("eval_every_negative", ["--eval-every", "-1"], None, ["--eval-every", "-1"]),         # S
    ("eval_split_unknown", ["--eval-split", "bogus"], None, ["--eval-split", "bogus", "easy"]),  # L
    ("seed_too_large", ["--seed", str(2**64)], None, ["--seed", str(2**64)]),              # T
    ("seed_negative", ["--seed", "-1"], None, ["--seed", "-1"]),                           # S
    ("warmup_negative", ["--warmup", "-5"], None, ["--warmup", "-5"]),                     # S
    ("batch_size_zero", ["--batch-size", "0"], None, ["--batch-size", "0"]),               # -
    ("batch_size_beyond_generator", ["--batch-size", "1000000"], None, ["--batch-size", "1000000"]),  # L
    ("eval_limit_beyond_generator", ["--eval-limit", "1000000"], None, ["--eval-limit", "1000000"]),  # L
    ("steps_zero", ["--steps", "0"], None, ["--steps", "0"]),                              # -
    ("direct_fraction_above_one", ["--direct-fraction", "2"], None, ["--direct-fraction", "[0, 1]"]),  # -
    ("direct_fraction_nan", ["--direct-fraction", "nan"], None, ["--direct-fraction", "nan"]),  # -
    ("size_unknown", ["--size", "bogus"], None, ["bogus", "micro"]),                       # -
    ("size_odd_heads", ["--size", "2x30x2"], None, ["2x30x2", "heads"]),                   # -
    ("split_steps_not_a_number", ["--split", "train:abc"], None, ["--split", "train:abc"]),  # -
    ("split_unknown", ["--split", "nope"], None, ["--split", "nope", "easy"]),              # -
    ("split_stage_unknown", ["--split", "train:2,nope:1"], None, ["--split", "nope"]),     # -
    ("split_mixture_repeats", ["--split", "train+train"], None, ["--split", "train+train"]),  # -
    ("split_mixture_wider_than_batch", ["--split", "train+easy+hard", "--batch-size", "2"], None,
     ["--split", "train+easy+hard", "--batch-size"]),                                      # S
    ("task_unknown", ["--task", "bogus"], None, ["bogus", "arith"]),                      # -
    ("task_without_generated_splits", ["--task", "gsm8k"], None, ["gsm8k", "arith", "prosqa"]),  # - (message)
    ("task_option_unknown", ["--task-option", "bogus=1"], None, ["--task-option", "bogus", "trace"]),  # -
    ("task_option_without_value", ["--task-option", "x"], None, ["--task-option", "'x'", "KEY=VALUE"]),  # -
    ("task_option_not_textual", ["--task-option", "config=foo"], None, ["--task-option", "config", "trace"]),  # T
    ("task_option_twice", ["--task-option", "trace=compact", "--task-option", "trace=restate"], None,
     ["--task-option", "trace", "2 times"]),                                               # S
    ("task_option_bad_value", ["--task-option", "trace=sideways"], None, ["sideways", "compact"]),  # -
    ("out_is_file", [], "out_is_file", ["--out", "out", "is a file"]),                     # L
    ("out_parent_is_file", ["--out", "{tmp}/file/sub"], "out_parent_is_file", ["--out", "file", "not a directory"]),  # L
    ("out_unwritable", [], "out_unwritable", ["--out", "permission denied"]),             # L
    ("out_holds_other_files", [], "out_holds_other_files", ["--out", "no run to resume"]),  # S (deleted them)
    ("resume_other_recipe", ["--lr", "0.001"], "partial", ["other settings", "--lr 0.002 saved, 0.001 now"]),  # L
    ("resume_bad_state", [], "partial_bad_state", ["state.json", "resume"]),              # T
    ("resume_torn_weights", [], "partial_torn_weights", ["resume", "cannot read the saved weights"]),  # T
    ("init_missing", ["--init", "{tmp}/nowhere"], None, ["nowhere", "does not exist"]),    # -
    ("init_zero_byte_weights", ["--init", "{init}"], "init_zero_bytes", ["init", "cannot load"]),  # T
    ("init_truncated_weights", ["--init", "{init}"], "init_truncated", ["init", "cannot load"]),  # T
    ("init_random_weights", ["--init", "{init}"], "init_random", ["init", "cannot load"]),      # T
    ("init_missing_tensor", ["--init", "{init}"], "init_missing_tensor", ["init", "missing", "up_proj"]),  # S
    ("init_bad_leanthink_json", ["--init", "{init}"], "init_bad_meta", ["--init", "leanthink.json"]),  # T, L
    ("init_leanthink_json_not_object", ["--init", "{init}"], "init_meta_not_object", ["--init", "leanthink.json"]),  # S (recorded no init_from)
    ("init_no_config", ["--init", "{init}"], "init_no_config", ["init", "config.json"]),   # -
    ("init_foreign_tokenizer", ["--init", "{init}"], "init_foreign_tokenizer", ["init", "tokenizer"]),  # T
    ("init_with_task_tokens", ["--init", "{init}", "--task-tokens"], "init", ["--task-tokens", "--init"]),  # S
]


def _snapshot(path: Path) -> dict[str, bytes] | None:
    if not path.exists():
        return None
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("flags,setup,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_invocation_is_one_error_line_before_any_work(flags, setup, words, saved, tmp_path, capsys, monkeypatch):
    if setup:
        SETUPS[setup](saved, tmp_path)
    out, init = tmp_path / "out", tmp_path / "init"
    if setup == "out_unwritable":  # the tests run as root, for whom every directory is writable
        real = os.access
        monkeypatch.setattr(checks.os, "access",
                            lambda p, mode: not (Path(p) == out and mode & os.W_OK) and real(p, mode))
    flags = [f.format(tmp=tmp_path, init=init) for f in flags]
    before = {p: _snapshot(p) for p in (out, init, tmp_path / "file")}
    argv = BASE + ["--out", out] + flags  # a later --out wins
    code, _, err = run_cli(argv, capsys)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err
    assert len(errors) == 1, err
    assert "Traceback" not in err and "unexpected" not in err, err
    for word in words:
        assert word in errors[0], (word, errors[0])
    assert {p: _snapshot(p) for p in before} == before  # nothing on disk changed, nothing new written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("out.")]  # no temp checkpoint left


def test_the_corpus_is_large_and_its_ids_are_unique():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_weight_decay_is_checked(bad, tmp_path):
    """Not a flag of the command, but a field of the recipe every caller of `train` sets."""
    from leanthink.errors import LeanthinkError

    with pytest.raises(LeanthinkError, match="--weight-decay"):
        train(_recipe(tmp_path / "wd", weight_decay=bad), progress=False)
    assert not (tmp_path / "wd").exists()


def test_a_valid_tiny_run_trains_and_saves(saved, tmp_path, capsys):
    out = tmp_path / "ok"
    code, stdout, err = run_cli(BASE + ["--out", out, "--init", saved["finished"], "--seed", "3",
                                        "--threads", "1", "--task-option", "trace=restate"], capsys)
    assert code == 0, err
    assert f"saved {out}" in stdout
    meta = json.loads((out / "leanthink.json").read_text())
    assert meta["train_config"]["task_options"] == [["trace", "restate"]]
    assert [h["step"] for h in meta["history"]] == [2] and "eval_accuracy" in meta["history"][0]
    assert meta["init_from"]["train_config"]["steps"] == 2
    assert (out / "model.safetensors").stat().st_size > 0 and (out / "resume" / "state.json").exists()


def test_a_run_resumes_in_a_moved_directory(saved, tmp_path, capsys):
    """--out is where a run lives, not part of its recipe."""
    moved = shutil.copytree(saved["partial"], tmp_path / "elsewhere")
    code, _, err = run_cli(BASE + ["--out", moved, "--eval-limit", "0"], capsys)
    assert code == 0, err
    meta = json.loads((moved / "leanthink.json").read_text())
    assert [h["step"] for h in meta["history"]] == [1, 2]   # step 1 from the saved run, step 2 from this one


def test_ctrl_c_while_saving_keeps_the_previous_resume_state(tmp_path, monkeypatch):
    """Ctrl-C while the optimiser of step 2 is written: the step-1 state stays whole, so the resumed
    run ends with exactly the weights of an uninterrupted one."""
    full = train(_recipe(tmp_path / "full", steps=3, eval_every=1, eval_limit=0), progress=False)
    real_save, calls = torch.save, []

    def interrupted_save(obj, f, *a, **kw):
        calls.append(f)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        train(_recipe(tmp_path / "cut", steps=3, eval_every=1, eval_limit=0), progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert json.loads((tmp_path / "cut" / "resume" / "state.json").read_text())["state"]["step"] == 1
    resumed = train(_recipe(tmp_path / "cut", steps=3, eval_every=1, eval_limit=0), progress=False)
    wa, wb = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_diverging_run_stops_and_keeps_its_last_saved_state(saved, tmp_path, capsys, monkeypatch):
    """A loss that turns NaN or infinite (too high a learning rate) ends the run with an error instead
    of saving a checkpoint of NaN weights, and the resume state saved before is left as it was."""
    import leanthink.train.sft as sft

    out = shutil.copytree(saved["partial"], tmp_path / "out")
    before = _snapshot(out)
    monkeypatch.setattr(sft, "sft_step", lambda *a: torch.tensor(float("nan")))
    code, _, err = run_cli(BASE + ["--out", out, "--eval-limit", "0", "--eval-every", "1"], capsys)
    assert code == 2 and "diverged" in err and "--lr" in err and "step 2" in err, err
    assert _snapshot(out) == before


def test_signals_inside_the_resume_renames_wait_for_them():
    # raise_signal delivers in this thread, at once; os.kill may reach another thread first (earlier tests
    # leave threads running), and the main thread's handler then runs late: a race in the test, not the code.
    # Python's own SIGINT handler is set for the test, whatever an earlier one left.
    done = []
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with _signals_deferred():
                signal.raise_signal(signal.SIGINT)
                done.append("renamed")
    finally:
        signal.signal(signal.SIGINT, old)
    assert done == ["renamed"]
