"""Strong and weak scaling of the distributed engine on local CPU processes (issue 10).

Each row runs the Potjans-Diesmann microcircuit over R processes (torch.distributed, gloo,
started by zentai.distributed.launch.spawn, one thread each) and prints per rank (the slowest /
largest): build and simulation time, time waiting in the exchange, time delivering, bytes
received per step, spikes exchanged per step, and the measured peak resident memory against
zentai.distributed.plan's prediction. The first line is the single-process Simulator on the
same network in this script (the peer the ratios refer to).

    python benchmarks/distributed.py                       # strong: scale 0.25, R = 1 2 4
    python benchmarks/distributed.py --weak 0.1            # weak: scale 0.1 x R, in-degree fixed
    python benchmarks/distributed.py --comm mpi            # the same over mpiexec + mpi4py
    python benchmarks/distributed.py --model sheet         # a positioned E/I sheet: spatial
                                                           # tiles, d_min 1 ms, overlapped exchange

On a 2-core machine R = 4 is over-subscribed: its times measure contention, not scaling.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODEL = "microcircuit"


def _spec(scale: float, k_scale: float | None):
    if MODEL == "sheet":  # 750 neurons at scale 1, in-degrees fixed by the rules
        from zentai.testing.distributed_jobs import sheet_spec

        return sheet_spec(round(600 * scale), round(150 * scale))
    from zentai.build.microcircuit import microcircuit

    return microcircuit(scale, k_scale=k_scale, record=True)


def job(
    comm, scale: float, k_scale: float | None, duration_ms: float, seed: int, model: str
) -> dict:
    """One rank: build its part, simulate, report its stats and peak memory."""
    from zentai.distributed import DistributedSimulator
    from zentai.distributed.plan import peak_rss

    global MODEL
    MODEL = model

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


def run_ranks(comm: str, R: int, *job_args) -> list[dict]:
    """``job`` on R local processes: spawned with gloo, or under mpiexec with mpi4py."""
    if comm == "gloo":
        from zentai.distributed.launch import spawn

        return spawn(job, R, *job_args)
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or "mpiexec"
    p = subprocess.run(
        [mpiexec, "-n", str(R), sys.executable, __file__, "--mpi-child", json.dumps(job_args)],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in p.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--weak", type=float, default=None, help="weak scaling: scale per rank")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--duration", type=float, default=500.0, help="ms")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", choices=["microcircuit", "sheet"], default="microcircuit")
    ap.add_argument("--comm", choices=["gloo", "mpi"], default="gloo")
    ap.add_argument("--mpi-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    global MODEL
    MODEL = args.model
    if args.mpi_child:  # one of R processes started by mpiexec below
        from zentai.distributed import MPIComm

        comm = MPIComm()
        st = job(comm, *json.loads(args.mpi_child))
        every = comm.allgather_object(st)
        if comm.rank == 0:
            print("RESULT " + json.dumps(every))
        return

    from zentai.distributed.plan import plan

    gib = 2**30
    kind = "weak" if args.weak else "strong"
    print(f"{kind} scaling, {args.model}, {args.duration:g} ms, {args.comm} on local processes")
    if not args.weak:
        s = single(args.scale, None, args.duration, args.seed)
        rtf = s["wall_s"] / (args.duration / 1000)
        print(f"single-process Simulator (1 thread, this script): {s['neurons']:,} neurons, "
              f"{s['synapses']:,} synapses, build {s['build_s']:.2f} s, sim {s['wall_s']:.2f} s "
              f"(RTF {rtf:.2f}), {s['n_spikes']} spikes")  # fmt: skip
    print(
        "R  scale  neurons/rank  synapses/rank  build s  sim s  RTF    wait s  deliver s  "
        "KiB/step  spikes/step  peak GiB  plan GiB  plan/meas"
    )
    for R in args.ranks:
        scale = args.weak * R if args.weak else args.scale
        k_scale = args.weak if args.weak else None
        out = run_ranks(args.comm, R, scale, k_scale, args.duration, args.seed, args.model)
        pred = plan(_spec(scale, k_scale), R).per_rank
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


if __name__ == "__main__":
    main()
