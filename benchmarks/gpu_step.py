"""Where a GPU step's time goes: the Triton backend on the Potjans–Diesmann microcircuit.

Builds the microcircuit at ``--scale`` once, then for each launch configuration (the defaults
of ``zentai.sim.gpu_kernels.TUNE``, variants of block sizes and work split, eager launches
instead of CUDA graphs, programmatic launch or not; optionally the torch path) makes a
Simulator on CUDA, runs a warm-up, and times the same stretch of biological time. Prints µs
per step, the real-time factor and spikes per step of each (rows appear as they finish; a
configuration that fails prints its error as its row), then the mean GPU time per launch of
each kernel of the default configuration (torch.profiler).

    python benchmarks/gpu_step.py --scale 1.0 --ms 200
"""

from __future__ import annotations

import argparse
import time

import torch

import zentai as zt
from zentai.sim import gpu_kernels

VARIANTS = {
    "default": {},
    "without programmatic launch": {"pdl": False},
    "PDL, 1 delivery program per SM": {"pdl_deliver_programs_per_sm": 1},
    "PDL, 3 delivery programs per SM": {"pdl_deliver_programs_per_sm": 3},
    "PDL, 4 delivery programs per SM": {"pdl_deliver_programs_per_sm": 4},
    "PDL, 256 synapses per part": {"syn_per_part": 256},
    "PDL, 1024 synapses per part": {"syn_per_part": 1024},
    "PDL, deliver vector 128": {"deliver_block": 128},
    "PDL, block 64": {"block": 64},
    "PDL, block 256": {"block": 256},
    "PDL, block 128, 2 warps": {"warps": 2},
    "PDL, eager launches": {"cuda_graphs": False},
    "PDL, deliver vector 512": {"deliver_block": 512},
    "PDL, 1024 synapses per part, deliver vector 1024": {
        "syn_per_part": 1024,
        "deliver_block": 1024,
    },
    "PDL, 128 synapses per part": {"syn_per_part": 128},
    "PDL, 256 synapses per part, 2 warps": {"syn_per_part": 256, "warps": 2},
    "PDL, 256 synapses per part, 3 delivery programs per SM": {
        "syn_per_part": 256,
        "pdl_deliver_programs_per_sm": 3,
    },
    "PDL, 256 synapses per part, graphs of 500 steps": {"syn_per_part": 256, "graph_steps": 500},
    "block 256": {"pdl": False, "block": 256},
    "block 512, 8 warps": {"pdl": False, "block": 512, "warps": 8},
    "256 synapses per part": {"pdl": False, "syn_per_part": 256},
    "deliver 8 programs per SM": {"pdl": False, "deliver_programs_per_sm": 8},
    "graphs of 500 steps": {"graph_steps": 500},
    "eager launches": {"pdl": False, "cuda_graphs": False},
    # the pipelined launch (TUNE["pipeline"], session 16: not yet timed on a GPU)
    "pipelined": {"pipeline": True},
    "pipelined, 1 delivery program per SM": {"pipeline": True, "pdl_deliver_programs_per_sm": 1},
    "pipelined, 3 delivery programs per SM": {"pipeline": True, "pdl_deliver_programs_per_sm": 3},
    "pipelined, 256 synapses per part": {"pipeline": True, "syn_per_part": 256},
    "pipelined, block 256": {"pipeline": True, "block": 256},
    "pipelined, eager launches": {"pipeline": True, "cuda_graphs": False},
}


def timed(sim: zt.sim.Simulator, ms: float) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    sim.run(ms, progress=False)
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def one(net, label: str, tune: dict, a: argparse.Namespace, backend: str = "triton") -> None:
    tune = dict(tune)
    graphs = tune.pop("cuda_graphs", True)
    saved = dict(gpu_kernels.TUNE)
    gpu_kernels.TUNE.update(tune)
    try:
        with zt.set_options(cuda_graphs=graphs):
            sim = zt.sim.Simulator(
                net, device="cuda", seed=2, backend=backend, n_ensembles=a.members
            )
            sim.run(a.warmup, progress=False)
            n0 = sim.result().spike_neuron.size
            wall = timed(sim, a.ms)
            n1 = sim.result().spike_neuron.size
    finally:
        gpu_kernels.TUNE.clear()
        gpu_kernels.TUNE.update(saved)
    steps = round(a.ms / 0.1)
    print(
        f"| {label} | {wall / steps * 1e6:.1f} | {wall / (a.ms / 1e3):.3f} | "
        f"{(n1 - n0) / steps:.1f} |",
        flush=True,
    )
    del sim
    torch.cuda.empty_cache()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--ms", type=float, default=200.0, help="timed biological ms")
    ap.add_argument("--warmup", type=float, default=100.0)
    ap.add_argument("--members", type=int, default=1, help="ensemble members B")
    ap.add_argument(
        "--variants",
        default="all",
        help="VARIANTS keys separated by ';' (names hold commas), or all",
    )
    ap.add_argument("--torch", action="store_true", help="also time the torch path")
    ap.add_argument("--profile", action="store_true", help="kernel times (torch.profiler)")
    a = ap.parse_args()
    names = list(VARIANTS) if a.variants == "all" else [v.strip() for v in a.variants.split(";")]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown --variants {unknown}; known: {list(VARIANTS)}")
    net = zt.build.network(zt.build.microcircuit(a.scale), seed=1, device="cuda")
    print(f"# microcircuit scale {a.scale}: {net.n_neurons:,} neurons, {net.n_synapses:,} synapses")
    print(
        f"# {torch.cuda.get_device_name(0)}, torch {torch.__version__}; defaults {gpu_kernels.TUNE}"
    )
    print(f"# B = {a.members} members; warm-up {a.warmup} ms, timed {a.ms} ms (dt 0.1 ms), seed 2")
    print("| configuration | µs per step | RTF | spikes per step |")
    print("|---|---:|---:|---:|", flush=True)
    for name in names:
        try:
            one(net, name, VARIANTS[name], a)
        except Exception as e:  # one failing configuration loses only its own row
            print(f"| {name} | failed: {type(e).__name__}: {str(e)[:300]} | | |", flush=True)
            torch.cuda.empty_cache()
    if a.torch:
        one(net, "torch reference path", {}, a, backend="torch")
    if a.profile:
        with zt.set_options(cuda_graphs=False):
            sim = zt.sim.Simulator(
                net, device="cuda", seed=2, backend="triton", n_ensembles=a.members
            )
            sim.run(a.warmup, progress=False)
            torch.cuda.synchronize()
            acts = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
            with torch.profiler.profile(activities=acts) as prof:
                sim.run(20.0, progress=False)
                torch.cuda.synchronize()
        print()
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=8))


if __name__ == "__main__":
    main()
