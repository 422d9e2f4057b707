"""A multi-region brain from the atlas: cortex, thalamus, pons, cerebellum, and the connectome.

:func:`brain_spec` takes CCF region acronyms, sorts them by kind and builds each kind with its
own local rules, then adds the inter-area synapses of the Allen connectome:

* **cortex** (areas under ``Isocortex``): one layered sheet over all chosen areas,
  :func:`zentai.build.cortex.cortex_spec` (tangent-plane Gaussian wiring continuous across area
  borders, Potjans & Diesmann 2014 in-degrees);
* **thalamic relay nuclei** (under ``TH`` but ``RT``, e.g. the motor thalamus ``VAL``, ``VM``):
  Izhikevich (2007) TC cells (population ``TH.TC``); ``RT``: RTN cells (``TH.RTN``);
* **pontine grey** ``PG``: an excitatory relay (``P.PG``), the pontine substitute of MODEL_SPEC
  §5 (no published spiking model of the pons);
* **cerebellar cortex** lobules (under ``CBX``) and **nuclei** (under ``CBN``):
  :func:`zentai.build.cerebellum.cerebellum_spec`, with the pontine cells as mossy fibres.

Inter-area wiring (MODEL_SPEC §6.2, the report's cell-type rules): presynaptic cortical L2–6
excitatory cells, TC cells, pontine cells and CN excitatory cells; postsynaptic all cortical
cells, TC cells, pontine cells and CN excitatory cells. (Purkinje -> CN and pons -> granule
cells, which the tracer model does not resolve, are the cerebellum builder's topographic
rules, §6.2 step 7.) For source area s and target area t the pairwise probability is
``p_st = min(1, κ W_st / N_post(t))`` with ``W`` the Knox et al. (2019) homogeneous regional
model (projection volume per unit injected volume, ipsilateral) and ``N_post(t)`` the eligible
cells of t at full density, so the in-degree from s is ``p_st N_pre(s)`` and shrinks with
``fraction`` like every local in-degree. κ is one constant for the whole brain
(:func:`kappa_for`): the mean long-range in-degree of an isocortical pyramidal cell from all
Knox source regions (at full density) is ``f_lr`` times its total excitatory in-degree.
Weights: the Potjans-Diesmann PSP (0.15 mV) at the target model, divided by sqrt(fraction);
by default (``long_range_scaling="mean"``) the in-degree is the full-density one times
sqrt(fraction), so that the mean input is kept at any presynaptic rate; ``"sqrt"`` scales the
in-degree by ``fraction`` and adds the DC of van Albada et al. (2015), as the local wiring
(source rates assumed in :data:`ASSUMED_RATE_HZ`). The
cortical Poisson background is reduced by the modelled long-range in-degree, so that inputs
now simulated are not counted twice.
Delays: ``d_min + |r_s - r_t| / v`` (:func:`zentai.connectome.probability.distance_delay`,
0.5 m/s) between the centroids of the pre and post neurons of each projection.

Topography (``topography``, off by default): the regional model has no sub-area resolution, so
within an area pair the synapses are spread uniformly. With ``topography=s`` each neuron gets
map coordinates, its (AP, ML) position scaled to [0, 1] over its own area's extent, and a pair
is weighted by a Gaussian of width ``s`` of their map distance (:class:`GroupBernoulli`, which
keeps each area pair's mean in-degree), and the pontine mossy fibres reach the granule cells
through the same kind of map (:func:`_topographic_mossy`). This homotopic map is our proxy [N]
for the topography of the voxel-level Knox model, which is not staged here: corticocortical and
corticothalamic projections of the mouse are topographic (e.g. MOp and SSp body maps; Mao et
al. 2011, Neuron 72:111; Hooks et al. 2013, J Neurosci 33:748).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from zentai import rng
from zentai.atlas.atlas import Atlas
from zentai.atlas.densities import CellDensities, load_densities
from zentai.build.cortex import _PD_LAYER, CortexLayout, cortex_spec, psc_per_mv
from zentai.build.microcircuit import CONN_PROBS, FULL_MEAN_RATES, K_EXT, N_FULL
from zentai.build.placement import place_in_voxels
from zentai.build.spec import NetworkSpec, Population, Projection
from zentai.celltypes.catalog import cell_type
from zentai.connectome.probability import calibrate_kappa, distance_delay
from zentai.connectome.rules import (
    DistanceGaussian,
    Explicit,
    FixedIndegree,
    GroupBernoulli,
    Normal,
)
from zentai.errors import RegionError, SpecError
from zentai.stim import PoissonInput

__all__ = ["ASSUMED_RATE_HZ", "BrainLayout", "brain_spec", "classify_regions", "kappa_for"]

log = logging.getLogger(__name__)

#: long-range fraction of a cortical pyramidal cell's excitatory in-degree: Markov et al. 2011
#: (Cereb Cortex 21:1254) count ~20% of the labelled neurons projecting to a macaque area
#: outside it (FLNe); no mouse value of the same kind is published, so the macaque one is used.
F_LR = 0.2
#: presynaptic rates assumed for the mean-input compensation of long-range synapses (Hz):
#: cortical E per layer the Potjans-Diesmann full-scale rates; TC 10 Hz (awake rodent motor
#: thalamus, Bosch-Bouju et al. 2013, Front Comput Neurosci 7:163); pons 10 Hz and CN 30 Hz
#: (order of magnitude of awake recordings; [N] assumption).
ASSUMED_RATE_HZ = {"TH.TC": 10.0, "P.PG": 10.0, "CBN.E": 30.0}
_PD_E_RATE = {"L2/3": FULL_MEAN_RATES[0], "L4": FULL_MEAN_RATES[2], "L5": FULL_MEAN_RATES[4],
              "L6": FULL_MEAN_RATES[6]}  # fmt: skip

#: local thalamic wiring [N] (no mouse motor-thalamus connectivity is published at this level):
#: in-degrees at full density, 3-D Gaussian sigma 150 µm. RTN -> TC and TC -> RTN as in the
#: thalamic part of Izhikevich & Edelman (2008, PNAS 105:3593) in order of magnitude; tunable.
THALAMUS_INDEGREE = {("TH.TC", "TH.RTN"): 40.0, ("TH.RTN", "TH.TC"): 40.0,
                     ("TH.RTN", "TH.RTN"): 20.0}  # fmt: skip
#: Poisson background (sources at 8 Hz, weight of a 0.15 mV PSP) of the subcortical relays,
#: standing in for their unmodelled inputs (brain stem, other cortex). Tuned [N] on the cells
#: alone (1 s, 50 cells each, measured): TC 150 sources -> 10 Hz (awake rodent motor thalamus
#: ~10-20 Hz, Bosch-Bouju et al. 2013); RTN 600 -> 8.5 Hz; PG 250 -> 7.4 Hz. The Potjans-
#: Diesmann K_ext (~2,000) drives these Izhikevich cells, which lack the recurrent inhibition of
#: the cortex, to 50-100 Hz.
BACKGROUND_SOURCES = {"TH.TC": 150, "TH.RTN": 600, "P.PG": 250}
#: conduction velocity (m/s) of the pyramidal-tract (L5B) axons to subcortical targets, when
#: ``brain_spec(pt_velocity=...)`` asks for it: rat pyramidal-tract axons conduct at 7.6-10.8 m/s
#: (McComas et al. 1968, J Physiol 194:271) and the slow ones at 3-8 m/s (Kraskov et al. 2020,
#: Cereb Cortex 30:3403); 5 m/s is the low end of both
PT_VELOCITY_M_S = 5.0
#: inhibitory Poisson background (8 Hz, -4 x the PSP), none by default
BACKGROUND_INHIBITORY_SOURCES: dict[str, int] = {}


@dataclass(frozen=True)
class RegionKinds:
    """The requested regions sorted by how they are built."""

    cortex: tuple[str, ...] = ()
    thalamus: tuple[str, ...] = ()
    reticular: tuple[str, ...] = ()
    pons: tuple[str, ...] = ()
    lobules: tuple[str, ...] = ()
    nuclei: tuple[str, ...] = ()


def _under(onto: Any, acr: str, ancestor: str) -> bool:
    """``acr`` is ``ancestor`` or below it (False when the ontology lacks ``ancestor``)."""
    return acr == ancestor or (ancestor in onto and onto.is_descendant(acr, ancestor))


def classify_regions(atlas: Atlas, regions: Any) -> RegionKinds:
    """Sort CCF acronyms into cortex / thalamus / reticular / pons / lobules / nuclei."""
    onto = atlas.ontology
    regions = (regions,) if isinstance(regions, str) else tuple(regions)
    if not regions:
        raise SpecError("brain_spec.regions must name at least one CCF region; got none.")
    kinds: dict[str, list[str]] = {f: [] for f in RegionKinds.__dataclass_fields__}
    for r in regions:
        acr = onto.acronym(r)  # RegionError with suggestions for an unknown name

        def under(a: str, acr: str = acr) -> bool:
            return _under(onto, acr, a)

        if under("Isocortex"):
            kinds["cortex"].append(acr)
        elif acr == "RT":
            kinds["reticular"].append(acr)
        elif under("TH"):
            kinds["thalamus"].append(acr)
        elif acr == "PG":
            kinds["pons"].append(acr)
        elif under("CBX"):
            kinds["lobules"].append(acr)
        elif under("CBN"):
            kinds["nuclei"].append(acr)
        else:
            raise RegionError(
                f"brain_spec cannot build {acr!r}: supported are isocortical areas, thalamic "
                "nuclei (RT as reticular), the pontine grey PG, cerebellar lobules (under CBX) "
                "and cerebellar nuclei (under CBN)."
            )
    return RegionKinds(**{k: tuple(v) for k, v in kinds.items()})


@dataclass
class BrainLayout(CortexLayout):
    """Voxel and position of every neuron, and the area (index into ``areas``) it sits in."""

    areas: tuple[str, ...] = ()
    area: dict[str, np.ndarray] = field(default_factory=dict)  # pop -> (n,) int, -1 none
    kinds: RegionKinds | None = None

    def in_area(self, population: str, area: str) -> np.ndarray:
        """Indices (within ``population``) of its neurons in ``area``."""
        return np.flatnonzero(self.area[population] == self.areas.index(area))


# ------------------------------------------------------------------------------- κ
def _eligible_pre_count(densities: CellDensities, onto: Any, sid: int, vox_mm3: float,
                        n_vox: int) -> float:  # fmt: skip
    acr = onto.acronym(sid)

    def under(a: str) -> bool:
        return _under(onto, acr, a)

    dens, _ = densities.class_densities(sid)
    if under("Isocortex"):
        return dens["excitatory"] * vox_mm3 * n_vox
    if under("TH") and not under("RT"):
        return dens["excitatory"] * vox_mm3 * n_vox
    if acr == "PG":
        return densities.neuron_density(sid) * vox_mm3 * n_vox
    if under("CBN"):
        return dens["excitatory"] * vox_mm3 * n_vox
    return 0.0


def _kappa(atlas: Atlas, connectome: Any, f_lr: float) -> float:
    onto = atlas.ontology
    densities = load_densities(onto)
    vox = atlas.voxel_volume_mm3
    hemi_mask = atlas.mask("root", "left")
    ann = atlas.annotation[hemi_mask]
    labels, counts = np.unique(ann, return_counts=True)
    count_of = dict(zip(labels.tolist(), counts.tolist()))

    def label_counts(acr: str) -> list[tuple[int, int]]:
        ids = set(onto.descendant_ids(acr)) | {onto.id(acr)}
        return [(i, count_of[i]) for i in ids if i in count_of]

    src = connectome.source_regions
    n_pre = np.array(
        [sum(_eligible_pre_count(densities, onto, i, vox, n) for i, n in label_counts(s))
         for s in src]
    )  # fmt: skip
    tgt = [t for t in connectome.target_regions if onto.is_descendant(t, "Isocortex")]
    cols = [connectome.target_regions.index(t) for t in tgt]
    n_post = np.zeros(len(tgt))
    n_pyr = np.zeros(len(tgt))
    for j, t in enumerate(tgt):
        for i, n in label_counts(t):
            d, _ = densities.class_densities(i)
            n_post[j] += sum(d.values()) * vox * n
            n_pyr[j] += d["excitatory"] * vox * n
    w = connectome.matrix("ipsi")[:, cols]
    return calibrate_kappa(w, n_pre, n_post, n_pyr, _k_exc_total(), f_lr)


#: (id(atlas), id(connectome), f_lr) -> (atlas, connectome, κ); the objects are kept so that
#: their ids stay theirs
_KAPPA_CACHE: dict[tuple[int, int, float], tuple[Atlas, Any, float]] = {}


def _k_exc_total() -> float:
    """Mean total excitatory in-degree of the Potjans-Diesmann E cells (local + external)."""
    e = [0, 2, 4, 6]
    k_local = (CONN_PROBS[np.ix_(e, e)] * N_FULL[e][None, :]).sum(axis=1)
    k = k_local + K_EXT[e]
    return float((k * N_FULL[e]).sum() / N_FULL[e].sum())


def kappa_for(atlas: Atlas, connectome: Any, f_lr: float = F_LR) -> float:
    """κ of MODEL_SPEC §6.2 step 4 for the whole (left) brain.

    Sources: every region of ``connectome`` with its eligible projecting cells (cortical and
    thalamic relay excitatory cells, pontine grey, CN excitatory cells; density x volume of the
    left hemisphere); targets: the isocortical regions, averaged by their pyramidal cells.
    The total excitatory in-degree is the Potjans-Diesmann one (local E + external), ~3,900.
    """
    key = (id(atlas), id(connectome), float(f_lr))
    if key not in _KAPPA_CACHE:
        _KAPPA_CACHE[key] = (atlas, connectome, _kappa(atlas, connectome, float(f_lr)))
    return _KAPPA_CACHE[key][2]


# ------------------------------------------------------------------------ nuclei
def _place_nucleus(atlas, regions, hemisphere, fraction, seed, name, density_of, densities):
    mask = np.zeros(atlas.shape, dtype=bool)
    for r in regions:
        mask |= atlas.mask(r, hemisphere)
    index = np.argwhere(mask)
    labels = atlas.annotation[tuple(index.T)]
    dens = {int(s): density_of(densities, int(s)) for s in np.unique(labels)}
    expected = np.array([dens[int(s)] for s in labels]) * atlas.voxel_volume_mm3 * fraction
    placed = place_in_voxels(index, expected, atlas.resolution_um, seed, name)
    return index[placed.voxel], placed.positions_um


def _exc_density(densities: CellDensities, sid: int) -> float:
    return densities.class_densities(sid)[0]["excitatory"]


def _all_density(densities: CellDensities, sid: int) -> float:
    return densities.neuron_density(sid)


# ------------------------------------------------------------------------ builder
def brain_spec(
    atlas: Atlas,
    regions: Any = ("MOp", "MOs", "VAL", "VM", "PG", "SIM", "IP", "DN"),
    *,
    fraction: float = 0.01,
    hemisphere: str | int | None = "left",
    seed: int = 0,
    models: str = "izhikevich",
    f_lr: float = F_LR,
    connectome: Any = None,
    topography: float | None = None,
    mossy_share: float = 0.5,
    cerebellum_atlas: Atlas | None = None,
    densities: CellDensities | None = None,
    check_memory: bool = True,
    cortex_options: dict | None = None,
    cerebellum_options: dict | None = None,
    long_range_scaling: str = "mean",
    pons_input_layers: tuple[str, ...] | None = None,
    pt_velocity: float | None = None,
) -> tuple[NetworkSpec, BrainLayout]:
    """A multi-region model of ``regions`` at ``fraction`` of the real density (module docstring).

    Parameters
    ----------
    atlas
        The 100 µm CCF (``zentai.atlas.load("allen_mouse_100um")``) or a synthetic atlas.
    regions
        CCF acronyms; see :func:`classify_regions` for what each becomes.
    fraction, hemisphere, seed, models
        As :func:`zentai.build.cortex.cortex_spec`.
    f_lr
        Long-range share of a pyramidal cell's excitatory in-degree, fixing κ (:data:`F_LR`).
    connectome
        A :class:`~zentai.connectome.allen.RegionalConnectome`; Knox et al. 2019 by default.
    topography
        Width of the homotopic map kernel in normalised area coordinates (e.g. 0.15), or None.
    mossy_share
        Share of the 4 mossy fibres per granule cell that come from the modelled pontine cells
        (the rest is background), when both PG and cerebellar cortex are modelled.
    cerebellum_atlas
        The fine atlas for the cerebellar layers (CCF 25 µm by default for the CCF).
    cortex_options, cerebellum_options
        Extra keyword arguments for :func:`cortex_spec` (e.g. ``pathway_gain``) and
        :func:`zentai.build.cerebellum.cerebellum_spec` (e.g. ``weights``).
    long_range_scaling
        How inter-area connections follow ``fraction``. ``"mean"`` (default): in-degrees are
        the full-density ones times sqrt(fraction) (probabilities / sqrt(fraction)) and weights
        are divided by sqrt(fraction), which keeps the mean input per neuron at *any*
        presynaptic rate, so a stimulus-evoked change of rate in one area reaches the next with
        full strength at any fraction, while the input variance grows only as
        1/sqrt(fraction). (In-degree x fraction with weights / fraction keeps the mean too, but
        its 1/fraction variance -- 15 mV PSPs at fraction 0.01 -- drove the sheet to 5-50 Hz
        and abolished the gamma rhythm, measured.) ``"sqrt"``: in-degree x fraction, weights /
        sqrt(fraction) and the DC of van Albada et al. (2015), as the local wiring does, which
        keeps the mean only at the assumed rates (:data:`ASSUMED_RATE_HZ`) and weakens evoked
        transmission by sqrt(fraction) (measured: no evoked response in MOs / SSp at fraction
        0.01).
    pons_input_layers
        Cortical layers whose E cells project to the pontine grey. None (default): the report's
        rule, every L2-6 E cell. ``("L5B",)``: MODEL_SPEC §5, corticopontine cells are L5B PT
        cells (Legg et al. 1989, J Comp Neurol 286:427); the connectome's in-degree of each
        area pair is then carried by those layers alone (their probability is raised by the
        area's count of all E cells over theirs), so the pons gets the same number of cortical
        inputs from fewer cells.
    pt_velocity
        Conduction velocity (m/s) of the L5B E cells' axons to non-cortical targets (pons,
        thalamus), e.g. :data:`PT_VELOCITY_M_S`; None (default) keeps 0.5 m/s for every
        long-range delay.
    """
    if pons_input_layers is not None:
        pons_input_layers = tuple(pons_input_layers)
        if not pons_input_layers or not set(pons_input_layers) <= set(_PD_LAYER):
            raise SpecError(
                f"brain_spec pons_input_layers must be cortical layers among "
                f"{', '.join(_PD_LAYER)}, or None; got {pons_input_layers!r}."
            )
    if pt_velocity is not None and not (isinstance(pt_velocity, (int, float)) and pt_velocity > 0):
        raise SpecError(f"brain_spec pt_velocity must be > 0 m/s or None; got {pt_velocity!r}.")
    if long_range_scaling not in ("mean", "sqrt"):
        raise SpecError(
            f"brain_spec long_range_scaling must be 'mean' or 'sqrt'; got {long_range_scaling!r}."
        )
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise SpecError(f"brain_spec fraction must be in (0, 1]; got {fraction!r}.")
    if topography is not None and not (isinstance(topography, (int, float)) and topography > 0):
        raise SpecError(f"brain_spec topography must be > 0 or None; got {topography!r}.")
    kinds = classify_regions(atlas, regions)
    onto = atlas.ontology
    if densities is None:
        densities = load_densities(onto)
    areas = (
        kinds.cortex + kinds.thalamus + kinds.reticular + kinds.pons + kinds.lobules + kinds.nuclei
    )
    layout = BrainLayout(resolution_um=atlas.resolution_um, areas=areas, kinds=kinds)
    pops: list[Population] = []
    projections: list[Projection] = []
    stimuli: list[Any] = []

    def merge(part: NetworkSpec, part_layout: Any) -> None:
        pops.extend(part.populations)
        projections.extend(part.projections)
        stimuli.extend(part.stimuli)
        layout.voxels.update(part_layout.voxels)
        layout.positions.update(part_layout.positions)

    # ---- cortex
    if kinds.cortex:
        cspec, clay = cortex_spec(
            atlas,
            kinds.cortex,
            fraction=fraction,
            hemisphere=hemisphere,
            seed=seed,
            models=models,
            densities=densities,
            check_memory=check_memory,
            **(cortex_options or {}),
        )
        merge(cspec, clay)

    # ---- thalamus and pons
    relay = [
        ("TH.TC", kinds.thalamus, "TH.TC", _exc_density),
        ("TH.RTN", kinds.reticular, "TH.RTN", _all_density),
        ("P.PG", kinds.pons, "P.PG", _all_density),
    ]
    for name, regs, ctype, dens_fn in relay:
        if not regs:
            continue
        vox, pos = _place_nucleus(atlas, regs, hemisphere, fraction, seed, name, dens_fn, densities)
        if len(pos) == 0:
            raise SpecError(
                f"brain_spec: no {name} neuron in {'+'.join(regs)} at fraction {fraction:g}; "
                "raise the fraction."
            )
        model = cell_type(ctype).model
        pops.append(
            Population(
                name=name,
                size=len(pos),
                model=model,
                positions=pos,
                initial={"v": Normal(model.v_r, 5.0)},
                labels={"region": "+".join(regs), "layer": "", "cell_class": ctype.split(".")[1]},
            )
        )
        layout.voxels[name], layout.positions[name] = vox, pos
    names = {p.name for p in pops}
    by_name = {p.name: p for p in pops}
    for (pre, post), k_full in THALAMUS_INDEGREE.items():
        if pre in names and post in names:
            exc = pre == "TH.TC"
            per_mv, _ = psc_per_mv(by_name[post].model, "ex" if exc else "in")
            w = 0.15 * per_mv * (1.0 if exc else -4.0) / math.sqrt(fraction)
            projections.append(
                Projection(
                    pre=pre,
                    post=post,
                    rule=DistanceGaussian(mean_indegree=k_full * fraction, sigma=150.0),
                    weight=Normal(w, abs(w) * 0.1, **({"low": 0.0} if exc else {"high": 0.0})),
                    delay=Normal(1.0, 0.25, low=0.1),
                    receptor="ex" if exc else "in",
                )
            )
    for name, n_src in BACKGROUND_SOURCES.items():
        if name in names:
            per_mv, _ = psc_per_mv(by_name[name].model, "ex")
            stimuli.append(
                PoissonInput(
                    target=name, rate=8.0, weight=0.15 * per_mv, n_sources=n_src, receptor="ex"
                )
            )
            n_inh = BACKGROUND_INHIBITORY_SOURCES.get(name, 0)
            if n_inh:
                per_mv_i, _ = psc_per_mv(by_name[name].model, "in")
                stimuli.append(
                    PoissonInput(
                        target=name,
                        rate=8.0,
                        weight=-4.0 * 0.15 * per_mv_i,
                        n_sources=n_inh,
                        receptor="in",
                    )
                )

    # ---- cerebellum
    cb_structure: dict[str, np.ndarray] = {}
    if kinds.lobules or kinds.nuclei:
        from zentai.build.cerebellum import cerebellum_spec

        mossy = {"P.PG": mossy_share} if ("P.PG" in names and kinds.lobules) else None
        if cerebellum_atlas is None:
            if atlas.name != "allen_mouse_100um":
                raise SpecError(
                    f"brain_spec needs cerebellum_atlas= (a finer atlas for the cerebellar "
                    f"layers) with the atlas {atlas.name!r}; for the CCF it loads "
                    "allen_mouse_25um itself."
                )
            from zentai.atlas.atlas import load

            cerebellum_atlas = load("allen_mouse_25um")
        factor = atlas.resolution_um / cerebellum_atlas.resolution_um
        if abs(factor - round(factor)) > 1e-9 or round(factor) < 1:
            raise SpecError(
                f"brain_spec cerebellum_atlas must be finer than the atlas by an integer factor; "
                f"got {cerebellum_atlas.resolution_um:g} µm for a {atlas.resolution_um:g} µm atlas."
            )
        cb_spec, cb_layout = cerebellum_spec(
            cerebellum_atlas,
            coarse_factor=round(factor),
            lobules=kinds.lobules,
            nuclei=kinds.nuclei,
            hemisphere=hemisphere,
            fraction=fraction,
            seed=seed,
            mossy=mossy,
            check_memory=check_memory,
            **(cerebellum_options or {}),
        )
        merge(cb_spec, cb_layout)
        # the pontine mossy fibres and their CN collaterals (they name P.PG, which the
        # cerebellum's own spec does not hold)
        projections += list(cb_layout.mossy_projections)
        cb_structure = dict(cb_layout.structure)

    # ---- area of every neuron
    area_lut = _area_lut(atlas, areas)
    for name, vox in layout.voxels.items():
        layout.area[name] = area_lut[tuple(np.asarray(vox).T)] if len(vox) else np.zeros(0, int)
    # cerebellar neurons: from the fine atlas's label of their own placement voxel (the coarse
    # voxel's label can belong to a neighbouring structure at a border)
    area_of_id: dict[int, int] = {}
    for i, a in enumerate(areas):
        for sid in onto.descendant_ids(a):
            area_of_id.setdefault(int(sid), i)
    for name, ids in cb_structure.items():
        layout.area[name] = np.array([area_of_id.get(int(x), -1) for x in ids], dtype=np.int64)

    # ---- inter-area wiring
    coords = _map_coords(layout) if topography is not None else None
    pops, lr_proj, stimuli = _long_range(
        atlas, pops, stimuli, layout, fraction, f_lr, connectome, topography, coords,
        long_range_scaling, pons_input_layers, pt_velocity,
    )  # fmt: skip
    projections += lr_proj
    if coords is not None:
        projections = _topographic_mossy(projections, coords, float(topography), seed)
    spec = NetworkSpec(
        populations=tuple(pops),
        projections=tuple(projections),
        stimuli=tuple(stimuli),
        name=f"brain({'+'.join(areas)}, fraction={fraction:g})",
        meta={"model": "brain", "regions": list(areas), "fraction": fraction, "seed": seed},
    )
    return spec, layout


def _area_lut(atlas: Atlas, areas: tuple[str, ...]) -> np.ndarray:
    lut = np.full(atlas.shape, -1, dtype=np.int64)
    for i, a in enumerate(areas):
        lut[atlas.mask(a)] = i
    return lut


def _eligible(pop: Population) -> tuple[bool, bool]:
    """(presynaptic, postsynaptic) eligibility for inter-area wiring (the report's rules)."""
    name = pop.name
    if name.startswith("Isocortex."):
        exc = pop.labels.get("cell_class") == "E"
        return exc, True
    if name in ("TH.TC", "P.PG"):
        return True, True
    if name == "CBN.E":
        # a conductance-based E-GLIF/AdEx cell: no PSP calibration of current synapses here;
        # its cortical input arrives as the pontine mossy-fibre collaterals of the cerebellum
        # builder, so it takes part as a presynaptic cell only
        return True, False
    return False, False


def _rate_of(pop: Population) -> float:
    if pop.name.startswith("Isocortex."):
        layer = pop.labels["layer"]
        return float(_PD_E_RATE[layer if layer in ("L2/3", "L4") else layer[:2]])
    return ASSUMED_RATE_HZ[pop.name]


def _long_range(
    atlas, pops, stimuli, layout, fraction, f_lr, connectome, topography, coords, scaling,
    pons_layers=None, pt_velocity=None,
):  # fmt: skip
    areas = layout.areas
    pre_pops = [p for p in pops if _eligible(p)[0]]
    post_pops = [p for p in pops if _eligible(p)[1]]
    if len(areas) < 2 or not pre_pops:
        return pops, [], stimuli
    if connectome is None:
        from zentai.connectome.allen import load_knox2019

        connectome = load_knox2019(atlas=atlas)
    kappa = kappa_for(atlas, connectome, f_lr)
    n_a = len(areas)
    w = np.array([[connectome.weight(s, t) if s != t else 0.0 for t in areas] for s in areas])
    # eligible postsynaptic cells per area at full density
    n_post_full = np.zeros(n_a)
    for p in post_pops:
        n_post_full += np.bincount(layout.area[p.name][layout.area[p.name] >= 0], minlength=n_a)
    n_post_full = n_post_full / fraction
    with np.errstate(divide="ignore", invalid="ignore"):
        p_table = np.where(n_post_full[None, :] > 0, kappa * w / n_post_full[None, :], 0.0)
    if scaling == "mean":
        # in-degree x sqrt(fraction) instead of x fraction, weights / sqrt(fraction): the mean
        # input is kept at any presynaptic rate, and its variance grows only as 1/sqrt(fraction)
        p_table = p_table / math.sqrt(fraction)
    p_table = np.minimum(p_table, 1.0)
    log.info("inter-area: kappa %.4g, p table\n%s", kappa, p_table)
    centroids = {p.name: _centroids(layout, p.name) for p in (*pre_pops, *post_pops)}
    dc: dict[str, float] = {}
    k_lr_full: dict[str, float] = {}
    out = []
    pons_gain = np.ones(n_a)  # per source area: all cortical E cells / the corticopontine ones
    if pons_layers is not None:
        cortical_e = [p for p in pre_pops if p.name.startswith("Isocortex.")]
        n_all, n_pons = np.zeros(n_a), np.zeros(n_a)
        for p in cortical_e:
            g = layout.area[p.name]
            n = np.bincount(g[g >= 0], minlength=n_a)
            n_all += n
            if p.labels.get("layer") in pons_layers:
                n_pons += n
        pons_gain = np.where(n_pons > 0, n_all / np.maximum(n_pons, 1), 0.0)
    for pre in pre_pops:
        gpre = layout.area[pre.name]
        n_pre_area = np.bincount(gpre[gpre >= 0], minlength=n_a)
        cortical_pre = pre.name.startswith("Isocortex.")
        for post in post_pops:
            p_pair = p_table
            if post.name == "P.PG" and cortical_pre and pons_layers is not None:
                if pre.labels.get("layer") not in pons_layers:
                    continue
                p_pair = np.minimum(p_table * pons_gain[:, None], 1.0)
            # same-area pairs are local wiring; only area pairs s != t here (diagonal of w is 0)
            k_per_area = n_pre_area @ p_pair  # in-degree per post area at this fraction
            gpost = layout.area[post.name]
            if not np.any(k_per_area[np.unique(gpost[gpost >= 0])] > 0):
                continue
            per_mv, tau_s = psc_per_mv(post.model, "ex")
            w_full = 0.15 * per_mv
            k_mean = float(np.mean(np.where(gpost >= 0, k_per_area[np.maximum(gpost, 0)], 0.0)))
            k_full = k_mean / (math.sqrt(fraction) if scaling == "mean" else fraction)
            if scaling == "sqrt":
                dc[post.name] = dc.get(post.name, 0.0) + (
                    1e-3 * tau_s * (1 - math.sqrt(fraction)) * k_full * w_full * _rate_of(pre)
                )
            k_lr_full[post.name] = k_lr_full.get(post.name, 0.0) + k_full
            # delay from the centroids of the connected area pairs, weighted by synapses
            velocity = 0.5
            if (
                pt_velocity is not None
                and cortical_pre
                and pre.labels.get("layer") == "L5B"
                and not post.name.startswith("Isocortex.")
            ):
                velocity = pt_velocity
            d = _mean_delay(
                centroids[pre.name], centroids[post.name], gpost, n_pre_area, p_pair, velocity
            )
            w_scaled = w_full / math.sqrt(fraction)
            topo = {}
            if coords is not None:
                topo = {
                    "topo_sigma": float(topography),
                    "pre_coords": coords[pre.name],
                    "post_coords": coords[post.name],
                }
            out.append(
                Projection(
                    pre=pre.name,
                    post=post.name,
                    rule=GroupBernoulli(p=p_pair, pre_groups=gpre, post_groups=gpost, **topo),
                    weight=Normal(w_scaled, 0.1 * w_scaled, low=0.0),
                    delay=Normal(d, 0.1 * d, low=0.1),
                    receptor="ex",
                    name=f"{pre.name}->{post.name}:long_range",
                )
            )
    # DC compensation and the Poisson background reduced by the modelled long-range inputs
    new_pops = []
    for p in pops:
        if p.name in dc and "i_e" in p.model.param_names():
            base = p.params.get("i_e", np.full(p.size, getattr(p.model, "i_e", 0.0)))
            params = dict(p.params)
            params["i_e"] = np.asarray(base, dtype=np.float64) + dc[p.name]
            p = Population(
                name=p.name, size=p.size, model=p.model, params=params, initial=p.initial,
                positions=p.positions, normals=p.normals, labels=p.labels,
            )  # fmt: skip
        new_pops.append(p)
    # only the K_ext source (the first excitatory 8 Hz Poisson input of each cortical target,
    # as cortex_spec emits them) shrinks; the balanced pair and the inputs standing in for absent
    # layers stay
    new_stimuli, reduced = [], set()
    for s in stimuli:
        if (
            isinstance(s, PoissonInput)
            and s.target in k_lr_full
            and s.target not in reduced
            and s.rate == 8.0
            and s.receptor == "ex"
            and s.target.startswith("Isocortex.")
        ):
            reduced.add(s.target)
            n = round(s.n_sources - k_lr_full[s.target])
            if n < 1:
                continue
            s = dataclasses.replace(s, n_sources=n)
        new_stimuli.append(s)
    return new_pops, out, new_stimuli


def _mean_delay(cen_pre, cen_post, gpost, n_pre_area, p_table, velocity=0.5) -> float:
    n_post_area = np.bincount(gpost[gpost >= 0], minlength=len(n_pre_area))
    syn = n_pre_area[:, None] * p_table * n_post_area[None, :]
    tot, acc = 0.0, 0.0
    for s, t in zip(*np.nonzero(syn)):
        if s in cen_pre and t in cen_post:
            acc += syn[s, t] * float(distance_delay(cen_pre[s], cen_post[t], velocity=velocity))
            tot += syn[s, t]
    return acc / tot if tot > 0 else 1.0


def _centroids(layout: BrainLayout, pop: str) -> dict[int, np.ndarray]:
    a = layout.area[pop]
    pos = layout.positions[pop]
    return {int(g): pos[a == g].mean(axis=0) for g in np.unique(a[a >= 0])}


def _map_coords(layout: BrainLayout) -> dict[str, np.ndarray]:
    """(AP, ML) scaled to [0, 1] over each area's extent (2nd-98th percentile of its cells)."""
    all_pos: dict[int, list[np.ndarray]] = {}
    for name, a in layout.area.items():
        for g in np.unique(a[a >= 0]):
            all_pos.setdefault(int(g), []).append(layout.positions[name][a == g][:, [0, 2]])
    ext = {}
    for g, parts in all_pos.items():
        x = np.concatenate(parts)
        lo, hi = np.percentile(x, 2, axis=0), np.percentile(x, 98, axis=0)
        ext[g] = (lo, np.maximum(hi - lo, 1.0))
    out = {}
    for name, a in layout.area.items():
        c = np.zeros((a.size, 2))
        for g, (lo, span) in ext.items():
            sel = a == g
            c[sel] = (layout.positions[name][sel][:, [0, 2]] - lo) / span
        out[name] = c
    return out


def _topographic_mossy(
    projections: list, coords: dict[str, np.ndarray], sigma: float, seed: int
) -> list:
    """Pontine mossy fibres onto granule cells drawn through the homotopic map.

    Each granule cell keeps its ``k`` distinct pontine inputs (FixedIndegree of the cerebellum
    builder), but draws them with weights ``exp(-|c_i - c_j|² / 2 sigma²)`` of the map
    distance (PG and the lobule each scaled to [0, 1]): Gumbel top-k on the log weights, the
    Gumbel noise from the counter RNG keyed by (seed, granule, pontine cell), so the AMPA and
    NMDA projections of one granule cell get the same partners. The pontocerebellar projection
    is topographic (Leergaard et al. 2006, J Neurosci 26:7585 [S]); this homotopic map is our
    proxy [N], as the corticopontine one is.
    """
    pre, post = "P.PG", "CB.GrC"
    if pre not in coords or post not in coords:
        return projections
    cp = torch.as_tensor(coords[pre])
    cg = torch.as_tensor(coords[post])
    key = rng.key(seed, "pontocerebellar map")
    pres_all = torch.arange(cp.shape[0], dtype=torch.int64)
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    out = []
    for pr in projections:
        if not (pr.pre == pre and pr.post == post and isinstance(pr.rule, FixedIndegree)):
            out.append(pr)
            continue
        k = int(pr.rule.k)
        if k > cp.shape[0]:
            raise SpecError(
                f"brain_spec: {k} pontine inputs per granule cell but only {cp.shape[0]} "
                "pontine cells; raise the fraction or lower mossy_share."
            )
        if k not in cache:
            pre_idx, post_idx = [], []
            step = max(1, 2_000_000 // max(cp.shape[0], 1))
            for j0 in range(0, cg.shape[0], step):
                posts = torch.arange(j0, min(j0 + step, cg.shape[0]), dtype=torch.int64)
                d2 = ((cg[posts][:, None, :] - cp[None, :, :]) ** 2).sum(-1)
                u = rng.uniform(key, posts[:, None], pres_all[None, :]).clamp(min=1e-300)
                score = -d2 / (2.0 * sigma**2) - torch.log(-torch.log(u))
                top = torch.topk(score, k, dim=1).indices
                pre_idx.append(top.reshape(-1).numpy())
                post_idx.append(posts.repeat_interleave(k).numpy())
            cache[k] = (np.concatenate(pre_idx), np.concatenate(post_idx))
        pre_idx, post_idx = cache[k]
        out.append(dataclasses.replace(pr, rule=Explicit(pre_idx, post_idx)))
    return out
