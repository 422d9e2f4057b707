"""Cortical geometry: Laplace depth, surface normals, layers, tangent-plane distances.

Depth
    A Laplace potential phi on the cortical mask (the voxels of ``regions``, Isocortex by
    default) with phi = 0 on the pia, phi = 1 on the white matter and no flux elsewhere
    (MODEL_SPEC §1.4, the §2.5 machinery). Boundary faces, decided with the CCF layer labels:

    * pia (phi = 0): faces of **L1** voxels towards label 0 (outside the brain) or ``root``,
      and faces between two L1 voxels across the ML midline (the medial surfaces of the two
      hemispheres touch in the CCF; every face across the midline is cut, and only the
      L1-L1 ones are pial);
    * white matter (phi = 1): faces of **L5, L6a, L6b** voxels towards any labelled voxel that
      is neither in the mask nor in the cortical plate ``CTXpl`` (fiber tracts, ventricles,
      cortical subplate, striatum, ...);
    * no flux: everything else (other cortical-plate areas at lateral borders, deep layers at
      the brain surface, superficial layers touching fiber tracts at the edges).

    The Dirichlet values sit on the voxel faces (see :mod:`zentai.atlas._laplace`), so depth
    lies in (0, 1). Parts of the mask with no Dirichlet face get depth nan.
Normal
    The normalised gradient of phi (central differences inside the mask, the face value at
    Dirichlet faces, zero flux at Neumann faces); it points from the pia towards the white
    matter. Where the gradient vanishes the mean normal of the face neighbours is used, and
    where that vanishes too, the normal of the nearest voxel that has one.
Layers
    From the CCF labels: a label whose name ends in ``1``, ``2/3`` (or ``2``, ``3``), ``4``,
    ``5``, ``6a``, ``6b``. L5 is split at the mid-depth of L5 *of its neighbourhood*: a voxel
    is L5A if its depth is at most the mean of the smallest and largest L5 depth within
    ``l5_split_radius_um`` of it (a ball on the voxel grid), else L5B.
Columns
    A column is the streamline of the normal field started at each pial L1 voxel (a voxel with
    a pial face): steps of half a voxel along the normal of the voxel containing the current
    point, until the point leaves the mask (at most 400 steps). :func:`column_check` reports
    how many columns see the layers in order of depth.
Cache
    Results are stored as ``.npz`` in ``cache_dir()/geometry``, keyed by the atlas name and
    resolution, a hash of the annotation and ontology ids, the regions and the parameters.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from zentai.atlas._laplace import array_digest, solve_laplace
from zentai.atlas.atlas import Atlas
from zentai.errors import RegionError, SpecError

__all__ = [
    "CCF_LAYERS",
    "LAYERS",
    "ColumnCheck",
    "CorticalGeometry",
    "column_check",
    "cortical_geometry",
    "layer_depth_table",
    "projected_distance",
    "tangent_basis",
]

log = logging.getLogger(__name__)

#: Layers of :attr:`CorticalGeometry.layer` (codes 0..6).
LAYERS = ("L1", "L2/3", "L4", "L5A", "L5B", "L6a", "L6b")
#: CCF layers of :attr:`CorticalGeometry.ccf_layer` (codes 0..5).
CCF_LAYERS = ("L1", "L2/3", "L4", "L5", "L6a", "L6b")
_SUFFIX = {"1": 0, "2/3": 1, "2": 1, "3": 1, "4": 2, "5": 3, "6a": 4, "6b": 5}
_SUFFIX_RE = re.compile(r"(2/3|6a|6b|1|2|3|4|5)$")
_VERSION = 2  # bump when a cached result changes (normal fallback)


@dataclass(frozen=True, eq=False)
class CorticalGeometry:
    """Per-voxel cortical geometry of a set of areas.

    Attributes
    ----------
    index : ndarray, (n, 3), int64
        Voxel indices (AP, DV, ML).
    depth : ndarray, (n,), float64
        Normalised depth, 0 at the pia, 1 at the white matter (nan where undefined).
    normal : ndarray, (n, 3), float64
        Unit normal (AP, DV, ML components), pointing from the pia to the white matter.
    ccf_layer : ndarray, (n,), int8
        Index into :data:`CCF_LAYERS` (-1: no layer label).
    layer : ndarray, (n,), int8
        Index into :data:`LAYERS` (L5 split into L5A / L5B; -1: no layer label).
    pial_seed : ndarray, (n,), bool
        L1 voxels with a pial face (the starting points of columns).
    resolution_um : float
    """

    index: np.ndarray
    depth: np.ndarray
    normal: np.ndarray
    ccf_layer: np.ndarray
    layer: np.ndarray
    pial_seed: np.ndarray
    resolution_um: float

    def __len__(self) -> int:
        return len(self.depth)

    def positions_um(self) -> np.ndarray:
        """Voxel centres (µm), (n, 3)."""
        return (self.index + 0.5) * self.resolution_um

    def layer_names(self) -> np.ndarray:
        """Layer of each voxel as a string (``""`` where unlabelled), (n,)."""
        names = np.array([*LAYERS, ""], dtype=object)
        return names[np.where(self.layer >= 0, self.layer, len(LAYERS))]

    def volume(self, values: np.ndarray, shape: tuple[int, int, int], fill: float = np.nan):
        """Scatter per-voxel ``values`` ((n,) or (n, k)) into an array of ``shape``."""
        values = np.asarray(values)
        out = np.full(tuple(shape) + values.shape[1:], fill, dtype=float)
        out[tuple(self.index.T)] = values
        return out


@dataclass(frozen=True)
class ColumnCheck:
    """Result of :func:`column_check`.

    ``fraction_ordered``: columns whose per-layer median depths increase in layer order
    (L1 < L2/3 < L4 < L5 < L6a < L6b for the layers the column crosses);
    ``fraction_monotone``: columns whose depth never decreases along the streamline (by more
    than 1e-9); ``n_columns``: columns with at least two layers.
    """

    n_columns: int
    fraction_ordered: float
    fraction_monotone: float
    mean_length_voxels: float


# ---------------------------------------------------------------------------- public API
def cortical_geometry(
    atlas: Atlas,
    regions: str | int | tuple[str | int, ...] = "Isocortex",
    *,
    l5_split_radius_um: float = 300.0,
    cache: bool = True,
) -> CorticalGeometry:
    """Laplace depth, normals and layers of the cortical voxels of ``regions``.

    See the module docstring for the boundary conditions and definitions.

    Parameters
    ----------
    atlas
        Any :class:`~zentai.atlas.Atlas` whose cortex carries layer labels.
    regions
        Area(s) under ``Isocortex``, as acronyms or ids.
    l5_split_radius_um
        Radius of the neighbourhood whose L5 depth range splits L5 into L5A / L5B.
    cache
        Read / write the result in the zentai cache folder.

    Examples
    --------
    >>> from zentai.atlas.synthetic import synthetic_atlas
    >>> geo = cortical_geometry(synthetic_atlas(), "SYN", cache=False)
    >>> bool(((geo.depth > 0) & (geo.depth < 1)).all())
    True
    """
    regions_t = (regions,) if isinstance(regions, (str, int)) else tuple(regions)
    if not regions_t:
        raise SpecError("cortical_geometry.regions must name at least one area; got ().")
    if not (l5_split_radius_um > 0):
        raise SpecError(
            f"cortical_geometry.l5_split_radius_um must be > 0 µm; got {l5_split_radius_um!r}."
        )
    onto = atlas.ontology
    ids = []
    for r in regions_t:
        s = onto.get(r)
        if "Isocortex" in onto and not onto.is_descendant(s.id, "Isocortex"):
            raise RegionError(
                f"cortical_geometry.regions must lie in the Isocortex; got {s.acronym!r}."
            )
        ids.append(onto.descendant_ids(s.id))
    params = {"regions": [onto.id(r) for r in regions_t], "l5_radius": float(l5_split_radius_um)}
    path = _cache_path("cortex", atlas, params) if cache else None
    if path is not None and path.exists():
        with np.load(path) as z:
            return CorticalGeometry(
                **{k: z[k] for k in z.files if k != "resolution_um"},
                resolution_um=float(z["resolution_um"]),
            )
    t0 = time.perf_counter()
    geo = _compute_cortex(atlas, np.unique(np.concatenate(ids)), l5_split_radius_um)
    log.info("cortical geometry: %d voxels in %.1f s", len(geo), time.perf_counter() - t0)
    if path is not None:
        _save(path, {f: getattr(geo, f) for f in geo.__dataclass_fields__})
    return geo


def layer_depth_table(geometry: CorticalGeometry) -> dict[str, dict[str, float]]:
    """Depth range of each CCF layer: ``{layer: {"n", "min", "median", "max"}}``.

    Layers are :data:`CCF_LAYERS` plus ``"L5A"`` and ``"L5B"``; voxels with nan depth are left
    out.
    """
    out: dict[str, dict[str, float]] = {}
    ok = np.isfinite(geometry.depth)
    rows = [(name, geometry.ccf_layer == i) for i, name in enumerate(CCF_LAYERS)]
    rows.insert(4, ("L5A", geometry.layer == LAYERS.index("L5A")))
    rows.insert(5, ("L5B", geometry.layer == LAYERS.index("L5B")))
    for name, sel in rows:
        d = geometry.depth[sel & ok]
        if d.size:
            out[name] = {
                "n": int(d.size),
                "min": float(d.min()),
                "median": float(np.median(d)),
                "max": float(d.max()),
            }
    return out


def column_check(geometry: CorticalGeometry, max_steps: int = 400) -> ColumnCheck:
    """Follow the normal streamline from every pial L1 voxel and check the layer order.

    See :class:`ColumnCheck` for what is counted.
    """
    cols = _columns(geometry, max_steps)
    n_ok = n_mono = n = 0
    lengths = []
    for seq in cols:
        d = geometry.depth[seq]
        lay = geometry.ccf_layer[seq]
        good = np.isfinite(d) & (lay >= 0)
        d, lay = d[good], lay[good]
        present = np.unique(lay)
        if present.size < 2:
            continue
        n += 1
        lengths.append(len(seq))
        med = np.array([np.median(d[lay == k]) for k in present])
        n_ok += bool(np.all(np.diff(med) > 0))
        n_mono += bool(np.all(np.diff(d) >= -1e-9))
    return ColumnCheck(
        n_columns=n,
        fraction_ordered=n_ok / max(n, 1),
        fraction_monotone=n_mono / max(n, 1),
        mean_length_voxels=float(np.mean(lengths)) if lengths else 0.0,
    )


def tangent_basis(normals: np.ndarray) -> np.ndarray:
    """Two unit vectors spanning the tangent plane of each normal, (n, 2, 3).

    The first is the AP axis (or DV, where the normal is nearly AP) made orthogonal to the
    normal; the second is ``normal x first``.
    """
    n = np.asarray(normals, dtype=float)
    ref = np.zeros_like(n)
    near_ap = np.abs(n[:, 0]) > 0.9
    ref[~near_ap, 0] = 1.0
    ref[near_ap, 1] = 1.0
    t1 = ref - np.sum(ref * n, axis=1, keepdims=True) * n
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    t2 = np.cross(n, t1)
    return np.stack([t1, t2], axis=1)


def projected_distance(points_a: Any, points_b: Any, normals: Any) -> Any:
    """Distance between point pairs projected onto the tangent plane at the postsynaptic point.

    ``d = |(r_a - r_b) - ((r_a - r_b) . n) n|`` with ``n`` the unit normal at the
    postsynaptic point (MODEL_SPEC §1.4). ``normals`` need not be unit length.

    Parameters
    ----------
    points_a, points_b : array or tensor, (..., 3)
        Postsynaptic and presynaptic positions (same unit; the result has it too).
    normals : array or tensor, (..., 3)
        Normals at ``points_a`` (broadcast against the points).

    Returns
    -------
    array or tensor, (...,)
        A torch tensor if any input is one, else a numpy array.

    Examples
    --------
    >>> projected_distance([[0.0, 0.0, 0.0]], [[3.0, 4.0, 12.0]], [[0.0, 0.0, 1.0]])
    array([5.])
    """
    if any(type(x).__module__.startswith("torch") for x in (points_a, points_b, normals)):
        import torch

        ref = next(x for x in (points_a, points_b, normals) if isinstance(x, torch.Tensor))
        dtype = ref.dtype if ref.is_floating_point() else torch.get_default_dtype()
        a, b, n = (
            torch.as_tensor(x, dtype=dtype, device=ref.device)
            for x in (points_a, points_b, normals)
        )
        n = n / torch.linalg.vector_norm(n, dim=-1, keepdim=True)
        d = a - b
        d = d - (d * n).sum(-1, keepdim=True) * n
        return torch.linalg.vector_norm(d, dim=-1)
    a, b, n = (np.asarray(x, dtype=float) for x in (points_a, points_b, normals))
    if a.shape[-1:] != (3,) or b.shape[-1:] != (3,) or n.shape[-1:] != (3,):
        raise SpecError(
            "projected_distance needs points and normals with a last axis of 3; got shapes "
            f"{a.shape}, {b.shape}, {n.shape}."
        )
    n = n / np.linalg.norm(n, axis=-1, keepdims=True)
    d = a - b
    d = d - np.sum(d * n, axis=-1, keepdims=True) * n
    return np.linalg.norm(d, axis=-1)


# ---------------------------------------------------------------------------- internals
def layer_codes(atlas: Atlas) -> np.ndarray:
    """Lookup table: structure id -> CCF layer code (0..5) or -1, from the names' endings."""
    onto = atlas.ontology
    lut = np.full(atlas._lut_size, -1, dtype=np.int8)
    for s in onto.structures:
        if s.id >= lut.size:
            continue
        m = _SUFFIX_RE.search(s.name.strip())
        if m and (s.acronym.endswith(m.group(1)) or "layer" in s.name.lower()):
            lut[s.id] = _SUFFIX[m.group(1)]
    return lut


