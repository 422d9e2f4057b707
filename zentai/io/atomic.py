"""Files written atomically: a temporary file in the same folder, then ``os.replace``, so a
reader never sees a half-written file and an interrupted write leaves the old one."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

__all__ = ["save_figure", "write_bytes"]


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 90) -> None:
    """A matplotlib figure as PNG, written atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    write_bytes(path, buf.getvalue())
