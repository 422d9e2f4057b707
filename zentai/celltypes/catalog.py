"""Catalog of published cell types: a neuron model, its class, region, layer and citation.

Each entry is a :class:`CellType`. A named constructor per published source builds the entries,
and the citation is in its docstring and in ``CellType.source``. :func:`catalog` returns every
entry by name and :func:`cell_type` looks one up. Names follow the population convention
``region.layer.class`` (``"Isocortex.L5B.PT"``) or ``region.class`` (``"CB.PC"``); regions are
Allen CCF acronyms (``Isocortex``, ``TH``, ``P``, ``CB``, ``CBN``, ``STR``, ``GPe``, ``STN``,
``SNr``). Section numbers (§) refer to ``MODEL_SPEC.md``, which says where each number was read.

Where the engine lacks the published model, the entry says so in ``note`` (prefixed
``[approximation: ...]``). The main cases:

* E-GLIF cells (Geminiani et al. 2018, 2019: basket, stellate, CN) run as :class:`AdEx`. The
  adaptation current maps exactly; the spike-triggered depolarising current and the
  stochastic threshold are dropped.
* The basal-ganglia AdEx cells (Lindahl & Hellgren Kotaleski 2016) lose the piecewise ``a``
  and the STN reset slope (:func:`lindahl_2016`).
* No dopamine modulation (DA = 0).

Examples
--------
>>> from zentai.celltypes.catalog import cell_type
>>> ct = cell_type("CB.PC")
>>> type(ct.model).__name__, ct.cell_class, ct.region
('LIFAHP', 'I', 'CB')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

from zentai.celltypes.models import LIFAHP, AdEx, Izhikevich2007, NeuronModel, Receptor
from zentai.errors import SpecError, closest

__all__ = [
    "CellType",
    "catalog",
    "cell_type",
    "geminiani_2019",
    "izhikevich_2007_m1",
    "izhikevich_2007_pons",
    "izhikevich_2007_thalamus",
    "lindahl_2016",
    "yamazaki_nagao_2012",
]

#: layer labels of the cortical entries (the fixed layer label set of zentai)
CORTEX_LAYERS = ("L2/3", "L4", "L5A", "L5B", "L6")


@dataclass(frozen=True, kw_only=True)
class CellType:
    """A published cell type: neuron model plus where it lives and where it comes from.

    Parameters
    ----------
    name : str
        Catalog key, ``region.layer.class`` or ``region.class`` (e.g. ``"Isocortex.L2/3.IT"``).
    model : NeuronModel
        The neuron description with the published parameters.
    cell_class : str
        Electrophysiological/transmitter class: ``"E"``, ``"FS"``, ``"LTS"``, ``"I"``, ...
    region : str
        Allen CCF acronym of the region family (``"Isocortex"``, ``"TH"``, ``"CB"``, ...).
    layer : str or None
        Cortical layer label, or ``None`` outside the isocortex.
    source : str
        Citation: author, year, table/figure or file.
    note : str
        Deviations from the source (``[approximation: ...]``) and proposals (``[N]``).
    """

    name: str
    model: NeuronModel
    cell_class: str
    region: str
    layer: str | None = None
    source: str
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"CellType.name must be a non-empty string; got {self.name!r}.")
        if not isinstance(self.model, NeuronModel):
            raise SpecError(
                f"CellType.model must be a neuron description (e.g. LIFAHP(...)); "
                f"got {self.model!r}."
            )
        if not self.source or not re.search(r"(19|20)\d\d", self.source):
            raise SpecError(
                f"CellType.source must cite author and year; got {self.source!r} for {self.name!r}."
            )


# --------------------------------------------------------------------------- cortex
# Synapses of the Izhikevich entries: current-based exponentials with the decay times of the
# M1 model's double-exponential synapses (OSB M1NetworkModel, sim/params/M1_yfrac_izhi.py;
# MODEL_SPEC §1.3): AMPA 5.3 ms (rise 0.05 ms), GABA_A (from PV) 9.1 ms (rise 0.07 ms),
# GABA_B (from SOM) 20 ms (rise 0.2 ms). The rise times are far below the decay times, so one
# exponential with the decay time keeps the time course; weights are currents (pA).
_M1_RECEPTORS = (
    Receptor(name="ex", tau=5.3),
    Receptor(name="in", tau=9.1),
    Receptor(name="in_slow", tau=20.0),
)
_M1_SOURCE = (
    "Izhikevich 2007, Dynamical Systems in Neuroscience, ch. 8 (ModelDB 39948 "
    "izhi2007Wrapper.py; MODEL_SPEC §4.2); type-to-class mapping and synaptic decay times of "
    "the mouse M1 model of Chadderdon, Neymotin, Dura-Bernal et al. (OSB M1NetworkModel, "
    "sim/params/M1_yfrac_izhi.py; MODEL_SPEC §1.3)"
)
_M1_NOTE = (
    "[approximation: the M1 model's double-exponential conductance synapses are "
    "current-based single exponentials here]"
)

#: LTS recovery cap (pA) of the cortical SST cells, tuned from the book's 670 pA: at 670 the
#: reset (c + 0.04 u = -26.2 mV) lies above the peak (40 - 0.1 u = -27 mV) and a cell driven
#: with more than ~900 pA fires on every step (motor-loop seeds 1 and 2: one L2/3 SST cell next
#: to the stimulated group at 10 kHz silenced the column and its gamma). 500 pA leaves the
#: f-I curve of the book's cell unchanged up to 600 pA (200 Hz) and bounded and dt-independent
#: above it (435 Hz at 1 nA, 835 Hz at 2 nA)
LTS_U_MAX_PA = 500.0

# (layer, type, Izhikevich 2007 class, cell class); MODEL_SPEC §1.3 table
_M1_TYPES = (
    *(("L2/3", "IT", "RS", "E"), ("L4", "IT", "RS", "E"), ("L5A", "IT", "RS", "E")),
    *(("L5B", "IT", "RS", "E"), ("L5B", "PT", "IB", "E")),
    *(("L6", "IT", "RS", "E"), ("L6", "CT", "RS", "E")),
    *((layer, "PV", "FS", "FS") for layer in CORTEX_LAYERS),
    *((layer, "SST", "LTS", "LTS") for layer in CORTEX_LAYERS),
)


def izhikevich_2007_m1(layer: str, kind: str) -> CellType:
    """Mouse M1 cell type as an Izhikevich (2007) neuron.

    Mouse M1 model of Chadderdon, Neymotin, Dura-Bernal et al. (OSB M1NetworkModel,
    ``M1_yfrac_izhi.py``): IT and CT pyramidal cells are regular spiking (RS), L5B PT cells
    intrinsically bursting (IB), PV interneurons fast spiking (FS), SOM/SST interneurons
    low-threshold spiking (LTS).
    Parameters: Izhikevich (2007), ch. 8, figs. 8.12-8.27 (ModelDB 39948). The M1 file pools
    interneurons over L2/3, L5 (L4-L5B) and L6; every layer gets the same parameters here.

    Parameters
    ----------
    layer : str
        One of ``"L2/3"``, ``"L4"``, ``"L5A"``, ``"L5B"``, ``"L6"``.
    kind : str
        ``"IT"``, ``"PT"`` (L5B only), ``"CT"`` (L6 only), ``"PV"`` or ``"SST"``.
    """
    for lay, typ, izh, cls in _M1_TYPES:
        if (lay, typ) == (layer, kind):
            extra = {"u_max": LTS_U_MAX_PA} if izh == "LTS" else {}
            return CellType(
                name=f"Isocortex.{layer}.{kind}",
                model=Izhikevich2007.preset(izh, receptors=_M1_RECEPTORS, **extra),
                cell_class=cls,
                region="Isocortex",
                layer=layer,
                source=f"{_M1_SOURCE}; {kind} -> Izhikevich {izh}",
                note=_M1_NOTE,
            )
    known = [f"{lay} {typ}" for lay, typ, _, _ in _M1_TYPES]
    raise SpecError(
        f"izhikevich_2007_m1 has no type {kind!r} in layer {layer!r}; "
        f"{closest(f'{layer} {kind}', known)}."
    )


# --------------------------------------------------------------------------- thalamus, pons
def izhikevich_2007_thalamus(kind: str) -> CellType:
    """Thalamic relay (``"TC"``) or reticular (``"RTN"``) cell, Izhikevich (2007).

    Izhikevich (2007), ch. 8: TC, cat dLGN relay cell (fig. 8.31), with the burst-mode switch of
    ``b`` below -65 mV; RTN, rat reticular thalamic cell (fig. 8.32). ModelDB 39948
    ``izhi2007b.mod``; MODEL_SPEC §4.2, §5. Synapses as the cortical entries.
    """
    if kind not in ("TC", "RTN"):
        raise SpecError(
            f"izhikevich_2007_thalamus kind must be 'TC' or 'RTN'; got {kind!r}. "
            f"{closest(kind, ['TC', 'RTN'])}."
        )
    return CellType(
        name=f"TH.{kind}",
        model=Izhikevich2007.preset(kind, receptors=_M1_RECEPTORS),
        cell_class="E" if kind == "TC" else "I",
        region="TH",
        source=(
            f"Izhikevich 2007, Dynamical Systems in Neuroscience, ch. 8, fig. "
            f"{'8.31' if kind == 'TC' else '8.32'} (ModelDB 39948; MODEL_SPEC §4.2, §5)"
        ),
        note=_M1_NOTE,
    )


def izhikevich_2007_pons() -> CellType:
    """Pontine grey relay cell: a regular-spiking Izhikevich (2007) neuron (proposal).

    No published spiking model of the pontine nuclei was found (MODEL_SPEC §5, [N]). This entry
    is the proposed substitute: an excitatory relay with Izhikevich (2007) RS parameters
    (fig. 8.12), driven by L5B PT cells and sending mossy fibres to granule and CN cells.
    """
    return CellType(
        name="P.PG",
        model=Izhikevich2007.preset("RS", receptors=_M1_RECEPTORS),
        cell_class="E",
        region="P",
        source="Izhikevich 2007, ch. 8, fig. 8.12 (RS); pons substitute of MODEL_SPEC §5",
        note="[N] proposal: no published spiking pontine model; RS relay substitute",
    )


# --------------------------------------------------------------------------- cerebellum
_SNSBOOK = (
    "Yamazaki & Tanaka 2007, Eur J Neurosci 26:2279; Yamazaki & Nagao 2012, PLoS ONE "
    "7:e33319; numbers from numericalbrainorg/snsbook code/part2/ec/{file} (MODEL_SPEC §2.2)"
)


def yamazaki_nagao_2012(kind: str) -> CellType:
    """Granule (``"GrC"``), Golgi (``"GoC"``) or Purkinje (``"PC"``) cell as :class:`LIFAHP`.

    Yamazaki & Tanaka (2007), Eur J Neurosci 26:2279; Yamazaki & Nagao (2012), PLoS ONE
    7:e33319, as refactored in numericalbrainorg/snsbook ``code/part2/ec`` (``gr.h``, ``go.h``,
    ``pc.h``; MODEL_SPEC §2.2). The excitatory gain ``ḡ_exc`` and the split ``r`` of each
    channel (e.g. GrC AMPA 0.88, NMDA 0.12 of 0.18 nS) are not part of the receptors: a
    projection's weight (nS) is the conductance jump, so snsbook's weight ``w`` becomes
    ``ḡ_exc r w`` on each receptor. snsbook's NMDA has no Mg²⁺ block; none is applied.
    The PC has no inhibitory input in snsbook; its ``gaba`` receptor takes the E-GLIF
    Purkinje GABA synapse (tau 2.8 ms, -80 mV; Geminiani et al. 2019, dbbs-lab
    cerebellar-models, MODEL_SPEC §2.3) for basket/stellate input.
    """
    if kind == "GrC":
        model = LIFAHP(
            c_m=3.1, g_l=0.43, e_l=-58.0, v_th=-35.0, g_ahp=1.0, e_ahp=-82.0, tau_ahp=5.0
        )  # receptors: LIFAHP defaults (AMPA 1.2, NMDA 52, GABA 7 / 59 ms; gr.h)
        cls, note = "E", "ḡ_exc 0.18 nS (AMPA 0.88, NMDA 0.12); ḡ_inh 0.028 nS (0.43 / 0.57)"
    elif kind == "GoC":
        model = LIFAHP(
            c_m=28.0,
            g_l=1.0 / 0.428,
            e_l=-55.0,
            v_th=-52.0,
            g_ahp=20.0,
            e_ahp=-72.7,
            tau_ahp=5.0,
            receptors=(
                Receptor(name="ampa", tau=1.5, e_rev=0.0),
                Receptor(name="nmda_fast", tau=31.0, e_rev=0.0),
                Receptor(name="nmda_slow", tau=170.0, e_rev=0.0),
            ),
        )
        cls, note = "I", "ḡ_exc 45.5 nS (AMPA 0.8, NMDA 0.2 x 0.33 / 0.2 x 0.67)"
    elif kind == "PC":
        model = LIFAHP(
            c_m=106.0,
            g_l=1.0 / 0.431,
            e_l=-68.0,
            v_th=-55.0,
            g_ahp=100.0,
            e_ahp=-70.0,
            tau_ahp=2.5,
            receptors=(
                Receptor(name="ampa", tau=8.3, e_rev=0.0),
                Receptor(name="gaba", tau=2.8, e_rev=-80.0),
            ),
        )
        cls, note = "I", "ḡ_exc 0.7 nS (AMPA 1.0); gaba receptor from E-GLIF PC (2019)"
    else:
        raise SpecError(
            f"yamazaki_nagao_2012 kind must be one of ['GrC', 'GoC', 'PC']; got {kind!r}. "
            f"{closest(kind, ['GrC', 'GoC', 'PC'])}."
        )
    file = {"GrC": "gr.h", "GoC": "go.h", "PC": "pc.h"}[kind]
    return CellType(
        name=f"CB.{kind}",
        model=model,
        cell_class=cls,
        region="CB",
        source=_SNSBOOK.format(file=file),
        note=note,
    )


# E-GLIF parameters (Geminiani et al. 2019; dbbs-lab/cerebellar-models, configurations/mouse/
# in-vitro/nest/cell_models/eglif_cond_alpha_multisyn.yaml; MODEL_SPEC §2.3):
# (C_m pF, tau_m ms, E_L, V_th, V_reset mV, t_ref ms, I_e pA, k_adap nS/ms, k_2 1/ms, A2 pA,
#  synapse (tau ms, E_rev mV) per receptor)
_EGLIF = {
    "BC": (14.6, 9.125, -68.0, -53.0, -78.0, 1.59, 3.711, 2.025, 1.096, 5.863,
           (("ampa", 0.64, 0.0), ("gaba", 2.0, -80.0), ("ampa_2", 1.2, 0.0))),
    "SC": (14.6, 9.125, -68.0, -53.0, -78.0, 1.59, 3.711, 2.025, 1.096, 5.863,
           (("ampa", 0.64, 0.0), ("gaba", 2.0, -80.0), ("ampa_2", 1.2, 0.0))),
    "E": (142.0, 33.0, -45.0, -36.0, -55.0, 1.5, 75.385, 0.408, 0.047, 3.477,
          (("ampa", 1.0, 0.0), ("gaba", 0.7, -80.0))),
    "I": (56.0, 56.0, -40.0, -39.0, -55.0, 3.0, 2.384, 0.079, 0.044, 176.358,
          (("ampa", 3.64, 0.0), ("gaba", 1.14, -80.0))),
}  # fmt: skip
_EGLIF_NOTE = (
    "[approximation: E-GLIF run as AdEx. Adaptation maps exactly (a = k_adap/k_2, "
    "tau_w = 1/k_2, b = A2). The spike-triggered depolarising current (A1, k_1), the escape-"
    "noise threshold (lambda_0, tau_V) and the V_min clamp are dropped. Spikes start at "
    "v_th with delta_t = 1 mV (a sharp threshold, not fitted), v_peak = 0 mV. Alpha "
    "synapses become exponentials with the same peak and charge per nS of weight: tau = e x "
    "the alpha's tau]"
)


def geminiani_2019(kind: str) -> CellType:
    """Basket (``"BC"``), stellate (``"SC"``) or cerebellar-nucleus (``"E"``, ``"I"``) cell.

    E-GLIF parameters of Geminiani et al. (2018), Front Neuroinform 12:88, and Geminiani et al.
    (2019), Front Neuroinform 13:37, as in dbbs-lab/cerebellar-models
    ``eglif_cond_alpha_multisyn.yaml`` (mouse, in vitro; MODEL_SPEC §2.3). ``"E"`` is the
    projection cell ``dcn_p``, ``"I"`` the GABAergic nucleo-olivary cell ``dcn_i``.

    zentai has no E-GLIF engine. The entry is an :class:`AdEx` with ``g_l = C_m/tau_m`` and the
    adaptation current mapped exactly: E-GLIF ``dI_adap/dt = k_adap (V - E_L) - k_2 I_adap``
    and AdEx ``tau_w dw/dt = a (V - e_l) - w`` agree for ``tau_w = 1/k_2`` and
    ``a = k_adap/k_2``, and ``A2`` is the jump ``b``. Dropped: the depolarising current
    ``I_dep`` (``A1``, ``k_1``), the stochastic threshold and ``V_min`` (see ``note``).

    Synapses: E-GLIF's are alpha functions, g(t) = w (t / tau) exp(1 - t / tau), peak w at
    t = tau and charge w e tau per unit of driving force. An exponential g = w exp(-t / tau')
    with tau' = e tau has the same peak and the same charge, so published weights (BSB) keep
    their meaning; until session 9 tau' was tau, which cut every synapse's charge to 1/e.
    """
    if kind not in _EGLIF:
        raise SpecError(
            f"geminiani_2019 kind must be one of {sorted(_EGLIF)}; got {kind!r}. "
            f"{closest(kind, _EGLIF)}."
        )
    c_m, tau_m, e_l, v_th, v_reset, t_ref, i_e, k_adap, k_2, a2, syn = _EGLIF[kind]
    model = AdEx(
        c_m=c_m,
        g_l=c_m / tau_m,
        e_l=e_l,
        v_th=v_th,
        delta_t=1.0,
        v_peak=0.0,
        v_reset=v_reset,
        a=k_adap / k_2,
        b=a2,
        tau_w=1.0 / k_2,
        t_ref=t_ref,
        i_e=i_e,
        receptors=tuple(Receptor(name=n, tau=math.e * t, e_rev=e) for n, t, e in syn),
    )
    region, name = ("CB", f"CB.{kind}") if kind in ("BC", "SC") else ("CBN", f"CBN.{kind}")
    label = {"BC": "basket", "SC": "stellate", "E": "dcn_p", "I": "dcn_i"}[kind]
    return CellType(
        name=name,
        model=model,
        cell_class="E" if kind == "E" else "I",
        region=region,
        source=(
            f"Geminiani et al. 2018 Front Neuroinform 12:88 and 2019 13:37; E-GLIF '{label}', "
            "dbbs-lab/cerebellar-models eglif_cond_alpha_multisyn.yaml (MODEL_SPEC §2.3)"
        ),
        note=_EGLIF_NOTE,
    )


# --------------------------------------------------------------------------- basal ganglia
_BG_SOURCE = (
    "Lindahl & Hellgren Kotaleski 2016, eNeuro 3:e0156; mickelindahl/bgmodel "
    "default_params.py (MODEL_SPEC §3.2)"
)


def _msn(v_r: float, d: float) -> Izhikevich2007:
    # izhik_cond_exp with V_b = E_L and p_1 = p_2 = 1 is the generic Izhikevich 2007 model.
    # NMDA: bgmodel's sigmoid block 1/(1 + exp((V_act - V)/S_act)) -> Jahr & Stevens block.
    return Izhikevich2007(
        c_m=15.2,
        k=1.0,
        v_r=v_r,
        v_t=-29.7,
        v_peak=40.0,
        a=0.01,
        b=-20.0,
        c=-55.0,
        d=d,
        receptors=(
            Receptor(name="ampa", tau=12.0, e_rev=0.0),
            Receptor(name="nmda", tau=160.0, e_rev=0.0, mg_block=True),
            Receptor(name="gaba_fsn", tau=8.0, e_rev=-74.0),
            Receptor(name="gaba_msn", tau=12.0, e_rev=-74.0),
            Receptor(name="gaba_gpe", tau=60.0, e_rev=-74.0),
        ),
    )


_DA_NOTE = "[approximation: no dopamine modulation (DA = 0; bgmodel's baseline is 0.8)]"


def lindahl_2016(kind: str) -> CellType:
    """Basal-ganglia cell of Lindahl & Hellgren Kotaleski (2016), eNeuro 3:e0156.

    Parameters from mickelindahl/bgmodel ``default_params.py`` (MODEL_SPEC §3.2). ``kind``:

    * ``"D1"``, ``"D2"``: striatal MSNs, Izhikevich (2007) form (``izhik_cond_exp``); D1 has
      v_r -81.85 mV and d 66.9 pA, D2 v_r -80 mV and d 91 pA (Humphries et al. 2009).
    * ``"FSI"``: striatal fast-spiking interneuron, the FS variant (cubic u-nullcline with
      b 0.025 from v_b -55 mV).
    * ``"GPe.TI"``, ``"GPe.TA"``: prototypic / arkypallidal GPe cells (AdEx, I_e 4.5 / -3.6 pA).
    * ``"STN"``, ``"SNr"``: AdEx.

    The AdEx cells use ``my_aeif_cond_exp``, which zentai's :class:`AdEx` lacks in two ways.
    Its ``a`` is piecewise about ``V_a`` and its STN reset depends on ``w``. For GPe and SNr,
    ``V_a = E_L`` and ``a_1 = a_2``, so nothing is lost. The STN has ``a_1 = 0.3`` nS below
    ``V_a = -70`` mV and ``a_2 = 0`` above. This entry takes ``a = 0``, exact while
    V > -70 mV (tonic firing). Then ``w`` (b > 0) never goes negative, so the reset slope rule
    (only for w < 0) never applies. What is lost is the hyperpolarisation-driven w < 0 and the
    rebound it causes. Dopamine modulation is off.
    """
    if kind in ("D1", "D2"):
        model = _msn(-81.85, 66.9) if kind == "D1" else _msn(-80.0, 91.0)
        return CellType(
            name=f"STR.{kind}",
            model=model,
            cell_class="I",
            region="STR",
            source=f"{_BG_SOURCE}; MSN of Humphries, Lepora, Wood & Gurney 2009",
            note=_DA_NOTE + " [approximation: NMDA block as Jahr & Stevens 1990]",
        )
    if kind == "FSI":
        model = Izhikevich2007.preset(
            "FS",
            c_m=80.0,
            v_r=-70.0,
            v_t=-50.0,
            v_peak=25.0,
            a=0.2,
            b=0.025,
            v_b=-55.0,
            c=-60.0,
            d=0.0,
            receptors=(
                Receptor(name="ampa", tau=12.0, e_rev=0.0),
                Receptor(name="gaba_fsn", tau=6.0, e_rev=-74.0),
                Receptor(name="gaba_ta", tau=66.0, e_rev=-74.0),
                Receptor(name="gaba_tf", tau=17.0, e_rev=-74.0),
            ),
        )
        return CellType(
            name="STR.FSI",
            model=model,
            cell_class="FS",
            region="STR",
            source=f"{_BG_SOURCE}; FSN after Izhikevich 2007 and Tateno et al. 2004",
            note=_DA_NOTE,
        )
    if kind == "STN":
        model = AdEx(
            c_m=60.0,
            g_l=10.0,
            e_l=-80.2,
            v_th=-64.0,
            delta_t=16.2,
            v_peak=15.0,
            v_reset=-70.0,
            a=0.0,
            b=0.05,
            tau_w=333.0,
            i_e=6.0,
            receptors=(
                Receptor(name="ampa", tau=4.0, e_rev=0.0),
                Receptor(name="nmda", tau=160.0, e_rev=0.0),
                Receptor(name="gaba_a", tau=8.0, e_rev=-84.0),
            ),
        )
        note = "[approximation: a_1 = 0.3 nS below -70 mV and the w < 0 reset slope dropped]"
        return CellType(
            name="STN.E",
            model=model,
            cell_class="E",
            region="STN",
            source=_BG_SOURCE,
            note=note,
        )
    if kind in ("GPe.TI", "GPe.TA"):
        model = AdEx(
            c_m=40.0,
            g_l=1.0,
            e_l=-55.1,
            v_th=-54.7,
            delta_t=1.7,
            v_peak=15.0,
            v_reset=-60.0,
            a=2.5,
            b=70.0,
            tau_w=20.0,
            i_e=4.5 if kind == "GPe.TI" else -3.6,
            receptors=(
                Receptor(name="ampa", tau=12.0, e_rev=0.0),
                Receptor(name="nmda", tau=100.0, e_rev=0.0),
                Receptor(name="ampa_ext", tau=5.0, e_rev=0.0),
                Receptor(name="gaba_gpe", tau=5.0, e_rev=-65.0),
                Receptor(name="gaba_d2", tau=6.0, e_rev=-65.0),
            ),
        )
        return CellType(
            name=kind, model=model, cell_class="I", region="GPe", source=_BG_SOURCE, note=_DA_NOTE
        )
    if kind == "SNr":
        model = AdEx(
            c_m=80.0,
            g_l=3.0,
            e_l=-55.8,
            v_th=-55.2,
            delta_t=1.8,
            v_peak=20.0,
            v_reset=-65.0,
            a=3.0,
            b=200.0,
            tau_w=20.0,
            i_e=19.2,
            receptors=(
                Receptor(name="ampa", tau=12.0, e_rev=0.0),
                Receptor(name="ampa_ext", tau=5.0, e_rev=0.0),
                Receptor(name="gaba_d1", tau=5.2, e_rev=-80.0),
                Receptor(name="gaba_gpe", tau=2.1, e_rev=-72.0),
            ),
        )
        return CellType(
            name="SNr.I",
            model=model,
            cell_class="I",
            region="SNr",
            source=_BG_SOURCE,
            note=_DA_NOTE,
        )
    kinds = ["D1", "D2", "FSI", "GPe.TI", "GPe.TA", "STN", "SNr"]
    raise SpecError(
        f"lindahl_2016 kind must be one of {kinds}; got {kind!r}. {closest(kind, kinds)}."
    )


# --------------------------------------------------------------------------- lookup
@cache
def _catalog() -> dict[str, CellType]:
    entries = [izhikevich_2007_m1(layer, kind) for layer, kind, _, _ in _M1_TYPES]
    entries += [izhikevich_2007_thalamus("TC"), izhikevich_2007_thalamus("RTN")]
    entries.append(izhikevich_2007_pons())
    entries += [yamazaki_nagao_2012(k) for k in ("GrC", "GoC", "PC")]
    entries += [geminiani_2019(k) for k in ("BC", "SC", "E", "I")]
    entries += [lindahl_2016(k) for k in ("D1", "D2", "FSI", "GPe.TI", "GPe.TA", "STN", "SNr")]
    out = {e.name: e for e in entries}
    if len(out) != len(entries):  # pragma: no cover - a broken table
        from zentai.errors import ZentaiInternalError

        raise ZentaiInternalError("duplicate cell-type names in the catalog; please report.")
    return out


def catalog() -> dict[str, CellType]:
    """Every published cell type by name (a fresh dict; the entries are frozen).

    Examples
    --------
    >>> from zentai.celltypes.catalog import catalog
    >>> "Isocortex.L5B.PT" in catalog()
    True
    """
    return dict(_catalog())


def cell_type(name: str) -> CellType:
    """The catalog entry ``name``; an unknown name lists the closest matches.

    Examples
    --------
    >>> from zentai.celltypes.catalog import cell_type
    >>> cell_type("TH.TC").model.variant.value
    'tc'
    """
    entries = _catalog()
    if name not in entries:
        raise SpecError(f"Unknown cell type {name!r}; {closest(name, entries)}.")
    return entries[name]
