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


__all__ = ["run_cli", "pytest"]
