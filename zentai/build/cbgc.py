"""``cbgc``: the medium-scale cortex–basal ganglia–cerebellum network (issue 8).

:func:`cbgc_spec` = the atlas-built motor loop of :func:`zentai.build.brain.brain_spec`
(MOp/MOs layered Izhikevich cortex, motor thalamus VAL/VM, pontine grey, cerebellar cortex
(simple lobule) and nuclei; inter-area wiring from the Knox et al. 2019 connectome) plus the
basal ganglia of :func:`zentai.build.basal_ganglia.basal_ganglia_spec` (Lindahl & Hellgren
Kotaleski 2016), joined by the pathways below. Pathways and their sources:

* cortico-ponto-cerebellar (MOp/MOs -> PG -> granule cells, CN collaterals) and
  cerebello-thalamo-cortical (CN -> VAL/VM -> cortex): the brain builder's connectome wiring,
  with :data:`CBGC_BRAIN_OPTIONS`: the corticopontine input comes from L5B PT cells only
  (MODEL_SPEC §5; Legg et al. 1989, J Comp Neurol 286:427), which carry the connectome's whole
  cortex -> PG in-degree; PT axons to the pons and thalamus conduct at 5 m/s (McComas et al.
  1968, J Physiol 194:271; Kraskov et al. 2020, Cereb Cortex 30:3403), not the 0.5 m/s of the
  intracortical delays; the CN cells' pacemaking currents spread by 30 % (CV, seeded) [N], so
  that cells sharing their Purkinje inputs do not fire in lock-step. Measured (fraction 0.005,
  seed 0): with the report's rule a PG cell got 0.7 inputs from the 93 L5B cells of the 1 mm
  pulse and the pons moved from ~15 to ~30 Hz; with L5B only it gets 5.2 and fires at ~95 Hz
  4-10 ms after the pulse (MOp -> PG 1.4 ms instead of 12.7).
* direct / indirect: L5 (A and B) pyramidal cells -> D1 / D2 MSNs and FSIs (corticostriatal
  cells are L5 IT and PT cells; Shepherd 2013, Nat Rev Neurosci 14:278), AMPA (+NMDA) with the
  weights of bgmodel's cortical generators (MODEL_SPEC §3.3), mean in-degree :data:`K_CORTEX`
  shared between the modelled areas by their Knox projection density into CP.
* hyperdirect: L5B (PT) -> STN (Nambu et al. 2002, Neurosci Res 43:111), bgmodel's CTX->STN
  weights, delay 2.5 ms (§3.3), areas weighted by their Knox projection density into STN.
* nigro-thalamic: SNr -> VAL/VM TC cells, GABAergic (Deniau & Chevalier 1985, Brain Res
  334:227), in-degree :data:`K_NIGROTHALAMIC` [N], PSP -1 mV [N].

The modelled cortical input replaces part of bgmodel's cortical background generator: the L5
inputs carry :data:`CORTEX_SHARE` (per target) of each receptor's mean cortical drive
(rate x weight) at the L5 cells' spontaneous rates :data:`ASSUMED_L5_HZ`, the generator the
rest, so the mean drive at rest is bgmodel's while a cortical pulse reaches the striatum and
STN through the modelled cells.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from zentai.build.basal_ganglia import basal_ganglia_spec
from zentai.build.brain import PT_VELOCITY_M_S, brain_spec
from zentai.build.cortex import psc_per_mv
from zentai.build.spec import NetworkSpec, Projection
from zentai.connectome import FixedIndegree, Normal
from zentai.connectome.rules import GroupBernoulli
from zentai.errors import SpecError
from zentai.stim import PoissonInput

__all__ = [
    "ASSUMED_L5_HZ",
    "CBGC_PATHWAYS",
    "CORTEX_SHARE",
    "K_CORTEX",
    "K_NIGROTHALAMIC",
    "cbgc_spec",
]

MOTOR_LOOP = ("MOp", "MOs", "VAL", "VM", "PG", "SIM", "IP", "DN")
#: modelled cortical inputs per striatal / STN cell [N] (the rest stays background). With 20,
#: each carrying 1/20 of half the cortical drive, the MSNs' input was so variable that with
#: dynamic TM synapses the network ran away within 1.5 s of rest (D1 0.04 -> 2.5 Hz, SNr 37 ->
#: < 1 Hz, thalamic TC 8 -> 33 Hz: cortex -> D1 -| SNr -| TC -> cortex); with 100 the same run
#: holds D1 at 0.15, SNr at 40 Hz (measured, fraction 0.005, 3-4 s, seed 0)
K_CORTEX = 100
#: SNr inputs per thalamic TC cell [N]
K_NIGROTHALAMIC = 10
#: spontaneous rates of the modelled L5 cells (Hz) for the background compensation: measured in
#: cbgc at rest (fraction 0.005, seed 0, 0.25-4 s: L5A 8.0-8.6, L5B 1.5-1.9 Hz)
ASSUMED_L5_HZ = {"Isocortex.L5A.E": 8.3, "Isocortex.L5B.E": 1.7}

#: (pre, post, receptor, delay ms) of the cortical pathways into the basal ganglia; delays of
#: bgmodel's CTX->STR (12 ms) and CTX->STN (2.5 ms) connections (MODEL_SPEC §3.3)
CBGC_PATHWAYS = (
    ("Isocortex.L5A.E", "STR.D1", "ampa", 12.0),
    ("Isocortex.L5A.E", "STR.D1", "nmda", 12.0),
    ("Isocortex.L5B.E", "STR.D1", "ampa", 12.0),
    ("Isocortex.L5B.E", "STR.D1", "nmda", 12.0),
    ("Isocortex.L5A.E", "STR.D2", "ampa", 12.0),
    ("Isocortex.L5B.E", "STR.D2", "ampa", 12.0),
    ("Isocortex.L5A.E", "STR.FSI", "ampa", 12.0),
    ("Isocortex.L5B.E", "STR.FSI", "ampa", 12.0),
    ("Isocortex.L5B.E", "STN", "ampa", 2.5),
    ("Isocortex.L5B.E", "STN", "nmda", 2.5),
)
#: share of bgmodel's cortical drive (rate x weight of its background generator, per receptor)
#: carried by the modelled L5 cells at their assumed rate, per target; the generator keeps the
#: rest [N]. The STN's comes all from the modelled L5B: with half, a pulse of MOp L5B did not
#: move the STN before the indirect pathway did (~16 ms; measured), and no early SNr excitation
CORTEX_SHARE = {"STR.D1": 0.5, "STR.D2": 0.5, "STR.FSI": 0.5, "STN": 1.0}


#: brain_spec options of the cbgc model (module docstring; overridable through cbgc_spec's
#: keyword arguments)
CBGC_BRAIN_OPTIONS: dict[str, Any] = {
    "pons_input_layers": ("L5B",),
    "pt_velocity": PT_VELOCITY_M_S,
    "cerebellum_options": {"nuclear_i_e_cv": 0.3},
}

#: the CCF target region of each BG population's cortical input
_TARGET_REGION = {"STR.D1": "CP", "STR.D2": "CP", "STR.FSI": "CP", "STN": "STN"}


def _area_weighted(layout, pre, n_post, k, connectome, cortical, post):
    """A rule giving each ``post`` cell ``k`` inputs on average from ``pre``, shared between
    cortical areas in proportion to the connectome's projection density into the target
    region times the area's cell count: p[a] = k W(a, R) / sum_b N_b W(b, R)."""
    areas = layout.areas
    groups = np.asarray(layout.area[pre], dtype=np.int64).copy()
    region = _TARGET_REGION[post]
    w = np.array([connectome.weight(a, region) if a in cortical else 0.0 for a in areas])
    n = np.bincount(groups[groups >= 0], minlength=len(areas))
    total = float((n * w).sum())
    if total <= 0:
        raise SpecError(f"cbgc: no modelled cortical area projects to {region} in the connectome.")
    p = np.minimum(k * w / total, 1.0)[:, None]
    return GroupBernoulli(p=p, pre_groups=groups, post_groups=np.zeros(n_post, dtype=np.int64))


