"""Potjans–Diesmann microcircuit: zentai against NEST 3 (and Brian2), side by side.

Each simulator runs in its own child process (so peak memory is per simulator), builds the same
model (same scale, N and K scaling, background, seed, dt), simulates a warm-up plus a measured
interval, and reports timings, sizes and per-population rates as JSON; this driver prints one
table. See ``benchmarks/README.md`` for what is measured.

Usage::

    python benchmarks/microcircuit.py --scale 0.1 --device cpu [--duration 1.0] [--warmup 0.5]
        [--threads 2] [--seed 1] [--peers nest,brian2] [--repeats 1] [--json OUT]
        [--peer-python /tmp/peers/bin/python]

The peers (``nest``, ``brian2``) are imported by ``--peer-python`` (default: this interpreter,
or ``$ZENTAI_PEER_PYTHON``); a peer that cannot be imported there is skipped with a note.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from nest_microcircuit import (  # noqa: E402
    BG_RATE,
    D_REL_SD,
    NEURON,
    POPULATIONS,
    V0_MEAN,
    V0_SD,
    W_REL_SD,
    cvs,
    derive,
    peak_rss_mib,
    rates_from_spikes,
    run_nest,
)

SIMULATORS = ("zentai", "nest", "brian2")
LABELS = {"zentai": "zentai", "nest": "NEST", "brian2": "Brian2"}


# ============================================================================ children
def run_zentai(a: argparse.Namespace) -> dict:
    """Build and simulate with zentai in this process."""
    t_imp = time.perf_counter()
    import torch

    import zentai
    from zentai.build.microcircuit import microcircuit

    import_s = time.perf_counter() - t_imp
    torch.set_num_threads(a.threads)
    if a.triton_tune:
        from zentai.sim import gpu_kernels

        for item in a.triton_tune.split(","):
            key, _, value = item.partition("=")
            if key.strip() not in gpu_kernels.TUNE:
                raise SystemExit(
                    f"--triton-tune: unknown key {key!r}; known: {list(gpu_kernels.TUNE)}"
                )
            gpu_kernels.TUNE[key.strip()] = int(value)
    dev = torch.device(a.device)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    warmup_ms, duration_ms = a.warmup * 1e3, a.duration * 1e3
    rss_start = peak_rss_mib()
    t0 = time.perf_counter()
    spec = microcircuit(a.scale, k_scale=a.k_scale, background=a.background, dt=a.dt)
    net = zentai.build.network(spec, seed=a.seed, device=a.build_device or a.device)
    t_net = time.perf_counter()
    zthreads = None if a.zentai_threads == "auto" else int(a.zentai_threads)
    sim = zentai.sim.Simulator(
        net,
        dt=a.dt,
        device=a.device,
        seed=a.seed,
        num_threads=zthreads,
        backend=a.zentai_backend,
    )
    sync()
    t_sim = time.perf_counter()
    sim.run(warmup_ms, progress=False)
    sync()
    t_warm = time.perf_counter()
    res = sim.run(duration_ms, progress=False)
    sync()
    t_run = time.perf_counter()

    senders = np.asarray(res.spike_neuron, dtype=np.int64)
    times = np.asarray(res.spike_time_ms, dtype=float)
    bounds = [tuple(res.populations[p]) for p in POPULATIONS]
    t1 = warmup_ms + duration_ms
    # the model as zentai defines it, for the comparison with the peers' derivation
    names = list(POPULATIONS)
    n_syn = np.zeros((8, 8), dtype=int)
    w_mean = np.zeros((8, 8))
    delay_mean = np.zeros((8, 8))
    for pr in spec.projections:
        i, j = names.index(pr.post), names.index(pr.pre)
        n_syn[i, j] = pr.rule.n
        w_mean[i, j] = pr.weight.mu
        delay_mean[i, j] = pr.delay.mu
    # absent projections (0 synapses) get the mean the peers use, so only real ones compare
    ref = derive(a.scale, a.k_scale, a.background)
    absent = n_syn == 0
    w_mean[absent] = ref["w_mean"][absent]
    delay_mean[absent] = ref["delay_mean"][absent]
    k_ext = np.zeros(8, dtype=int)
    w_ext = float("nan")
    for st in spec.stimuli:
        if type(st).__name__ == "PoissonInput":
            k_ext[names.index(st.target)] = st.n_sources
            w_ext = st.weight
            if st.rate != BG_RATE:
                raise RuntimeError(f"zentai background rate {st.rate} Hz, expected {BG_RATE} Hz")
    if a.background == "dc":
        k_ext, w_ext = ref["k_ext"], ref["w_ext"]
    pops = {p.name: p for p in spec.populations}
    lif = pops["L2/3E"].model
    model = {
        "n": [pops[p].size for p in POPULATIONS],
        "n_syn": n_syn.tolist(),
        "k_ext": k_ext.tolist(),
        "w_mean": w_mean.tolist(),
        "w_ext": float(w_ext),
        "dc": [pops[p].model.i_e for p in POPULATIONS],
        "delay_mean": delay_mean.tolist(),
        "neuron": {
            "C_m": lif.c_m,
            "tau_m": lif.tau_m,
            "tau_syn": lif.receptors[0].tau,
            "E_L": lif.e_l,
            "V_th": lif.v_th,
            "V_reset": lif.v_reset,
            "t_ref": lif.t_ref,
        },
        "v0": [[pops[p].initial["v"].mu, pops[p].initial["v"].sigma] for p in POPULATIONS],
        "w_rel_sd": [abs(pr.weight.sigma / pr.weight.mu) for pr in spec.projections],
        "d_rel_sd": [pr.delay.sigma / pr.delay.mu for pr in spec.projections],
    }
    out = {
        "simulator": f"zentai {getattr(zentai, '__version__', '?')} (torch {torch.__version__})",
        "device": str(dev),
        "threads": sim.num_threads,
        "backend": sim.backend,
        "build_threads": a.threads,
        "build_device": str(a.build_device or a.device),
        "n_neurons": int(net.n_neurons),
        "n_synapses": int(net.n_synapses),
        "import_s": import_s,
        "build_s": t_sim - t0,
        "build_detail_s": {"network": t_net - t0, "simulator": t_sim - t_net},
        "warmup_s": t_warm - t_sim,
        "measure_s": t_run - t_warm,
        "sim_s": t_run - t_sim,
        "bio_s": t1 * 1e-3,
        "rates_hz": rates_from_spikes(senders, times, bounds, warmup_ms, t1),
        "cv_isi": cvs(senders, times, bounds, warmup_ms, t1),
        "n_spikes": int(times.size),
        "rss_before_build_mib": rss_start,
        "peak_rss_self_mib": peak_rss_mib(),
        "model": model,
    }
    if dev.type == "cuda":
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return out


def run_nest_child(a: argparse.Namespace) -> dict:
    """NEST 3 (model in ``nest_microcircuit.py``)."""
    out = run_nest(
        a.scale,
        k_scale=a.k_scale,
        background=a.background,
        warmup_ms=a.warmup * 1e3,
        duration_ms=a.duration * 1e3,
        threads=a.threads,
        seed=a.seed,
        dt=a.dt,
    )
    return out


_RUSAGE_WRAPPER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[2:])\n"
    "_, st, ru = os.wait4(p.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(ru.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(st))\n"
)


def run_brian2(a: argparse.Namespace) -> dict:
    """Brian2 C++ standalone (OpenMP threads = ``--threads``); same model as the NEST script.

    Connectivity, weights, delays and initial potentials are drawn in NumPy with the rules of
    ``nest_microcircuit.derive`` (fixed total number with multapses and autapses, weights
    redrawn at a sign change, delays redrawn below dt/2); neurons are integrated with Brian2's
    exact linear solver; the background is one ``PoissonInput`` per population.
    """
    t_imp = time.perf_counter()
    import brian2 as b2

    import_s = time.perf_counter() - t_imp
    warmup_ms, duration_ms = a.warmup * 1e3, a.duration * 1e3
    dt = a.dt
    p = derive(a.scale, a.k_scale, a.background)
    rss_start = peak_rss_mib()
    workdir = tempfile.mkdtemp(prefix="zentai_brian2_")
    maxrss_file = os.path.join(workdir, "main_maxrss.txt")

    t0 = time.perf_counter()
    b2.set_device("cpp_standalone", directory=workdir, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = a.threads
    b2.prefs.devices.cpp_standalone.run_cmd_unix = [
        sys.executable,
        "-c",
        _RUSAGE_WRAPPER,
        maxrss_file,
        "./main",
    ]
    b2.prefs.logging.console_log_level = "WARNING"
    b2.defaultclock.dt = dt * b2.ms
    b2.seed(a.seed)
    rng = np.random.default_rng(a.seed)
    n = p["n"]
    starts = np.concatenate([[0], np.cumsum(n)])
    n_total = int(starts[-1])
    ms, mV, pA, pF = b2.ms, b2.mV, b2.pA, b2.pF
    ns = {
        "tau_m": NEURON["tau_m"] * ms,
        "C_m": NEURON["C_m"] * pF,
        "tau_s": NEURON["tau_syn"] * ms,
        "E_L": NEURON["E_L"] * mV,
        "V_th": NEURON["V_th"] * mV,
        "V_reset": NEURON["V_reset"] * mV,
    }
    eqs = """
    dv/dt = -(v - E_L) / tau_m + (I_syn + I_e) / C_m : volt (unless refractory)
    dI_syn/dt = -I_syn / tau_s : amp
    I_e : amp (constant)
    """
    group = b2.NeuronGroup(
        n_total,
        eqs,
        threshold="v >= V_th",
        reset="v = V_reset",
        refractory=NEURON["t_ref"] * ms,
        method="exact",
        namespace=ns,
    )
    pop_of = np.repeat(np.arange(8), n)
    group.I_e = p["dc"][pop_of] * pA
    group.v = rng.normal(V0_MEAN[pop_of], V0_SD[pop_of]) * mV

    def redraw_normal(mu: float, sd: float, size: int, lo: float, hi: float) -> np.ndarray:
        x = rng.normal(mu, sd, size)
        bad = (x < lo) | (x > hi)
        while bad.any():
            x[bad] = rng.normal(mu, sd, int(bad.sum()))
            bad = (x < lo) | (x > hi)
        return x

    # filled per projection into preallocated arrays (int32, and delays rounded in place):
    # lists of per-projection int64/float64 arrays plus their concatenation needed > 23 GiB
    # at full scale and the run was killed
    n_syn_total = int(sum(max(int(x), 0) for x in np.asarray(p["n_syn"]).ravel()))
    pre_a = np.empty(n_syn_total, np.int32)
    post_a = np.empty(n_syn_total, np.int32)
    w_a = np.empty(n_syn_total)
    d_a = np.empty(n_syn_total)
    at = 0
    for i in range(8):
        for j in range(8):
            k = int(p["n_syn"][i, j])
            if k <= 0:
                continue
            pre_a[at : at + k] = starts[j] + rng.integers(0, n[j], k)
            post_a[at : at + k] = starts[i] + rng.integers(0, n[i], k)
            wm = float(p["w_mean"][i, j])
            lo, hi = (0.0, math.inf) if wm >= 0 else (-math.inf, 0.0)
            w_a[at : at + k] = redraw_normal(wm, abs(wm) * W_REL_SD, k, lo, hi)
            dm = float(p["delay_mean"][i, j])
            d_a[at : at + k] = redraw_normal(dm, dm * D_REL_SD, k, 0.5 * dt, math.inf)
            at += k
    syn = b2.Synapses(group, group, "w : amp (constant)", on_pre="I_syn_post += w")
    syn.connect(i=pre_a, j=post_a)
    del pre_a, post_a
    syn.w = w_a * pA
    del w_a
    np.divide(d_a, dt, out=d_a)
    np.round(d_a, out=d_a)
    d_a *= dt
    syn.delay = d_a * ms
    del d_a
    inputs = []
    if a.background == "poisson":
        for i in range(8):
            inputs.append(
                b2.PoissonInput(
                    group[int(starts[i]) : int(starts[i + 1])],
                    "I_syn",
                    N=int(p["k_ext"][i]),
                    rate=BG_RATE * b2.Hz,
                    weight=float(p["w_ext"]) * pA,
                )
            )
    mon = b2.SpikeMonitor(group)
    # an explicit Network: the "magic" b2.run() would miss the PoissonInputs held in a list
    net = b2.Network(group, syn, mon, *inputs)
    net.run((warmup_ms + duration_ms) * ms)
    t_py = time.perf_counter()
    b2.device.build(directory=workdir, compile=True, run=False, with_output=False)
    # the synapse arrays are on disk now: drop the Python copies before the binary loads its
    # own (at full scale both together exceeded the 23 GiB of the benchmark machine)
    b2.device.static_arrays.clear()
    b2.device.array_cache.clear()
    gc.collect()
    t_built = time.perf_counter()
    b2.device.run(directory=workdir, with_output=False)
    dev = b2.device
    make_s = sum(v for v in dev.timers["compile"].values() if v)
    binary_s = dev.timers["run_binary"] or float("nan")
    sim_s = float(dev._last_run_time)
    codegen_s = (t_built - t_py) - make_s
    # Brian2 stamps a spike with the start of its step; NEST and zentai with the end
    times = np.asarray(mon.t / ms, dtype=float) + dt
    senders = np.asarray(mon.i[:], dtype=np.int64)
    bounds = [(int(starts[i]), int(starts[i + 1])) for i in range(8)]
    t1 = warmup_ms + duration_ms
    try:
        with open(maxrss_file) as f:
            binary_rss = int(f.read()) / 1024.0
    except (OSError, ValueError):
        binary_rss = float("nan")
    out = {
        "simulator": f"Brian2 {b2.__version__} C++ standalone",
        "threads": a.threads,
        "n_neurons": n_total,
        "n_synapses": len(syn),
        "import_s": import_s,
        "build_s": (t_py - t0) + codegen_s + make_s + (binary_s - sim_s),
        "build_detail_s": {
            "python": t_py - t0,
            "codegen": codegen_s,
            "compile": make_s,
            "binary_setup": binary_s - sim_s,
        },
        "sim_s": sim_s,
        "bio_s": t1 * 1e-3,
        "rates_hz": rates_from_spikes(senders, times, bounds, warmup_ms, t1),
        "cv_isi": cvs(senders, times, bounds, warmup_ms, t1),
        "n_spikes": int(times.size),
        "rss_before_build_mib": rss_start,
        "peak_rss_self_mib": peak_rss_mib(),
        "peak_rss_binary_mib": binary_rss,
        "workdir": workdir,
    }
    if not a.keep_brian2_dir:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
        out.pop("workdir")
    return out


def child_main(a: argparse.Namespace) -> int:
    """Run one simulator in this process and write its JSON to ``a.child_out``."""
    runners = {"zentai": run_zentai, "nest": run_nest_child, "brian2": run_brian2}
    try:
        out = runners[a.child](a)
    except ImportError as exc:
        out = {"skipped": f"{a.child} not importable by {sys.executable}: {exc}"}
    with open(a.child_out, "w") as f:
        json.dump(out, f)
    return 0


# ============================================================================ driver
def machine_info() -> dict:
    """Date, CPU model, core count and load, for RESULTS.md."""
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "loadavg": list(os.getloadavg()),
        "python": sys.version.split()[0],
    }


def launch(sim: str, python: str, a: argparse.Namespace, argv: list[str]) -> dict:
    """Run one child; add its exit status, wall time and peak RSS (``ru_maxrss`` via wait4)."""
    fd, out_path = tempfile.mkstemp(prefix=f"mc_{sim}_", suffix=".json")
    os.close(fd)
    cmd = [python, str(Path(__file__).resolve()), *argv, "--child", sim, "--child-out", out_path]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), PYTHONUNBUFFERED="1")
    with tempfile.TemporaryFile(mode="w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(a.timeout, kill)
        timer.start()
        # wait4, not Popen.wait: its rusage is this child's own (with its waited children)
        _, status, ru = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        log.seek(0)
        text = log.read()
    try:
        with open(out_path) as f:
            res = json.load(f)
    except (OSError, ValueError):
        res = {}
    finally:
        os.unlink(out_path)
    if not res:
        why = "timed out" if killed.is_set() else f"exit status {proc.returncode}"
        res = {"failed": f"{sim} child {why}; last output:\n{text[-3000:]}"}
    res["child_wall_s"] = wall
    res["peak_rss_mib"] = ru.ru_maxrss / 1024.0  # child and the children it waited for
    if "peak_rss_binary_mib" in res:  # Brian2: the simulation runs in a separate binary
        res["peak_rss_mib"] = res["peak_rss_binary_mib"]
    return res


def compare_models(zmodel: dict, ref: dict) -> list[str]:
    """Differences between zentai's microcircuit and the peers' derivation (empty: same)."""
    diffs = []
    for key in ("n", "n_syn", "k_ext", "w_mean", "w_ext", "dc", "delay_mean"):
        z, r = np.asarray(zmodel[key], dtype=float), np.asarray(ref[key], dtype=float)
        if z.shape != r.shape or not np.allclose(z, r, rtol=1e-9, atol=1e-9):
            worst = np.max(np.abs(z - r)) if z.shape == r.shape else "shape"
            diffs.append(f"{key}: zentai {z.tolist()} vs peers {r.tolist()} (max |diff| {worst})")
    for k, v in NEURON.items():
        if not math.isclose(zmodel["neuron"][k], v, rel_tol=1e-12):
            diffs.append(f"neuron {k}: zentai {zmodel['neuron'][k]} vs {v}")
    v0 = np.asarray(zmodel["v0"])
    if not (np.allclose(v0[:, 0], V0_MEAN) and np.allclose(v0[:, 1], V0_SD)):
        diffs.append(f"V0: zentai {v0.tolist()}")
    if not np.allclose(zmodel["w_rel_sd"], W_REL_SD) or not np.allclose(
        zmodel["d_rel_sd"], D_REL_SD
    ):
        diffs.append("relative sd of weights or delays differs")
    return diffs


def fmt(x: float | None, digits: int = 3) -> str:
    """Number for the table."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, int):
        return f"{x:,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.{digits - 1}f}"


