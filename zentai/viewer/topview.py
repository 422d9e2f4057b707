"""Activity frames for the viewer's top (dorsal) view.

With soma positions (atlas scenarios; NWB units with ``x, y, z``), every neuron is projected
onto the dorsal plane (CCF AP x ML; the DV coordinate is dropped) into 100 µm columns, and each
frame holds the rate (Hz per neuron) of the neurons of each column. The background is the
dorsal surface of the Allen CCF at 100 µm (the area that is dorsal-most in each column,
isocortical areas at the level of MO, SS, VIS, ...), with the outlines of the regions that the
result's populations name; without the atlas files the columns are drawn on their own.

Without positions (the microcircuit), the map is a schematic column: one tile per population,
layers as rows and cell classes as columns, each tile holding the population's rate.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from zentai.errors import ZentaiError

if TYPE_CHECKING:
    from zentai.viewer.data import Dataset

__all__ = ["activity_map", "dorsal_surface"]

#: column width of the top view (µm); the 100 µm CCF grid
COLUMN_UM = 100.0
#: cap on the numbers (columns x frames) of one map
MAX_VALUES = 2_000_000
#: major divisions that are drawn (besides the isocortical areas) on the dorsal surface
_DIVISIONS = ("OLF", "HPF", "CTXsp", "STR", "PAL", "TH", "HY", "MB", "P", "MY", "CB", "VS")
_ATLAS: dict[str, Any] = {}
_ATLAS_LOCK = threading.Lock()


def _atlas() -> tuple[Any, str | None]:
    """The 100 µm CCF atlas (loaded once), or (None, why not)."""
    with _ATLAS_LOCK:
        if "atlas" not in _ATLAS:
            try:
                from zentai.atlas.atlas import load

                _ATLAS["atlas"], _ATLAS["why"] = load("allen_mouse_100um"), None
            except (ZentaiError, OSError) as exc:
                _ATLAS["atlas"] = None
                _ATLAS["why"] = f"no atlas background ({' '.join(str(exc).split())})"
        return _ATLAS["atlas"], _ATLAS["why"]


def dorsal_surface(atlas: Any, regions: list[str]) -> dict[str, Any]:
    """The dorsal surface of ``atlas``: the area of each (AP, ML) column, and region outlines.

    Returns ``{"areas": [acronym], "colors": ["#rrggbb"], "surface": flat (AP * ML) list of
    area index (-1 outside the brain, -2 an unlisted structure), "regions": [{"name", "cells"
    (flat column indices covered by the region's dorsal projection)}]}``.
    """
    o = atlas.ontology
    ann = atlas.annotation
    inside = ann != 0
    first = np.argmax(inside, axis=1)  # dorsal-most labelled voxel of each (AP, ML) column
    ap, ml = np.indices(first.shape)
    top = ann[ap, first, ml]
    areas = [s.acronym for s in o.children("Isocortex")] + [d for d in _DIVISIONS if d in o]
    index = {a: k for k, a in enumerate(areas)}
    labels, inverse = np.unique(top, return_inverse=True)
    area_of = np.full(labels.size, -2, np.int64)
    for j, sid in enumerate(labels):
        if int(sid) in o:
            for s in (o.get(int(sid)), *o.ancestors(int(sid))):
                if s.acronym in index:
                    area_of[j] = index[s.acronym]
                    break
    surface = area_of[inverse.reshape(top.shape)]
    surface[~inside.any(axis=1)] = -1
    outlines = []
    for r in regions:
        if r not in o:
            continue
        cells = np.flatnonzero(atlas.mask(r).any(axis=1))
        if cells.size:
            outlines.append({"name": r, "cells": cells.tolist()})
    return {
        "areas": areas,
        "colors": [f"#{o.get(a).color_hex}" for a in areas],
        "surface": surface.ravel().tolist(),
        "regions": outlines,
    }


def _frames(ds: Dataset, cell_of: np.ndarray, n_cells: int, bin_ms: float) -> dict[str, Any]:
    """Rates (Hz per neuron) of each cell per frame; ``cell_of``: cell of each neuron (-1 none)."""
    n_frames = max(1, int(np.floor(ds.t_stop_ms / bin_ms + 1e-9)))
    b = np.ceil(ds.times_ms / bin_ms - 1e-9).astype(np.int64) - 1  # right-closed bins
    c = cell_of[ds.neuron]
    keep = (b >= 0) & (b < n_frames) & (c >= 0)
    counts = np.bincount(b[keep] * n_cells + c[keep], minlength=n_frames * n_cells)
    counts = counts.reshape(n_frames, n_cells).astype(np.float64)
    sizes = np.bincount(cell_of[cell_of >= 0], minlength=n_cells).astype(np.float64)
    rate = counts / np.maximum(sizes, 1.0)[None, :] / (bin_ms * 1e-3)
    nz = rate[rate > 0]
    vmax = float(np.percentile(nz, 99)) if nz.size else 1.0
    return {
        "n_neurons": sizes.astype(np.int64).tolist(),
        "time_ms": [round((k + 0.5) * bin_ms, 6) for k in range(n_frames)],
        "bin_ms": bin_ms,
        "rates_hz": [[float(f"{v:.5g}") for v in row] for row in rate],
        "n_spikes": int(keep.sum()),
        "vmax_hz": max(vmax, 1e-9),
    }


def activity_map(ds: Dataset, bin_ms: float, max_frames: int) -> dict[str, Any]:
    """The map of ``ds`` (module docstring) with frames of ``bin_ms`` (widened to at most
    ``max_frames`` frames over the run)."""
    bin_ms = max(float(bin_ms), ds.t_stop_ms / max_frames)
    bin_ms = min(bin_ms, ds.t_stop_ms)
    if ds.positions_um is not None and np.isfinite(ds.positions_um).all(axis=1).any():
        return _atlas_map(ds, bin_ms)
    return _schematic_map(ds, bin_ms)


def _atlas_map(ds: Dataset, bin_ms: float) -> dict[str, Any]:
    pos = ds.positions_um
    ok = np.isfinite(pos).all(axis=1)
    atlas, note = _atlas()
    if atlas is not None:
        n_ap, _, n_ml = atlas.shape
        origin = np.zeros(2)
        res = atlas.resolution_um
    else:
        res = COLUMN_UM
        origin = np.floor(np.nanmin(pos[ok][:, [0, 2]], axis=0) / res) * res
        extent = np.nanmax(pos[ok][:, [0, 2]], axis=0) - origin
        n_ap, n_ml = (int(e // res) + 1 for e in extent)
    col = np.full(pos.shape[0], -1, np.int64)
    ap = np.floor((pos[ok, 0] - origin[0]) / res).astype(np.int64)
    ml = np.floor((pos[ok, 2] - origin[1]) / res).astype(np.int64)
    inside = (ap >= 0) & (ap < n_ap) & (ml >= 0) & (ml < n_ml)
    flat = np.where(inside, ap * n_ml + ml, -1)
    col[np.flatnonzero(ok)] = flat
    used = np.unique(flat[flat >= 0])
    cell_of = np.full(pos.shape[0], -1, np.int64)
    cell_of[col >= 0] = np.searchsorted(used, col[col >= 0])
    # at most MAX_VALUES numbers in the frames: wider bins for maps of many columns
    bin_ms = min(max(bin_ms, ds.t_stop_ms * used.size / MAX_VALUES), ds.t_stop_ms)
    frames = _frames(ds, cell_of, used.size, bin_ms)
    regions = sorted({lab["region"] for lab in ds.labels.values() if lab.get("region")})
    return {
        "mode": "atlas",
        "grid": {
            "width": int(n_ml),
            "height": int(n_ap),
            "um_per_cell": float(res),
            "origin_um": origin.tolist(),
            "x_label": "ML (mm)",
            "y_label": "AP (mm)",
        },
        "background": None if atlas is None else dorsal_surface(atlas, regions),
        "cells": {
            "x": (used % n_ml).tolist(),
            "y": (used // n_ml).tolist(),
            "label": None,
        },
        "n_outside": int((~inside).sum() + (~ok).sum()),
        "note": note,
        **frames,
    }


def _schematic_map(ds: Dataset, bin_ms: float) -> dict[str, Any]:
    pops = list(ds.populations)
    layers = list(dict.fromkeys(ds.labels[p].get("layer", "") for p in pops))
    classes = list(dict.fromkeys(ds.labels[p].get("cell_class", "") for p in pops))
    if "" in layers or "" in classes:  # unlabelled: one tile per population, in rows of 4
        x = [k % 4 for k in range(len(pops))]
        y = [k // 4 for k in range(len(pops))]
        width, height = min(4, len(pops)), (len(pops) + 3) // 4
    else:
        x = [classes.index(ds.labels[p]["cell_class"]) for p in pops]
        y = [layers.index(ds.labels[p]["layer"]) for p in pops]
        width, height = len(classes), len(layers)
    cell_of = np.full(ds.n_neurons, -1, np.int64)
    for k, (a, b) in enumerate(ds.populations.values()):
        cell_of[a:b] = k
    return {
        "mode": "schematic",
        "grid": {
            "width": width,
            "height": height,
            "um_per_cell": None,
            "x_label": "cell class" if "" not in classes else "",
            "y_label": "layer" if "" not in layers else "",
            "x_names": classes if "" not in classes else None,
            "y_names": layers if "" not in layers else None,
        },
        "background": None,
        "cells": {"x": x, "y": y, "label": pops},
        "n_outside": 0,
        "note": "no soma positions: one tile per population",
        **_frames(ds, cell_of, len(pops), bin_ms),
    }
