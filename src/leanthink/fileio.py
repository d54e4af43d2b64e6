"""Files written so that nothing is ever half-written: a temp file in the same folder, then rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic(path, write) -> None:
    """Call `write(binary_file)` on a temp file beside `path`, then rename it over `path`: readers see
    the old file or the new one, never a part (rename is atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path, data: bytes) -> None:
    atomic(path, lambda f: f.write(data))


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode())
