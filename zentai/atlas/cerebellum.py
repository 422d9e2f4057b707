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
3. Layers by thresholds on phi equal to the cumulative thickness fractions: granular
   [0, g), Purkinje [g, g + p), molecular [g + p, 1] with g, p the thickness fractions of
   :class:`CerebellarLayers` (BSB mouse defaults: 130, 15, 150 µm; MODEL_SPEC §2.4), or, with
   ``calibration="volume"``, at the phi quantiles of g and g + p.
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


@dataclass(frozen=True, kw_only=True)
class CerebellarLayers:
    """Thickness of the cerebellar cortex layers (µm), white-matter side first.

    ``calibration``: ``"potential"`` puts the layer borders at phi equal to the cumulative
    thickness fractions (MODEL_SPEC §2.5 step 3); ``"volume"`` puts them at the phi quantiles
    of those fractions over the whole cortex, so that each layer's share of the volume equals
    its share of the thickness (the order of the voxels by phi is kept). On the CCF the phi
    histogram is far from uniform (see the tests), so the two differ there.
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
    calibration: str = "potential"

    def __post_init__(self) -> None:
        if self.calibration not in ("potential", "volume"):
            raise SpecError(
                "CerebellarLayers.calibration must be 'potential' or 'volume'; "
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
        """phi thresholds granular | Purkinje and Purkinje | molecular."""
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
    g, gp = layers.thresholds
    ok = np.isfinite(phi)
    if layers.calibration == "volume" and ok.any():
        g, gp = (float(x) for x in np.quantile(phi[ok], [g, gp]))
    layer = np.full(len(phi), -1, dtype=np.int8)
    layer[ok] = np.where(phi[ok] < g, 0, np.where(phi[ok] < gp, 1, 2))
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
