"""The Potjans & Diesmann (2014) cortical microcircuit, as in NEST's PyNEST example.

Potjans TC, Diesmann M (2014) The cell-type specific cortical microcircuit: relating structure
and activity in a full-scale spiking network model. Cereb. Cortex 24:785-806 (Tables 4-5).
Numbers of neurons and synapses, weights, delays, background input and initial potentials follow
the PyNEST example ``Potjans_2014`` of NEST 3 (``network_params.py``, ``helpers.py``; read for
MODEL_SPEC §1.2), including its down-scaling: neuron numbers scale with ``n_scaling``, in-degrees
with ``k_scaling``; weights are divided by sqrt(k_scaling) and a DC current restores the mean
input of the full-scale network (van Albada, Helias & Diesmann 2015, PLoS Comput Biol
11:e1004490).
"""

from __future__ import annotations

import math

import numpy as np

from zentai.build.spec import NetworkSpec, Population, Projection
from zentai.celltypes.models import LIF, Receptor
from zentai.connectome.rules import FixedTotalNumber, Normal
from zentai.errors import SpecError
from zentai.record.recorders import PopulationRate, Spikes
from zentai.stim import PoissonInput

__all__ = ["POPULATIONS", "microcircuit", "psc_over_psp"]

#: population names (layer + E/I), in the paper's order
POPULATIONS = ("L2/3E", "L2/3I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
#: full-scale neuron numbers (Potjans & Diesmann 2014, Table 5)
N_FULL = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
#: connection probabilities, rows = target, columns = source (Table 5)
CONN_PROBS = np.array(
    [
        [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
        [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
        [0.0077, 0.0059, 0.0497, 0.1350, 0.0067, 0.0003, 0.0453, 0.0],
        [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
        [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
        [0.0548, 0.0269, 0.0257, 0.0022, 0.0600, 0.3158, 0.0086, 0.0],
        [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
        [0.0364, 0.0010, 0.0034, 0.0005, 0.0277, 0.0080, 0.0658, 0.1443],
    ]
)
#: external (Poisson) in-degrees (Table 5)
K_EXT = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
#: full-scale rates used for the down-scaling compensation (NEST 3 example, ``full_mean_rates``)
FULL_MEAN_RATES = np.array([0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829])
#: initial membrane potentials, "optimized" set of the NEST 3 example (mean, sd in mV)
V0_OPTIMIZED = (
    [-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43],
    [5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48],
)
V0_ORIGINAL = (-58.0, 10.0)
PSP_EXC = 0.15  # mV, mean EPSP amplitude
PSP_REL_SD = 0.1
G = -4.0  # relative inhibitory strength
BG_RATE = 8.0  # Hz per external synapse
DELAY_EXC, DELAY_INH, DELAY_REL_SD = 1.5, 0.75, 0.5  # ms
# thalamic pulse (optional): 902 neurons, 120 Hz for 10 ms from 700 ms (Table 5)
N_TH = 902
CONN_PROBS_TH = np.array([0.0, 0.0, 0.0983, 0.0619, 0.0, 0.0, 0.0512, 0.0196])


def psc_over_psp(c_m: float, tau_m: float, tau_syn: float) -> float:
    """PSC amplitude (pA) per mV of PSP peak for a LIF with exponential PSCs.

    The PSP of a PSC ``J exp(-t/tau_s)`` is ``J tau_m tau_s / (c_m (tau_s - tau_m))
    (exp(-t/tau_s) - exp(-t/tau_m))`` (times 1/tau_m for the impulse response convention of
    c_m); its maximum at ``t* = tau_m tau_s ln(tau_m/tau_s) / (tau_m - tau_s)`` gives the factor.
    """
    t_peak = tau_m * tau_syn * math.log(tau_m / tau_syn) / (tau_m - tau_syn)
    psp_per_pa = (
        tau_m
        * tau_syn
        / (c_m * (tau_syn - tau_m))
        * (math.exp(-t_peak / tau_syn) - math.exp(-t_peak / tau_m))
    )
    return 1.0 / psp_per_pa


def _num_synapses_full() -> np.ndarray:
    # synapse number K whose multapse-allowing draws connect a fraction p of all pairs:
    # K = ln(1-p) / ln(1 - 1/(N_pre N_post))
    prod = np.outer(N_FULL, N_FULL).astype(float)
    return np.log(1.0 - CONN_PROBS) / np.log((prod - 1.0) / prod)


def microcircuit(
    scale: float = 0.1,
    *,
    k_scale: float | None = None,
    background: str = "poisson",
    v0: str = "optimized",
    thalamus: bool = False,
    dt: float = 0.1,
    record: bool = True,
) -> NetworkSpec:
    """The Potjans–Diesmann microcircuit as a :class:`NetworkSpec`.

    Parameters
    ----------
    scale : float
        Fraction of the neurons (``N_scaling`` of the NEST example), in (0, 1].
    k_scale : float, optional
        Fraction of the in-degrees (``K_scaling``); defaults to ``scale``.
    background : {"poisson", "dc"}
        Poisson background (8 Hz per external synapse) or the equivalent DC current.
    v0 : {"optimized", "original"}
        Initial membrane potential distribution (NEST 3 example's "optimized" per-population
        normals, or N(-58, 10) mV of the original model).
    thalamus : bool
        Add the thalamic pulse (902 neurons at 120 Hz, 700-710 ms) as independent Poisson input
        with the expected thalamic in-degree of each population (no shared-input correlations).
    dt : float
        Time step (ms) the delays are drawn for: delays are redrawn below dt/2 (NEST example).
    record : bool
        Add spike and population-rate recorders.

    Examples
    --------
    >>> spec = microcircuit(0.05)
    >>> [p.size for p in spec.populations]
    [1034, 292, 1096, 274, 242, 53, 720, 147]
    """
    if not (isinstance(scale, (int, float)) and 0 < scale <= 1):
        raise SpecError(f"microcircuit scale must be in (0, 1]; got {scale!r}.")
    k_scale = scale if k_scale is None else k_scale
    if not (isinstance(k_scale, (int, float)) and 0 < k_scale <= 1):
        raise SpecError(f"microcircuit k_scale must be in (0, 1]; got {k_scale!r}.")
    if background not in ("poisson", "dc"):
        raise SpecError(f"microcircuit background must be 'poisson' or 'dc'; got {background!r}.")
    if v0 not in ("optimized", "original"):
        raise SpecError(f"microcircuit v0 must be 'optimized' or 'original'; got {v0!r}.")

    c_m, tau_m, tau_syn = 250.0, 10.0, 0.5
    n = np.round(N_FULL * scale).astype(int)
    syn_full = _num_synapses_full()
    n_syn = np.round(syn_full * scale * k_scale).astype(int)
    k_ext = np.round(K_EXT * k_scale).astype(int)

    factor = psc_over_psp(c_m, tau_m, tau_syn)
    psp = np.zeros((8, 8))
    psp[:, 0::2] = PSP_EXC
    psp[:, 1::2] = PSP_EXC * G
    psp[0, 2] = 2.0 * PSP_EXC  # L4E -> L2/3E doubled
    w_mean = psp * factor
    w_ext = PSP_EXC * factor
    dc_amp = np.zeros(8)
    if background == "dc":
        dc_amp = BG_RATE * K_EXT * w_ext * tau_syn * 1e-3
    if k_scale != 1:
        # mean input of the full-scale network, restored by DC (van Albada et al. 2015)
        indegree_full = syn_full / N_FULL[:, None]
        input_rec = np.sum(w_mean * indegree_full * FULL_MEAN_RATES, axis=1)
        comp = 1e-3 * tau_syn * (1.0 - math.sqrt(k_scale))
        dc_amp = dc_amp + comp * input_rec
        if background == "poisson":
            dc_amp = dc_amp + comp * w_ext * K_EXT * BG_RATE
        w_mean = w_mean / math.sqrt(k_scale)
        w_ext = w_ext / math.sqrt(k_scale)

    receptors = (Receptor(name="ex", tau=tau_syn), Receptor(name="in", tau=tau_syn))
    pops = []
    for i, name in enumerate(POPULATIONS):
        model = LIF(
            tau_m=tau_m,
            c_m=c_m,
            e_l=-65.0,
            v_th=-50.0,
            v_reset=-65.0,
            t_ref=2.0,
            i_e=float(dc_amp[i]),
            receptors=receptors,
        )
        mu, sd = (V0_OPTIMIZED[0][i], V0_OPTIMIZED[1][i]) if v0 == "optimized" else V0_ORIGINAL
        pops.append(
            Population(
                name=name,
                size=int(n[i]),
                model=model,
                initial={"v": Normal(mu, sd)},
                labels={"layer": name[:-1], "cell_class": "E" if name.endswith("E") else "I"},
            )
        )
    projs = []
    for i, post in enumerate(POPULATIONS):
        for j, pre in enumerate(POPULATIONS):
            if n_syn[i, j] <= 0:
                continue
            w = w_mean[i, j]
            exc = w >= 0
            d_mean = DELAY_EXC if j % 2 == 0 else DELAY_INH
            projs.append(
                Projection(
                    pre=pre,
                    post=post,
                    rule=FixedTotalNumber(int(n_syn[i, j])),
                    weight=Normal(
                        w, abs(w) * PSP_REL_SD, low=0.0 if exc else None, high=None if exc else 0.0
                    ),
                    delay=Normal(d_mean, d_mean * DELAY_REL_SD, low=0.5 * dt),
                    receptor="ex" if exc else "in",
                )
            )
    stimuli = []
    if background == "poisson":
        for i, name in enumerate(POPULATIONS):
            stimuli.append(
                PoissonInput(
                    target=name,
                    rate=BG_RATE,
                    weight=float(w_ext),
                    n_sources=int(k_ext[i]),
                    receptor="ex",
                )
            )
    spec_meta = {
        "model": "microcircuit",
        "scale": scale,
        "k_scale": k_scale,
        "background": background,
        "v0": v0,
        "thalamus": thalamus,
        "dt": dt,
        "reference": "Potjans & Diesmann 2014; NEST 3 PyNEST example Potjans_2014",
    }
    if thalamus:
        # NEST relays one Poisson train per thalamic neuron to all of its targets (parrot
        # neurons), so targets share input; here each neuron gets independent Poisson input with
        # the same mean in-degree: same mean drive, no shared-input correlations. The in-degree
        # is the full-scale one times k_scale. (NEST's example scales the total thalamic
        # synapse count by K_scaling only and spreads it over the N-scaled population, which
        # makes the per-neuron in-degree 1/N_scaling larger; we do not copy that.)
        syn_th = np.log(1.0 - CONN_PROBS_TH) / np.log((N_TH * N_FULL - 1.0) / (N_TH * N_FULL))
        k_th = np.round(syn_th * k_scale / N_FULL).astype(int)
        w_th = PSP_EXC * factor / math.sqrt(k_scale)
        for i, name in enumerate(POPULATIONS):
            if k_th[i] > 0:
                stimuli.append(
                    PoissonInput(
                        target=name,
                        rate=120.0,
                        weight=float(w_th),
                        n_sources=int(k_th[i]),
                        receptor="ex",
                        start=700.0,
                        stop=710.0,
                    )
                )
    recorders = (Spikes(), PopulationRate(bin=1.0)) if record else ()
    return NetworkSpec(
        populations=tuple(pops),
        projections=tuple(projs),
        stimuli=tuple(stimuli),
        recorders=recorders,
        name=f"microcircuit(scale={scale:g})",
        meta=spec_meta,
    )
