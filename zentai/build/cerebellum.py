"""An atlas-placed cerebellar cortex and cerebellar nuclei (issue 4, "cerebellum").

Placement (MODEL_SPEC §2.4, §2.5). The layers come from
:func:`zentai.atlas.cerebellum.cerebellar_geometry` on the *fine* atlas (the CCF 25 µm
annotation): every fine voxel of the chosen lobules (Allen acronyms, descendants included) in
the chosen hemisphere is granular, Purkinje or molecular. Neurons are placed in fine voxels
(density x fine voxel volume x ``fraction``, stochastic rounding, :func:`place_in_voxels`), so
positions resolve the layers; :class:`CerebellumLayout` keeps the coarse voxel of each neuron
(``coarse_factor`` fine voxels per edge: 4 turns 25 µm into the 100 µm frame of
``load("allen_mouse_100um")``, whose voxel (i, j, k) covers [100 i, 100 i + 100) µm on each axis,
as positions here do). Densities (BSB mouse cerebellar cortex, dbbs-lab/cerebellar-models
``mouse_cerebellar_cortex.yaml``; MODEL_SPEC §2.4):

* granule cells (GrC) 3.9e6 /mm³ and Golgi cells (GoC) 9.0e3 /mm³ in the granular layer;
* Purkinje cells (PC) 450 per mm² of Purkinje layer sheet; as the layer is 15 µm thick (BSB,
  the thickness used by the geometry) that is 450 / 0.015 mm = 3.0e4 per mm³ of layer volume;
* basket cells (BC) 5.0e4 /mm³ in the lower 50 µm of the 150 µm molecular layer and stellate
  cells (SC) 5.0e4 /mm³ in its upper 100 µm (BSB sub-layers), split at the layer coordinate
  ``depth = (130 + 15 + 50) / 295`` of the geometry;
* cerebellar nuclei (``nuclei``, CCF voxels of that hemisphere): 230e3 neurons in the mouse
  cerebellar nuclei (Erö et al. 2018, Front Neuroinform 12:84, as quoted by dbbs-lab
  cerebellar-models ``docs/configurations/mouse/dcn.rst``) over the CCF volume of ``CBN``
  (1.77 mm³, both hemispheres, 100 µm annotation) = 1.30e5 /mm³, of which 57 % are
  glutamatergic projection cells (``CBN.E``) and 32 % GABAergic (``CBN.I``) (Baumel et al.
  2009, Front Cell Neurosci 3:14; Batini et al. 1992, J Comp Neurol 315:74; as in the same BSB
  file). The remaining 11 % (glycinergic and other cells) are not modelled. [S]: read in the BSB
  documentation, not re-checked against Erö et al.

Models (``zentai.celltypes.catalog``): GrC, GoC, PC the conductance LIF with AHP of Yamazaki &
Nagao (2012) (``LIFAHP``, MODEL_SPEC §2.2); BC, SC and the nuclear cells E-GLIF (Geminiani et
al. 2019) run as AdEx (MODEL_SPEC §2.3).

Wiring. Partners inside the cerebellum are drawn here from ``seed`` (as placement is) and stored
as :class:`~zentai.connectome.rules.Explicit` rules, so that the receptors of one synapse (e.g.
GoC -> GrC fast and slow GABA) share their partners; projections from an external mossy-fibre
source use ``FixedIndegree`` and are drawn by ``build.network``. Delays are those of the BSB
NEST configuration (``in-vitro/nest/connection_models/static_synapse.yaml``).

* MF -> GrC: each GrC has exactly 4 distinct MF inputs (Eccles, Ito & Szentágothai 1967; BSB
  convergence 4; snsbook ``conn.h``), on AMPA and NMDA (snsbook ``gr.h``: ḡ_exc 0.18 nS split
  0.88 / 0.12 of a weight 3.0, i.e. 0.475 / 0.065 nS). Background MFs are Poisson at
  ``mf_rate_hz`` (:class:`~zentai.stim.PoissonInput`); ``mossy`` gives a share of the 4 inputs to
  external populations. Because a projection feeds one receptor and the engine keys partners
  by projection name, the NMDA component of an external source is a second FixedIndegree
  projection with its own 4 partners from the same source, and that of the background an
  independent Poisson train of the same rate. NMDA (tau 52 ms) mostly sets a tonic
  depolarisation proportional to the MF rate; the spike-timed drive is the AMPA one.
* GoC -> GrC: 5 GoC per GrC (4 glomeruli per GrC x 40 glomeruli per GoC axon x 9e3 GoC/mm³ /
  3e5 glomeruli/mm³ = 4.8, BSB densities and divergence; MODEL_SPEC §2.4), drawn without
  replacement with weights exp(-d² / 2 sigma²), sigma 150 µm (the BSB GoC axon radius), so the
  in-degree stays exact at any fraction and partners are the nearest available (at fraction
  0.01 the GoC are ~200 µm apart). Fast / slow GABA 0.24 / 0.32 nS (snsbook weight 20 x 0.028 nS
  x 0.43 / 0.57, 2 ms).
* Parallel fibres (MODEL_SPEC §2.4 point-neuron PF rule). In the frame of each target (PC, BC,
  SC, GoC) with ``a`` its folium axis (coarse voxel), ``n`` its layer normal (fine voxel) and
  ``t = n x a``, a GrC at displacement d is a candidate when ``|d.a| <= L_PF / 2`` (the PF runs
  along the folium on both sides of its T junction), ``|d.t| <= w / 2`` (the PF passes through
  the target's dendritic field of sagittal width w) and ``-350 <= d.n <= 150`` µm (same folium:
  a GrC of the opposite bank of a fissure lies >= 300 µm on the pial side). Each candidate is a
  synapse with probability p_PF, one value for all targets, set so that the mean PC in-degree
  is 1.75e5 x fraction (Napper & Harvey 1988, J Comp Neurol 274:168: ~175,000 PF synapses per
  rat PC) and capped at 1. L_PF = 3 mm [N]: rat PFs are 4-5 mm long (Pichitpornchai et al.
  1994, J Comp Neurol 342:206); the mouse's are shorter and the lobule limits them anyway.
  w: PC 200 µm (MODEL_SPEC §2.4), BC / SC / GoC apical dendrites 150 µm [N]. Delay 5 ms (BSB).
  The GrC -> GoC synapses are these PF synapses (3 receptors of snsbook ``go.h``).
* BC -> PC and SC -> PC: 20 each per PC [N] (a PC basket is formed by tens of BCs, Palay &
  Chan-Palay 1974), nearest-weighted as GoC -> GrC with sigma 100 µm; delays 4 / 5 ms (BSB).
* PC -> CN: mediolateral topography (vermis -> fastigial, paravermis -> interposed,
  hemisphere -> dentate; Voogd & Glickstein 1998, Trends Neurosci 21:370): each CN cell takes
  its PCs nearest in mediolateral rank (the rank of the ML coordinate among the PCs, resp.
  among the CN cells, scaled to [0, 1]; sigma 0.1). In-degree 30 onto CN.E (Palkovits et al.
  1977, Exp Brain Res 28:189: ~26 PC per CN cell in the cat; [S]) and 14 onto CN.I (30 x the
  BSB out-degree ratio 12 / 45 x the cell ratio 0.57 / 0.32; Geminiani et al. 2024, PLoS Comput
  Biol 20:e1011277, via the BSB docs). Delay 4 ms (BSB).
* MF collaterals -> CN.E: 48 MF per CN.E cell (BSB ``mf -> DCNp`` in-degree, Geminiani et al.
  2024), background Poisson at ``mf_rate_hz`` or from ``mossy`` in the same shares; delay 4 ms.

Fraction scaling (issue 4 item 5): a PF rule with a fixed p_PF gives in-degrees proportional to
the GrC density, i.e. in-degree x fraction; PF weights are divided by ``fraction`` so that the
mean conductance per target is that of the full-density network (the fluctuations grow as
1/sqrt(fraction); no DC compensation, which is not exact for conductance synapses). The small
convergences (4 MF and 5 GoC per GrC, MLI -> PC, PC -> CN, MF -> CN) keep their in-degree and
weight; each presynaptic cell then diverges to 1/fraction times more targets.

Tuned values (``WEIGHTS_NS``, ``I_E_PA``; each says from which published value and why) bring
the spontaneous rates with background MF input to published in-vivo values: GrC ~0.5 Hz
(Chadderton, Margrie & Häusser 2004, Nature 428:856, anaesthetised rat), GoC ~2-10 Hz (Holtzman
et al. 2006, J Physiol 574:491; Vos et al. 1999, Eur J Neurosci 11:2621), PC simple spikes
~40-100 Hz (awake mouse, Zhou et al. 2014, eLife 3:e02536), MLI ~10-30 Hz (awake mouse, Jelitai
et al. 2016, Nat Commun 7:13722), CN ~20-50 Hz.

Measured (fraction 0.01, left SIM + IP + DN, CCF 25 µm atlas, seed 1, 2 shared CPU cores):
49,906 neurons (GrC 48,368, GoC 109, PC 36, BC 240, SC 515, CN.E 402, CN.I 236), 1.78e6
synapses, p_PF 0.42 (4,170 PF candidates per PC); spec 5-7 s (atlas and cached geometry
loaded), ``build.network`` 0.1-2 s, 0.5 s of simulated time in 14 s (dt 0.1 ms). Rates over
100-500 ms with 5 Hz background MF: GrC 0.4, GoC 8.8, PC 63, BC 34, SC 23, CN.E 30,
CN.I 10 Hz; with 40 Hz MF (snsbook's tonic rate): GrC 0.7, GoC 35, PC 78, BC 57, SC 43,
CN.E 39, CN.I 8 Hz (session 9, with the charge-preserving E-GLIF synapses; before: PC 61-62,
CN.E 28 / 31, CN.I 12). The Golgi loop is strongly homeostatic (the LIFAHP GoC rests 3 mV
below threshold, so a small PF drive moves it a lot): 20 Hz MF raises the GrC by only 14 %.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from zentai import rng
from zentai.atlas.atlas import Atlas
from zentai.atlas.cerebellum import CerebellarGeometry, CerebellarLayers, cerebellar_geometry
from zentai.build.network import BYTES_PER_SYNAPSE, SpecEstimate
from zentai.build.placement import place_in_voxels
from zentai.build.spec import NetworkSpec, Population, Projection
from zentai.celltypes.catalog import cell_type
from zentai.celltypes.models import NeuronModel
from zentai.connectome.rules import Explicit, FixedIndegree, Normal
from zentai.errors import RegionError, SpecError
from zentai.stim import PoissonInput

__all__ = [
    "DENSITY_PER_MM3",
    "POPULATIONS",
    "WEIGHTS_NS",
    "CerebellumLayout",
    "cerebellum_spec",
]

log = logging.getLogger(__name__)

#: population names, in spec order
POPULATIONS = ("CB.GrC", "CB.GoC", "CB.PC", "CB.BC", "CB.SC", "CBN.E", "CBN.I")

#: neurons per mm³ of their layer (BSB mouse, MODEL_SPEC §2.4; PC: 450 /mm² over the 15 µm
#: Purkinje layer; CN: Erö et al. 2018 230e3 neurons / CCF CBN 1.77 mm³ x 0.57 / 0.32)
DENSITY_PER_MM3 = {
    "GrC": 3.9e6,
    "GoC": 9.0e3,
    "PC": 450.0 / 0.015,
    "BC": 5.0e4,
    "SC": 5.0e4,
    "E": 230e3 / 1.77 * 0.57,
    "I": 230e3 / 1.77 * 0.32,
}

#: full-density in-degrees (see the module docstring for the sources)
K_MF_GRC = 4
K_GOC_GRC = 5
K_PF_PC = 1.75e5
K_BC_PC = 20
K_SC_PC = 20
K_PC_CNE = 30
K_PC_CNI = 14
K_MF_CNE = 48

#: PF rule geometry (µm): length, dendritic sagittal widths, window along the normal
L_PF_UM = 3000.0
PF_WIDTH_UM = {"CB.PC": 200.0, "CB.BC": 150.0, "CB.SC": 150.0, "CB.GoC": 150.0}
PF_NORMAL_WINDOW_UM = (-350.0, 150.0)
SIGMA_GOC_GRC_UM = 150.0
SIGMA_MLI_PC_UM = 100.0
SIGMA_PC_CN_RANK = 0.1

#: synaptic weights (nS per spike at full density; PF weights are divided by ``fraction``).
#: key: (pre, post, receptor), pre "MF" for mossy fibres. "tuned": changed from the published
#: value so that the spontaneous rates at fraction 0.01 fall in the published ranges (module
#: docstring); each says why.
WEIGHTS_NS: dict[tuple[str, str, str], float] = {
    # snsbook gr.h: ḡ_exc 0.18 nS x (0.88, 0.12) x CONN_W_GRMF 3.0, tuned x 1.8: with the
    # published weight 4 MF at 5 Hz leave the GrC nearly silent (0.2 Hz without any Golgi
    # inhibition); x 1.8 gives ~0.4 Hz with the Golgi loop (Chadderton et al. 2004: 0.5 Hz)
    ("MF", "CB.GrC", "ampa"): 0.18 * 0.88 * 3.0 * 1.8,
    ("MF", "CB.GrC", "nmda"): 0.18 * 0.12 * 3.0 * 1.8,
    # snsbook gr.h: ḡ_inh 0.028 nS x (0.43, 0.57) x CONN_W_GRGO 20, tuned x 0.5: 5 GoC at
    # 5-10 Hz with the published weight give a mean GABA conductance above g_L (0.43 nS)
    ("CB.GoC", "CB.GrC", "gaba_fast"): 0.028 * 0.43 * 20.0 * 0.5,
    ("CB.GoC", "CB.GrC", "gaba_slow"): 0.028 * 0.57 * 20.0 * 0.5,
    # PF -> GoC: snsbook go.h split AMPA 0.8, NMDA 0.2 x (0.33, 0.67) of a tuned 1e-4 nS per
    # GrC (snsbook: 45.5 nS x 0.005 / 100 = 2.3e-3 nS onto ~245 GrC per GoC; ours ~1.5e5 full
    # density PF inputs); sets GoC ~8 Hz at GrC ~0.4 Hz (GoC ~2-10 Hz in vivo)
    ("CB.GrC", "CB.GoC", "ampa"): 0.8 * 1e-4,
    ("CB.GrC", "CB.GoC", "nmda_fast"): 0.2 * 0.33 * 1e-4,
    ("CB.GrC", "CB.GoC", "nmda_slow"): 0.2 * 0.67 * 1e-4,
    # PF -> PC: snsbook pc.h ḡ_exc 0.7 nS x CONN_W_PCGR 0.005 = 3.5e-3 nS, tuned x 0.8 (with
    # the PC pacemaking current below, PC simple spikes ~60 Hz)
    ("CB.GrC", "CB.PC", "ampa"): 0.7 * 0.005 * 0.8,
    # PF -> MLI: BSB 0.04 / 0.05 nS (alpha synapses, BSB in-degrees); tuned for our in-degrees
    # so that BC / SC fire at ~20-35 Hz: 8e-3 nS when the E-GLIF mapping kept 1/e of an alpha
    # synapse's charge, 8e-3 / e since it keeps all of it (the same tuned charge)
    ("CB.GrC", "CB.BC", "ampa"): 0.008 / math.e,
    ("CB.GrC", "CB.SC", "ampa"): 0.008 / math.e,
    # BSB static_synapse.yaml (in vitro): basket_to_purkinje 0.44, stellate_to_purkinje 0.17
    ("CB.BC", "CB.PC", "gaba"): 0.44,
    ("CB.SC", "CB.PC", "gaba"): 0.17,
    # BSB purkinje_to_dcn_p 0.8, tuned 0.5: at 0.8 nS x 30 PCs at ~90 Hz CN.E fell silent
    # (measured with the 1/e-charge synapse mapping; kept with the full charge and I_e 200)
    ("CB.PC", "CBN.E", "gaba"): 0.5,
    # BSB purkinje_to_dcn_i 0.06, mossy_fibers_to_dcn_p 0.25
    ("CB.PC", "CBN.I", "gaba"): 0.06,
    ("MF", "CBN.E", "ampa"): 0.25,
}

#: intrinsic (pacemaking) currents, pA, replacing the catalog i_e (tuned, see each line)
I_E_PA: dict[str, float] = {
    # PCs fire spontaneously without synaptic input (Häusser & Clark 1997, Neuron 19:665);
    # 70 pA gives ~33 Hz alone in the LIFAHP PC, ~60 Hz with PF and MLI input
    "CB.PC": 70.0,
    # MLIs are spontaneously active in slices (Häusser & Clark 1997); 40 pA puts the E-GLIF
    # (as AdEx) basket / stellate cell just below its threshold (catalog 3.7 pA)
    "CB.BC": 40.0,
    "CB.SC": 40.0,
    # BSB dcn.rst: I_e raised from 75.385 to 150 pA (DCNp) and 2.384 to 10 pA (DCNi) "to
    # replicate the network's functional behavior"; needed here too, as the AdEx mapping drops
    # the E-GLIF depolarising current. DCNp tuned 200 pA since the mapping keeps the full
    # charge of the alpha synapses (2.7x the PC inhibition): single CN.E cells with 48 MF at
    # 8 Hz and 30 Poisson PCs at 0 / 50 / 62 / 80 Hz fire 53 / 37 / 32 / 18 Hz (measured;
    # 150 pA: 39 / 2 / 0 / 0)
    "CBN.E": 200.0,
    "CBN.I": 10.0,
}

#: delays (ms), BSB static_synapse.yaml
DELAY_MS = {
    ("MF", "CB.GrC"): 1.0,
    ("CB.GoC", "CB.GrC"): 2.0,
    ("CB.GrC", "*"): 5.0,
    ("CB.BC", "CB.PC"): 4.0,
    ("CB.SC", "CB.PC"): 5.0,
    ("CB.PC", "*"): 4.0,
    ("MF", "CBN.E"): 4.0,
}

_PF_TARGETS = ("CB.PC", "CB.BC", "CB.SC", "CB.GoC")
_RECEPTORS = {
    "CB.GrC": ("ampa",),
    "CB.PC": ("ampa",),
    "CB.BC": ("ampa",),
    "CB.SC": ("ampa",),
    "CB.GoC": ("ampa", "nmda_fast", "nmda_slow"),
}


@dataclass
class CerebellumLayout:
    """Where the neurons of each population sit.

    ``voxels[pop]``: (n, 3) coarse voxel index (the 100 µm CCF frame for ``coarse_factor=4``
    on the 25 µm atlas); ``positions[pop]``: (n, 3) µm; ``structure[pop]``: (n,) CCF id of the
    fine voxel; ``folium_axis[pop]``, ``normal[pop]``: (n, 3) unit vectors (cortex populations);
    ``mossy_projections``: the projections from external MF sources (``mossy``).
    """

    resolution_um: float
    voxels: dict[str, np.ndarray] = field(default_factory=dict)
    positions: dict[str, np.ndarray] = field(default_factory=dict)
    structure: dict[str, np.ndarray] = field(default_factory=dict)
    folium_axis: dict[str, np.ndarray] = field(default_factory=dict)
    normal: dict[str, np.ndarray] = field(default_factory=dict)
    #: projections from the external mossy-fibre sources of ``mossy`` (a NetworkSpec only
    #: holds projections between its own populations): ``merged.add(*mossy_projections)``
    #: once those populations are in the merged spec
    mossy_projections: tuple[Projection, ...] = ()

    def neurons_in_voxel(self, population: str, voxel: tuple[int, int, int]) -> np.ndarray:
        """Indices (within ``population``) of its neurons in coarse ``voxel``."""
        v = self.voxels[population]
        return np.flatnonzero((v == np.asarray(voxel)[None, :]).all(axis=1))


# ----------------------------------------------------------------------------- helpers
def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _generator(seed: int, *parts: str) -> np.random.Generator:
    return np.random.Generator(np.random.Philox(key=rng.key(seed, "cerebellum", *parts) % 2**64))


def _choose_nearest(
    post_feat: np.ndarray,
    pre_feat: np.ndarray,
    k: int,
    sigma: float,
    gen: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """k distinct pres per post, drawn without replacement with weights exp(-d²/2 sigma²).

    Gumbel-top-k (successive sampling proportional to the weights); k is capped at n_pre.
    """
    n_post, n_pre = len(post_feat), len(pre_feat)
    k = min(int(k), n_pre)
    if k == 0 or n_post == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy()
    rows = max(1, (32 * 2**20) // (8 * n_pre))
    pre_out = np.empty((n_post, k), dtype=np.int64)
    for r0 in range(0, n_post, rows):
        p = post_feat[r0 : r0 + rows]
        d2 = ((p[:, None, :] - pre_feat[None, :, :]) ** 2).sum(-1)
        keys = -d2 / (2.0 * sigma**2) + gen.gumbel(size=d2.shape)
        top = np.argpartition(-keys, k - 1, axis=1)[:, :k] if k < n_pre else np.argsort(-keys)
        pre_out[r0 : r0 + rows] = np.sort(top[:, :k], axis=1)
    post = np.repeat(np.arange(n_post, dtype=np.int64), k)
    return pre_out.reshape(-1), post


def _pf_candidates(
    grc_pos: np.ndarray,
    post_pos: np.ndarray,
    frames: np.ndarray,
    half_width: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(grc, post) pairs inside the PF box of each post; frames (n_post, 3, 3) rows a, t, n.
    By post, then ascending grc; compiled where numba is (the motor-loop scenario: 9.4 -> 1.7 s),
    else a loop over the posts."""
    lo_n, hi_n = PF_NORMAL_WINDOW_UM
    reach = math.sqrt((L_PF_UM / 2) ** 2 + half_width**2 + max(-lo_n, hi_n) ** 2)
    order = np.argsort(grc_pos[:, 0], kind="stable")
    sx = np.ascontiguousarray(grc_pos[order, 0])
    comp = rng.compiled_module("build._wiring_cpu")
    if comp is not None:
        sp = np.asarray(grc_pos, dtype=np.float64)[order]
        args = (
            sx, np.ascontiguousarray(sp[:, 1]), np.ascontiguousarray(sp[:, 2]), order,
            np.ascontiguousarray(post_pos, dtype=np.float64),
            np.ascontiguousarray(frames, dtype=np.float64), reach,
            np.array([L_PF_UM / 2, half_width, lo_n, hi_n]),
        )  # fmt: skip
        counts = np.zeros(len(post_pos), np.int64)
        none = np.zeros(0, np.int64)
        comp.pf_box_pairs(*args, counts, none, none)
        pre = np.empty(int(counts.sum()), np.int64)
        comp.pf_box_pairs(*args, counts, np.cumsum(counts) - counts, pre)
        return pre, np.repeat(np.arange(len(post_pos), dtype=np.int64), counts)
    pre_parts, post_parts = [], []
    for j in range(len(post_pos)):
        a = np.searchsorted(sx, post_pos[j, 0] - reach)
        b = np.searchsorted(sx, post_pos[j, 0] + reach, side="right")
        cand = order[a:b]
        d = grc_pos[cand] - post_pos[j]
        c = d @ frames[j].T  # (m, 3): along, across, normal
        ok = (
            (np.abs(c[:, 0]) <= L_PF_UM / 2)
            & (np.abs(c[:, 1]) <= half_width)
            & (c[:, 2] >= lo_n)
            & (c[:, 2] <= hi_n)
        )
        hit = np.sort(cand[ok])
        pre_parts.append(hit)
        post_parts.append(np.full(hit.size, j, dtype=np.int64))
    if not pre_parts:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy()
    return np.concatenate(pre_parts), np.concatenate(post_parts)


