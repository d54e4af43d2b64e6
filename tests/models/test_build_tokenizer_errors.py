"""`leanthink build-tokenizer --out` that cannot be written fails at once, before the slow training,
with one `error:` line naming --out, and leaves what is already there untouched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli_helpers import run_cli


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the tokenizer was trained before --out was checked")

    monkeypatch.setattr("leanthink.models.tokenizer.train_tokenizer", refuse)
    monkeypatch.setattr("leanthink.models.tokenizer.builtin_corpus", refuse)


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else "dir") for p in sorted(root.rglob("*"))}


def _deny_write(monkeypatch, locked: Path):
    """Root ignores permission bits, so an unwritable folder is simulated at `os.access`."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == locked and mode & os.W_OK
                        else real(p, mode, *a, **k))


CASES = [
    ("out-is-file", lambda t, mp: t / "afile", ["is a file"]),
    ("out-under-file", lambda t, mp: t / "afile" / "tok", ["is a file"]),
    ("out-unwritable", lambda t, mp: (_deny_write(mp, t / "locked"), t / "locked")[1], ["permission denied"]),
    ("parent-unwritable", lambda t, mp: (_deny_write(mp, t / "locked"), t / "locked" / "new" / "tok")[1],
     ["permission denied"]),
    ("tokenizer-json-is-dir", lambda t, mp: ((t / "tok" / "tokenizer.json").mkdir(parents=True), t / "tok")[1],
     ["tokenizer.json", "directory"]),
    ("tokenizer-config-is-dir",
     lambda t, mp: ((t / "tok" / "tokenizer_config.json").mkdir(parents=True), t / "tok")[1],
     ["tokenizer_config.json", "directory"]),
    ("special-tokens-map-is-fifo",
     lambda t, mp: ((t / "tok").mkdir(), os.mkfifo(t / "tok" / "special_tokens_map.json"), t / "tok")[2],
     ["special_tokens_map.json", "not a regular file"]),
]


@pytest.mark.parametrize("make_out,needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_out_fails_before_training(tmp_path, capsys, monkeypatch, no_training, make_out, needles):
    (tmp_path / "afile").write_text("keep me\n")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "tokenizer.json").write_text("{}\n")  # an existing tokenizer must survive
    out = make_out(tmp_path, monkeypatch)
    before = _snapshot(tmp_path)
    code, _, err = run_cli(["build-tokenizer", "--out", out], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert "Traceback" not in err and "unexpected" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: --out "), err
    for n in needles:
        assert n in lines[0], err
    assert _snapshot(tmp_path) == before


def test_build_writes_whole_files_and_leaves_no_temp_folder(tmp_path, capsys, monkeypatch):
    """The success path after the checks: a small corpus (the real one takes seconds)."""
    from leanthink.models import tokenizer

    corpus = ["k=47+8=55\nAnswer: 55", "Every wumpus is a yumpus."] * 20
    monkeypatch.setattr(tokenizer, "builtin_corpus", lambda seed=0: corpus)
    out = tmp_path / "tok"
    out.mkdir()
    (out / "README").write_text("not ours\n")
    (out / "tokenizer.json").write_text("{old}\n")
    code, stdout, err = run_cli(["build-tokenizer", "--out", out], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted({"README", *(p.name for p in out.glob("tokenizer*.json"))})
    assert (out / "README").read_text() == "not ours\n"
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    assert tok.decode(tok("k=47+8=55")["input_ids"]) == "k=47+8=55"
