"""Read a BrainGlobe atlas folder (``metadata.json``, ``structures.json``, ``annotation.tiff``).

BrainGlobe stores each atlas in its own orientation, named by the origin of each array axis
(``metadata["orientation"]``, e.g. ``"asr"``: axis 0 starts anterior, axis 1 superior, axis 2
at the side BrainGlobe calls right). :func:`read` transposes and flips the annotation into
BrainGlobe's ``"asr"``, the orientation BrainGlobe gives Allen's CCFv3. An Allen atlas read
this way is therefore Allen's own array, axes (AP, DV, ML), voxel for voxel the same as
:func:`zentai.atlas.load`; zentai then names hemispheres as :class:`~zentai.atlas.Atlas` does
(after Allen's mouse_connectivity_models: ML index below the midline is hemisphere 1, "left").

Examples
--------
>>> from zentai.atlas.brainglobe import read
>>> atlas = read("~/.brainglobe/allen_mouse_100um_v1.2")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from zentai.atlas.atlas import Atlas
from zentai.atlas.ontology import Ontology, Structure
from zentai.errors import DataError

__all__ = ["TARGET_ORIENTATION", "read", "reorient"]

#: BrainGlobe orientation of the arrays zentai uses: (AP from anterior, DV from dorsal, ML)
TARGET_ORIENTATION = "asr"
_AXIS = {"a": "ap", "p": "ap", "s": "si", "i": "si", "r": "rl", "l": "rl"}
_REQUIRED = ("metadata.json", "structures.json", "annotation.tiff")


def _check_orientation(orientation: object, where: str) -> str:
    o = str(orientation).lower()
    if len(o) != 3 or any(c not in _AXIS for c in o) or len({_AXIS[c] for c in o}) != 3:
        raise DataError(
            f"{where}: orientation must be three letters, one from each of a/p, s/i, r/l "
            f"(BrainGlobe convention, e.g. 'asr'); got {orientation!r}."
        )
    return o


def reorient(
    array: np.ndarray, source: str, target: str = TARGET_ORIENTATION
) -> tuple[np.ndarray, list[int]]:
    """Transpose and flip a 3-D ``array`` from BrainGlobe orientation ``source`` to ``target``.

    Returns the array (C-contiguous) and the permutation ``perm``: output axis ``k`` is input
    axis ``perm[k]`` (use it to reorder per-axis values such as resolutions).

    Examples
    --------
    >>> a = np.arange(6).reshape(1, 2, 3)
    >>> b, perm = reorient(a, "ail", "asr")  # DV flipped in place; ML reversed
    >>> perm, b[0].tolist()
    ([0, 1, 2], [[5, 4, 3], [2, 1, 0]])
    """
    source = _check_orientation(source, "source")
    target = _check_orientation(target, "target")
    src_axes = [_AXIS[c] for c in source]
    perm = [src_axes.index(_AXIS[t]) for t in target]
    out = np.transpose(array, perm)
    flips = tuple(k for k, t in enumerate(target) if source[perm[k]] != t)
    if flips:
        out = np.flip(out, axis=flips)
    return np.ascontiguousarray(out), perm


def _ontology(structures: list[dict], path: Path) -> Ontology:
    out = []
    try:
        for order, s in enumerate(structures):
            id_path = [int(i) for i in s["structure_id_path"]]
            rgb = s.get("rgb_triplet") or [255, 255, 255]
            out.append(
                Structure(
                    id=int(s["id"]),
                    acronym=str(s["acronym"]),
                    name=str(s.get("name", s["acronym"])),
                    parent_id=id_path[-2] if len(id_path) > 1 else None,
                    depth=len(id_path) - 1,
                    graph_order=order,
                    color_hex="".join(f"{int(c):02X}" for c in rgb),
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"{str(path)!r} is not a BrainGlobe structures.json: each entry needs id, acronym "
            f"and structure_id_path; entry {len(out)} fails ({exc!r})."
        ) from exc
    return Ontology(out)


def read(folder: str | os.PathLike) -> Atlas:
    """Read the BrainGlobe atlas in ``folder`` into an :class:`~zentai.atlas.Atlas`.

    The annotation comes out in :data:`TARGET_ORIENTATION` (AP, DV, ML). The voxels must be
    cubic (the same resolution on every axis).

    Raises
    ------
    DataError
        A missing file, an unknown orientation, a non-cubic voxel or a malformed file.
    """
    folder = Path(folder).expanduser()
    absent = [n for n in _REQUIRED if not (folder / n).is_file()]
    if absent:
        raise DataError(
            f"{str(folder)!r} is not a BrainGlobe atlas folder: {', '.join(absent)} missing "
            f"(it needs {', '.join(_REQUIRED)})."
        )
    try:
        import tifffile
    except ImportError as exc:  # pragma: no cover - tifffile is a dependency
        raise DataError("Reading BrainGlobe atlases needs tifffile: pip install tifffile.") from exc

    meta_path = folder / "metadata.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        structures = json.loads((folder / "structures.json").read_text(encoding="utf-8"))
        resolution = [float(r) for r in meta["resolution"]]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"{str(folder)!r}: metadata.json or structures.json is malformed ({exc!r})."
        ) from exc
    orientation = _check_orientation(meta.get("orientation", ""), str(meta_path))
    annotation = tifffile.imread(folder / "annotation.tiff")
    if annotation.ndim != 3 or len(resolution) != 3:
        raise DataError(
            f"{str(folder)!r}: annotation.tiff must be a 3-D stack with 3 resolutions; got shape "
            f"{annotation.shape} and resolution {resolution}."
        )
    if len(set(resolution)) != 1:
        raise DataError(
            f"{str(meta_path)!r}: resolution must be the same on every axis (cubic voxels); "
            f"got {resolution} µm."
        )
    annotation, _perm = reorient(annotation, orientation)
    if np.issubdtype(annotation.dtype, np.signedinteger) and annotation.min() < 0:
        raise DataError(f"{str(folder)!r}: annotation.tiff has negative labels.")
    res = resolution[0]
    return Atlas(
        annotation=annotation.astype(np.uint32, copy=False),
        resolution_um=res,
        ontology=_ontology(structures, folder / "structures.json"),
        name=f"{meta.get('name', folder.name)}_{res:g}um",
    )
