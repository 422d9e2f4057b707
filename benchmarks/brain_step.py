"""Time per step of a data-driven brain network: the fast paths against the torch path.

Builds a scenario's network from the Allen atlas at a fraction of the real cell density — by
default motor-loop's (left MOp, MOs, motor thalamus, pontine grey, cerebellar cortex and
nuclei; Izhikevich cortex, LIFAHP granule / Golgi / Purkinje cells and AdEx interneurons and
nuclei with conductance synapses), or m1-gamma's (left MOp, Izhikevich cortex, current
synapses), or cbgc-pulse's (that brain with the basal ganglia: Izhikevich striatal, pallidal
and subthalamic cells with conductance synapses; ``--fraction`` 0.005 is its default) — runs
it with each backend in the same process and prints one Markdown table: wall
ms per 0.1 ms step, real-time factor, spikes, the ratio to the torch path and whether the
spikes equal the torch path's. On the CPU the compiled loop (at each thread count) races the
torch path; with ``--device cuda``, the Triton step (float32 atomic adds meet in no fixed
order, so its spikes may differ; ``--dtype float64`` for an equality check).

    ZENTAI_DATA=../shared/data/allen .venv/bin/python benchmarks/brain_step.py --fraction 0.02
    python benchmarks/brain_step.py --scenario m1-gamma --fraction 0.1 --device cuda
    python benchmarks/brain_step.py --device cuda --triton-tune maxnreg=80   (a launch variant)

Until 2026-11-27 (session 14) the compiled loop took LIF and Izhikevich neurons only, so the
cerebellum sent the whole network to the torch path.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fraction", type=float, default=0.02, help="of the real cell density")
    ap.add_argument("--ms", type=float, default=200.0, help="measured biological ms")
    ap.add_argument("--warmup", type=float, default=10.0, help="ms run first (compiles)")
    ap.add_argument("--threads", default="1,2", help="compiled-loop threads to time, ','")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenario", default="motor-loop", help="motor-loop, m1-gamma or cbgc-pulse")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--dtype", default="float32", help="float32 or float64")
    ap.add_argument(
        "--triton-tune", default="",
        help="with --device cuda: more triton rows, ';' between rows, each 'key=int,...' of "
        "zentai.sim.gpu_kernels.TUNE (e.g. 'maxnreg=80;maxnreg=96')",
    )  # fmt: skip
    args = ap.parse_args()
    from zentai.sim import gpu_kernels

    tunes = []  # extra triton rows (checked before the build)
    for row in filter(None, args.triton_tune.split(";")):
        tune = {}
        for item in row.split(","):
            key, _, value = item.partition("=")
            if key.strip() not in gpu_kernels.TUNE or not value.strip().lstrip("-").isdigit():
                raise SystemExit(
                    f"--triton-tune: {item!r} is not key=int with a key of {list(gpu_kernels.TUNE)}"
                )
            tune[key.strip()] = int(value)
        tunes.append(tune)

    import torch

    import zentai as zt
    from zentai.atlas.atlas import load as load_atlas
    from zentai.build.brain import brain_spec
    from zentai.record.recorders import Spikes
    from zentai.scenarios import load_scenario

    atlas = load_atlas("allen_mouse_100um")
    t = time.perf_counter()
    if args.scenario == "cbgc-pulse":  # the cortex-basal ganglia-cerebellum network
        from zentai.build.cbgc import cbgc_spec

        spec, _ = cbgc_spec(atlas, fraction=args.fraction, seed=args.seed)
    else:
        sc = load_scenario(args.scenario)
        spec, _ = brain_spec(
            atlas, sc.regions, fraction=args.fraction, hemisphere=sc.hemisphere, seed=args.seed,
            models=sc.models,
        )  # fmt: skip
    net = zt.build.network(spec.add(Spikes()), seed=args.seed, device=args.device)
    build_s = time.perf_counter() - t
    models = sorted({g.model_class.__name__ for g in net.groups})
    if args.device == "cpu":
        runs = [("torch", None, {})]
        runs += [("compiled", int(x), {}) for x in args.threads.split(",") if x]
    else:
        runs = [("torch", None, {}), ("triton", None, {})] + [("triton", None, t) for t in tunes]

    def sync() -> None:
        if args.device != "cpu":
            torch.cuda.synchronize()

    rows, ref = [], None
    for backend, threads, tune in runs:
        if tune:  # (the Simulator copies TUNE when it is set up)
            saved = dict(gpu_kernels.TUNE)
            gpu_kernels.TUNE.update(tune)
        sim = zt.sim.Simulator(
            net, backend=backend, seed=args.seed, num_threads=threads, device=args.device,
            dtype=args.dtype,
        )  # fmt: skip
        if tune:
            gpu_kernels.TUNE.update(saved)
        label = backend + "".join(f", {k}={v}" for k, v in tune.items())
        sim.run(args.warmup, progress=False)
        sync()
        t = time.perf_counter()
        res = sim.run(args.ms, progress=False)
        sync()
        wall = time.perf_counter() - t
        steps = round(args.ms / sim.dt)
        spikes = (res.spike_neuron, res.spike_time_ms)
        if ref is None:
            ref, ref_wall = spikes, wall
        same = all(np.array_equal(x, y) for x, y in zip(spikes, ref))
        rows.append((label, sim.num_threads, wall / steps * 1e3, wall / (args.ms / 1e3),
                     res.spike_neuron.size, ref_wall / wall, same))  # fmt: skip
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.node()}, "
          f"nproc {os.cpu_count()}, torch {torch.__version__}")  # fmt: skip
    print(f"# {args.scenario} network, fraction {args.fraction:g}: {net.n_neurons:,} neurons, "
          f"{net.n_synapses:,} synapses ({', '.join(models)}); built in {build_s:.1f} s; "
          f"{args.ms:g} ms after {args.warmup:g} ms, {args.dtype}, {args.device}")  # fmt: skip
    if args.device == "cpu":  # what the engine's default would run it on
        auto = zt.sim.Simulator(net, backend="compiled", dtype=args.dtype)
        work = sum(c.sum() for c in auto._compiled_costs()) / 1e3
        print(
            f"# compiled default: {auto.num_threads} thread(s) (estimated work {work:.0f} µs "
            "per step)"
        )
    print("| backend | threads | ms per step | RTF | spikes | speed-up vs torch | same spikes |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for b, th, ms, rtf, n, up, same in rows:
        same = "yes" if same else "NO"
        print(f"| {b} | {th} | {ms:.3f} | {rtf:.1f} | {n:,} | {up:.1f}x | {same} |")


if __name__ == "__main__":
    main()
