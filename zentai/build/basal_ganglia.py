"""The basal ganglia of Lindahl & Hellgren Kotaleski (2016, eNeuro 3:e0156) as a NetworkSpec.

Populations (cell types of :func:`zentai.celltypes.catalog.lindahl_2016`): striatal D1 and D2
MSNs and FSIs, GPe prototypic (TI; bgmodel's TF cells folded in) and arkypallidal (TA) cells,
STN and SNr. Sizes are the rat counts of bgmodel (MODEL_SPEC §3.4) times ``scale``; every
fan-in is bgmodel's (§3.4: the number of inputs per target neuron does not shrink with the
network, as in bgmodel's own downscaled runs), weights and delays §3.3, background Poisson
generators §3.4 (one generator per neuron, cortical/external rates).

Approximations [N]:

* Tsodyks–Markram synapses (FSN->MSN, FSN->FSN, GPe TA->FSN, D2->GPe, D1->SNr, STN->SNr,
  GPe TI->SNr) become, by default, static synapses whose weight is the TM efficacy in steady
  state at the presynaptic population's in-vivo rate (:func:`tm_efficacy`; Tsodyks, Pawelzik
  & Markram 1998): transient facilitation / depression after a pulse is then missing.
  ``tm="dynamic"`` keeps them as :class:`~zentai.build.TsodyksMarkram` synapses instead.
* NMDA Mg block after Jahr & Stevens 1990 instead of bgmodel's sigmoid.
* Dopamine is held at bgmodel's baseline (DA = 0.8, ``tata_dop``) as fixed factors
  (:data:`DOPAMINE`, MODEL_SPEC §3.2): D1 E_L / V_b x (1 + 0.0282 DA), d x (1 - 0.45 DA),
  NMDA x (1 + 1.04 DA); D2 AMPA x (1 - 0.26 DA); FSI E_L x (1 - 0.078 DA), FSI->FSI GABA x
  (1 - 0.83 DA). (The catalog's cell types have DA = 0.)
* Each background generator drives AMPA and NMDA of a cell as two independent streams of the
  same rate.

Published spontaneous rates the model is compared with (MODEL_SPEC §3.4 and the issue): MSN <
2 Hz (bgmodel target 0.1), FSI 10-25 (15), GPe 20-60 (30; TA 5), STN 5-20 (10), SNr 20-60 (30).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from zentai.build.spec import NetworkSpec, Population, Projection, TsodyksMarkram
from zentai.celltypes.catalog import lindahl_2016
from zentai.connectome import FixedIndegree, Normal
from zentai.errors import SpecError
from zentai.stim import PoissonInput

__all__ = [
    "BACKGROUND_GAIN",
    "BG_COUNTS",
    "PATHWAYS",
    "SPONTANEOUS_HZ",
    "basal_ganglia_spec",
    "tm_efficacy",
]

#: rat counts of bgmodel (MODEL_SPEC §3.4); GPe TF folded into TI
BG_COUNTS = {
    "STR.D1": 2_791_000 * 0.475,
    "STR.D2": 2_791_000 * 0.475,
    "STR.FSI": 2_791_000 * 0.02,
    "GPe.TI": 45_960 * 0.80,
    "GPe.TA": 45_960 * 0.20,
    "STN": 13_560,
    "SNr": 26_320,
}
_CELL = {"STR.D1": "D1", "STR.D2": "D2", "STR.FSI": "FSI", "GPe.TI": "GPe.TI",
         "GPe.TA": "GPe.TA", "STN": "STN", "SNr": "SNr"}  # fmt: skip
#: in-vivo rates (Hz) of bgmodel's targets, used for the TM steady state (MODEL_SPEC §3.4)
SPONTANEOUS_HZ = {"STR.D1": 0.1, "STR.D2": 0.1, "STR.FSI": 15.0, "GPe.TI": 30.0,
                  "GPe.TA": 5.0, "STN": 10.0, "SNr": 30.0}  # fmt: skip


@dataclass(frozen=True)
class Pathway:
    """One BG connection: fan-in, weight (nS; for TM synapses the bgmodel numerator, i.e. the
    first-spike efficacy), delay (ms), receptor, and TM parameters (U, tau_fac, tau_rec)."""

    pre: str
    post: str
    indegree: int
    weight: float
    delay: float
    receptor: str
    tm: tuple[float, float, float] | None = None


#: MODEL_SPEC §3.3 (weights, delays, TM) and §3.4 (fan-ins)
PATHWAYS = (
    Pathway("STR.D1", "STR.D1", 364, 0.6, 1.7, "gaba_msn"),
    Pathway("STR.D1", "STR.D2", 84, 1.5, 1.7, "gaba_msn"),
    Pathway("STR.D2", "STR.D1", 392, 1.8, 1.7, "gaba_msn"),
    Pathway("STR.D2", "STR.D2", 504, 1.4, 1.7, "gaba_msn"),
    Pathway("STR.FSI", "STR.D1", 16, 6.0, 1.7, "gaba_fsn", (0.29, 53.0, 902.0)),
    Pathway("STR.FSI", "STR.D2", 11, 6.0, 1.7, "gaba_fsn", (0.29, 53.0, 902.0)),
    Pathway("STR.FSI", "STR.FSI", 9, 1.0, 1.7, "gaba_fsn", (0.29, 53.0, 902.0)),
    Pathway("GPe.TA", "STR.D1", 10, 0.2, 1.7, "gaba_gpe"),
    Pathway("GPe.TA", "STR.D2", 10, 0.4, 1.7, "gaba_gpe"),
    Pathway("GPe.TA", "STR.FSI", 10, 2.0 * 17.0 / 66.0, 7.0, "gaba_ta", (0.29, 53.0, 902.0)),
    Pathway("STR.D2", "GPe.TI", 500, 2.0, 7.0, "gaba_d2", (0.24, 13.0, 77.0)),
    Pathway("STR.D2", "GPe.TA", 500, 2.0, 7.0, "gaba_d2", (0.24, 13.0, 77.0)),
    Pathway("STN", "GPe.TI", 30, 0.35, 5.0, "ampa"),
    Pathway("STN", "GPe.TA", 30, 0.35, 5.0, "ampa"),
    Pathway("GPe.TI", "GPe.TI", 25, 1.3, 1.0, "gaba_gpe"),
    Pathway("GPe.TI", "GPe.TA", 25, 1.3, 1.0, "gaba_gpe"),
    Pathway("GPe.TA", "GPe.TI", 5, 1.3, 1.0, "gaba_gpe"),
    Pathway("GPe.TA", "GPe.TA", 5, 1.3, 1.0, "gaba_gpe"),
    Pathway("GPe.TI", "STN", 30, 0.08, 5.0, "gaba_a"),
    Pathway("STR.D1", "SNr", 500, 2.0, 7.3, "gaba_d1", (0.0192, 623.0, 559.0)),
    Pathway("STN", "SNr", 30, 0.91 * 3.8, 4.6, "ampa", (0.35, 0.0, 800.0)),
    Pathway("GPe.TI", "SNr", 32, 76.0, 3.0, "gaba_gpe", (0.196, 0.0, 969.0)),
)

#: background generators, one per neuron: (population, rate Hz, ((receptor, weight nS), ...))
BACKGROUND = (
    ("STR.D1", 560.0, (("ampa", 0.5), ("nmda", 0.11))),
    ("STR.D2", 740.0, (("ampa", 0.41), ("nmda", 0.019))),
    ("STR.FSI", 950.0, (("ampa", 0.25),)),
    ("STN", 200.0, (("ampa", 0.25), ("nmda", 0.00625))),
    ("GPe.TA", 200.0, (("ampa_ext", 0.167),)),
    ("GPe.TI", 1100.0, (("ampa_ext", 0.167),)),
    ("SNr", 1800.0, (("ampa_ext", 0.5),)),
)


#: bgmodel's baseline dopamine level (``tata_dop``)
DOPAMINE = 0.8


#: background rate factors [N]: with bgmodel's rates and static synapses the MSNs were silent
#: (scale 0.002, 1 s: D1 and D2 0 Hz; D2 needs ~1.7x before it fires), so the cortical drive
#: of D1 / D2 is raised until they fire at a few tenths of a Hz (bgmodel's target: 0.1 Hz)
BACKGROUND_GAIN = {"STR.D1": 1.2, "STR.D2": 1.8}


def _with_dopamine(name: str, model):
    """The cell's parameters at baseline dopamine (module docstring)."""
    import dataclasses

    da = DOPAMINE
    if name == "STR.D1":
        e_l = model.v_r * (1 + 0.0282 * da)
        return dataclasses.replace(model, v_r=e_l, v_b=e_l, d=model.d * (1 - 0.45 * da))
    if name == "STR.FSI":
        return dataclasses.replace(model, v_r=model.v_r * (1 - 0.078 * da))
    return model


