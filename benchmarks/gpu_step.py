"""Where a GPU step's time goes: the Triton backend on the Potjans–Diesmann microcircuit.

Builds the microcircuit at ``--scale`` on CUDA, runs a warm-up, then times the same stretch of
biological time (a) replayed from CUDA graphs (the default), (b) launched eagerly, and (c) on
the torch reference path, and prints µs per step and the real-time factor of each, plus the
mean GPU time per launch of each kernel (torch.profiler) — what to optimise next.

    python benchmarks/gpu_step.py --scale 1.0 --ms 200
"""

from __future__ import annotations

import argparse
import time

import torch

import zentai as zt


def timed(sim: zt.sim.Simulator, ms: float) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    sim.run(ms, progress=False)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--ms", type=float, default=200.0, help="timed biological ms")
    ap.add_argument("--warmup", type=float, default=100.0)
    ap.add_argument("--torch", action="store_true", help="also time the torch path")
    a = ap.parse_args()
    net = zt.build.network(zt.build.microcircuit(a.scale), seed=1)
    steps = round(a.ms / 0.1)
    print(f"# microcircuit scale {a.scale}: {net.n_neurons:,} neurons, {net.n_synapses:,} synapses")
    print(f"# {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print("| path | µs per step | RTF | spikes per step |")
    print("|---|---:|---:|---:|")
    paths = [("triton, CUDA graphs", "triton", True), ("triton, eager launches", "triton", False)]
    if a.torch:
        paths.append(("torch reference", "torch", False))
    for label, backend, graphs in paths:
        with zt.set_options(cuda_graphs=graphs):
            sim = zt.sim.Simulator(net, device="cuda", seed=2, backend=backend)
            sim.run(a.warmup, progress=False)
            n0 = sim.result().spike_neuron.size
            wall = timed(sim, a.ms)
            n1 = sim.result().spike_neuron.size
        print(
            f"| {label} | {wall / steps * 1e6:.1f} | {wall / (a.ms / 1e3):.3f} | "
            f"{(n1 - n0) / steps:.1f} |"
        )
    # kernel times (eager launches, so each kernel shows separately)
    with zt.set_options(cuda_graphs=False):
        sim = zt.sim.Simulator(net, device="cuda", seed=2, backend="triton")
        sim.run(a.warmup, progress=False)
        torch.cuda.synchronize()
        acts = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
        with torch.profiler.profile(activities=acts) as prof:
            sim.run(20.0, progress=False)
            torch.cuda.synchronize()
    print()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=12))


if __name__ == "__main__":
    main()
