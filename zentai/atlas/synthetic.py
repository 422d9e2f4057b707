"""A small synthetic atlas with known geometry, for tests and examples.

Layout (µm; axes (AP, DV, ML) as in the CCF, DV grows ventrally; grid 4000 x 2400 x 3200 µm):

* **Cortex** (area ``SYN`` under ``Isocortex``), AP in [0, 1600): a cylindrical shell with its
  axis along AP through (DV, ML) = (2400, 1600), pial radius ``R_PIA = 2000`` and white-matter
  radius ``R_WM = 1000``, limited to ``|angle from dorsal| <= 45°``. Layers by the fraction
  ``s = (R_PIA - r) / (R_PIA - R_WM)`` of the thickness: L1 [0, .1), L2/3 [.1, .35),
  L4 [.35, .45), L5 [.45, .7), L6a [.7, .9), L6b [.9, 1]. Below it, fiber tracts ``ccs``
  (700 <= r < 1000) and a striatum-like nucleus ``CPs`` (r < 700). For a Laplace potential
  with phi = 0 on the pia and 1 on the white matter and no flux on the radial cut planes the
  solution is exact: ``phi = ln(R_PIA / r) / ln(R_PIA / R_WM)`` (:func:`analytic_cortex_depth`)
  and the normal is the inward radial direction (:func:`analytic_cortex_normal`).
* **Cerebellum**, AP in [1800, 3800), ML in [800, 2400): a corrugated white-matter core
  ``arbs`` below the surface ``DV = 1300 + 150 sin(2 pi (AP - 1800) / 1600)`` down to
  DV 1900, covered dorsally by the cerebellar cortex ``CBXs``: every point above the core
  surface within ``CB_THICKNESS = 300`` µm of it. The folds run along ML, so the folium axis
  is ML everywhere (:data:`FOLIUM_AXIS`). The same sheet continues beyond these AP / ML
  ends (out to AP 1700 and 3900, over the whole ML range) labelled as brain stem ``MYs``, so
  the cortex ends on grey matter (no flux) rather than on the pia, and the Laplace potential is
  that of an endless corrugated sheet.
* **Nuclei**: ``CBNs`` (a sphere of radius 250 µm below the core, ``DV`` 2150) and ``THs``
  (radius 300, AP 1700); ``seed`` shifts their centres by up to +-100 µm.

The ontology mimics Allen acronyms (``root``, ``grey``, ``CH``, ``CTX``, ``CTXpl``,
``Isocortex``, ``SYN`` with ``SYN1`` ... ``SYN6b`` named "... layer 1" ... "... layer 6b",
``CB``, ``CBX``, ``CBXs``, ``CBN``, ``fiber tracts``, ``cbf``, ``arbs``, ``VS``) and uses
Allen's ids where the structure exists in the CCF.
"""

from __future__ import annotations

import numpy as np

from zentai.atlas.atlas import Atlas
from zentai.atlas.ontology import Ontology, Structure
from zentai.errors import SpecError

__all__ = [
    "CB_THICKNESS",
    "FOLIUM_AXIS",
    "R_PIA",
    "R_WM",
    "analytic_cortex_depth",
    "analytic_cortex_normal",
    "synthetic_atlas",
]

EXTENT_UM = (4000.0, 2400.0, 3200.0)
AXIS_DV_ML = (2400.0, 1600.0)
R_PIA = 2000.0
R_WM = 1000.0
R_NUC = 700.0
MAX_ANGLE_DEG = 45.0
CORTEX_AP = (0.0, 1600.0)
CB_AP = (1800.0, 3800.0)
CB_CAPS_AP = (1700.0, 3900.0)  # the sheet continues as brain stem "MYs" out to these
CB_ML = (800.0, 2400.0)
CB_SURFACE = (1300.0, 150.0, 1600.0)  # DV offset, amplitude, wavelength (µm)
CB_FLOOR = 1900.0
CB_THICKNESS = 300.0
FOLIUM_AXIS = np.array([0.0, 0.0, 1.0])
LAYER_BOUNDS = (0.0, 0.1, 0.35, 0.45, 0.7, 0.9, 1.0)
_LAYER_SUFFIX = ("1", "2/3", "4", "5", "6a", "6b")

