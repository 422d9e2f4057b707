"""Cerebellar cortex layers by a Laplace potential, and the local folium axis.

Following MODEL_SPEC §2.5, on a fine grid (the CCF 25 µm annotation):

1. Mask: the cerebellar-cortex voxels (``CBX`` and its descendants, the lobules).
2. phi = 1 on pial faces: faces towards label 0 / ``root`` (outside the brain), the ventricles
   (``VS``, the 4th ventricle side) and, when ``CerebellarLayers.lobule_borders_pial`` is set,
   faces between two different lobule labels far from the white matter (folia of neighbouring
   lobules that touch across a fissure without a gap of label 0). phi = 0 on white-matter
   faces: faces towards the cerebellar fiber tracts (``cbf``: arbor vitae and peduncles),
   other fiber tracts and the cerebellar nuclei (``CBN``). No flux elsewhere (brain stem,
   the unassigned ``CB`` label).
3. Thickness coordinate (:attr:`CerebellarLayers.coordinate`). On the CCF phi is far from
   linear in the distance from the white matter (thin folia: most of the cortex has phi close
   to 1), so by default the layers are not thresholds on phi itself (MODEL_SPEC §2.5 step 3,
   kept as ``"potential"``). Instead, from every voxel centre the streamline of grad phi is
   traced down to the white matter and up to the pia (:func:`_trace_streamlines`), with path
   lengths ``d_wm``, ``d_pia``:

   * ``"equidistant"``: ``t = d_wm / (d_wm + d_pia)``, the equidistant model of laminar depth;
   * ``"equivolume"`` (default): Bok's (1929) equivolume model as used for cortical layers by
     Waehnert et al. 2014 (NeuroImage 93:210): ``t = V_wm / (V_wm + V_pia)`` where ``V`` is
     the volume of a thin bundle of streamlines around the path, from the voxel to each end.
     The flux ``|grad phi| A`` through the bundle's cross-section ``A`` is constant, so
     ``V = integral of ds / |grad phi|`` up to a factor that cancels in ``t``. A layer then
     takes the same share of every column's volume, wherever the folium bends, as it takes of
     the thickness of a flat sheet.

   Layers: granular ``t < g``, Purkinje ``g <= t < g + p``, molecular ``t >= g + p`` with g, p
   the thickness fractions of :class:`CerebellarLayers` (BSB mouse defaults: 130, 15, 150 µm;
   MODEL_SPEC §2.4), or, with ``calibration="volume"``, at the quantiles g and g + p of ``t``
   over the whole cortex (volume shares equal to the thickness shares *by construction*).
   Measured on the CCF 25 µm (granular / Purkinje / molecular share of the voxels; target
   0.441 / 0.051 / 0.508): potential 0.274 / 0.033 / 0.692, equidistant 0.336 / 0.046 /
   0.619, equivolume 0.433 / 0.051 / 0.516. The equivolume model keeps each layer's share of
   the volume per column, so its global shares matching the thickness shares is what the
   model asserts rather than an independent prediction; equidistant, which makes none, puts
   more of the volume in the molecular layer, as the pial side of a folium is wider.
4. Aggregation to the coarse grid (``coarse_factor`` fine voxels per edge; 4 turns 25 µm into
   100 µm, whose voxel (i, j, k) covers fine voxels [4i, 4i + 4) in each axis, as the CCF 100 µm
   file is the 25 µm one sampled at every 4th voxel): the fraction of each coarse voxel's
   volume in each layer, the mean normal, and the folium axis.
5. Folium axis (the parallel-fibre direction): the normals of a folium all lie in the plane
   across it, so the axis is the eigenvector with the *smallest* eigenvalue of the second
   moment ``M = mean(n n^T)`` of the fine-grid normals in the coarse voxel and its 26
   neighbours (a patch about three coarse voxels wide). This is the direction of least surface
   curvature, our documented alternative to the "largest extent of the tangent covariance"
   of MODEL_SPEC §2.4; ``folium_anisotropy`` (the ratio of the two smallest eigenvalues, 0 for
   a perfect cylinder, 1 where the patch is flat or a dome) says how well it is defined.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from zentai.atlas._laplace import crop_padded, solve_laplace
from zentai.atlas.atlas import Atlas
from zentai.atlas.geometry import _cache_path, _id_lut, _save, _unit_normals
from zentai.errors import RegionError, SpecError

__all__ = ["CEREBELLAR_LAYERS", "CerebellarGeometry", "CerebellarLayers", "cerebellar_geometry"]

log = logging.getLogger(__name__)

#: Layer codes of :attr:`CerebellarGeometry.layer` (0, 1, 2), white-matter side first.
CEREBELLAR_LAYERS = ("granular", "purkinje", "molecular")
_COORDINATES = ("equidistant", "equivolume", "potential")


@dataclass(frozen=True, kw_only=True)
class CerebellarLayers:
    """Thickness of the cerebellar cortex layers (µm), white-matter side first.

    ``coordinate``: what the layer borders are thresholds on, ``"equivolume"`` (default),
    ``"equidistant"`` or ``"potential"`` (phi itself, MODEL_SPEC §2.5 step 3); see the module
    docstring. ``calibration``: ``"thickness"`` puts the borders at the cumulative thickness
    fractions of that coordinate; ``"volume"`` at its quantiles of those fractions over the
    whole cortex, so that each layer's share of the volume equals its share of the thickness
    by construction (the order of the voxels by the coordinate is kept).
    ``lobule_borders_pial``: faces between two lobules whose voxels both lie at least
    ``granular_um + purkinje_um`` from the white matter are pial (phi = 1): folia of two
    lobules touching across a fissure; other faces between lobules stay inside the domain.

    Defaults: BSB mouse cerebellar cortex configuration (dbbs-lab/cerebellar-models,
    ``mouse_cerebellar_cortex.yaml``; MODEL_SPEC §2.4): granular 130, Purkinje 15, molecular
    150 (basket 50 + stellate 100) µm.
    """

    granular_um: float = 130.0
    purkinje_um: float = 15.0
    molecular_um: float = 150.0
    lobule_borders_pial: bool = True
    coordinate: str = "equivolume"
    calibration: str = "thickness"

    def __post_init__(self) -> None:
        if self.coordinate not in _COORDINATES:
            raise SpecError(
                f"CerebellarLayers.coordinate must be one of {', '.join(map(repr, _COORDINATES))}; "
                f"got {self.coordinate!r}."
            )
        if self.calibration not in ("thickness", "volume"):
            raise SpecError(
                "CerebellarLayers.calibration must be 'thickness' or 'volume'; "
                f"got {self.calibration!r}."
            )
        for f in ("granular_um", "purkinje_um", "molecular_um"):
            v = getattr(self, f)
            if not (isinstance(v, (int, float)) and v > 0):
                raise SpecError(f"CerebellarLayers.{f} must be a thickness > 0 µm; got {v!r}.")

    @property
    def fractions(self) -> np.ndarray:
        """Thickness fractions (granular, Purkinje, molecular), summing to 1."""
        t = np.array([self.granular_um, self.purkinje_um, self.molecular_um])
        return t / t.sum()

    @property
    def thresholds(self) -> tuple[float, float]:
        """Coordinate thresholds granular | Purkinje and Purkinje | molecular."""
        f = self.fractions
        return float(f[0]), float(f[0] + f[1])


@dataclass(frozen=True, eq=False)
class CerebellarGeometry:
    """Cerebellar cortex layers on the fine grid and their aggregation to the coarse grid.

    Attributes
    ----------
    index : ndarray, (n, 3), int64
        Fine-grid voxel indices of the cerebellar cortex.
    phi : ndarray, (n,), float64
        Potential, 0 at the white matter, 1 at the pia (nan where undefined).
    depth : ndarray, (n,), float64
        The coordinate the layers are thresholds on, 0 at the white matter, 1 at the pia
        (:attr:`CerebellarLayers.coordinate`; phi itself for ``"potential"``).
    thickness_um : ndarray, (n,), float64
        Length of the streamline of grad phi through the voxel centre from the white matter
        to the pia (nan for ``"potential"`` and where a streamline does not reach its end).
    layer : ndarray, (n,), int8
        Index into :data:`CEREBELLAR_LAYERS` (-1 where phi is nan).
    normal : ndarray, (n, 3), float64
        Unit gradient of phi (points from the white matter to the pia).
    coarse_index : ndarray, (m, 3), int64
        Coarse voxels holding any cerebellar cortex.
    fractions : ndarray, (m, 3), float64
        Fraction of each coarse voxel's volume in each layer.
    coarse_normal, folium_axis : ndarray, (m, 3), float64
        Mean normal and folium axis (unit vectors, AP/DV/ML components).
    folium_anisotropy : ndarray, (m,), float64
        Smallest over second-smallest eigenvalue of the normals' second moment.
    resolution_um, coarse_resolution_um : float
    """

    index: np.ndarray
    phi: np.ndarray
    depth: np.ndarray
    thickness_um: np.ndarray
    layer: np.ndarray
    normal: np.ndarray
    coarse_index: np.ndarray
    fractions: np.ndarray
    coarse_normal: np.ndarray
    folium_axis: np.ndarray
    folium_anisotropy: np.ndarray
    resolution_um: float
    coarse_resolution_um: float

    def layer_fractions(self) -> dict[str, float]:
        """Fraction of the (fine, phi-defined) cortex voxels in each layer."""
        ok = self.layer >= 0
        counts = np.bincount(self.layer[ok], minlength=3)
        return {name: float(c / max(ok.sum(), 1)) for name, c in zip(CEREBELLAR_LAYERS, counts)}


def cerebellar_geometry(
    atlas: Atlas,
    layers: CerebellarLayers | None = None,
    *,
    region: str | int = "CBX",
    coarse_factor: int = 4,
    cache: bool = True,
) -> CerebellarGeometry:
    """Layers of the cerebellar cortex by a Laplace potential (see the module docstring).

    The 25 µm CCF takes about 30 s (Laplace solve and streamlines) and about 5 GB; the result
    is cached per atlas and parameters (coordinate and calibration included).

    Parameters
    ----------
    atlas
        The fine atlas (``load("allen_mouse_25um")`` for the CCF).
    layers
        Layer thicknesses; :class:`CerebellarLayers` defaults when None.
    region
        The cerebellar cortex (acronym or id).
    coarse_factor
        Fine voxels per coarse voxel edge (4: 25 µm -> 100 µm).
    cache
        Read / write the result in the zentai cache folder.

    Examples
    --------
    >>> from zentai.atlas.synthetic import synthetic_atlas
    >>> geo = cerebellar_geometry(synthetic_atlas(100), coarse_factor=2, cache=False)
    >>> sorted(geo.layer_fractions())
    ['granular', 'molecular', 'purkinje']
    """
    layers = CerebellarLayers() if layers is None else layers
    if not isinstance(layers, CerebellarLayers):
        raise SpecError(
            f"cerebellar_geometry.layers must be a CerebellarLayers; got {type(layers).__name__}."
        )
    if not (isinstance(coarse_factor, (int, np.integer)) and coarse_factor >= 1):
        raise SpecError(
            f"cerebellar_geometry.coarse_factor must be an integer >= 1; got {coarse_factor!r}."
        )
    onto = atlas.ontology
    rid = onto.id(region)
    params = {
        "region": rid,
        "coarse_factor": int(coarse_factor),
        "layers": (layers.granular_um, layers.purkinje_um, layers.molecular_um),
        "lobule_borders_pial": layers.lobule_borders_pial,
        "coordinate": layers.coordinate,
        "calibration": layers.calibration,
    }
    path = _cache_path("cerebellum", atlas, params) if cache else None
    if path is not None and path.exists():
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
        for k in ("resolution_um", "coarse_resolution_um"):
            d[k] = float(d[k])
        return CerebellarGeometry(**d)
    t0 = time.perf_counter()
    geo = _compute(atlas, rid, layers, int(coarse_factor))
    log.info("cerebellar geometry: %d voxels in %.1f s", len(geo.phi), time.perf_counter() - t0)
    if path is not None:
        _save(path, {f: getattr(geo, f) for f in geo.__dataclass_fields__})
    return geo


def _compute(atlas: Atlas, rid: int, layers: CerebellarLayers, factor: int) -> CerebellarGeometry:
    ann = atlas.annotation
    cortex_lut = np.zeros(atlas._lut_size, dtype=bool)
    ids = atlas.label_set(rid)
    cortex_lut[ids[ids < cortex_lut.size]] = True
    mask = cortex_lut[ann]
    if not mask.any():
        raise RegionError(
            f"cerebellar_geometry: region {atlas.ontology.acronym(rid)!r} has no voxels in "
            f"{atlas.name}."
        )
    pia_lut = _id_lut(atlas, ("VS",))
    pia_lut[0] = True
    if "root" in atlas.ontology:
        pia_lut[atlas.ontology.id("root")] = True
    wm_lut = _id_lut(atlas, ("fiber tracts", "CBN"))

    def face_fn(src, nb, src_lab, nb_lab, axis, sign):
        out = np.full(len(src), np.nan)
        out[pia_lut[nb_lab]] = 1.0
        out[wm_lut[nb_lab]] = 0.0
        return out

    cut_fn = None
    if layers.lobule_borders_pial:
        # a contact between lobules at least (granular + Purkinje) thickness away from the
        # white matter lies in the molecular layers of two folia: a fissure, hence pial
        sl, lo = crop_padded(mask, pad=1)
        d_wm = ndimage.distance_transform_edt(~wm_lut[ann[sl]]) * atlas.resolution_um
        guard = layers.granular_um + layers.purkinje_um

        def cut_fn(src, nb, src_lab, nb_lab, axis, sign):
            cut = src_lab != nb_lab
            far = np.minimum(d_wm[tuple((src - lo).T)], d_wm[tuple((nb - lo).T)]) >= guard
            return cut & far, np.where(cut & far, 1.0, np.nan)

    sol = solve_laplace(ann, mask, face_fn, cut_fn)
    phi = np.clip(sol.phi, 0.0, 1.0)
    thickness = np.full(len(phi), np.nan)
    if layers.coordinate == "potential":
        depth = phi
    else:
        # box around the cortex, one more voxel of "outside the array" (label 0: pia)
        sl, lo = crop_padded(mask, pad=1)
        sub = ann[sl]
        code = np.where(
            mask[sl], _INSIDE, np.where(wm_lut[sub], _WM, np.where(pia_lut[sub], _PIA, _NEUMANN))
        ).astype(np.int8)
        code = np.pad(code, 1, constant_values=_PIA)
        start = sol.index - lo + 1
        vid = np.full(code.shape, -1, dtype=np.int32)
        vid[tuple(start.T)] = np.arange(len(start), dtype=np.int32)
        cut = None
        if layers.lobule_borders_pial:
            lob = ann[tuple(sol.index.T)]
            far = d_wm[tuple((sol.index - lo).T)] >= guard

            def cut(a, b):
                return (lob[a] != lob[b]) & far[a] & far[b]

        depth, thickness = _thickness_coordinate(
            code, vid, sol.grad, start, phi, cut, layers.coordinate
        )
        thickness *= atlas.resolution_um
    g, gp = layers.thresholds
    ok = np.isfinite(depth)
    if layers.calibration == "volume" and ok.any():
        g, gp = (float(x) for x in np.quantile(depth[ok], [g, gp]))
    layer = np.full(len(phi), -1, dtype=np.int8)
    layer[ok] = np.where(depth[ok] < g, 0, np.where(depth[ok] < gp, 1, 2))
    normal = _unit_normals(sol.index, sol.grad)

    # aggregate to coarse voxels
    cidx = sol.index // factor
    cshape = np.array(ann.shape) // factor + 1
    flat = np.ravel_multi_index(tuple(cidx.T), cshape)
    uniq, inv = np.unique(flat, return_inverse=True)
    m = len(uniq)
    fractions = np.zeros((m, 3))
    for k in range(3):
        fractions[:, k] = np.bincount(inv[layer == k], minlength=m)
    fractions /= factor**3
    nsum = np.zeros((m, 3))
    mom = np.zeros((m, 3, 3))
    for a in range(3):
        nsum[:, a] = np.bincount(inv, weights=normal[:, a], minlength=m)
        for b in range(3):
            mom[:, a, b] = np.bincount(inv, weights=normal[:, a] * normal[:, b], minlength=m)
    cnt = np.bincount(inv, minlength=m).astype(float)
    coarse_index = np.stack(np.unravel_index(uniq, cshape), axis=1)
    # 3x3x3 neighbourhood sums of the second moment
    lo = coarse_index.min(0) - 1
    vshape = tuple(coarse_index.max(0) - lo + 2)
    loc = tuple((coarse_index - lo).T)
    box = np.ones((3, 3, 3))
    vol = np.zeros(vshape)
    vol[loc] = cnt
    csm = ndimage.correlate(vol, box, mode="constant")[loc]
    msm = np.zeros_like(mom)
    for a in range(3):
        for b in range(a, 3):
            vol[:] = 0.0
            vol[loc] = mom[:, a, b]
            msm[:, a, b] = msm[:, b, a] = ndimage.correlate(vol, box, mode="constant")[loc]
    msm /= np.maximum(csm, 1.0)[:, None, None]
    w, v = np.linalg.eigh(msm)  # ascending eigenvalues
    axis = v[:, :, 0]
    aniso = np.where(w[:, 1] > 1e-12, w[:, 0] / np.maximum(w[:, 1], 1e-12), 1.0)
    axis = axis * np.where(axis[:, 2:3] < 0, -1.0, 1.0)  # sign convention: ML component >= 0
    cn = nsum / np.maximum(np.linalg.norm(nsum, axis=1, keepdims=True), 1e-12)
    return CerebellarGeometry(
        index=sol.index,
        phi=phi,
        depth=depth,
        thickness_um=thickness,
        layer=layer,
        normal=normal,
        coarse_index=coarse_index,
        fractions=fractions,
        coarse_normal=cn,
        folium_axis=axis,
        folium_anisotropy=aniso,
        resolution_um=float(atlas.resolution_um),
        coarse_resolution_um=float(atlas.resolution_um * factor),
    )


def _thickness_coordinate(code, vid, grad, start, phi, cut, kind):
    """Thickness coordinate (0 at the white matter, 1 at the pia) and thickness (voxels).

    Where either streamline does not end on its own boundary (the white matter going down,
    the pia going up) the coordinate falls back to phi and the thickness is nan.
    """
    t0 = time.perf_counter()
    l_wm, v_wm, e_wm = _trace_streamlines(code, vid, grad, start, -1.0, cut=cut)
    l_pia, v_pia, e_pia = _trace_streamlines(code, vid, grad, start, 1.0, cut=cut)
    a, b = (l_wm, l_pia) if kind == "equidistant" else (v_wm, v_pia)
    good = (e_wm == _WM) & (e_pia == _PIA) & np.isfinite(phi) & (a + b > 0)
    t = phi.copy()
    t[good] = a[good] / (a[good] + b[good])
    thickness = np.where(good, l_wm + l_pia, np.nan)
    log.info(
        "cerebellar streamlines: %.1f s; ends towards the white matter %s, towards the pia %s",
        time.perf_counter() - t0,
        dict(zip(_ENDS, np.bincount(e_wm, minlength=4).tolist())),
        dict(zip(_ENDS, np.bincount(e_pia, minlength=4).tolist())),
    )
    return t, thickness


# Boundary codes of the voxels around the cortex (see _trace_streamlines).
_INSIDE, _NEUMANN, _PIA, _WM = 1, 0, 2, 3
_ENDS = ("cap", "neumann", "pia", "wm")  # end codes 0..3 of a traced streamline


def _trace_streamlines(
    code: np.ndarray,
    vid: np.ndarray,
    grad: np.ndarray,
    start: np.ndarray,
    sign: float,
    *,
    cut: np.ndarray | None = None,
    step: float = 0.5,
    max_steps: int = 200,
    min_grad: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trace the streamlines of ``sign * grad phi`` from the voxel centres to the boundary.

    All streamlines advance together (explicit Euler, ``step`` voxel edges per step, the
    gradient of the voxel nearest to the current point). A streamline ends where it leaves
    the domain through a Dirichlet face (pia or white matter; the exact crossing of the face
    plane within the last step is used) or crosses a cut face (``cut``: a pial face between
    two lobules); at a no-flux face the step loses its components across the face (it slides
    along it) and the streamline ends when nothing is left; after ``max_steps`` it ends as
    ``"cap"``.

    Parameters
    ----------
    code : ndarray, int8
        Per voxel of the (padded) box: ``_INSIDE``, ``_NEUMANN``, ``_PIA`` or ``_WM``.
    vid : ndarray, int32
        Per voxel of the box: row of ``grad`` (-1 outside the domain).
    grad : ndarray, (n, 3)
        Gradient of phi per domain voxel.
    start : ndarray, (n, 3), int
        Box indices of the domain voxels (the starting points, row order of ``grad``).
    cut : callable or None
        ``cut(a, b) -> bool array``: whether the face between domain voxels a and b (rows of
        ``grad``) is pial.

    Returns
    -------
    length : (n,) float64
        Path length (voxel edges) from the voxel centre to the end.
    volume : (n,) float64
        Integral of ``1 / |grad phi|`` along the path: the volume of a thin bundle of
        streamlines around the path, up to a constant factor per streamline (the flux
        ``|grad phi| A`` is constant along it).
    end : (n,) int8
        Index into :data:`_ENDS`.
    """
    n = len(start)
    gnorm = np.linalg.norm(grad, axis=1)
    unit = (grad / np.maximum(gnorm, 1e-300)[:, None]).astype(np.float32) * np.float32(sign)
    winv = (1.0 / np.maximum(gnorm, min_grad)).astype(np.float32)
    length = np.zeros(n)
    volume = np.zeros(n)
    end = np.zeros(n, dtype=np.int8)
    ids = np.arange(n)
    pos = start.astype(np.float32)
    cur = np.arange(n)
    shape = np.array(code.shape) - 1
    for _ in range(max_steps):
        if ids.size == 0:
            break
        d = unit[cur]
        new = pos + np.float32(step) * d
        nv = np.clip(np.rint(new).astype(np.int32), 0, shape)
        cv = np.rint(pos).astype(np.int32)
        c = code[tuple(nv.T)]
        # no-flux faces: drop the components that cross them, once
        slide = c == _NEUMANN
        if slide.any():
            s = np.flatnonzero(slide)
            ds = d[s] * (nv[s] == cv[s])
            new[s] = pos[s] + np.float32(step) * ds
            nv[s] = np.clip(np.rint(new[s]).astype(np.int32), 0, shape)
            c[s] = code[tuple(nv[s].T)]
            dead = (c[s] == _NEUMANN) | (np.abs(ds).sum(1) < 1e-3)
            c[s[dead]] = -1  # ends here
        moved = np.linalg.norm(new - pos, axis=1)
        nxt = np.where(c == _INSIDE, vid[tuple(nv.T)], -1)
        cross = np.zeros(len(ids), dtype=bool)
        if cut is not None:
            m = (nxt >= 0) & (nxt != cur)
            if m.any():
                mm = np.flatnonzero(m)
                cross[mm] = cut(cur[mm], nxt[mm])
        exit_ = (c == _PIA) | (c == _WM) | cross
        if exit_.any():
            e = np.flatnonzero(exit_)
            # fraction of the step up to the first face plane crossed
            p0, p1, v0 = pos[e], new[e], cv[e]
            face = v0 + 0.5 * np.sign(p1 - p0)
            with np.errstate(divide="ignore", invalid="ignore"):
                fr = np.where(np.rint(p1) != v0, (face - p0) / (p1 - p0), np.inf)
            fr = np.clip(np.nan_to_num(fr.min(1), nan=1.0, posinf=1.0), 0.0, 1.0)
            seg = moved[e] * fr
            length[ids[e]] += seg
            volume[ids[e]] += seg * winv[cur[e]]
            end[ids[e]] = np.where(cross[e], _PIA, c[e])
        stop = exit_ | (c == -1)
        if stop.any():
            end[ids[c == -1]] = _NEUMANN
        go = ~stop
        length[ids[go]] += moved[go]
        volume[ids[go]] += moved[go] * winv[cur[go]]
        ids, pos, cur = ids[go], new[go], nxt[go]
    return length, volume, end
