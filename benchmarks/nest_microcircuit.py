"""The Potjans & Diesmann (2014) microcircuit for peer simulators (NEST 3, Brian2).

Independent of zentai: the model parameters are derived here again from the published tables
(Potjans & Diesmann 2014, Cereb. Cortex 24:785, Tables 4-5) and the conventions of NEST 3's
PyNEST example ``Potjans_2014`` (read for MODEL_SPEC §1.2), so that the benchmark driver can
compare them with ``zentai.build.microcircuit`` and flag any difference:

* neuron numbers scale with ``scale`` (``N_scaling``), in-degrees with ``k_scale``
  (``K_scaling``, default = ``scale``); synapse numbers ``round(K_full * scale * k_scale)`` with
  ``K_full = ln(1 - p) / ln(1 - 1/(N_pre N_post))`` (multapses counted), wired with
  ``fixed_total_number`` (autapses and multapses allowed);
* weights Normal(w, 0.1 |w|), redrawn when the sign flips; delays Normal(d, 0.5 d), redrawn
  below dt/2 (so that the rounded delay is at least one step);
* when ``k_scale < 1``: weights divided by sqrt(k_scale), and a DC current restores the mean
  input of the full-scale network (van Albada, Helias & Diesmann 2015, PLoS Comput Biol
  11:e1004490), using the full-scale reference rates;
* background: one Poisson generator per population at 8 Hz x K_ext (delay 1.5 ms), or the
  equivalent DC current;
* initial membrane potentials: the "optimized" per-population normals of the NEST 3 example.

The NEST model needs only ``nest`` (PyPI ``nest-simulator``); it is never a zentai dependency.
Standalone use (prints one JSON object)::

    python benchmarks/nest_microcircuit.py --scale 0.1 --threads 2 --warmup 0.5 --duration 1.0
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np

POPULATIONS = ("L2/3E", "L2/3I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
# Potjans & Diesmann 2014, Table 5 (full scale, 1 mm^2)
N_FULL = np.array([20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948])
CONN_PROBS = np.array(
    [  # rows: target, columns: source
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
K_EXT_FULL = np.array([1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100])
# full-scale rates the NEST 3 example uses for the K-scaling compensation (``full_mean_rates``)
FULL_RATES = np.array([0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829])
# "optimized" initial V_m per population of the NEST 3 example (mean, sd; mV)
V0_MEAN = np.array([-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43])
V0_SD = np.array([5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48])
# iaf_psc_exp parameters (Table 5); ms, pF, mV
NEURON = {
    "C_m": 250.0,
    "tau_m": 10.0,
    "tau_syn": 0.5,
    "E_L": -65.0,
    "V_th": -50.0,
    "V_reset": -65.0,
    "t_ref": 2.0,
}
PSP_EXC, G_REL, W_REL_SD = 0.15, -4.0, 0.1  # mV, relative IPSP, relative weight sd
BG_RATE = 8.0  # Hz per external synapse
D_EXC, D_INH, D_REL_SD, D_POISSON = 1.5, 0.75, 0.5, 1.5  # ms


def pa_per_mv(c_m: float, tau_m: float, tau_s: float) -> float:
    """Exponential-PSC amplitude (pA) that gives a PSP peak of 1 mV in a LIF neuron.

    The PSP of a current ``J exp(-t/tau_s)`` is ``J a (exp(-t/tau_m) - exp(-t/tau_s))`` with
    ``a = tau_s tau_m / (c_m (tau_m - tau_s))``; it peaks where both exponentials have equal
    slope, at ``t* = ln(tau_m/tau_s) tau_m tau_s / (tau_m - tau_s)``.
    """
    a = tau_s * tau_m / (c_m * (tau_m - tau_s))
    t_peak = math.log(tau_m / tau_s) * tau_m * tau_s / (tau_m - tau_s)
    return 1.0 / (a * (math.exp(-t_peak / tau_m) - math.exp(-t_peak / tau_s)))


def derive(scale: float, k_scale: float | None = None, background: str = "poisson") -> dict:
    """Scaled model numbers: sizes, synapse counts, mean weights (pA), DC (pA), in-degrees.

    Arrays are indexed [target, source] in :data:`POPULATIONS` order.
    """
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1]; got {scale!r}.")
    k_scale = scale if k_scale is None else k_scale
    if background not in ("poisson", "dc"):
        raise ValueError(f"background must be 'poisson' or 'dc'; got {background!r}.")
    pairs = np.multiply.outer(N_FULL, N_FULL).astype(float)
    # written as in the NEST example (log of (pairs - 1) / pairs, not log1p), so that the
    # rounded synapse numbers agree with NEST's to the last floating-point bit
    syn_full = np.log(1.0 - CONN_PROBS) / np.log((pairs - 1.0) / pairs)
    n = np.round(N_FULL * scale).astype(int)
    n_syn = np.round(syn_full * scale * k_scale).astype(int)
    k_ext = np.round(K_EXT_FULL * k_scale).astype(int)

    unit = pa_per_mv(NEURON["C_m"], NEURON["tau_m"], NEURON["tau_syn"])
    is_exc = np.arange(8) % 2 == 0  # by source population
    psp = np.where(is_exc[None, :], PSP_EXC, G_REL * PSP_EXC) * np.ones((8, 1))
    psp[0, 2] *= 2.0  # L4E -> L2/3E doubled (Potjans & Diesmann 2014)
    w = psp * unit
    w_ext = PSP_EXC * unit
    tau_s_s = NEURON["tau_syn"] * 1e-3  # s: mean current of rate r (Hz) * weight = r w tau_s
    dc = np.zeros(8) if background == "poisson" else BG_RATE * K_EXT_FULL * w_ext * tau_s_s
    if k_scale != 1:
        lost = 1.0 - math.sqrt(k_scale)
        rec_full = (w * (syn_full / N_FULL[:, None]) * FULL_RATES[None, :]).sum(axis=1)
        dc = dc + lost * tau_s_s * rec_full
        if background == "poisson":
            dc = dc + lost * tau_s_s * BG_RATE * K_EXT_FULL * w_ext
        w = w / math.sqrt(k_scale)
        w_ext = w_ext / math.sqrt(k_scale)
    delay = np.where(is_exc[None, :], D_EXC, D_INH) * np.ones((8, 1))
    return {
        "scale": scale,
        "k_scale": k_scale,
        "background": background,
        "n": n,
        "n_syn": n_syn,
        "k_ext": k_ext,
        "w_mean": w,
        "w_ext": float(w_ext),
        "dc": dc,
        "delay_mean": delay,
    }


def peak_rss_mib() -> float:
    """Peak resident set size of this process (VmHWM), MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rates_from_spikes(
    senders: np.ndarray, times: np.ndarray, bounds: list[tuple[int, int]], t0: float, t1: float
) -> dict[str, float]:
    """Mean rate (Hz) per population of spikes with t0 < t <= t1 (ms); ids in [a, b)."""
    sel = (times > t0) & (times <= t1)
    s = senders[sel]
    return {
        name: float(((s >= a) & (s < b)).sum() / max(b - a, 1) / ((t1 - t0) * 1e-3))
        for name, (a, b) in zip(POPULATIONS, bounds)
    }


