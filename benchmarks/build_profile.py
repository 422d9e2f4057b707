"""Where the microcircuit's build time goes: network and Simulator set-up, profiled.

Builds ``zentai.build.microcircuit(scale)`` once untimed at scale 0.01 (numba compiles, CUDA
starts), then once at ``--scale`` under cProfile, and creates a Simulator for it; prints the
wall time of each, their user/system CPU time and page faults (fresh memory is costly on VMs),
and the functions with the most own time. Compiled (numba, Triton) loops show as one entry.

Usage::

    python benchmarks/build_profile.py --scale 1.0 [--device cpu|cuda] [--build-device D]
        [--threads N] [--top 15]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import resource
import time


def _profiled(label: str, fn, top: int, sync) -> object:
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    out = fn()
    sync()
    prof.disable()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(
        f"== {label}: {wall:.2f} s wall, user {r1.ru_utime - r0.ru_utime:.1f} s, system "
        f"{r1.ru_stime - r0.ru_stime:.1f} s, {r1.ru_minflt - r0.ru_minflt:,} page faults"
    )
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(top)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print("\n".join(line for line in lines[start:] if line.strip()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--device", default="cpu", help="Simulator device")
    ap.add_argument("--build-device", default=None, help="build device (default: --device)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    ap.add_argument("--top", type=int, default=15)
    a = ap.parse_args(argv)
    import torch

    import zentai
    from zentai.build.microcircuit import microcircuit

    if a.threads:
        torch.set_num_threads(a.threads)
    build_dev = a.build_device or a.device

    def sync() -> None:
        if torch.device(a.device).type == "cuda" or torch.device(build_dev).type == "cuda":
            torch.cuda.synchronize()

    small = zentai.build.network(microcircuit(scale=0.01), seed=1, device=build_dev)
    zentai.sim.Simulator(small, device=a.device)
    print(
        f"# microcircuit scale {a.scale}, built on {build_dev}, Simulator on {a.device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    )
    spec = microcircuit(scale=a.scale)
    net = _profiled(
        "network", lambda: zentai.build.network(spec, seed=1, device=build_dev), a.top, sync
    )
    print(f"# {net.n_neurons:,} neurons, {net.n_synapses:,} synapses")
    _profiled("Simulator", lambda: zentai.sim.Simulator(net, device=a.device), a.top, sync)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
