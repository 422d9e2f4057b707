"""A layered cortical sheet built from the atlas: placement, tangent-plane Gaussian wiring.

First step of issue 4 (whole-brain builder). Neurons are placed in the isocortex voxels of the
chosen areas by cell-class density (``zentai.atlas.densities``) x voxel volume x ``fraction``,
one population per (layer, class) over all chosen areas, so that local wiring is continuous
across area borders (MODEL_SPEC §1.4). Each neuron keeps its voxel; per-neuron region labels are
recovered from the voxel.

Wiring, per (pre population, post population): ``DistanceGaussian(tangent=True)`` on the
distance projected on the tangent plane at the postsynaptic neuron, with sigma 300 µm for
excitatory and 250 µm for inhibitory presynaptic cells, and p_max calibrated so that the mean
in-degree equals the Potjans & Diesmann (2014) in-degree of the matching layer/class pair (K = p
x N_pre of their Table 5; L5A/L5B -> L5, L6a/L6b -> L6, FS and LTS -> I, split by neuron
numbers) times ``fraction``. Weights: PSP 0.15 mV (L4E -> L2/3E doubled, inhibition g = -4,
Potjans & Diesmann 2014), divided by sqrt(fraction), and a DC current restores the mean
recurrent input of the full-density network (van Albada et al. 2015), assuming the full-scale
rates of the Potjans-Diesmann model. Background: Poisson input of the Potjans-Diesmann K_ext x 8
Hz; inputs from Potjans-Diesmann populations that the chosen areas lack (L4 in agranular MOp /
MOs) arrive as Poisson input with their in-degree and full-scale rate. L1 holds no neurons of
the three classes here (its interneurons are neither PV nor SST).

Why sigma_I = 250 µm and not the 100 µm of MODEL_SPEC §1.4 (the M1 model's length constant):
with mouse densities (Kim 2017 PV ~4,000/mm³, i.e. ~1,300 FS per mm² of L2/3 sheet) a 100 µm
kernel holds K = Σ 2πσ² ≈ 80 expected FS partners at p_max = 1, far below the ~490 FS inputs of
the Potjans-Diesmann in-degree, so p_max saturates and inhibition collapses (measured: every
population at 200-400 Hz). sigma >= sqrt(K / (2π Σ)) ≈ 250 µm makes the in-degree reachable.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from zentai.atlas.atlas import Atlas
from zentai.atlas.densities import CellDensities, load_densities
from zentai.atlas.geometry import LAYERS, cortical_geometry
from zentai.build.microcircuit import (
    CONN_PROBS,
    FULL_MEAN_RATES,
    K_EXT,
    N_FULL,
    psc_over_psp,
)
from zentai.build.network import BYTES_PER_SYNAPSE, PAIRS_PER_SECOND, SpecEstimate
from zentai.build.placement import place_in_voxels
from zentai.build.spec import NetworkSpec, Population, Projection
from zentai.celltypes.models import LIF, Izhikevich2007, NeuronModel
from zentai.connectome.rules import DistanceGaussian, Normal
from zentai.errors import SpecError
from zentai.stim import PoissonInput

__all__ = ["CLASSES", "CortexLayout", "cortex_spec"]

log = logging.getLogger(__name__)

#: cell classes of the sheet and the density class each is placed by
CLASSES = {"E": "excitatory", "FS": "fs", "LTS": "lts"}
_PD_LAYER = {"L2/3": 0, "L4": 1, "L5A": 2, "L5B": 2, "L6a": 3, "L6b": 3}
SIGMA_UM = {"E": 300.0, "FS": 250.0, "LTS": 250.0}


@dataclass
class CortexLayout:
    """Where the neurons of each population sit: voxel indices and positions."""

    resolution_um: float
    voxels: dict[str, np.ndarray] = field(default_factory=dict)  # pop -> (n, 3) voxel index
    positions: dict[str, np.ndarray] = field(default_factory=dict)

    def neurons_in_voxel(self, population: str, voxel: tuple[int, int, int]) -> np.ndarray:
        """Indices (within ``population``) of its neurons in ``voxel``."""
        v = self.voxels[population]
        return np.flatnonzero((v == np.asarray(voxel)[None, :]).all(axis=1))


def psc_per_mv(model: NeuronModel, receptor: str) -> tuple[float, float]:
    """(PSC amplitude in pA per mV of PSP peak at rest, synaptic tau) for a current receptor.

    LIF: exact (:func:`~zentai.build.microcircuit.psc_over_psp`). Izhikevich 2007: the same
    formula with the membrane linearised at v_r, tau_eff = c_m / (k (v_t - v_r)).
    """
    tau_s = model.receptors[model.receptor_index(receptor)].tau
    if isinstance(model, Izhikevich2007):
        tau_m = model.c_m / (model.k * (model.v_t - model.v_r))
        return psc_over_psp(model.c_m, tau_m, tau_s), tau_s
    if isinstance(model, LIF):
        return psc_over_psp(model.c_m, model.tau_m, tau_s), tau_s
    raise SpecError(
        f"cortex_spec has no PSP calibration for {type(model).__name__}; use LIF or "
        f"Izhikevich2007 models."
    )


def _model_table(models: str | dict):
    from zentai.celltypes.catalog import cell_type

    if models == "lif":
        return lambda layer, cls: _LIF
    if models == "izhikevich":
        names = {"E": "IT", "FS": "PV", "LTS": "SST"}

        def pick(layer: str, cls: str) -> NeuronModel:
            lay = "L6" if layer.startswith("L6") else layer
            kind = "PT" if (cls == "E" and lay == "L5B") else names[cls]
            return cell_type(f"Isocortex.{lay}.{kind}").model

        return pick
    if isinstance(models, dict):

        def pick_dict(layer: str, cls: str) -> NeuronModel:
            if (layer, cls) in models:
                return models[(layer, cls)]
            if cls in models:
                return models[cls]
            raise SpecError(f"cortex_spec models has no entry for {cls!r} or {(layer, cls)!r}.")

        return pick_dict
    raise SpecError(
        f"cortex_spec models must be 'lif', 'izhikevich' or a dict of models; got {models!r}."
    )


def _initial(model: NeuronModel) -> dict:
    if isinstance(model, LIF):
        return {"v": Normal(-58.0, 10.0)}  # Potjans & Diesmann 2014
    if isinstance(model, Izhikevich2007):
        return {"v": Normal(model.v_r, 5.0)}
    return {}


_LIF = LIF()


#: extra balanced background of Izhikevich sheets (``background_balance``), tuned. Under the
#: Potjans-Diesmann K_ext alone the Izhikevich (2007) cells are mean-driven: measured on the
#: MOp-left sheet at fraction 0.01, L2/3 E and L6 E fire 0.01 Hz (PD: 0.9, 1.1 Hz) and a 25 %
#: change of K_ext flips a population between ~0 and ~10 Hz, so no per-population gain can be
#: calibrated. 2 x K_ext of extra excitatory sources with the inhibitory ones cancelling their
#: mean makes the input fluctuation-driven, as in vivo (balanced state; van Vreeswijk &
#: Sompolinsky 1996), and the rates graded: L2/3 E 4.0, L5B E 2.6, L6 E 0.8-1.0 Hz (fraction
#: 0.1 with the m1-gamma stimulus). With it m1-gamma at fraction 0.1 meets A1-A3 (seeds 0, 1).
IZHIKEVICH_BALANCE = 2.0


def _estimate(expected: dict[tuple[str, str], np.ndarray], fraction: float) -> SpecEstimate:
    counts = np.zeros(8)  # expected neurons per Potjans-Diesmann population index
    for (lname, cls), per_voxel in expected.items():
        counts[_pd_index(lname, cls)] += per_voxel.sum()
    present = counts > 0
    k_pd = CONN_PROBS * N_FULL[None, :]
    synapses = float((counts[:, None] * k_pd * present[None, :]).sum() * fraction)
    n = float(counts.sum())
    pairs = n * n
    return SpecEstimate(
        label="cortex",
        n_neurons=round(n),
        n_synapses=round(synapses),
        build_bytes=round(synapses * (BYTES_PER_SYNAPSE + 20)),
        pairs=pairs,
        build_s=pairs / PAIRS_PER_SECOND,
    )


def _pd_index(layer: str, cls: str) -> int:
    return 2 * _PD_LAYER[layer] + (0 if cls == "E" else 1)


def cortex_spec(
    atlas: Atlas,
    regions: tuple[str, ...] = ("MOp",),
    *,
    fraction: float = 0.01,
    hemisphere: str | int | None = "left",
    seed: int = 0,
    models: str | dict = "lif",
    densities: CellDensities | None = None,
    background: bool = True,
    psp_mv: float = 0.15,
    g: float = -4.0,
    check_memory: bool = True,
    pathway_gain: dict[tuple[str, str], float] | None = None,
    background_gain: dict[str, float] | None = None,
    background_balance: float | None = None,
) -> tuple[NetworkSpec, CortexLayout]:
    """A layered cortical sheet of ``regions`` at ``fraction`` of the real neuron density.

    Returns the spec and a :class:`CortexLayout` (voxel of every neuron, for stimuli and
    analysis). ``models``: ``"lif"`` (the Potjans-Diesmann LIF for every class, so the wiring
    can be checked against the microcircuit), ``"izhikevich"`` (the catalog's M1 Izhikevich 2007
    types: RS for E, IB for L5B E (PT), FS, LTS; ``zentai.celltypes.catalog``), or a dict
    mapping class ("E", "FS", "LTS") or (layer, class) to a neuron model. Synaptic weights are
    set per target model so that a PSP at rest has the Potjans-Diesmann amplitude
    (:func:`psc_per_mv`). ``pathway_gain`` multiplies the recurrent weights of chosen
    pathways, keyed by ("<layer>.<class>", "<layer>.<class>") of (pre, post), e.g.
    ``{("L2/3.E", "L5A.E"): 2.0}`` (the mean-input compensation uses the unscaled weights).
    ``background_gain`` multiplies the number of Poisson background sources (K_ext) of chosen
    populations, keyed ``"<layer>.<class>"``, e.g. ``{"L6a.E": 1.1}``. ``background_balance``
    adds ``background_balance x K_ext`` excitatory Poisson sources and the inhibitory ones
    (8 Hz, g x the PSP) that cancel their mean: more input variance at the same mean. Default
    (None): :data:`IZHIKEVICH_BALANCE` for ``models="izhikevich"``, 0 otherwise.
    """
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise SpecError(f"cortex_spec fraction must be in (0, 1]; got {fraction!r}.")
    regions = (regions,) if isinstance(regions, str) else tuple(regions)
    model_for = _model_table(models)
    pathway_gain = dict(pathway_gain or {})
    background_gain = dict(background_gain or {})
    if background_balance is None:
        background_balance = IZHIKEVICH_BALANCE if models == "izhikevich" else 0.0
    if not (isinstance(background_balance, (int, float)) and background_balance >= 0):
        raise SpecError(
            f"cortex_spec background_balance must be a number >= 0; got {background_balance!r}."
        )
    geo = cortical_geometry(atlas, regions)
    keep = geo.layer >= 0
    if hemisphere is not None:
        keep &= atlas.mask("root", hemisphere)[tuple(geo.index.T)]
    index, layer, normal = geo.index[keep], geo.layer[keep], geo.normal[keep]
    if densities is None:
        densities = load_densities(atlas.ontology)
    labels = atlas.annotation[tuple(index.T)]
    vox_mm3 = atlas.voxel_volume_mm3
    dens_by_label = {int(s): densities.class_densities(int(s))[0] for s in np.unique(labels)}
    # expected neurons per voxel of each (layer, class): density x voxel volume x fraction
    layer_sel = {lname: layer == li for li, lname in enumerate(LAYERS) if lname != "L1"}
    expected = {
        (lname, cls): np.array([dens_by_label[int(s)][dclass] for s in labels[sel]])
        * vox_mm3
        * fraction
        for lname, sel in layer_sel.items()
        if sel.any()
        for cls, dclass in CLASSES.items()
    }
    est = _estimate(expected, fraction)
    log.info("%s", est)
    if check_memory:
        est.check(fraction)

    pops: list[Population] = []
    layout = CortexLayout(resolution_um=atlas.resolution_um)
    sizes: dict[str, int] = {}
    for (lname, cls), per_voxel in expected.items():
        sel = layer_sel[lname]
        placed = place_in_voxels(index[sel], per_voxel, atlas.resolution_um, seed, f"{lname}.{cls}")
        if placed.size == 0:
            continue
        name = f"Isocortex.{lname}.{cls}"
        pops.append(
            Population(
                name=name,
                size=placed.size,
                model=model_for(lname, cls),
                positions=placed.positions_um,
                normals=normal[sel][placed.voxel],
                initial=_initial(model_for(lname, cls)),
                labels={"region": "+".join(regions), "layer": lname, "cell_class": cls},
            )
        )
        layout.voxels[name] = index[sel][placed.voxel]
        layout.positions[name] = placed.positions_um
        sizes[name] = placed.size

    # in-degrees (Potjans & Diesmann 2014, K = p N_pre of the 1 mm² model), split over the
    # populations that map to the same PD population by their sizes
    k_pd = CONN_PROBS * N_FULL[None, :]
    pd_of = {p.name: _pd_index(p.labels["layer"], p.labels["cell_class"]) for p in pops}
    share: dict[int, int] = {}
    for name, idx in pd_of.items():
        share[idx] = share.get(idx, 0) + sizes[name]
    projections = []
    dc = dict.fromkeys(sizes, 0.0)
    for post in pops:
        q = pd_of[post.name]
        for pre in pops:
            p = pd_of[pre.name]
            k_full = k_pd[q, p] * sizes[pre.name] / share[p]
            if k_full <= 0:
                continue
            cls = pre.labels["cell_class"]
            rec = "ex" if cls == "E" else "in"
            per_mv, tau_s = psc_per_mv(post.model, rec)
            w = psp_mv * per_mv * (2.0 if (p == 2 and q == 0) else 1.0) * (1.0 if cls == "E" else g)
            # van Albada et al. 2015: weights / sqrt(f), DC restores the full-density mean
            dc[post.name] += (
                1e-3 * tau_s * (1 - math.sqrt(fraction)) * k_full * w * (FULL_MEAN_RATES[p])
            )
            w_scaled = w / math.sqrt(fraction)
            gain = pathway_gain.get(
                (
                    f"{pre.labels['layer']}.{pre.labels['cell_class']}",
                    f"{post.labels['layer']}.{post.labels['cell_class']}",
                ),
                1.0,
            )
            w_scaled *= gain
            projections.append(
                Projection(
                    pre=pre.name,
                    post=post.name,
                    rule=DistanceGaussian(
                        mean_indegree=k_full * fraction,
                        sigma=SIGMA_UM[cls],
                        tangent=True,
                        allow_autapses=False,
                    ),
                    weight=Normal(
                        w_scaled,
                        abs(w_scaled) * 0.1,
                        low=0.0 if w > 0 else None,
                        high=None if w > 0 else 0.0,
                    ),
                    delay=Normal(
                        1.5 if cls == "E" else 0.75, 0.5 * (1.5 if cls == "E" else 0.75), low=0.05
                    ),
                    receptor=rec,
                )
            )
    pops = [
        Population(
            name=p.name,
            size=p.size,
            model=p.model,
            positions=p.positions,
            normals=p.normals,
            initial=p.initial,
            labels=p.labels,
            params={"i_e": np.full(p.size, dc[p.name] + getattr(p.model, "i_e", 0.0))},
        )
        if "i_e" in p.model.param_names()
        else p
        for p in pops
    ]
    stimuli = []
    if background:
        for p in pops:
            q = pd_of[p.name]
            w_e = psp_mv * psc_per_mv(p.model, "ex")[0]
            w_i = psp_mv * psc_per_mv(p.model, "in")[0]
            gain = background_gain.get(f"{p.labels['layer']}.{p.labels['cell_class']}", 1.0)
            stimuli.append(
                PoissonInput(
                    target=p.name,
                    rate=8.0,
                    weight=w_e,
                    n_sources=max(1, round(K_EXT[q] * gain)),
                    receptor="ex",
                )
            )
            if background_balance > 0:
                # extra balanced input: balance x K_ext more excitatory sources and as many
                # inhibitory ones (g = -4 PSPs) as cancel their mean charge: same mean, more
                # variance (a fluctuation-driven rather than mean-driven regime)
                tau_e = p.model.receptors[p.model.receptor_index("ex")].tau
                tau_i = p.model.receptors[p.model.receptor_index("in")].tau
                n_x = round(background_balance * K_EXT[q] * gain)
                n_i = round(n_x * w_e * tau_e / (-g * w_i * tau_i))
                stimuli.append(
                    PoissonInput(target=p.name, rate=8.0, weight=w_e, n_sources=n_x, receptor="ex")
                )
                stimuli.append(
                    PoissonInput(
                        target=p.name, rate=8.0, weight=g * w_i, n_sources=n_i, receptor="in"
                    )
                )
            # inputs from Potjans-Diesmann populations absent here (L4 of agranular areas such
            # as MOp) arrive as Poisson input with their in-degree and full-scale rate
            for missing in sorted(set(range(8)) - set(share)):
                k_full = round(float(k_pd[q, missing]))
                if k_full == 0:
                    continue
                exc = missing % 2 == 0
                w = (w_e if exc else w_i * g) * (2.0 if (missing == 2 and q == 0) else 1.0)
                stimuli.append(
                    PoissonInput(
                        target=p.name,
                        rate=float(FULL_MEAN_RATES[missing]),
                        weight=w,
                        n_sources=k_full,
                        receptor="ex" if exc else "in",
                    )
                )
    spec = NetworkSpec(
        populations=tuple(pops),
        projections=tuple(projections),
        stimuli=tuple(stimuli),
        name=f"cortex({'+'.join(regions)}, fraction={fraction:g})",
        meta={"model": "cortex", "regions": list(regions), "fraction": fraction, "seed": seed},
    )
    return spec, layout