# (id, acronym, name, parent)
_TREE = [
    (997, "root", "root", None),
    (8, "grey", "Basic cell groups and regions", 997),
    (567, "CH", "Cerebrum", 8),
    (688, "CTX", "Cerebral cortex", 567),
    (695, "CTXpl", "Cortical plate", 688),
    (315, "Isocortex", "Isocortex", 695),
    (90001, "SYN", "Synthetic area", 315),
    *[
        (90002 + i, f"SYN{s}", f"Synthetic area, layer {s}", 90001)
        for i, s in enumerate(_LAYER_SUFFIX)
    ],
    (623, "CNU", "Cerebral nuclei", 567),
    (90020, "CPs", "Synthetic striatum", 623),
    (343, "BS", "Brain stem", 8),
    (90030, "THs", "Synthetic thalamus", 343),
    (90031, "MYs", "Synthetic medulla", 343),
    (512, "CB", "Cerebellum", 8),
    (528, "CBX", "Cerebellar cortex", 512),
    (90040, "CBXs", "Synthetic cerebellar lobule", 528),
    (519, "CBN", "Cerebellar nuclei", 512),
    (90041, "CBNs", "Synthetic cerebellar nucleus", 519),
    (1009, "fiber tracts", "fiber tracts", 997),
    (90050, "ccs", "Synthetic corpus callosum", 1009),
    (960, "cbf", "cerebellum related fiber tracts", 1009),
    (90051, "arbs", "Synthetic arbor vitae", 960),
    (73, "VS", "ventricular systems", 997),
]


def _ontology() -> Ontology:
    depth: dict[int, int] = {}
    out = []
    for order, (sid, acr, name, parent) in enumerate(_TREE):
        depth[sid] = 0 if parent is None else depth[parent] + 1
        out.append(Structure(sid, acr, name, parent, depth[sid], order, "AAAAAA"))
    return Ontology(out)


def analytic_cortex_depth(points_um: np.ndarray) -> np.ndarray:
    """Exact Laplace depth ``ln(R_PIA / r) / ln(R_PIA / R_WM)`` of the synthetic cortex.

    ``points_um``: (n, 3) AP/DV/ML positions (µm); returns (n,).
    """
    p = np.asarray(points_um, dtype=float)
    r = np.hypot(p[:, 1] - AXIS_DV_ML[0], p[:, 2] - AXIS_DV_ML[1])
    return np.log(R_PIA / r) / np.log(R_PIA / R_WM)


