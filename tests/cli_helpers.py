"""Run the real `leanthink` entry point in process and capture what a user would see."""

from __future__ import annotations

import sys

import pytest


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    from leanthink.cli import main

    old = sys.argv
    sys.argv = ["leanthink", *map(str, argv)]
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


def train_micro_lightthinker(out, capsys, cache_tokens: int = 2) -> tuple[int, str, str]:
    """`leanthink train --recipe lightthinker` for two steps of a micro model on `iterate`."""
    return run_cli(["train", "--task", "iterate", "--size", "micro", "--steps", "2", "--batch-size", "4",
                    "--eval-limit", "0", "--no-compile", "--recipe", "lightthinker", "--cache-tokens",
                    str(cache_tokens), "--out", out, "--no-progress"], capsys)


__all__ = ["run_cli", "train_micro_lightthinker", "pytest"]
