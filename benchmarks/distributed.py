"""Strong and weak scaling of the distributed engine on local CPU processes (issue 10).

Each row runs the Potjans-Diesmann microcircuit over R processes (torch.distributed, gloo,
started by zentai.distributed.launch.spawn, one thread each) and prints per rank (the slowest /
largest): build and simulation time, time waiting in the exchange, time delivering, bytes
received per step, spikes exchanged per step, and the measured peak resident memory against
zentai.distributed.plan's prediction. The first line is the single-process Simulator on the
same network in this script (the peer the ratios refer to).

    python benchmarks/distributed.py                       # strong: scale 0.25, R = 1 2 4
    python benchmarks/distributed.py --weak 0.1            # weak: scale 0.1 x R, in-degree fixed

On a 2-core machine R = 4 is over-subscribed: its times measure contention, not scaling.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def _spec(scale: float, k_scale: float | None):
    from zentai.build.microcircuit import microcircuit

    return microcircuit(scale, k_scale=k_scale, record=True)


def peak_rss() -> int:
    """This process's peak resident memory (bytes): VmHWM, which starts afresh at exec (unlike
    getrusage's ru_maxrss, which a spawned child inherits from its parent)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # pragma: no cover


def job(comm, scale: float, k_scale: float | None, duration_ms: float, seed: int) -> dict:
    """One rank: build its part, simulate, report its stats and peak memory."""
    from zentai.distributed import DistributedSimulator

    base = peak_rss()
    d = DistributedSimulator(_spec(scale, k_scale), comm, network_seed=seed, seed=seed)
    d.run(duration_ms, progress=False)
    st = d.stats()
    st["peak_rss"] = peak_rss()
    st["base_rss"] = base
    st["n_spikes"] = int(d.result().n_spikes)
    st["fingerprint"] = d.fingerprint
    return st


def single(scale: float, k_scale: float | None, duration_ms: float, seed: int) -> dict:
    import zentai as zt

    t0 = time.perf_counter()
    net = zt.build.network(_spec(scale, k_scale), seed=seed)
    build = time.perf_counter() - t0
    sim = zt.sim.Simulator(net, seed=seed, num_threads=1)
    res = sim.run(duration_ms, progress=False)
    return {"build_s": build, "wall_s": sim.wall_s, "n_spikes": res.n_spikes,
            "neurons": net.n_neurons, "synapses": net.n_synapses}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--weak", type=float, default=None, help="weak scaling: scale per rank")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--duration", type=float, default=500.0, help="ms")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    from zentai.distributed.launch import spawn
    from zentai.distributed.plan import plan

    gib = 2**30
    kind = "weak" if args.weak else "strong"
    print(f"{kind} scaling, microcircuit, {args.duration:g} ms, gloo on local processes")
    if not args.weak:
        s = single(args.scale, None, args.duration, args.seed)
        rtf = s["wall_s"] / (args.duration / 1000)
        print(f"single-process Simulator (1 thread): {s['neurons']:,} neurons, "
              f"{s['synapses']:,} synapses, build {s['build_s']:.2f} s, sim {s['wall_s']:.2f} s "
              f"(RTF {rtf:.2f}), {s['n_spikes']} spikes")  # fmt: skip
    print(
        "R  scale  neurons/rank  synapses/rank  build s  sim s  RTF    wait s  deliver s  "
        "KiB/step  spikes/step  peak GiB  plan GiB  plan/meas"
    )
    for R in args.ranks:
        scale = args.weak * R if args.weak else args.scale
        k_scale = args.weak if args.weak else None
        out = spawn(job, R, scale, k_scale, args.duration, args.seed)
        pred = plan(_spec(scale, k_scale), R).per_rank
        worst = max(out, key=lambda st: st["peak_rss"])
        peak = max(st["peak_rss"] for st in out)
        ratio = np.array([p.peak_bytes / st["peak_rss"] for p, st in zip(pred, out, strict=True)])
        sim_s = max(st["wall_s"] for st in out)
        print(
            f"{R:<2} {scale:<6g} {max(st['neurons'] for st in out):>12,} "
            f"{max(st['synapses'] for st in out):>14,} {max(st['build_s'] for st in out):>8.2f} "
            f"{sim_s:>6.2f} {sim_s / (args.duration / 1000):>5.2f} "
            f"{max(st['exchange_wait_s'] for st in out):>7.2f} "
            f"{max(st['deliver_s'] for st in out):>10.2f} "
            f"{out[0]['bytes_received_per_step'] / 1024:>9.2f} "
            f"{out[0]['spikes_exchanged_per_step']:>12.2f} {peak / gib:>9.2f} "
            f"{max(p.peak_bytes for p in pred) / gib:>9.2f} "
            f"{ratio.min():>5.2f}-{ratio.max():.2f}"
        )
        assert len({st["fingerprint"] for st in out}) == 1
        del worst


if __name__ == "__main__":
    main()