def analytic_cortex_normal(points_um: np.ndarray) -> np.ndarray:
    """Unit normal of the synthetic cortex, pointing from pia to white matter (inward radial)."""
    p = np.asarray(points_um, dtype=float)
    v = np.zeros_like(p)
    v[:, 1] = AXIS_DV_ML[0] - p[:, 1]
    v[:, 2] = AXIS_DV_ML[1] - p[:, 2]
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def synthetic_atlas(resolution_um: float = 100.0, seed: int = 0) -> Atlas:
    """Build the synthetic atlas described in this module's docstring.

    Parameters
    ----------
    resolution_um
        Voxel edge (µm); 100 gives 40 x 24 x 32 voxels, 50 gives 80 x 48 x 64.
    seed
        Shifts the two spherical nuclei (by up to +-100 µm); everything else is fixed.

    Examples
    --------
    >>> atlas = synthetic_atlas()
    >>> atlas.shape, atlas.voxel_count("SYN") > 0
    ((40, 24, 32), True)
    """
    if not (isinstance(resolution_um, (int, float)) and 10.0 <= resolution_um <= 200.0):
        raise SpecError(
            f"synthetic_atlas.resolution_um must be a number in [10, 200] µm; "
            f"got {resolution_um!r}."
        )
    onto = _ontology()
    shape = tuple(round(e / resolution_um) for e in EXTENT_UM)
    ap, dv, ml = np.meshgrid(
        *[(np.arange(n) + 0.5) * resolution_um for n in shape], indexing="ij", sparse=True
    )
    ann = np.zeros(shape, dtype=np.uint32)

    # cortex shell
    ddv = dv - AXIS_DV_ML[0]
    dml = ml - AXIS_DV_ML[1]
    r = np.sqrt(ddv**2 + dml**2)
    angle = np.degrees(np.arctan2(np.abs(dml), -ddv))
    in_ap = (ap >= CORTEX_AP[0]) & (ap < CORTEX_AP[1])
    sector = in_ap & (angle <= MAX_ANGLE_DEG)
    s = (R_PIA - r) / (R_PIA - R_WM)
    for i in range(6):
        lo, hi = LAYER_BOUNDS[i], LAYER_BOUNDS[i + 1]
        sel = sector & (s >= lo) & ((s < hi) if i < 5 else (s <= hi))
        ann[sel] = onto.id(f"SYN{_LAYER_SUFFIX[i]}")
    ann[sector & (r < R_WM) & (r >= R_NUC)] = onto.id("ccs")
    ann[sector & (r < R_NUC)] = onto.id("CPs")

    # cerebellum: core below the corrugated surface, cortex within CB_THICKNESS above it
    y0, amp, lam = CB_SURFACE
    in_cb = (ap >= CB_CAPS_AP[0]) & (ap < CB_CAPS_AP[1])
    surf = y0 + amp * np.sin(2 * np.pi * (ap - CB_AP[0]) / lam)  # (nAP, 1, 1)
    core = in_cb & (dv >= surf) & (dv < CB_FLOOR)
    # distance of each (AP, DV) point to the surface curve, by dense sampling of the curve
    xs = np.arange(CB_CAPS_AP[0] - CB_THICKNESS, CB_CAPS_AP[1] + CB_THICKNESS, 2.0)
    ys = y0 + amp * np.sin(2 * np.pi * (xs - CB_AP[0]) / lam)
    ap1 = ap[:, 0, 0]
    dv1 = dv[0, :, 0]
    dist = np.empty((len(ap1), len(dv1)))
    for i, x in enumerate(ap1):
        near = np.abs(xs - x) <= CB_THICKNESS + resolution_um
        if not near.any():
            dist[i] = np.inf
            continue
        d2 = (xs[near, None] - x) ** 2 + (ys[near, None] - dv1[None, :]) ** 2
        dist[i] = np.sqrt(d2.min(0))
    cortex = in_cb & (dv < surf) & (dist[:, :, None] <= CB_THICKNESS)
    caps = (ap < CB_AP[0]) | (ap >= CB_AP[1]) | (ml < CB_ML[0]) | (ml >= CB_ML[1])
    ann[core & ~caps] = onto.id("arbs")
    ann[cortex & ~caps] = onto.id("CBXs")
    ann[(core | cortex) & caps] = onto.id("MYs")

    rng = np.random.default_rng(seed)
    for acr, centre, radius in (
        ("CBNs", (2900.0, 2150.0, 1600.0), 250.0),
        ("THs", (1700.0, 1900.0, 1600.0), 300.0),
    ):
        c = np.asarray(centre) + rng.uniform(-100.0, 100.0, 3)
        ball = (ap - c[0]) ** 2 + (dv - c[1]) ** 2 + (ml - c[2]) ** 2 <= radius**2
        ann[ball & (ann == 0)] = onto.id(acr)
    return Atlas(
        annotation=ann,
        resolution_um=float(resolution_um),
        ontology=onto,
        name=f"synthetic_{resolution_um:g}um_seed{seed}",
    )
