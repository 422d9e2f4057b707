"""Small JSON files (run summaries), written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["write_json"]


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON (NaN refused) via a temporary file and ``os.replace``, so
    a reader never sees a half-written file and an interrupted write leaves the old one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
