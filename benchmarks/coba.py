"""The COBA benchmark (Brette et al. 2007, benchmark 1; Vogels & Abbott 2005): zentai's
LIFCond against NEST 3's ``iaf_cond_exp`` and Brian2's C++ standalone, one Markdown table.

4,000 conductance-based LIF neurons (3,200 excitatory, 800 inhibitory; C = 200 pF, g_L = 10 nS,
i.e. tau_m = 20 ms; E_L = V_reset = -60 mV, V_th = -50 mV, t_ref = 5 ms), exponential
conductances (tau 5 ms, E = 0 mV; tau 10 ms, E = -80 mV), every pair connected with
probability 0.02 (no autapses), excitatory weight 6 nS, inhibitory 67 nS (0.6 and 6.7 g_L, as
in Brian2's COBA example, which also adds a constant drive of 20 mV x g_L = 200 pA, kept here
so that the network fires without an external kick), delay 0.1 ms, initial V uniform in
[V_reset, V_th). Each simulator draws its own wiring and initial state from its own seed, so
only the statistics compare: rates of E and I (self-sustained, irregular activity).

Integration: zentai, exponential Euler on each step's mean conductance (exact for constant
conductances); Brian2, ``exponential_euler``; NEST, ``iaf_cond_exp`` with GSL's adaptive
RKF45. Each simulator runs in its own child process (the peers from a throwaway venv:
``--peer-python``), 0.2 s of warm-up then 1 s measured, every spike recorded.

    .venv/bin/python benchmarks/coba.py --peer-python /tmp/peers/bin/python --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

N_E, N_I = 3200, 800
C_M, G_L, E_L, V_TH, V_RESET, T_REF = 200.0, 10.0, -60.0, -50.0, -60.0, 5.0  # pF nS mV mV mV ms
TAU_E, TAU_I, E_E, E_I = 5.0, 10.0, 0.0, -80.0  # ms, ms, mV, mV
W_E, W_I, P, I_E, DELAY = 6.0, 67.0, 0.02, 200.0, 0.1  # nS, nS, -, pA, ms


def rates(senders_minus_first, times_ms, t0_ms, t1_ms) -> dict:
    import numpy as np

    idx, t = np.asarray(senders_minus_first), np.asarray(times_ms)
    keep = (t > t0_ms) & (t <= t1_ms)
    dur = (t1_ms - t0_ms) / 1000.0
    e = np.count_nonzero(keep & (idx < N_E)) / N_E / dur
    i = np.count_nonzero(keep & (idx >= N_E)) / N_I / dur
    return {"E": e, "I": i}


def run_zentai(a) -> dict:
    import zentai as zt
    from zentai.build import NetworkSpec, Population, Projection
    from zentai.celltypes import LIFCond, Receptor
    from zentai.connectome import Bernoulli, Uniform
    from zentai.record import Spikes

    t0 = time.perf_counter()
    rec = (Receptor(name="ex", tau=TAU_E, e_rev=E_E), Receptor(name="in", tau=TAU_I, e_rev=E_I))
    cell = LIFCond(
        c_m=C_M, g_l=G_L, e_l=E_L, v_th=V_TH, v_reset=V_RESET, t_ref=T_REF, i_e=I_E,
        receptors=rec,
    )  # fmt: skip
    init = {"v": Uniform(V_RESET, V_TH)}
    pops = (Population(name="E", size=N_E, model=cell, initial=init),
            Population(name="I", size=N_I, model=cell, initial=init))  # fmt: skip
    projs = tuple(
        Projection(pre=pre, post=post, rule=Bernoulli(P, allow_autapses=False),
                   weight=W_E if pre == "E" else W_I, delay=DELAY,
                   receptor="ex" if pre == "E" else "in")
        for pre in ("E", "I") for post in ("E", "I")
    )  # fmt: skip
    spec = NetworkSpec(populations=pops, projections=projs, recorders=(Spikes(),))
    net = zt.build.network(spec, seed=a.seed)
    threads = None if a.threads <= 0 else a.threads
    sim = zt.sim.Simulator(net, seed=a.seed, num_threads=threads, backend=a.backend)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim.run(a.warmup * 1e3, progress=False)
    res = sim.run(a.duration * 1e3, progress=False)
    wall = time.perf_counter() - t0
    r = rates(res.spike_neuron, res.spike_time_ms, a.warmup * 1e3, (a.warmup + a.duration) * 1e3)
    return {"build_s": build, "sim_s": wall, "rates": r, "synapses": int(net.n_synapses),
            "backend": sim.backend, "threads": sim.num_threads}  # fmt: skip


def run_nest(a) -> dict:
    import nest
    import numpy as np

    t0 = time.perf_counter()
    nest.ResetKernel()
    nest.set_verbosity("M_ERROR")
    nest.SetKernelStatus({"resolution": 0.1, "local_num_threads": max(a.threads, 1),
                          "rng_seed": a.seed + 1, "print_time": False})  # fmt: skip
    params = {"C_m": C_M, "g_L": G_L, "E_L": E_L, "V_th": V_TH, "V_reset": V_RESET,
              "t_ref": T_REF, "E_ex": E_E, "E_in": E_I, "tau_syn_ex": TAU_E,
              "tau_syn_in": TAU_I, "I_e": I_E}  # fmt: skip
    pop = nest.Create("iaf_cond_exp", N_E + N_I, params=params)
    pop.V_m = nest.random.uniform(V_RESET, V_TH)
    conn = {"rule": "pairwise_bernoulli", "p": P, "allow_autapses": False}
    nest.Connect(pop[:N_E], pop, conn, {"weight": W_E, "delay": DELAY})
    nest.Connect(pop[N_E:], pop, conn, {"weight": -W_I, "delay": DELAY})
    rec = nest.Create("spike_recorder")
    nest.Connect(pop, rec)
    nest.Prepare()
    n_syn = nest.GetKernelStatus("num_connections") - (N_E + N_I)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    nest.Run(a.warmup * 1e3)
    nest.Run(a.duration * 1e3)
    wall = time.perf_counter() - t0
    nest.Cleanup()
    ev = rec.get("events")
    r = rates(np.asarray(ev["senders"]) - 1, ev["times"], a.warmup * 1e3,
              (a.warmup + a.duration) * 1e3)  # fmt: skip
    return {"build_s": build, "sim_s": wall, "rates": r, "synapses": int(n_syn)}


def run_brian2(a) -> dict:
    import tempfile

    import brian2 as b2
    import numpy as np

    t_start = time.perf_counter()
    out = tempfile.mkdtemp(prefix="coba_b2_")
    b2.set_device("cpp_standalone", directory=out, build_on_run=False)
    if a.threads > 1:
        b2.prefs.devices.cpp_standalone.openmp_threads = a.threads
    b2.defaultclock.dt = 0.1 * b2.ms
    b2.seed(a.seed)
    eqs = """
    dv/dt = (g_l*(e_l - v) + ge*(e_e - v) + gi*(e_i - v) + i_e) / c_m : volt (unless refractory)
    dge/dt = -ge / tau_e : siemens
    dgi/dt = -gi / tau_i : siemens
    """
    ns = {"g_l": G_L * b2.nS, "e_l": E_L * b2.mV, "e_e": E_E * b2.mV, "e_i": E_I * b2.mV,
          "i_e": I_E * b2.pA, "c_m": C_M * b2.pF, "tau_e": TAU_E * b2.ms,
          "tau_i": TAU_I * b2.ms}  # fmt: skip
    g = b2.NeuronGroup(N_E + N_I, eqs, threshold=f"v >= {V_TH}*mV", reset=f"v = {V_RESET}*mV",
                       refractory=T_REF * b2.ms, method="exponential_euler",
                       namespace=ns)  # fmt: skip
    g.v = f"{V_RESET}*mV + rand() * {V_TH - V_RESET}*mV"
    ce = b2.Synapses(g[:N_E], g, on_pre=f"ge += {W_E}*nS", delay=DELAY * b2.ms)
    ci = b2.Synapses(g[N_E:], g, on_pre=f"gi += {W_I}*nS", delay=DELAY * b2.ms)
    ce.connect("i != j", p=P)
    ci.connect(f"i + {N_E} != j", p=P)
    mon = b2.SpikeMonitor(g)
    b2.run((a.warmup + a.duration) * b2.second, report=None)
    b2.device.build(directory=out, compile=True, run=False)
    built = time.perf_counter()
    t0 = time.perf_counter()
    b2.device.run(directory=out, with_output=False)
    run_s = time.perf_counter() - t0
    sim = float(b2.device._last_run_time)
    r = rates(np.asarray(mon.i), np.asarray(mon.t / b2.ms), a.warmup * 1e3,
              (a.warmup + a.duration) * 1e3)  # fmt: skip
    return {"build_s": built - t_start + (run_s - sim), "sim_s": sim, "rates": r,
            "synapses": int(len(ce) + len(ci))}  # fmt: skip


def child(a) -> None:
    try:
        out = {"zentai": run_zentai, "nest": run_nest, "brian2": run_brian2}[a.child](a)
    except ImportError as exc:
        out = {"skipped": f"{a.child} not importable by {sys.executable}: {exc}"}
    out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if a.child == "brian2" and "skipped" not in out:
        out["peak_gib"] = max(
            out["peak_gib"], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        )
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=1.0, help="measured biological s")
    ap.add_argument("--warmup", type=float, default=0.2, help="biological s before it")
    ap.add_argument("--threads", type=int, default=1, help="threads of every simulator")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--backend", default="auto", help="zentai backend (auto, compiled, torch)")
    ap.add_argument("--peers", default="nest,brian2", help="comma list of nest, brian2 or ''")
    ap.add_argument("--peer-python", default=os.environ.get("ZENTAI_PEER_PYTHON", sys.executable))
    ap.add_argument("--child", choices=("zentai", "nest", "brian2"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a)
        return
    sims = ["zentai"] + [p for p in a.peers.split(",") if p]
    rows = {}
    for s in sims:
        python = sys.executable if s == "zentai" else a.peer_python
        cmd = [python, os.path.abspath(__file__), "--child", s, "--duration", str(a.duration),
               "--warmup", str(a.warmup), "--threads", str(a.threads), "--seed", str(a.seed),
               "--backend", a.backend]  # fmt: skip
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
        rows[s] = json.loads(line[-1][7:]) if line else {"skipped": p.stderr[-400:]}
    bio = a.warmup + a.duration
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, nproc {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.2f}; COBA, {N_E + N_I} neurons, {bio:g} s biological "
          f"({a.warmup:g} warm-up), dt 0.1 ms, {a.threads} thread(s), seed {a.seed}")  # fmt: skip
    print("| simulator | build s | sim s | RTF | peak GiB | synapses | rate E Hz | rate I Hz |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for s, r in rows.items():
        if "skipped" in r:
            print(f"| {s} | skipped: {r['skipped'].strip()[:200]} | | | | | | |")
            continue
        name = f"zentai ({r['backend']}, {r['threads']} thr)" if s == "zentai" else s
        print(f"| {name} | {r['build_s']:.2f} | {r['sim_s']:.2f} | {r['sim_s'] / bio:.3f} | "
              f"{r['peak_gib']:.2f} | {r['synapses']:,} | {r['rates']['E']:.2f} | "
              f"{r['rates']['I']:.2f} |")  # fmt: skip
    z = rows.get("zentai", {})
    for s, r in rows.items():
        if s != "zentai" and "skipped" not in r and "skipped" not in z:
            print(f"zentai / {s}: sim {z['sim_s'] / r['sim_s']:.3f}, build "
                  f"{z['build_s'] / r['build_s']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