def _id_lut(atlas: Atlas, acronyms: tuple[str, ...]) -> np.ndarray:
    lut = np.zeros(atlas._lut_size, dtype=bool)
    for a in acronyms:
        if a in atlas.ontology:
            ids = atlas.label_set(a)
            lut[ids[ids < lut.size]] = True
    return lut


def _compute_cortex(atlas: Atlas, ids: np.ndarray, l5_radius_um: float) -> CorticalGeometry:
    ann = atlas.annotation
    in_set = np.zeros(atlas._lut_size, dtype=bool)
    in_set[ids[ids < in_set.size]] = True
    mask = in_set[ann]
    if not mask.any():
        raise RegionError(f"cortical_geometry: the regions have no voxels in {atlas.name}.")
    lay_lut = layer_codes(atlas)
    cpl_lut = _id_lut(atlas, ("CTXpl",))
    root_id = atlas.ontology.id("root") if "root" in atlas.ontology else 0
    mid = atlas.midline_index
    deep = (3, 4, 5)

    def face_fn(src, nb, src_lab, nb_lab, axis, sign):
        lay = lay_lut[src_lab]
        out = np.full(len(src), np.nan)
        outside = (nb_lab == 0) | (nb_lab == root_id)
        out[(lay == 0) & outside] = 0.0
        wm = ~outside & ~cpl_lut[nb_lab] & ~in_set[nb_lab] & np.isin(lay, deep)
        out[wm] = 1.0
        return out

    def cut_fn(src, nb, src_lab, nb_lab, axis, sign):
        if axis != 2:
            return np.zeros(len(src), bool), np.full(len(src), np.nan)
        cut = (src[:, 2] < mid) != (nb[:, 2] < mid)
        val = np.where((lay_lut[src_lab] == 0) & (lay_lut[nb_lab] == 0), 0.0, np.nan)
        return cut, val

    sol = solve_laplace(ann, mask, face_fn, cut_fn)
    np.clip(sol.phi, 0.0, 1.0, out=sol.phi)  # solver tolerance can overshoot by ~1e-9
    pial = _pial_voxels(ann, sol.index, lay_lut, root_id, mid)
    normal = _unit_normals(sol.index, sol.grad)
    ccf_layer = lay_lut[ann[tuple(sol.index.T)]]
    layer = _split_l5(sol.index, sol.phi, ccf_layer, l5_radius_um / atlas.resolution_um)
    return CorticalGeometry(
        index=sol.index,
        depth=sol.phi,
        normal=normal,
        ccf_layer=ccf_layer,
        layer=layer,
        pial_seed=pial,
        resolution_um=float(atlas.resolution_um),
    )


