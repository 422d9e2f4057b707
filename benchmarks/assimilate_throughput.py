"""Ensemble throughput of data assimilation (issue 6): member-bio-seconds per wall-second.

Runs the network of the built-in ``twin-microcircuit`` config (Potjans–Diesmann microcircuit,
scale 0.1, background Poisson input, population-rate recording only) with B = 1, 10 and 100
members in one ``Simulator``, each member with its own background rate and E->I gain (as in an
assimilation cycle), and prints one Markdown table: wall time, member-bio-seconds per
wall-second, and the same per CPU core, next to the original program's figure (MONET on
Fugaku: 100 brains x 10 s of bihemispheric cortex in 250 s on 5,200 CPUs = 4 member-bio-s per
wall-s, 7.7e-4 per CPU; the model sizes differ, so compare per neuron-second too).

    .venv/bin/python benchmarks/assimilate_throughput.py --duration 1.0
    .venv/bin/python benchmarks/assimilate_throughput.py --device cuda   # on a GPU machine
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

import numpy as np

#: MONET on Fugaku (RIKEN report; MODEL_SPEC §0 A7): 100 members x 10 s in 250 s, 5,200 CPUs
FUGAKU_MEMBER_BIO_S_PER_S = 100 * 10.0 / 250.0
FUGAKU_CPUS = 5200


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--members", default="1,10,100")
    ap.add_argument("--duration", type=float, default=1.0, help="biological seconds per run")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    import torch

    import zentai as zt
    from zentai.record import PopulationRate

    spec = zt.build.microcircuit(a.scale, record=False)
    spec = dataclasses.replace(spec, recorders=(PopulationRate(bin=1.0),))
    net = zt.build.network(spec, seed=a.seed)
    cores = os.cpu_count() or 1
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; {platform.processor() or 'cpu'}"
        f", nproc {cores}; load average {os.getloadavg()[0]:.2f} at start; microcircuit scale "
        f"{a.scale} ({net.n_neurons:,} neurons, {net.n_synapses:,} synapses), {a.duration} s "
        f"per member, device {a.device}"
    )
    rows = []
    for B in (int(x) for x in a.members.split(",")):
        sim = zt.sim.Simulator(net, n_ensembles=B, device=a.device, seed=a.seed)
        draw = np.random.default_rng(a.seed)
        sim.set_poisson_rate(draw.uniform(7.5, 10.5, B) if B > 1 else 9.0)
        gain = draw.uniform(0.9, 1.3, B) if B > 1 else 1.1
        for p in ("L2/3I", "L4I", "L5I", "L6I"):
            sim.set_input_gain(p, "ex", gain)
        sim.run(20.0, progress=False)  # compile / warm the caches
        sim.clear_recordings()
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        sim.run(a.duration * 1e3, progress=False)
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        wall = time.perf_counter() - t
        thr = B * a.duration / wall
        rows.append(
            f"| {a.device} | {sim.backend} ({sim.num_threads} thr) | {B} | {wall:.2f} | "
            f"{thr:.3g} | {thr / cores:.3g} | {thr * net.n_neurons:.3g} | "
            f"{thr / FUGAKU_MEMBER_BIO_S_PER_S:.3g} |"
        )
    print(
        "| device | backend | B | wall s | member-bio-s / wall-s | per core | neuron-bio-s / "
        "wall-s | ratio to Fugaku (4.0) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(
        f"# Fugaku (MONET, 5,200 CPUs): {FUGAKU_MEMBER_BIO_S_PER_S:.1f} member-bio-s / wall-s, "
        f"{FUGAKU_MEMBER_BIO_S_PER_S / FUGAKU_CPUS:.2g} per CPU, bihemispheric cortex; "
        f"load average {os.getloadavg()[0]:.2f} at end"
    )


if __name__ == "__main__":
    main()
