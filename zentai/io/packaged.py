"""Files that ship with zentai (built-in scenarios, configs) or that the user names by path."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from zentai.errors import SpecError, closest

__all__ = ["builtin_or_file"]


def builtin_or_file(
    name_or_path: str | os.PathLike,
    builtins: dict[str, str],
    package: str,
    kind: str,
    file_kind: str,
) -> Path:
    """The packaged file of built-in ``name`` (``builtins[name]``, relative to ``package``), or
    ``name_or_path`` itself if it is a file; else an error naming the closest built-ins: "Unknown
    {kind} ...; ..., or the path of a {file_kind} file"."""
    text = str(name_or_path)
    if text in builtins:
        return Path(str(resources.files(package).joinpath(builtins[text])))
    path = Path(text).expanduser()
    if path.is_file():
        return path
    raise SpecError(
        f"Unknown {kind} {text!r}; {closest(text, builtins)}, or the path of a {file_kind} file."
    )