def _dopamine_weight(pre: str, post: str, receptor: str) -> float:
    if post == "STR.D1" and receptor == "nmda":
        return 1 + 1.04 * DOPAMINE
    if post == "STR.D2" and receptor == "ampa":
        return 1 - 0.26 * DOPAMINE
    if pre == "STR.FSI" and post == "STR.FSI":
        return 1 - 0.83 * DOPAMINE
    return 1.0


def tm_efficacy(U: float, tau_fac: float, tau_rec: float, rate_hz: float) -> float:
    """Steady-state release u x of a Tsodyks–Markram synapse driven at ``rate_hz`` (regular
    spikes), relative to the first spike's U: the factor that turns bgmodel's first-spike
    efficacy into the static weight.

    The fixed point of the map from one spike to the next (period T; NEST ``tsodyks2``
    order: x recovers using the previous u, then u facilitates):
    ``u <- u e^{-T/tau_fac} (1 - U) + U``, ``x <- 1 - (1 - x (1 - u)) e^{-T/tau_rec}``.
    """
    if not (0 < U <= 1 and tau_rec > 0 and tau_fac >= 0 and rate_hz >= 0):
        raise SpecError(f"tm_efficacy: bad parameters U={U}, tau_fac={tau_fac}, tau_rec={tau_rec}.")
    if rate_hz == 0:
        return 1.0
    T = 1000.0 / rate_hz
    ef = math.exp(-T / tau_fac) if tau_fac > 0 else 0.0
    er = math.exp(-T / tau_rec)
    u = U / (1.0 - (1.0 - U) * ef)  # fixed point of u -> u e^{-T/tf} (1 - U) + U
    x = (1.0 - er) / (1.0 - (1.0 - u) * er)  # fixed point of x -> 1 - (1 - x(1-u)) e^{-T/tr}
    return u * x / U