def _frames(axis: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Rows (a, t, n): folium axis made orthogonal to the normal, t = n x a, the normal."""
    n = _unit(normal)
    a = _unit(axis - (axis * n).sum(1, keepdims=True) * n)
    t = np.cross(n, a)
    return np.stack([a, t, n], axis=1)


def _delay(pre: str, post: str) -> float:
    for key in ((pre, post), (pre, "*")):
        if key in DELAY_MS:
            return DELAY_MS[key]
    raise SpecError(f"no delay for {pre} -> {post}")  # pragma: no cover


def _rank01(x: np.ndarray) -> np.ndarray:
    if x.size <= 1:
        return np.zeros(x.size)
    r = np.empty(x.size)
    r[np.argsort(x, kind="stable")] = np.arange(x.size)
    return r / (x.size - 1)


def _model(name: str) -> NeuronModel:
    model = cell_type(name).model
    if name in I_E_PA:
        model = dataclasses.replace(model, i_e=I_E_PA[name])
    return model


def _initial(model: NeuronModel) -> dict:
    return {"v": Normal(model.e_l, 2.0)}


# ----------------------------------------------------------------------------- builder
def cerebellum_spec(
    atlas: Atlas,
    *,
    lobules: tuple[str, ...] = ("SIM",),
    nuclei: tuple[str, ...] = ("IP", "DN"),
    hemisphere: str | int | None = "left",
    fraction: float = 0.01,
    seed: int = 0,
    mossy: dict[str, float] | None = None,
    mf_rate_hz: float = 5.0,
    geometry: CerebellarGeometry | None = None,
    coarse_factor: int = 4,
    weights: dict[tuple[str, str, str], float] | None = None,
    nuclear_i_e_cv: float = 0.0,
    check_memory: bool = True,
) -> tuple[NetworkSpec, CerebellumLayout]:
    """A cerebellar cortex patch (``lobules``) and cerebellar nuclei at ``fraction`` density.

    Parameters
    ----------
    atlas : Atlas
        The *fine* atlas the cerebellar layers are computed on (``load("allen_mouse_25um")``
        for the CCF; the 100 µm CCF is too coarse for 15 µm Purkinje layers).
    lobules, nuclei : tuple of str
        CCF acronyms (descendants included) of the cortex and the nuclei.
    hemisphere : "left", "right", 1, 2 or None (both)
    fraction : float
        Fraction of the real neuron density, in (0, 1].
    seed : int
        Seed of the placement and of the partners drawn here (the network seed draws weights,
        delays and the FixedIndegree partners of external mossy fibres).
    mossy : dict of str to float, optional
        External mossy-fibre populations (e.g. ``{"P.PG": 0.5}``) and the share of the 4 MF
        inputs per GrC (and of the 48 MF collaterals per CN.E cell) each provides; the shares
        x 4 are rounded. The rest comes as background Poisson MF input at ``mf_rate_hz``.
        Their projections (FixedIndegree onto ``CB.GrC`` AMPA and NMDA and onto ``CBN.E``)
        are returned in ``layout.mossy_projections``, to be added once the sources exist.
    mf_rate_hz : float
        Background MF rate: snsbook's base firing probability 0.005 per 1 ms step (MODEL_SPEC
        §2.2, Yamazaki & Nagao 2012); the BSB mouse model uses 4 Hz
        (``in-vitro/nest/basal_vitro.yaml``).
    geometry : CerebellarGeometry, optional
        Precomputed :func:`cerebellar_geometry` of ``atlas`` (computed and cached otherwise).
    coarse_factor : int
        Fine voxels per layout voxel edge (4: 25 µm -> the 100 µm CCF frame).
    weights : dict, optional
        Overrides of :data:`WEIGHTS_NS` by (pre, post, receptor).
    nuclear_i_e_cv : float
        Cell-to-cell coefficient of variation of the nuclear cells' intrinsic current
        (:data:`I_E_PA`; Normal, clipped at 0, drawn from ``seed``). 0 (default): every CN cell
        of a class is the same deterministic pacemaker, and cells sharing their Purkinje inputs
        fire in lock-step (measured in cbgc: the CN.E population rate's 33 Hz peak stood 465x
        above its spectral median). E-GLIF's escape noise, which the AdEx mapping drops, is what
        keeps real-model CN cells apart; a spread of intrinsic rates stands in for it.
    check_memory : bool
        Raise :class:`MemoryBudgetError` when the estimate does not fit.

    Returns
    -------
    NetworkSpec, CerebellumLayout

    Examples
    --------
    >>> from zentai.atlas.synthetic import synthetic_atlas
    >>> spec, layout = cerebellum_spec(synthetic_atlas(50), lobules=("CBXs",), nuclei=("CBNs",),
    ...                                fraction=0.005, coarse_factor=2)
    >>> spec.population_names
    ('CB.GrC', 'CB.GoC', 'CB.PC', 'CB.BC', 'CB.SC', 'CBN.E', 'CBN.I')
    """
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise SpecError(f"cerebellum_spec.fraction must be in (0, 1]; got {fraction!r}.")
    if not (isinstance(mf_rate_hz, (int, float)) and mf_rate_hz >= 0):
        raise SpecError(f"cerebellum_spec.mf_rate_hz must be a rate >= 0 Hz; got {mf_rate_hz!r}.")
    lobules = (lobules,) if isinstance(lobules, str) else tuple(lobules)
    nuclei = (nuclei,) if isinstance(nuclei, str) else tuple(nuclei)
    mossy = dict(mossy or {})
    for name, share in mossy.items():
        if not (isinstance(share, (int, float)) and 0 <= share <= 1):
            raise SpecError(
                f"cerebellum_spec.mossy[{name!r}] must be a share in [0, 1]; got {share!r}."
            )
    if sum(mossy.values()) > 1 + 1e-9:
        raise SpecError(
            f"cerebellum_spec.mossy shares must sum to at most 1; got {sum(mossy.values())!r}."
        )
    if not (isinstance(nuclear_i_e_cv, (int, float)) and 0 <= nuclear_i_e_cv <= 1):
        raise SpecError(
            f"cerebellum_spec.nuclear_i_e_cv must be a coefficient of variation in [0, 1]; "
            f"got {nuclear_i_e_cv!r}."
        )
    w = dict(WEIGHTS_NS)
    for k, v in (weights or {}).items():
        if k not in w:
            raise SpecError(f"cerebellum_spec.weights has no entry {k!r}; entries: {sorted(w)}.")
        w[k] = float(v)
    if geometry is None:
        geometry = cerebellar_geometry(atlas, coarse_factor=coarse_factor)
    geo = geometry
    if abs(geo.resolution_um - atlas.resolution_um) > 1e-9:
        raise SpecError(
            f"cerebellum_spec.geometry was computed on a {geo.resolution_um} µm atlas; the atlas "
            f"given is {atlas.resolution_um} µm. Pass the fine atlas the geometry was made from."
        )
    factor = round(geo.coarse_resolution_um / geo.resolution_um)
    fine_um = atlas.resolution_um
    vox_mm3 = atlas.voxel_volume_mm3

    # ---- cortex voxels of the chosen lobules and hemisphere
    lob_lut = np.zeros(atlas._lut_size, dtype=bool)
    for lob in lobules:
        ids = atlas.label_set(lob)
        lob_lut[ids[ids < lob_lut.size]] = True
    labels = atlas.annotation[tuple(geo.index.T)]
    keep = lob_lut[labels] & (geo.layer >= 0)
    if hemisphere is not None:
        keep &= atlas.mask("root", hemisphere)[tuple(geo.index.T)]
    if not keep.any():
        raise RegionError(
            f"cerebellum_spec: lobules {list(lobules)} have no cerebellar cortex voxels in "
            f"hemisphere {hemisphere!r} of {atlas.name}."
        )
    rows = np.flatnonzero(keep)
    cidx_all = {tuple(c): i for i, c in enumerate(geo.coarse_index.tolist())}
    layers = CerebellarLayers()
    bc_sc_split = (layers.granular_um + layers.purkinje_um + 50.0) / (
        layers.granular_um + layers.purkinje_um + layers.molecular_um
    )
    sel = {
        "CB.GrC": rows[geo.layer[rows] == 0],
        "CB.GoC": rows[geo.layer[rows] == 0],
        "CB.PC": rows[geo.layer[rows] == 1],
        "CB.BC": rows[(geo.layer[rows] == 2) & (geo.depth[rows] < bc_sc_split)],
        "CB.SC": rows[(geo.layer[rows] == 2) & (geo.depth[rows] >= bc_sc_split)],
    }
    dens = {"CB.GrC": "GrC", "CB.GoC": "GoC", "CB.PC": "PC", "CB.BC": "BC", "CB.SC": "SC"}
    # ---- nuclei voxels
    nuc_mask = np.zeros(atlas.shape, dtype=bool)
    for nuc in nuclei:
        nuc_mask |= atlas.mask(nuc, hemisphere)
    nuc_index = np.argwhere(nuc_mask)
    if nuc_index.size == 0:
        raise RegionError(
            f"cerebellum_spec: nuclei {list(nuclei)} have no voxels in hemisphere "
            f"{hemisphere!r} of {atlas.name}."
        )
    expected = {
        name: np.full(len(r), DENSITY_PER_MM3[dens[name]] * vox_mm3 * fraction)
        for name, r in sel.items()
    }
    for cls in ("E", "I"):
        expected[f"CBN.{cls}"] = np.full(len(nuc_index), DENSITY_PER_MM3[cls] * vox_mm3 * fraction)
    est = _estimate(expected, fraction, geo, sel)
    log.info("%s", est)
    if check_memory:
        est.check(fraction)

    # ---- placement
    layout = CerebellumLayout(resolution_um=fine_um * factor)
    pops: dict[str, Population] = {}
    frames: dict[str, np.ndarray] = {}
    region = "+".join(lobules)
    layer_of = {"CB.GrC": "granular", "CB.GoC": "granular", "CB.PC": "purkinje"}
    for name in POPULATIONS:
        vox = geo.index[sel[name]] if name.startswith("CB.") else nuc_index
        placed = place_in_voxels(vox, expected[name], fine_um, seed, name)
        fine = vox[placed.voxel]
        layout.voxels[name] = fine // factor
        layout.positions[name] = placed.positions_um
        layout.structure[name] = atlas.annotation[tuple(fine.T)].astype(np.int64)
        model = _model(name)
        normals = None
        if name.startswith("CB."):
            r = sel[name][placed.voxel]
            normals = _unit(geo.normal[r]) if len(r) else np.zeros((0, 3))
            crow = np.array(
                [cidx_all[tuple(c)] for c in (geo.index[r] // factor).tolist()], dtype=np.int64
            )
            axis = geo.folium_axis[crow] if len(crow) else np.zeros((0, 3))
            layout.folium_axis[name] = axis
            layout.normal[name] = normals
            frames[name] = _frames(axis, normals) if len(r) else np.zeros((0, 3, 3))
        cls = name.split(".")[1]
        params = {}
        if nuclear_i_e_cv > 0 and name.startswith("CBN."):
            z = _generator(seed, name, "i_e").standard_normal(placed.size)
            params["i_e"] = model.i_e * np.maximum(1.0 + nuclear_i_e_cv * z, 0.0)
        pops[name] = Population(
            name=name,
            size=placed.size,
            model=model,
            params=params,
            positions=placed.positions_um,
            normals=normals,
            initial=_initial(model),
            labels={
                "region": region if name.startswith("CB.") else "+".join(nuclei),
                "layer": layer_of.get(name, "molecular" if name in ("CB.BC", "CB.SC") else ""),
                "cell_class": "E" if cls in ("GrC", "E") else "I",
                "cell_type": cls,
            },
        )
    sizes = {n: p.size for n, p in pops.items()}
    pos = layout.positions

    projections: list[Projection] = []

    def add(pre: str, post: str, pre_idx: np.ndarray, post_idx: np.ndarray, scale: float = 1.0):
        if (pre, post) == ("CB.GoC", "CB.GrC"):
            recs: tuple[str, ...] = ("gaba_fast", "gaba_slow")
        elif pre == "CB.GrC":
            recs = _RECEPTORS[post]
        else:
            recs = ("gaba",)
        rule = Explicit(pre_idx, post_idx)
        for rec in recs:
            wv = w[(pre, post, rec)] * scale
            projections.append(
                Projection(
                    pre=pre,
                    post=post,
                    rule=rule,
                    weight=Normal(wv, 0.1 * wv, low=0.0),
                    delay=_delay(pre, post),
                    receptor=rec,
                )
            )

    # GoC -> GrC: 5 nearest-weighted GoC per GrC
    pre_i, post_i = _choose_nearest(
        pos["CB.GrC"], pos["CB.GoC"], K_GOC_GRC, SIGMA_GOC_GRC_UM, _generator(seed, "goc-grc")
    )
    add("CB.GoC", "CB.GrC", pre_i, post_i)
    # parallel fibres
    pc_pre, pc_post = _pf_candidates(
        pos["CB.GrC"], pos["CB.PC"], frames["CB.PC"], PF_WIDTH_UM["CB.PC"] / 2
    )
    mean_cand = pc_pre.size / max(sizes["CB.PC"], 1)
    p_pf = min(1.0, K_PF_PC * fraction / mean_cand) if mean_cand > 0 else 0.0
    pf_info = {"p_pf": p_pf, "pc_candidates_mean": mean_cand}
    for post in _PF_TARGETS:
        if post == "CB.PC":
            cp, cq = pc_pre, pc_post
        else:
            cp, cq = _pf_candidates(pos["CB.GrC"], pos[post], frames[post], PF_WIDTH_UM[post] / 2)
        hit = _generator(seed, "pf", post).random(cp.size) < p_pf
        add("CB.GrC", post, cp[hit], cq[hit], scale=1.0 / fraction)
    # MLI -> PC
    for pre, k in (("CB.BC", K_BC_PC), ("CB.SC", K_SC_PC)):
        pre_i, post_i = _choose_nearest(
            pos["CB.PC"], pos[pre], k, SIGMA_MLI_PC_UM, _generator(seed, pre, "pc")
        )
        add(pre, "CB.PC", pre_i, post_i)
    # PC -> CN: mediolateral rank topography
    pc_rank = _rank01(pos["CB.PC"][:, 2])[:, None]
    for post, k in (("CBN.E", K_PC_CNE), ("CBN.I", K_PC_CNI)):
        cn_rank = _rank01(pos[post][:, 2])[:, None]
        pre_i, post_i = _choose_nearest(
            cn_rank, pc_rank, k, SIGMA_PC_CN_RANK, _generator(seed, "pc", post)
        )
        add("CB.PC", post, pre_i, post_i)

    # ---- mossy fibres: external sources and background
    stimuli = []
    k_ext_grc = {name: round(K_MF_GRC * s) for name, s in mossy.items()}
    k_ext_cn = {name: round(K_MF_CNE * s) for name, s in mossy.items()}
    n_bg_grc = K_MF_GRC - sum(k_ext_grc.values())
    n_bg_cn = K_MF_CNE - sum(k_ext_cn.values())
    external: list[Projection] = []
    for name in mossy:
        for rec in ("ampa", "nmda"):
            if k_ext_grc[name]:
                wv = w[("MF", "CB.GrC", rec)]
                external.append(
                    Projection(
                        pre=name,
                        post="CB.GrC",
                        rule=FixedIndegree(k_ext_grc[name], allow_multapses=False),
                        weight=Normal(wv, 0.1 * wv, low=0.0),
                        delay=_delay("MF", "CB.GrC"),
                        receptor=rec,
                    )
                )
        if k_ext_cn[name]:
            wv = w[("MF", "CBN.E", "ampa")]
            external.append(
                Projection(
                    pre=name,
                    post="CBN.E",
                    rule=FixedIndegree(k_ext_cn[name], allow_multapses=False),
                    weight=Normal(wv, 0.1 * wv, low=0.0),
                    delay=_delay("MF", "CBN.E"),
                    receptor="ampa",
                )
            )
    if n_bg_grc > 0 and mf_rate_hz > 0 and sizes["CB.GrC"]:
        for rec in ("ampa", "nmda"):
            stimuli.append(
                PoissonInput(
                    target="CB.GrC",
                    rate=float(mf_rate_hz),
                    weight=w[("MF", "CB.GrC", rec)],
                    n_sources=n_bg_grc,
                    receptor=rec,
                )
            )
    if n_bg_cn > 0 and mf_rate_hz > 0 and sizes["CBN.E"]:
        stimuli.append(
            PoissonInput(
                target="CBN.E",
                rate=float(mf_rate_hz),
                weight=w[("MF", "CBN.E", "ampa")],
                n_sources=n_bg_cn,
                receptor="ampa",
            )
        )
    spec = NetworkSpec(
        populations=tuple(pops[n] for n in POPULATIONS),
        projections=tuple(projections),
        stimuli=tuple(stimuli),
        name=f"cerebellum({region}; {'+'.join(nuclei)}, fraction={fraction:g})",
        meta={
            "model": "cerebellum",
            "lobules": list(lobules),
            "nuclei": list(nuclei),
            "hemisphere": hemisphere,
            "fraction": fraction,
            "seed": seed,
            "mossy": mossy,
            "mf_rate_hz": float(mf_rate_hz),
            **pf_info,
        },
    )
    layout.mossy_projections = tuple(external)
    return spec, layout


def _estimate(
    expected: dict[str, np.ndarray], fraction: float, geo: CerebellarGeometry, sel: dict
) -> SpecEstimate:
    n = {k: float(v.sum()) for k, v in expected.items()}
    syn = (
        n["CB.GrC"] * (2 * K_GOC_GRC + 2 * K_MF_GRC)
        + n["CB.PC"] * (K_PF_PC * fraction + K_BC_PC + K_SC_PC)
        # MLI and GoC PF in-degrees scale with their dendritic width relative to the PC's
        + (n["CB.BC"] + n["CB.SC"]) * K_PF_PC * fraction * 150.0 / 200.0
        + n["CB.GoC"] * 3 * K_PF_PC * fraction * 150.0 / 200.0
        + n["CBN.E"] * K_PC_CNE
        + n["CBN.I"] * K_PC_CNI
    )
    return SpecEstimate(
        label="cerebellum",
        n_neurons=round(sum(n.values())),
        n_synapses=round(syn),
        build_bytes=round(syn * (BYTES_PER_SYNAPSE + 20 + 16)),
    )