def _pial_voxels(ann, index, lay_lut, root_id, mid) -> np.ndarray:
    lab = ann[tuple(index.T)]
    is_l1 = lay_lut[lab] == 0
    pial = np.zeros(len(index), dtype=bool)
    shape = np.array(ann.shape)
    for axis in range(3):
        for sign in (1, -1):
            nb = index.copy()
            nb[:, axis] += sign
            inside = np.all((nb >= 0) & (nb < shape), axis=1)
            nb_lab = np.zeros(len(index), dtype=ann.dtype)
            nb_lab[inside] = ann[tuple(nb[inside].T)]
            p = (nb_lab == 0) | (nb_lab == root_id)
            if axis == 2:
                across = (index[:, 2] < mid) != (nb[:, 2] < mid)
                p |= across & (lay_lut[nb_lab] == 0)
            pial |= is_l1 & p
    return pial


def _unit_normals(index: np.ndarray, grad: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(grad, axis=1)
    normal = np.zeros_like(grad)
    good = norm > 1e-12
    normal[good] = grad[good] / norm[good, None]
    if (~good).any():  # mean of the face neighbours' normals (a few passes)
        shape = index.max(0) + 3
        for _ in range(5):
            vol = np.zeros((*shape, 3))
            vol[tuple((index + 1).T)] = normal
            s = sum(np.roll(vol, sh, axis=ax) for ax in range(3) for sh in (1, -1))
            s = s[tuple((index + 1).T)]
            ns = np.linalg.norm(s, axis=1)
            fill = ~good & (ns > 1e-12)
            normal[fill] = s[fill] / ns[fill, None]
            good |= fill
            if good.all():
                break
    if (~good).any() and good.any():
        # voxels no face neighbour could fill (isolated, or opposing normals cancelling, as
        # one voxel of VISam at 100 µm): the normal of the nearest voxel that has one
        from scipy.spatial import cKDTree

        _, near = cKDTree(index[good]).query(index[~good])
        normal[~good] = normal[good][near]
    return normal


def _split_l5(index, depth, ccf_layer, radius_vox: float) -> np.ndarray:
    layer = np.where(ccf_layer >= 4, ccf_layer + 1, ccf_layer).astype(np.int8)
    l5 = (ccf_layer == 3) & np.isfinite(depth)
    layer[ccf_layer == 3] = 3
    if not l5.any():
        return layer
    lo = index[l5].min(0)
    shape = index[l5].max(0) - lo + 1
    r = int(np.floor(radius_vox))
    g = np.arange(-r, r + 1)
    ball = (g[:, None, None] ** 2 + g[None, :, None] ** 2 + g[None, None, :] ** 2) <= radius_vox**2
    vmax = np.full(shape, -np.inf)
    vmin = np.full(shape, np.inf)
    loc = tuple((index[l5] - lo).T)
    vmax[loc] = depth[l5]
    vmin[loc] = depth[l5]
    hi_d = ndimage.maximum_filter(vmax, footprint=ball, mode="constant", cval=-np.inf)[loc]
    lo_d = ndimage.minimum_filter(vmin, footprint=ball, mode="constant", cval=np.inf)[loc]
    mid = 0.5 * (hi_d + lo_d)
    layer[np.flatnonzero(l5)] = np.where(depth[l5] <= mid, 3, 4)
    return layer


def _columns(geometry: CorticalGeometry, max_steps: int) -> list[np.ndarray]:
    idx = geometry.index
    lo = idx.min(0) - 1
    shape = idx.max(0) - lo + 2
    lut = np.full(shape, -1, dtype=np.int64)
    lut[tuple((idx - lo).T)] = np.arange(len(idx))
    seeds = np.flatnonzero(geometry.pial_seed & np.isfinite(geometry.depth))
    pos = idx[seeds].astype(float)
    cur = seeds.copy()
    alive = np.ones(len(seeds), dtype=bool)
    visited = np.full((max_steps + 1, len(seeds)), -1, dtype=np.int64)
    visited[0] = cur
    for step in range(1, max_steps + 1):
        pos[alive] += 0.5 * geometry.normal[cur[alive]]
        cell = np.rint(pos).astype(np.int64) - lo
        inside = np.all((cell >= 0) & (cell < shape), axis=1)
        nxt = np.full(len(seeds), -1, dtype=np.int64)
        nxt[inside] = lut[tuple(cell[inside].T)]
        alive &= nxt >= 0
        if not alive.any():
            break
        cur = np.where(alive, nxt, cur)
        visited[step, alive] = cur[alive]
    out = []
    for k in range(len(seeds)):
        v = visited[:, k]
        v = v[v >= 0]
        keep = np.concatenate([[True], v[1:] != v[:-1]])
        out.append(v[keep])
    return out


# ---------------------------------------------------------------------------- cache
def _cache_path(kind: str, atlas: Atlas, params: dict) -> Path:
    from zentai.atlas.data import cache_dir

    onto_ids = np.array([s.id for s in atlas.ontology.structures], dtype=np.int64)
    key = array_digest(atlas.annotation) + array_digest(onto_ids) + repr(sorted(params.items()))
    import hashlib

    h = hashlib.blake2b(f"{kind}|{_VERSION}|{key}".encode(), digest_size=10).hexdigest()
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", atlas.name)
    return cache_dir() / "geometry" / f"{kind}-{safe}-{atlas.resolution_um:g}um-{h}.npz"


def _save(path: Path, arrays: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