def cv_isi(senders: np.ndarray, times: np.ndarray, a: int, b: int, t0: float, t1: float) -> float:
    """Mean CV of inter-spike intervals of neurons [a, b) with >= 3 spikes in (t0, t1] ms."""
    sel = (senders >= a) & (senders < b) & (times > t0) & (times <= t1)
    s, t = senders[sel], times[sel]
    if s.size < 3:
        return float("nan")
    order = np.lexsort((t, s))
    s, t = s[order], t[order]
    same = s[1:] == s[:-1]
    isi = np.diff(t)[same]
    nid = s[1:][same] - a
    k = np.bincount(nid, minlength=b - a).astype(float)
    good = k >= 2  # >= 3 spikes
    if not good.any():
        return float("nan")
    s1 = np.bincount(nid, weights=isi, minlength=b - a)[good]
    s2 = np.bincount(nid, weights=isi**2, minlength=b - a)[good]
    mean = s1 / k[good]
    var = np.maximum(s2 / k[good] - mean**2, 0.0)
    return float(np.mean(np.sqrt(var) / mean))


def cvs(senders, times, bounds, t0, t1) -> dict[str, float]:
    """:func:`cv_isi` for each population."""
    return {p: cv_isi(senders, times, a, b, t0, t1) for p, (a, b) in zip(POPULATIONS, bounds)}


