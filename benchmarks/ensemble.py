"""Cost of B ensemble members in one batched run against one member (issue 5, target 4).

Runs a ~10,000-neuron Potjans–Diesmann microcircuit (scale 0.13: neurons and in-degrees x 0.13,
Poisson background) once with B = 1 and once with B members in one ``Simulator``, on each
requested device and backend, and prints one Markdown table: wall time of the run, wall time
per member, and the ratio (B members) / (1 member). Target (issue 5): B = 100 for <= 30x one
copy on CPU, <= 10x on GPU.

    .venv/bin/python benchmarks/ensemble.py --members 100 --duration 0.2
    .venv/bin/python benchmarks/ensemble.py --device cuda --members 100   # on a GPU machine

Each member has its own Poisson streams and initial state (``member_seeds`` default), so the
members' spikes differ; the first member of the batched run is checked to equal the B = 1 run
(same seed), which the engine guarantees.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def run(
    scale: float,
    members: int,
    duration_ms: float,
    device: str,
    backend: str,
    seed: int,
    repeats: int = 1,
):
    import torch

    import zentai as zt

    net = zt.build.network(zt.build.microcircuit(scale), seed=seed)
    out = {}
    first = {}
    for b in (1, members):
        times = []
        for _ in range(repeats):  # the fastest of the repeats (a fresh simulator each)
            sim = zt.sim.Simulator(net, n_ensembles=b, device=device, backend=backend, seed=seed)
            sim.run(10.0, progress=False)  # compile / warm the caches (both CPU loops)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            res = sim.run(duration_ms, progress=False)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        out[b] = min(times)
        if b == members:
            blk = sim._cblk if sim.backend == "compiled" else None
            out["lanes"] = f"{blk['M']} in {blk['G']}" if blk else "-"
            out["threads"] = sim.num_threads
        m0 = res.spike_member == 0
        first[b] = (res.spike_neuron[m0], res.spike_time_ms[m0])
        out[f"spikes_{b}"] = int(res.spike_neuron.size)
        out["backend"] = sim.backend
        out["n_neurons"] = net.n_neurons
    same = all(np.array_equal(x, y) for x, y in zip(first[1], first[members]))
    return out, same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.13)
    ap.add_argument("--members", type=int, default=100)
    ap.add_argument("--duration", type=float, default=0.2, help="biological seconds")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backends", default="auto,torch", help="comma list: auto, torch, compiled")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1, help="runs of each size; the fastest counts")
    a = ap.parse_args()
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; {platform.processor() or 'cpu'}"
        f", nproc {os.cpu_count()}; load average {os.getloadavg()[0]:.2f} at start"
    )
    rows = []
    for be in a.backends.split(","):
        r, same = run(a.scale, a.members, a.duration * 1e3, a.device, be, a.seed, a.repeats)
        ratio = r[a.members] / r[1]
        rows.append(
            f"| {a.device} | {r['backend']} | {r['threads']} | {r['lanes']} | "
            f"{r['n_neurons']:,} | {r[1]:.3f} | {r[a.members]:.2f} | "
            f"{r[a.members] / a.members:.4f} | {ratio:.1f}x | {'yes' if same else 'NO'} |"
        )
    print(
        f"# microcircuit scale {a.scale}, {a.duration} s biological, B = {a.members}; "
        f"load average {os.getloadavg()[0]:.2f} at end"
    )
    print(
        "| device | backend | threads (B members) | members in lanes | neurons | 1 member s | "
        "B members s | s per member | B / 1 | member 0 = single run |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
