"""Scale on one device: a cortex-like random network with stored or procedural synapses.

Issue 5, target 3: >= 10 million neurons and >= 10^10 synapses on one 80 GB H100, using
procedural connectivity (``Projection(procedural=True)``: synapses regenerated at every spike,
:mod:`zentai.build.procedural`) where stored tables do not fit. The network is Brunel's (2000)
balanced random network with iaf_psc_exp neurons: N neurons, 80 % excitatory, each pair
connected with probability K / N (in-degree K), weights J = 58.5 pA (a ~0.1 mV PSP) and
-g J with g = 5, delays Normal(1.5, 0.75) ms in [0.1, 5] (E) and Normal(0.75, 0.375) ms in
[0.1, 3] (I), Poisson background as the Potjans–Diesmann microcircuit's (2000 sources at 8 Hz,
87.8 pA). Prints one table row per mode: neurons, synapses (expected for procedural), build s,
simulation s, RTF, rates, and the device memory the simulator holds per synapse.

    python benchmarks/procedural.py --neurons 1e7 --indegree 1000 --device cuda --modes procedural
    python benchmarks/procedural.py --neurons 2e5 --indegree 500 --device cuda   # both modes
"""

from __future__ import annotations

import argparse
import time

import torch

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection
from zentai.celltypes import LIF
from zentai.connectome import Bernoulli, Normal
from zentai.record import PopulationRate
from zentai.stim import PoissonInput

J, G = 58.5, 5.0


def spec(n: int, k: int, procedural: bool) -> NetworkSpec:
    n_e = int(0.8 * n)
    p = k / n
    d_e = Normal(1.5, 0.75, low=0.1, high=5.0)
    d_i = Normal(0.75, 0.375, low=0.1, high=3.0)
    w_e = Normal(J, 0.1 * J, low=0.0)
    w_i = Normal(-G * J, 0.1 * G * J, high=0.0)

    def proj(pre, post, w, d):
        return Projection(
            pre=pre, post=post, rule=Bernoulli(p), weight=w, delay=d, procedural=procedural
        )

    return NetworkSpec(
        populations=(
            Population(name="E", size=n_e, model=LIF(t_ref=2.0), initial={"v": Normal(-58, 5)}),
            Population(name="I", size=n - n_e, model=LIF(t_ref=2.0), initial={"v": Normal(-58, 5)}),
        ),
        projections=(
            proj("E", "E", w_e, d_e),
            proj("E", "I", w_e, d_e),
            proj("I", "E", w_i, d_i),
            proj("I", "I", w_i, d_i),
        ),
        stimuli=tuple(
            PoissonInput(target=t, n_sources=2000, rate=8.0, weight=87.8) for t in ("E", "I")
        ),
        recorders=(PopulationRate(bin=1.0),),
        name=f"brunel(N={n}, K={k})",
    )


def run(n: int, k: int, procedural: bool, device: str, ms: float, warm_ms: float) -> dict:
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    # device memory of the network (a GPU build keeps its tables there) and the Simulator
    mem0 = torch.cuda.memory_allocated() if cuda else 0
    t0 = time.perf_counter()
    net = zt.build.network(spec(n, k, procedural), seed=1, device=device)
    t1 = time.perf_counter()
    sim = zt.sim.Simulator(net, device=device, seed=2)
    if cuda:
        torch.cuda.synchronize()
    t2 = time.perf_counter()
    held = (torch.cuda.memory_allocated() - mem0) if cuda else None
    sim.run(warm_ms, progress=False)
    if cuda:
        torch.cuda.synchronize()
    t3 = time.perf_counter()
    res = sim.run(ms, progress=False)
    if cuda:
        torch.cuda.synchronize()
    t4 = time.perf_counter()
    n_syn = net.n_synapses + sum(pp.expected_synapses for pp in net.procedural)
    stored_bytes = sum(
        t.numel() * t.element_size() for t in (sim.target, sim.weight, sim.dsteps, sim.indptr)
    )
    counts = res.rate_counts[:, 0]  # (bins, populations) of member 0
    t_bins = counts.shape[0]
    late = counts[t_bins - round(ms) :]
    sizes = [net.pop_slices[p][1] - net.pop_slices[p][0] for p in ("E", "I")]
    rates = [float(late[:, c].sum()) / sizes[c] / (ms / 1e3) for c in range(2)]
    return {
        "mode": "procedural" if procedural else "stored",
        "backend": sim.backend,
        "neurons": net.n_neurons,
        "synapses": n_syn,
        "build_s": t2 - t0,
        "network_s": t1 - t0,
        "sim_s": t4 - t3,
        "warm_s": t3 - t2,
        "rtf": (t4 - t3) / (ms / 1e3),
        "rates": rates,
        "table_bytes_per_syn": stored_bytes / n_syn,
        "device_bytes_per_syn": None if held is None else held / n_syn,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--neurons", type=float, default=1e4)
    ap.add_argument("--indegree", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--modes", default="stored,procedural")
    ap.add_argument("--ms", type=float, default=100.0, help="timed biological ms")
    ap.add_argument("--warmup", type=float, default=50.0)
    a = ap.parse_args()
    n = int(a.neurons)
    dev = torch.cuda.get_device_name(0) if a.device.startswith("cuda") else "cpu"
    print(f"# Brunel network N = {n:,}, K = {a.indegree}; {dev}, torch {torch.__version__}")
    print(f"# warm-up {a.warmup} ms, timed {a.ms} ms")
    print(
        "| mode | backend | neurons | synapses | build s (network) | sim s | RTF | rate E / I Hz "
        "| synapse tables B/syn | device B/syn (network + simulator) | peak GiB |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode in a.modes.split(","):
        r = run(n, a.indegree, mode == "procedural", a.device, a.ms, a.warmup)
        dev_b = "—" if r["device_bytes_per_syn"] is None else f"{r['device_bytes_per_syn']:.3g}"
        peak = "—" if r["peak_gib"] is None else f"{r['peak_gib']:.1f}"
        print(
            f"| {r['mode']} | {r['backend']} | {r['neurons']:,} | {r['synapses']:.3g} | "
            f"{r['build_s']:.1f} ({r['network_s']:.1f}) | {r['sim_s']:.2f} | {r['rtf']:.3g} | "
            f"{r['rates'][0]:.2f} / {r['rates'][1]:.2f} | {r['table_bytes_per_syn']:.3g} | "
            f"{dev_b} | {peak} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