def basal_ganglia_spec(
    scale: float = 0.002,
    *,
    tm: str = "steady",
    weight_gain: dict | None = None,
    background_gain: dict | None = None,
) -> NetworkSpec:
    """The BG network (module docstring) with population sizes ``scale`` x the rat counts.

    ``tm``: how the Tsodyks–Markram pathways are modelled: ``"steady"`` (default; static
    synapses at the steady-state efficacy of the presynaptic in-vivo rate, :func:`tm_efficacy`),
    ``"dynamic"`` (:class:`~zentai.build.TsodyksMarkram` synapses, weight = first-spike
    efficacy; runs on the torch path only) or ``"first-spike"`` (static, first-spike efficacy).
    ``weight_gain``: optional factor per ``"pre->post"``; ``background_gain``: optional factor
    per population on its background rate (for experiments).
    """
    if tm not in ("steady", "dynamic", "first-spike"):
        raise SpecError(
            f"basal_ganglia_spec tm must be 'steady', 'dynamic' or 'first-spike'; got {tm!r}."
        )
    if not (isinstance(scale, (int, float)) and 0 < scale <= 1):
        raise SpecError(f"basal_ganglia_spec scale must be in (0, 1]; got {scale!r}.")
    pops = []
    sizes = {}
    for name, count in BG_COUNTS.items():
        n = max(1, round(count * scale))
        sizes[name] = n
        model = _with_dopamine(name, lindahl_2016(_CELL[name]).model)
        v0 = getattr(model, "v_r", getattr(model, "e_l", -65.0))
        pops.append(
            Population(
                name=name,
                size=n,
                model=model,
                initial={"v": Normal(v0, 3.0)},
                labels={"region": name.split(".")[0], "cell_type": _CELL[name]},
            )
        )
    projections = []
    for p in PATHWAYS:
        w = p.weight
        stp = None
        if p.tm is not None and tm == "steady":
            w *= tm_efficacy(*p.tm, SPONTANEOUS_HZ[p.pre])
        elif p.tm is not None and tm == "dynamic":
            U, tau_fac, tau_rec = p.tm
            stp = TsodyksMarkram(U=U, tau_rec=tau_rec, tau_fac=tau_fac)
        w *= _dopamine_weight(p.pre, p.post, p.receptor)
        w *= (weight_gain or {}).get(f"{p.pre}->{p.post}", 1.0)
        k = min(p.indegree, sizes[p.pre])
        projections.append(
            Projection(
                pre=p.pre,
                post=p.post,
                rule=FixedIndegree(k, allow_multapses=False, allow_autapses=p.pre != p.post),
                weight=w,
                delay=p.delay,
                receptor=p.receptor,
                stp=stp,
            )
        )
    stimuli = [
        PoissonInput(
            target=pop,
            n_sources=1,
            rate=rate * {**BACKGROUND_GAIN, **(background_gain or {})}.get(pop, 1.0),
            weight=w * _dopamine_weight("CTX", pop, rec),
            receptor=rec,
        )
        for pop, rate, recs in BACKGROUND
        for rec, w in recs
    ]
    return NetworkSpec(
        populations=tuple(pops),
        projections=tuple(projections),
        stimuli=tuple(stimuli),
        name=f"basal_ganglia(scale={scale:g})",
        meta={"model": "basal_ganglia", "scale": scale},
    )
