"""Small JSON files (run summaries), written atomically."""

from __future__ import annotations

import json
import os
from typing import Any

from zentai.io.atomic import write_bytes

__all__ = ["write_json"]


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON (NaN refused) via a temporary file and ``os.replace``, so
    a reader never sees a half-written file and an interrupted write leaves the old one."""
    write_bytes(path, (json.dumps(data, indent=2, allow_nan=False) + "\n").encode())
