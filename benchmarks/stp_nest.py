"""zentai's TsodyksMarkram synapse against NEST's ``tsodyks2_synapse``.

A LIF neuron P fires regularly under a DC current; its spikes reach a neuron Q that never fires
(its membrane is a linear read-out of the transmitted weights) through a plastic synapse. NEST
is given the same presynaptic spike times (spike_generator -> parrot_neuron ->
``tsodyks2_synapse`` -> ``iaf_psc_exp``, weight = ours / U, initial u = U, x = 1) and the
largest difference of Q's membrane potential is printed per parameter set (2026-11-26, NEST
3.10.0: at most 8.5e-14 mV, with PSP ranges of 0.5-2.4 mV; exit status 1 above 1e-6 mV).
NEST runs in a child process of ``--peer-python`` (a throwaway venv with ``nest-simulator``),
never a project dependency.

    python benchmarks/stp_nest.py --peer-python /tmp/peers/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

CASES = {  # name: (U, tau_rec, tau_fac, DC pA into P)
    "depressing": (0.5, 200.0, 0.0, 900.0),
    "facilitating": (0.05, 100.0, 500.0, 600.0),
    "bgmodel D1->SNr": (0.0192, 559.0, 623.0, 420.0),
    "bgmodel STN->SNr": (0.35, 800.0, 0.0, 700.0),
}
W, DELAY, T_MS = 300.0, 1.0, 300.0
LIF_NEST = {"C_m": 250.0, "tau_m": 10.0, "E_L": -65.0, "V_reset": -65.0, "V_m": -65.0,
            "t_ref": 2.0, "tau_syn_ex": 0.5, "tau_syn_in": 0.5, "V_th": 1e6,
            "I_e": 0.0}  # fmt: skip


def run_zentai(U: float, tau_rec: float, tau_fac: float, dc: float):
    import zentai as zt
    from zentai.build import NetworkSpec, Population, Projection, TsodyksMarkram
    from zentai.celltypes import LIF
    from zentai.connectome import OneToOne
    from zentai.record import Spikes, StateMonitor
    from zentai.stim import DC

    m = TsodyksMarkram(U=U, tau_rec=tau_rec, tau_fac=tau_fac)
    spec = NetworkSpec(
        populations=(
            Population(name="P", size=1, model=LIF(t_ref=2.0)),
            Population(name="Q", size=1, model=LIF(v_th=1e6)),
        ),
        projections=(Projection(pre="P", post="Q", rule=OneToOne(), weight=W, delay=DELAY, stp=m),),
        stimuli=(DC(target="P", amplitude=dc),),
        recorders=(Spikes(populations=("P",)), StateMonitor(population="Q")),
    )
    res = zt.sim.run(zt.build.network(spec), T_MS, dtype="float64", progress=False)
    q = res.states["Q.v"]
    return res.times_ms(0, "P"), np.asarray(q.time), np.asarray(q.values)[0, 0]


NEST_CHILD = r"""
import json, sys
import nest
a = json.loads(sys.stdin.read())
nest.set_verbosity("M_ERROR")
nest.ResetKernel()
nest.resolution = 0.1
sg = nest.Create("spike_generator", params={"spike_times": [t - 1.0 for t in a["times"]]})
pa = nest.Create("parrot_neuron")
post = nest.Create("iaf_psc_exp", params=a["lif"])
nest.Connect(sg, pa, syn_spec={"delay": 1.0})
nest.Connect(pa, post, syn_spec={"synapse_model": "tsodyks2_synapse", "weight": a["w"],
    "delay": a["delay"], "U": a["U"], "u": a["u0"], "x": 1.0, "tau_rec": a["tau_rec"],
    "tau_fac": a["tau_fac"]})
mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 0.1})
nest.Connect(mm, post)
nest.Simulate(a["T"])
ev = mm.get("events")
print(json.dumps({"t": list(map(float, ev["times"])), "v": list(map(float, ev["V_m"]))}))
"""


def run_nest(python: str, times, U, tau_rec, tau_fac) -> tuple[np.ndarray, np.ndarray]:
    args = {"times": [float(t) for t in times], "lif": LIF_NEST, "w": W / U, "delay": DELAY,
            "U": U, "u0": U, "tau_rec": tau_rec, "tau_fac": tau_fac, "T": T_MS}  # fmt: skip
    out = subprocess.run(
        [python, "-c", NEST_CHILD], input=json.dumps(args), capture_output=True, text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"), check=False,
    )  # fmt: skip
    if out.returncode:
        raise SystemExit(f"NEST child failed:\n{out.stderr[-2000:]}")
    d = json.loads(out.stdout.strip().splitlines()[-1])
    return np.array(d["t"]), np.array(d["v"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-python", default=os.environ.get("ZENTAI_PEER_PYTHON", sys.executable))
    a = ap.parse_args()
    print(f"# Q's membrane, zentai (float64) vs NEST tsodyks2_synapse; {T_MS:g} ms, dt 0.1 ms")
    print("| synapse | U | tau_rec | tau_fac | pre spikes | PSP range mV | max abs dV mV |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for name, (U, tr, tf, dc) in CASES.items():
        times, tz, vz = run_zentai(U, tr, tf, dc)
        tn, vn = run_nest(a.peer_python, times, U, tr, tf)
        _, iz, inn = np.intersect1d(np.round(tz, 4), np.round(tn, 4), return_indices=True)
        dv = float(np.abs(vz[iz] - vn[inn]).max())
        worst = max(worst, dv)
        print(f"| {name} | {U} | {tr:g} | {tf:g} | {times.size} | {np.ptp(vz):.3f} | {dv:.2e} |")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
