"""Where atlas data files live: ``data_dir=`` argument, then ``$ZENTAI_DATA``, then the cache.

Every file zentai reads is listed in :data:`FILES` with its SHA-256 (Allen's published files
where a published hash exists; see ``shared/data/allen/PROVENANCE.md`` of the project).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from zentai.errors import DataError

__all__ = ["FILES", "DataFile", "cache_dir", "data_dir", "find_file", "sha256", "verify"]


@dataclass(frozen=True)
class DataFile:
    """A data file zentai can use: its name, checksum, source and what it is."""

    name: str
    sha256: str
    url: str | None
    description: str
    group: str = "ccf-v3"


_ALLEN = "https://download.alleninstitute.org/informatics-archive/current-release/mouse_ccf"
FILES: dict[str, DataFile] = {
    f.name: f
    for f in (
        DataFile(
            "annotation_100.nrrd",
            "451e6a82f531d3db4b58056d024d3e2311703c2adc15cefa75e0268e7f0e69a4",
            f"{_ALLEN}/annotation/ccf_2017/annotation_100.nrrd",
            "Allen CCFv3 2017 annotation, 100 µm (Wang et al. 2020, Cell 181:936)",
        ),
        DataFile(
            "annotation_25.nrrd",
            "c620cbcc562183e4dcd40250d440130501781f74b41de35b1c1bdabace290c42",
            f"{_ALLEN}/annotation/ccf_2017/annotation_25.nrrd",
            "Allen CCFv3 2017 annotation, 25 µm",
            group="ccf-v3-25um",
        ),
        DataFile(
            "structure_graph_1.json.gz",
            "9f664801e9fcf88004a816f265c0ea6a5ee564dac2804ef250ae18417eb7b71e",
            None,  # Allen API structure_graph_download/1.json, stored gzipped
            "Allen mouse structure ontology (structure graph 1)",
        ),
    )
}


def cache_dir() -> Path:
    """The per-user cache folder (``$XDG_CACHE_HOME/zentai`` or ``~/.cache/zentai``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zentai"


def data_dir(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for data files, in order: argument, ``$ZENTAI_DATA``, cache."""
    out = []
    if data_dir is not None:
        out.append(Path(data_dir))
    env = os.environ.get("ZENTAI_DATA")
    if env:
        out.append(Path(env))
    out.append(cache_dir())
    return out


def find_file(name: str, data_dir_: str | os.PathLike | None = None) -> Path:
    """Path of data file ``name``; :class:`DataError` says where it looked and how to fetch it."""
    folders = data_dir(data_dir_)
    for folder in folders:
        p = folder / name
        if p.exists():
            return p
    group = FILES[name].group if name in FILES else "ccf-v3"
    where = ", ".join(str(f) for f in folders)
    raise DataError(
        f"{name!r} is not in the data folder or cache (looked in: {where}); run "
        f"`zentai data fetch {group}` or set ZENTAI_DATA to a folder that holds it."
    )


def sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: str | os.PathLike, expected: str | None = None) -> None:
    """Raise :class:`DataError` when ``path`` does not have the expected SHA-256."""
    path = Path(path)
    if expected is None:
        if path.name not in FILES:
            return
        expected = FILES[path.name].sha256
    got = sha256(path)
    if got != expected:
        raise DataError(
            f"{str(path)!r} is corrupt or the wrong file: its SHA-256 is {got}, expected "
            f"{expected}. Delete it and run `zentai data fetch`."
        )