def cbgc_spec(
    atlas: Any,
    *,
    fraction: float = 0.005,
    bg_scale: float = 0.002,
    seed: int = 0,
    regions: tuple[str, ...] = MOTOR_LOOP,
    connectome: Any = None,
    bg_tm: str = "steady",
    **brain_options: Any,
) -> tuple[NetworkSpec, Any]:
    """The cbgc network and the brain's layout (module docstring). ``regions`` may add
    cortical areas (e.g. sensory and visual areas for scan-opto); their L5 cells reach the
    striatum and STN in proportion to the connectome (Knox et al. 2019 by default). ``bg_tm``:
    the basal ganglia's Tsodyks–Markram pathways (:func:`basal_ganglia_spec`'s ``tm``)."""
    if connectome is None:  # read once, for the brain's wiring and the cortico-BG inputs
        from zentai.connectome.allen import load_knox2019

        connectome = load_knox2019(atlas=atlas)
    brain_options = {**CBGC_BRAIN_OPTIONS, **brain_options}
    brain, layout = brain_spec(
        atlas, regions, fraction=fraction, seed=seed, connectome=connectome, **brain_options
    )
    bg = basal_ganglia_spec(bg_scale, tm=bg_tm)
    names = {p.name for p in brain.populations}
    for need in ("Isocortex.L5A.E", "Isocortex.L5B.E", "TH.TC"):
        if need not in names:
            raise SpecError(f"cbgc needs {need} in the brain; regions {regions} lack it.")
    cortical = set(layout.kinds.cortex)
    # the modelled cortex carries CORTEX_SHARE of each receptor's cortical drive: per input
    # w = share x rate_bg x w_bg / sum over the pathway's inputs of their L5 rate; the
    # generator keeps the rest
    bg_drive = {
        (st.target, st.receptor): (st.rate, st.weight)
        for st in bg.stimuli
        if isinstance(st, PoissonInput)
    }
    k_in: dict[tuple[str, str], int] = {}
    input_hz: dict[tuple[str, str], float] = {}
    for pre, post, rec, _ in CBGC_PATHWAYS:
        k_in[(post, rec)] = k_in.get((post, rec), 0) + K_CORTEX // 2
        input_hz[(post, rec)] = input_hz.get((post, rec), 0.0) + K_CORTEX // 2 * ASSUMED_L5_HZ[pre]
    projections = []
    sizes = {p.name: p.size for p in bg.populations}
    for pre, post, rec, delay in CBGC_PATHWAYS:
        rate, w_bg = bg_drive[(post, rec)]
        w = CORTEX_SHARE[post] * rate * w_bg / input_hz[(post, rec)]
        projections.append(
            Projection(
                pre=pre,
                post=post,
                rule=_area_weighted(
                    layout, pre, sizes[post], K_CORTEX // 2, connectome, cortical, post
                ),
                weight=w,
                delay=Normal(delay, 0.1 * delay, low=0.1),
                receptor=rec,
            )
        )
    tc = next(p for p in brain.populations if p.name == "TH.TC")
    per_mv, _ = psc_per_mv(tc.model, "in")
    projections.append(
        Projection(
            pre="SNr",
            post="TH.TC",
            rule=FixedIndegree(K_NIGROTHALAMIC),
            weight=Normal(-1.0 * per_mv, 0.1 * per_mv, high=0.0),
            delay=Normal(2.0, 0.2, low=0.1),
            receptor="in",
        )
    )
    stimuli = []
    for st in bg.stimuli:
        if (st.target, st.receptor) in k_in and isinstance(st, PoissonInput):
            st = dataclasses.replace(st, rate=st.rate * (1.0 - CORTEX_SHARE[st.target]))
        stimuli.append(st)
    spec = NetworkSpec(
        populations=brain.populations + bg.populations,
        projections=brain.projections + bg.projections + tuple(projections),
        stimuli=brain.stimuli + tuple(stimuli),
        name=f"cbgc(fraction={fraction:g}, bg_scale={bg_scale:g})",
        meta={**brain.meta, "model": "cbgc", "bg_scale": bg_scale},
    )
    return spec, layout