def summarize(runs: list[dict]) -> dict:
    """Medians over repeats of the numbers in the table."""
    ok = [r for r in runs if "build_s" in r]
    if not ok:
        return runs[-1] if runs else {}
    med = dict(ok[-1])
    for key in ("build_s", "sim_s", "peak_rss_mib", "import_s"):
        med[key] = statistics.median(r[key] for r in ok)
    med["rtf"] = statistics.median(r["sim_s"] / r["bio_s"] for r in ok)
    med["rates_hz"] = {p: statistics.median(r["rates_hz"][p] for r in ok) for p in POPULATIONS}
    med["n_ok"] = len(ok)
    return med


def table(summary: dict[str, dict], order: list[str]) -> str:
    """One Markdown table: a row per quantity, a column per simulator, then zentai/peer."""
    cols = [s for s in order if s in summary]
    peers = [
        s
        for s in cols
        if s != "zentai" and "build_s" in summary[s] and "build_s" in summary.get("zentai", {})
    ]
    head = ["", *(LABELS[s] for s in cols)] + [f"zentai/{LABELS[s]}" for s in peers]
    rows = [head, ["---"] + ["---:"] * (len(head) - 1)]

    def cell(s: str, key: str) -> str:
        r = summary[s]
        if "build_s" not in r:
            return "skipped" if "skipped" in r else "failed"
        v = r.get(key)
        if key == "peak_rss_mib" and v is not None:
            return f"{v / 1024:.2f} GiB" if v >= 1024 else f"{v:.0f} MiB"
        if key == "threads":
            return str(v)
        return fmt(v)

    def ratio(key: str, peer: str) -> str:
        z, n = summary["zentai"].get(key), summary[peer].get(key)
        if z is None or n is None or n == 0:
            return ""
        return f"{z / n:.2f}×"

    spec = [
        ("simulator", "simulator", False),
        ("threads", "threads", False),
        ("n_neurons", "n_neurons", False),
        ("n_synapses", "n_synapses", False),
        ("build s", "build_s", True),
        ("sim s (warm-up + measured)", "sim_s", True),
        ("RTF (sim s / bio s)", "rtf", True),
        ("peak RSS", "peak_rss_mib", True),
    ]
    for label, key, with_ratio in spec:
        if key == "simulator":
            row = [label] + [summary[s].get("simulator", LABELS[s]) for s in cols]
        else:
            row = [label] + [cell(s, key) for s in cols]
        row += [ratio(key, p) if with_ratio else "" for p in peers]
        rows.append(row)
    for p in POPULATIONS:
        row = [f"rate {p} (Hz)"]
        for s in cols:
            r = summary[s]
            row.append(fmt(r["rates_hz"][p]) if "rates_hz" in r else "")
        row += [""] * len(peers)
        rows.append(row)
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (shared by the driver and its children)."""
    ap = argparse.ArgumentParser(
        description="Potjans-Diesmann microcircuit: zentai vs NEST 3 (and Brian2)."
    )
    ap.add_argument("--scale", type=float, default=0.1, help="N_scaling (and K_scaling)")
    ap.add_argument("--k-scale", type=float, default=None, help="K_scaling (default: --scale)")
    ap.add_argument("--background", choices=("poisson", "dc"), default="poisson")
    ap.add_argument("--device", default="cpu", help="zentai device: cpu, cuda, cuda:N")
    ap.add_argument("--duration", type=float, default=1.0, help="measured s (bio), after warm-up")
    ap.add_argument("--warmup", type=float, default=0.5, help="warm-up s (bio)")
    ap.add_argument("--dt", type=float, default=0.1, help="time step, ms")
    ap.add_argument("--threads", type=int, default=2, help="threads for every simulator")
    ap.add_argument(
        "--zentai-threads",
        default="auto",
        help="zentai stepping threads: 'auto' (engine default: 1 below 200k neurons) or N",
    )
    ap.add_argument(
        "--build-device",
        default=None,
        help="where zentai draws and sorts the synapses (default: --device)",
    )
    ap.add_argument(
        "--zentai-backend",
        default="auto",
        help="zentai Simulator backend: auto, torch, compiled, triton",
    )
    ap.add_argument(
        "--triton-tune",
        default="",
        help="launch parameters of the triton backend, e.g. 'pdl=1,block=256' "
        "(keys of zentai.sim.gpu_kernels.TUNE; integers)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--peers", default="nest,brian2", help="comma list of nest, brian2 or ''")
    ap.add_argument("--no-zentai", action="store_true", help="run only the peers")
    ap.add_argument("--repeats", type=int, default=1, help="runs per simulator (medians)")
    ap.add_argument("--json", default=None, help="write all runs and medians here")
    ap.add_argument(
        "--peer-python",
        default=os.environ.get("ZENTAI_PEER_PYTHON", sys.executable),
        help="interpreter that imports nest / brian2 (default: this one or $ZENTAI_PEER_PYTHON)",
    )
    ap.add_argument("--timeout", type=float, default=4 * 3600, help="s per child run")
    ap.add_argument("--keep-brian2-dir", action="store_true")
    ap.add_argument("--child", choices=SIMULATORS, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if not 0 < a.scale <= 1:
        ap.error(f"--scale must be in (0, 1]; got {a.scale}.")
    if a.repeats < 1:
        ap.error("--repeats must be >= 1.")
    n_steps = (a.warmup + a.duration) * 1e3 / a.dt
    if abs(n_steps - round(n_steps)) > 1e-6:
        ap.error("--warmup and --duration must be multiples of --dt.")
    return a


def main(argv: list[str] | None = None) -> int:
    """Run the children, print the table, optionally write JSON."""
    raw = sys.argv[1:] if argv is None else list(argv)
    a = parse_args(raw)
    if a.child:
        return child_main(a)
    peers = [p.strip() for p in a.peers.split(",") if p.strip()]
    for p in peers:
        if p not in ("nest", "brian2"):
            raise SystemExit(f"--peers: unknown peer {p!r}; choose from nest, brian2.")
    order = ([] if a.no_zentai else ["zentai"]) + peers
    child_argv = (
        [
            f"--scale={a.scale!r}",
            f"--background={a.background}",
            f"--device={a.device}",
            f"--duration={a.duration!r}",
            f"--warmup={a.warmup!r}",
            f"--dt={a.dt!r}",
            f"--threads={a.threads}",
            f"--zentai-threads={a.zentai_threads}",
            f"--seed={a.seed}",
            f"--zentai-backend={a.zentai_backend}",
            f"--triton-tune={a.triton_tune}",
        ]
        + ([f"--build-device={a.build_device}"] if a.build_device else [])
        + ([f"--k-scale={a.k_scale!r}"] if a.k_scale is not None else [])
        + (["--keep-brian2-dir"] if a.keep_brian2_dir else [])
    )
    info = machine_info()
    cmd = "python benchmarks/microcircuit.py " + " ".join(shlex.quote(x) for x in raw)
    print(f"# {cmd}")
    print(
        f"# {info['date_utc']}; {info['cpu']}, nproc {info['nproc']}; load average "
        f"{info['loadavg'][0]:.2f} at start"
    )
    runs: dict[str, list[dict]] = {s: [] for s in order}
    for rep in range(a.repeats):  # interleaved, so that load changes hit every simulator
        for s in order:
            python = sys.executable if s == "zentai" else a.peer_python
            print(f"# run {rep + 1}/{a.repeats}: {s} ...", file=sys.stderr, flush=True)
            r = launch(s, python, a, child_argv)
            runs[s].append(r)
            if "failed" in r:
                print(r["failed"], file=sys.stderr)
    info["loadavg_end"] = list(os.getloadavg())
    summary = {s: summarize(runs[s]) for s in order}
    print(
        f"# scale {a.scale:g} (K scale {a.k_scale if a.k_scale else a.scale:g}), "
        f"{a.background} background, dt {a.dt} ms, warm-up {a.warmup:g} s + measured "
        f"{a.duration:g} s; RTF = sim wall s / {a.warmup + a.duration:g} bio s (warm-up "
        f"included); rates over the measured {a.duration:g} s; "
        f"{'median of ' + str(a.repeats) + ' runs' if a.repeats > 1 else 'single run'}"
    )
    print(table(summary, order))
    for s in order:
        if "skipped" in summary[s]:
            print(f"# {LABELS[s]} skipped: {summary[s]['skipped']}")
    notes = []
    z = summary.get("zentai", {})
    if "model" in z:
        diffs = compare_models(z["model"], derive(a.scale, a.k_scale, a.background))
        notes.append(
            "model check (zentai spec vs the peers' derivation): "
            + (
                "identical sizes, synapse counts, weights, delays, DC, V0"
                if not diffs
                else "DIFFERENT:\n#   " + "\n#   ".join(diffs)
            )
        )
        notes.append(
            f"zentai stepped on {z['threads']} thread(s) (build on {z['build_threads']}, "
            f"device {z.get('build_device', 'cpu')}); device {z['device']}, backend "
            f"{z.get('backend', '?')}"
        )
    b = summary.get("brian2", {})
    if "build_detail_s" in b:
        d = b["build_detail_s"]
        notes.append(
            f"Brian2 build = python {d['python']:.1f} s + codegen {d['codegen']:.1f} s + "
            f"compile {d['compile']:.1f} s + binary set-up {d['binary_setup']:.1f} s; its peak "
            f"RSS is the binary's (the Python process that built it peaked at "
            f"{b['peak_rss_self_mib']:.0f} MiB)"
        )
    load = max(info["loadavg"][0], info["loadavg_end"][0])
    notes.append(
        f"load average {info['loadavg'][0]:.2f} at start, {info['loadavg_end'][0]:.2f} at end "
        f"(nproc {info['nproc']})"
        + (
            ": LOADED MACHINE, timings and ratios are unreliable"
            if load > 0.5 * (info["nproc"] or 1)
            else ""
        )
    )
    for n in notes:
        print(f"# {n}")
    if a.json:
        for s in order:
            if s != "zentai":  # the peers' model is derive(), already checked above
                for r in runs[s]:
                    r.pop("model", None)
        with open(a.json, "w") as f:
            json.dump(
                {
                    "command": cmd,
                    "args": vars(a),
                    "machine": info,
                    "runs": runs,
                    "summary": {
                        s: {k: v for k, v in summary[s].items() if k != "model"} for s in order
                    },
                },
                f,
                indent=1,
                default=str,
            )
    return 0 if all("failed" not in summary[s] for s in order) else 1


if __name__ == "__main__":
    sys.exit(main())