def run_nest(
    scale: float,
    *,
    k_scale: float | None = None,
    background: str = "poisson",
    warmup_ms: float = 500.0,
    duration_ms: float = 1000.0,
    threads: int = 2,
    seed: int = 1,
    dt: float = 0.1,
) -> dict:
    """Build and simulate the microcircuit in NEST 3; return timings, sizes and rates."""
    t_imp = time.perf_counter()
    import nest

    import_s = time.perf_counter() - t_imp
    p = derive(scale, k_scale, background)
    rss_start = peak_rss_mib()

    t0 = time.perf_counter()
    nest.ResetKernel()
    if hasattr(nest, "VerbosityLevel"):  # NEST >= 3.9
        nest.verbosity = nest.VerbosityLevel.ERROR
    else:
        nest.set_verbosity("M_ERROR")
    nest.local_num_threads = threads
    nest.resolution = dt
    nest.rng_seed = seed
    nest.print_time = False

    pops = []
    for i in range(8):
        pop = nest.Create("iaf_psc_exp", int(p["n"][i]))
        pop.set(
            C_m=NEURON["C_m"],
            tau_m=NEURON["tau_m"],
            tau_syn_ex=NEURON["tau_syn"],
            tau_syn_in=NEURON["tau_syn"],
            E_L=NEURON["E_L"],
            V_th=NEURON["V_th"],
            V_reset=NEURON["V_reset"],
            t_ref=NEURON["t_ref"],
            I_e=float(p["dc"][i]),
        )
        pop.V_m = nest.random.normal(mean=float(V0_MEAN[i]), std=float(V0_SD[i]))
        pops.append(pop)
    recorders = [nest.Create("spike_recorder", params={"record_to": "memory"}) for _ in range(8)]
    gens = None
    if background == "poisson":
        gens = nest.Create("poisson_generator", 8)
        gens.rate = (BG_RATE * p["k_ext"]).astype(float).tolist()
    t_create = time.perf_counter()

    # NEST refuses more than 2**27 - 1 connections per synapse model and thread; at full scale
    # on 2 threads the network has ~1.5e8 synapses per thread, so each source population gets
    # its own copy of static_synapse (PERF_NOTES.md).
    for j in range(8):
        nest.CopyModel("static_synapse", f"static_from_{j}")
    for i in range(8):  # target
        for j in range(8):  # source
            n_ij = int(p["n_syn"][i, j])
            if n_ij <= 0:
                continue
            w = float(p["w_mean"][i, j])
            d = float(p["delay_mean"][i, j])
            lo, hi = (0.0, math.inf) if w >= 0 else (-math.inf, 0.0)
            syn = {
                "synapse_model": f"static_from_{j}",
                "weight": nest.math.redraw(
                    nest.random.normal(mean=w, std=abs(w) * W_REL_SD), min=lo, max=hi
                ),
                "delay": nest.math.redraw(
                    nest.random.normal(mean=d, std=d * D_REL_SD), min=0.5 * dt, max=math.inf
                ),
            }
            nest.Connect(
                pops[j],
                pops[i],
                conn_spec={
                    "rule": "fixed_total_number",
                    "N": n_ij,
                    "allow_autapses": True,
                    "allow_multapses": True,
                },
                syn_spec=syn,
            )
    for i in range(8):
        if gens is not None:
            nest.Connect(
                gens[i],
                pops[i],
                "all_to_all",
                syn_spec={"weight": float(p["w_ext"]), "delay": D_POISSON},
            )
        nest.Connect(pops[i], recorders[i])
    t_connect = time.perf_counter()
    nest.Prepare()  # builds the presynaptic infrastructure (part of building, as in the example)
    t_prepare = time.perf_counter()
    build_s = t_prepare - t0

    nest.Run(warmup_ms)
    t_warm = time.perf_counter()
    nest.Run(duration_ms)
    t_run = time.perf_counter()
    nest.Cleanup()

    senders, times = [], []
    for rec in recorders:
        ev = rec.get("events")
        senders.append(np.asarray(ev["senders"], dtype=np.int64))
        times.append(np.asarray(ev["times"], dtype=float))
    senders_a = np.concatenate(senders)
    times_a = np.concatenate(times)
    bounds = [(int(pop[0].global_id), int(pop[-1].global_id) + 1) for pop in pops]
    n_neurons = int(sum(p["n"]))
    n_devices = n_neurons * (2 if gens is not None else 1)  # generator and recorder connections
    n_synapses = int(nest.num_connections) - n_devices
    return {
        "simulator": f"NEST {nest.__version__}",
        "threads": threads,
        "n_neurons": n_neurons,
        "n_synapses": n_synapses,
        "import_s": import_s,
        "build_s": build_s,
        "build_detail_s": {
            "create": t_create - t0,
            "connect": t_connect - t_create,
            "prepare": t_prepare - t_connect,
        },
        "warmup_s": t_warm - t_prepare,
        "measure_s": t_run - t_warm,
        "sim_s": t_run - t_prepare,
        "bio_s": (warmup_ms + duration_ms) * 1e-3,
        "rates_hz": rates_from_spikes(
            senders_a, times_a, bounds, warmup_ms, warmup_ms + duration_ms
        ),
        "cv_isi": cvs(senders_a, times_a, bounds, warmup_ms, warmup_ms + duration_ms),
        "n_spikes": int(times_a.size),
        "rss_before_build_mib": rss_start,
        "peak_rss_self_mib": peak_rss_mib(),
        "model": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in p.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: run the NEST model once and print its result as JSON."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--k-scale", type=float, default=None)
    ap.add_argument("--background", choices=("poisson", "dc"), default="poisson")
    ap.add_argument("--warmup", type=float, default=0.5, help="s of biological time")
    ap.add_argument("--duration", type=float, default=1.0, help="s, measured after warm-up")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dt", type=float, default=0.1, help="ms")
    a = ap.parse_args(argv)
    out = run_nest(
        a.scale,
        k_scale=a.k_scale,
        background=a.background,
        warmup_ms=a.warmup * 1e3,
        duration_ms=a.duration * 1e3,
        threads=a.threads,
        seed=a.seed,
        dt=a.dt,
    )
    out.pop("model")
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
