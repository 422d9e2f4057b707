"""The ``zentai`` command: ``zentai run microcircuit|m1-gamma|spec.toml``, ``zentai info``.

Bad input (unknown model, negative duration, unavailable device, ...) ends with one line on
stderr and exit status 2, never a traceback; see :func:`main`.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from zentai.errors import SpecError, UnitError, ZentaiError, ZentaiInternalError, closest
from zentai.io.jsonfile import write_json

__all__ = ["BUILTIN_MODELS", "main"]

#: built-in models that ``zentai run`` builds by name
BUILTIN_MODELS = ("microcircuit",)
#: scenarios of the body (zentai.body.scenarios)
BODY_SCENARIOS = ("cpg-walk", "brain-forelimb")
#: scenarios of the cortex-basal ganglia-cerebellum model (zentai.scenarios.cbgc, scan_opto)
CBGC_SCENARIOS = ("cbgc-pulse", "scan-opto")
DEFAULTS: dict[str, Any] = {
    "duration": 1.0,  # s
    "warmup": 0.5,  # s
    "dt": 0.1,  # ms
    "device": "cpu",
    "dtype": "float32",
    "seed": 0,
    "scale": 0.1,
    "background": "poisson",
}
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ============================================================================ argument values
def _time(value: Any, unit: str, owner: str) -> float:
    """A bare number (in ``unit``) or a quantity string -> float in ``unit``."""
    from zentai import units as u

    if isinstance(value, bool):
        raise SpecError(f"{owner} must be a time; got {value!r}.")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            try:
                number = u.to_canonical(text, unit, owner=owner)
            except UnitError:
                example = "seconds, or e.g. '500 ms'" if unit == "s" else "ms, or e.g. '0.1 ms'"
                raise SpecError(f"{owner} must be a time ({example}); got {text!r}.") from None
    if not math.isfinite(number):
        raise SpecError(f"{owner} must be a finite time; got {value!r}.")
    return number


def _positive_fraction(value: float | None, owner: str) -> None:
    if value is not None and not (math.isfinite(value) and 0.0 < value <= 1.0):
        raise SpecError(f"{owner} must be in (0, 1]; got {value!r}.")


def _run_table_time(value: Any, owner: str) -> Any:
    # bare numbers would be ambiguous: the command line reads seconds, spec files read ms
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise SpecError(
            f"{owner} in a [run] table must be a time with a unit, e.g. '1 s' or '500 ms'; got "
            f"{value!r}."
        )
    return value


# ============================================================================ zentai run
class _Settings:
    """Resolved settings of one ``zentai run``."""

    def __init__(self, args: argparse.Namespace) -> None:
        from zentai.io import toml as ztoml

        self.source = args.model
        self.spec_file: Path | None = None
        run_table: dict[str, Any] = {}
        if self.source in BUILTIN_MODELS:
            self.model = self.source
        elif os.path.isfile(self.source) or self.source.endswith(".toml"):
            self.spec_file = Path(self.source)
            run_table = ztoml.load_run(self.spec_file)
            self.model = None
            for flag in ("scale", "k_scale", "background"):
                if getattr(args, flag) is not None:
                    raise SpecError(
                        f"--{flag.replace('_', '-')} applies to built-in models "
                        f"({', '.join(BUILTIN_MODELS)}), not to the spec file {self.source!r}."
                    )
        else:
            from zentai.scenarios import SCENARIOS

            known = (*BUILTIN_MODELS, *SCENARIOS)
            # closest matches include the scenarios; the sentence keeps its tested wording
            raise SpecError(
                f"unknown model {self.source!r}; {closest(self.source, known)}. Give a "
                f"built-in model ({', '.join(BUILTIN_MODELS)}) or the path of a TOML spec file."
            )
        if args.fraction is not None:
            raise SpecError(
                f"--fraction applies to scenarios, not to {self.source!r}; use --scale for "
                "built-in models."
            )

        def pick(name: str) -> Any:
            given = getattr(args, name, None)
            if given is not None:
                return given
            if name in run_table:
                value = run_table[name]
                if name in ("duration", "warmup"):
                    return _run_table_time(value, f"run.{name}")
                return value
            return DEFAULTS.get(name)

        self.duration_s = _time(pick("duration"), "s", "--duration")
        if self.duration_s <= 0:
            raise SpecError(
                f"--duration must be a positive time (seconds, or e.g. '500 ms'); got "
                f"{pick('duration')!r}."
            )
        self.warmup_s = _time(pick("warmup"), "s", "--warmup")
        if self.warmup_s < 0:
            raise SpecError(
                f"--warmup must be a time >= 0 (seconds, or e.g. '500 ms'); got {pick('warmup')!r}."
            )
        self.dt_ms = _time(pick("dt"), "ms", "--dt")
        if self.dt_ms <= 0:
            raise SpecError(f"--dt must be a positive time (ms); got {pick('dt')!r}.")
        seed = pick("seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SpecError(f"--seed must be an integer >= 0; got {seed!r}.")
        self.seed = seed
        self.dtype = str(pick("dtype"))
        if self.dtype not in ("float32", "float64"):
            raise SpecError(f"--dtype must be 'float32' or 'float64'; got {self.dtype!r}.")
        self.device = str(pick("device"))
        self.scale = pick("scale") if self.model else None
        self.k_scale = args.k_scale
        self.background = pick("background") if self.model else None
        _positive_fraction(self.scale, "--scale")
        _positive_fraction(self.k_scale, "--k-scale")
        self.out = Path(args.out)
        if self.out.exists() and not self.out.is_dir():
            raise SpecError(f"--out must be a folder; {str(self.out)!r} is a file.")
        self.checkpoint = Path(args.checkpoint) if args.checkpoint else None
        every = getattr(args, "checkpoint_every", None)
        self.checkpoint_every_ms = (
            None if every is None else _time(every, "s", "--checkpoint-every") * 1000.0
        )
        if self.checkpoint_every_ms is not None and self.checkpoint_every_ms <= 0:
            raise SpecError(f"--checkpoint-every must be a positive time; got {every!r}.")
        self.progress = False if args.no_progress else None
        self.engine = _engine_options(args)

    def steps(self, seconds: float) -> int:
        n = seconds * 1000.0 / self.dt_ms
        if abs(n - round(n)) > 1e-6 * max(1.0, n):
            raise SpecError(
                f"--duration and --warmup must be multiples of dt = {self.dt_ms:g} ms; got "
                f"{seconds * 1000.0:g} ms."
            )
        return round(n)


def _build_spec(s: _Settings) -> Any:
    from zentai.build.microcircuit import microcircuit
    from zentai.io import toml as ztoml
    from zentai.record.recorders import PopulationRate, Spikes

    if s.model == "microcircuit":
        return microcircuit(
            s.scale, k_scale=s.k_scale, background=s.background, dt=s.dt_ms, record=True
        )
    spec = ztoml.load(s.spec_file)
    if not spec.populations:
        raise SpecError(f"spec file {str(s.spec_file)!r} has no populations.")
    extra = []
    if not any(isinstance(r, Spikes) and r.populations is None for r in spec.recorders):
        extra.append(Spikes())
    if not any(isinstance(r, PopulationRate) for r in spec.recorders):
        extra.append(PopulationRate(bin=1.0))
    return spec.add(*extra) if extra else spec


def _simulator(s: _Settings, net: Any) -> tuple[Any, float | None]:
    """A fresh simulator, or one restored from ``s.checkpoint``; (sim, resumed-from ms)."""
    from zentai.sim import Simulator

    if s.checkpoint is None or not s.checkpoint.exists():
        sim = Simulator(net, dt=s.dt_ms, device=s.device, dtype=s.dtype, seed=s.seed, **s.engine)
        return sim, None
    sim = Simulator.restore(s.checkpoint, net, device=s.device, **s.engine)
    dtype = str(sim.dtype).replace("torch.", "")
    for flag, ours, theirs in (
        ("dt", s.dt_ms, sim.dt),
        ("seed", s.seed, sim.seed),
        ("dtype", s.dtype, dtype),
    ):
        if ours != theirs:
            raise SpecError(
                f"checkpoint {str(s.checkpoint)!r} was written with {flag}={theirs!r}, this run "
                f"asks for --{flag} {ours!r}. Use the same settings or another --checkpoint."
            )
    return sim, sim.t_ms


def _nan_to_none(d: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if math.isnan(v) else float(v)) for k, v in d.items()}


def _print_table(s: _Settings, summary: dict[str, Any], files: list[Path]) -> None:
    out = sys.stdout
    w0, w1 = summary["warmup_s"] * 1000.0, summary["t_stop_ms"]
    out.write(
        f"{summary['spec_name']} | seed {s.seed} | {summary['device']} {s.dtype} | "
        f"dt {s.dt_ms:g} ms\n"
        f"neurons {summary['n_neurons']:,} | synapses {summary['n_synapses']:,} | "
        f"build {summary['build_s']:.2f} s | simulation {summary['sim_s']:.2f} s for "
        f"{summary['t_stop_ms'] / 1000.0:g} s biological (RTF {summary['rtf']:.3g})\n"
    )
    if summary["resumed_from_ms"] is not None:
        out.write(f"resumed from checkpoint at {summary['resumed_from_ms']:g} ms\n")
    out.write(f"rates and CV of ISIs over ({w0:g}, {w1:g}] ms:\n")
    name_w = max([10, *(len(p) for p in summary["rates_hz"])])
    out.write(f"{'population':<{name_w}}  {'neurons':>8}  {'rate (Hz)':>9}  {'CV ISI':>6}\n")
    for p, rate in summary["rates_hz"].items():
        cv = summary["cv_isi"][p]
        cv_text = "-" if cv is None else f"{cv:.3f}"
        out.write(f"{p:<{name_w}}  {summary['populations'][p]:>8,}  {rate:>9.3f}  {cv_text:>6}\n")
    out.write("wrote " + ", ".join(str(f) for f in files) + "\n")


def cmd_body(args: argparse.Namespace) -> int:
    """``zentai run cpg-walk`` (the body on its spinal CPG) and ``brain-forelimb``."""
    w = sys.stdout.write
    if args.model == "brain-forelimb":
        from zentai.cosim.forelimb import brain_forelimb

        duration = 1.0 if args.duration is None else _time(args.duration, "s", "--duration")
        s = brain_forelimb(args.out, duration_s=duration, seed=args.seed or 0)
        w(
            f"brain-forelimb: {duration:g} s; L5 stimulation changes the forelimb angle by "
            f"{s['delta_angle_deg']:.1f} deg; forepaw touch {s['touch_rate_before_hz']:.0f} -> "
            f"{s['touch_rate_hz']:.0f} Hz at touchdown; real-time factor body "
            f"{s['rtf_body']:.2f}, brain + body {s['rtf_brain_body']:.2f}\n"
        )
        return _print_checks(s, args.out)
    from zentai.body.scenarios import cpg_walk

    duration = 5.0 if args.duration is None else _time(args.duration, "s", "--duration")
    s = cpg_walk(args.out, duration_s=duration, seed=args.seed or 0)
    w(
        f"cpg-walk: {s['duration_s']:g} s, {s['distance_body_lengths']:.2f} body lengths, "
        f"lowest trunk {s['min_trunk_height_mm']:.1f} mm (fall < {s['fall_height_mm']:g}), "
        f"left-right phase {s['lr_phase_rad']:.2f} rad, real-time factor {s['rtf']:.2f}\n"
    )
    return _print_checks(s, args.out)


def cmd_cbgc(args: argparse.Namespace) -> int:
    """``zentai run cbgc-pulse`` and ``zentai run scan-opto``."""
    w = sys.stdout.write
    frac = {} if args.fraction is None else {"fraction": args.fraction}
    frac.update(device=args.device or "cpu", **_engine_options(args))
    progress = not args.no_progress
    if args.model == "cbgc-pulse":
        from zentai.scenarios.cbgc import cbgc_pulse

        s = cbgc_pulse(args.out, seed=args.seed or 0, progress=progress, **frac)
        w(f"cbgc-pulse: {s['trials']} trials, {s['n_stimulated']} MOp L5 cells pulsed; "
          f"build {s['build_s']:.0f} s, simulation {s['sim_s']:.0f} s\n")  # fmt: skip
        for g in ("snr_phases", "cn_phases"):
            ph = ", ".join(
                f"{p['sign']}{p['latency_ms']:g} ms ({p['duration_ms']:g} ms)" for p in s[g]
            )
            w(f"  {g[:-7].upper():>3}: {ph or 'no response'}\n")
        return _print_checks(s, args.out)
    from zentai.scenarios.scan_opto import scan_opto

    s = scan_opto(args.out, seed=args.seed or 0, progress=progress, **frac)
    w(f"scan-opto: {s['completed']}/{s['n_sites']} sites in {s['total_s']:.0f} s\n")
    for g, r in s["responses"].items():
        m = r["magnitude"]
        p_mv, moran, p_moran = m["motor_gt_visual_p"], m["morans_i"], m["morans_i_p"]
        w(f"  {g:>3}: response magnitude motor sites {m['motor_sites_hz']:.2f} Hz, visual sites "
          f"{m['visual_sites_hz']:.2f} Hz (one-sided Mann-Whitney p "
          f"{'n/a' if p_mv is None else f'{p_mv:.2g}'}); map Moran's I "
          f"{'n/a' if moran is None else f'{moran:.3f} (p {p_moran:.2g})'}\n")  # fmt: skip
    return _print_checks(s, args.out)


def _print_checks(summary: dict, out: str) -> int:
    for name, c in summary["checks"].items():
        sys.stdout.write(f"  {'pass' if c['pass'] else 'FAIL'}  {name}\n")
    sys.stdout.write(f"  wrote {Path(out) / 'summary.json'}\n")
    return 0


def _is_scenario(source: str) -> bool:
    from zentai.scenarios import SCENARIOS, is_scenario_file

    if source in BUILTIN_MODELS:
        return False
    return source in SCENARIOS or (os.path.isfile(source) and is_scenario_file(source))


def _engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """``backend`` and ``num_threads`` for the Simulator, from --backend and --threads."""
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise SpecError(f"--threads must be an integer >= 1; got {threads!r}.")
    return {"backend": getattr(args, "backend", None) or "auto", "num_threads": threads}


def cmd_scenario(args: argparse.Namespace) -> int:
    """``zentai run <scenario>``: :func:`zentai.scenarios.runner.run_scenario`."""
    from zentai.scenarios.runner import run_scenario

    for flag in ("scale", "k_scale", "background", "checkpoint", "checkpoint_every", "dt"):
        if getattr(args, flag) is not None:
            raise SpecError(
                f"--{flag.replace('_', '-')} does not apply to the scenario {args.model!r}; "
                "scenarios take --fraction, --device, --seed, --duration, --warmup, --dtype."
            )
    _positive_fraction(args.fraction, "--fraction")
    if args.seed is not None and args.seed < 0:
        raise SpecError(f"--seed must be an integer >= 0; got {args.seed!r}.")
    duration = warmup = None
    if args.duration is not None:
        duration = _time(args.duration, "s", "--duration") * 1000.0
        if duration <= 0:
            raise SpecError(f"--duration must be a positive time; got {args.duration!r}.")
    if args.warmup is not None:
        warmup = _time(args.warmup, "s", "--warmup") * 1000.0
        if warmup < 0:
            raise SpecError(f"--warmup must be a time >= 0; got {args.warmup!r}.")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out must be a folder; {str(out)!r} is a file.")
    run_scenario(
        args.model,
        fraction=args.fraction,
        device=args.device or DEFAULTS["device"],
        seed=args.seed,
        out=out,
        progress=False if args.no_progress else None,
        duration_ms=duration,
        warmup_ms=warmup,
        dtype=args.dtype or DEFAULTS["dtype"],
        **_engine_options(args),
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """``zentai run``: build, simulate, write spikes.h5, raster.png, spec.toml, summary.json."""
    if args.model in BODY_SCENARIOS:
        return cmd_body(args)
    if args.model in CBGC_SCENARIOS:
        return cmd_cbgc(args)
    if _is_scenario(args.model):
        return cmd_scenario(args)
    from zentai.build import network
    from zentai.sim import resolve_device

    s = _Settings(args)
    resolve_device(s.device)  # fail before building anything
    n_total = s.steps(s.warmup_s + s.duration_s)
    spec = _build_spec(s)
    from zentai.distributed.comm import launched_ranks

    launcher, n_ranks = launched_ranks()
    if n_ranks > 1:
        return _run_ranks(args, s, spec, n_total, launcher)

    t0 = time.perf_counter()
    net = network(spec, seed=s.seed)
    build_s = time.perf_counter() - t0

    sim, resumed_from = _simulator(s, net)
    if sim.t_step > n_total:
        raise SpecError(
            f"checkpoint {str(s.checkpoint)!r} is at {sim.t_ms:g} ms, beyond warm-up + duration "
            f"= {n_total * s.dt_ms:g} ms; give a longer --duration to continue it."
        )
    if s.checkpoint is not None:
        s.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if sim.t_step < n_total:
        # with --checkpoint the state is saved every --checkpoint-every and at the end, so an
        # interrupted run continues from its last save when the same command is run again
        sim.run(
            (n_total - sim.t_step) * s.dt_ms,
            progress=s.progress,
            checkpoint=s.checkpoint,
            checkpoint_every=s.checkpoint_every_ms if s.checkpoint is not None else None,
        )
    elif s.checkpoint is not None:
        sim.save(s.checkpoint)
    result = sim.result()
    run_info = {
        "device": str(sim.device),
        "backend": sim.backend,
        "threads": sim.num_threads,
        "n_neurons": net.n_neurons,
        "n_synapses": net.n_synapses,
        "build_s": build_s,
        "sim_s": sim.wall_s,  # stepping wall time, summed over resumed runs
        "resumed_from_ms": resumed_from,
    }
    _write_run(args, s, spec, result, run_info)
    return 0


def _run_ranks(
    args: argparse.Namespace, s: _Settings, spec: Any, n_total: int, launcher: str
) -> int:
    """``zentai run`` in one of R processes started by torchrun or mpiexec: each rank builds
    and simulates its part, writes ``ranks/rankNNNN.h5``; rank 0 merges them into the usual
    outputs (zentai.distributed)."""
    from zentai.distributed import from_environment

    if s.checkpoint is not None:
        raise SpecError(
            "--checkpoint is not supported with several ranks yet; run without it (or on one "
            "process)."
        )
    comm = from_environment(s.device)
    try:
        code = _run_part(args, s, spec, n_total, launcher, comm)
    except BaseException:
        comm.close(wait=False)
        raise
    comm.close()
    return code


def _run_part(
    args: argparse.Namespace, s: _Settings, spec: Any, n_total: int, launcher: str, comm: Any
) -> int:
    from zentai.distributed import DistributedSimulator, merge_results
    from zentai.io import hdf5

    d = DistributedSimulator(
        spec,
        comm,
        network_seed=s.seed,
        dt=s.dt_ms,
        device=s.device,
        dtype=s.dtype,
        seed=s.seed,
        **s.engine,
    )
    d.run(n_total * s.dt_ms, progress=s.progress)
    folder = s.out / "ranks"
    folder.mkdir(parents=True, exist_ok=True)
    hdf5.write_result(d.result(), folder / f"rank{comm.rank:04d}.h5")
    stats = comm.allgather_object(d.stats())
    comm.barrier()  # every part is on disk
    if comm.rank != 0:
        return 0
    result = merge_results([hdf5.read_result(folder / f"rank{r:04d}.h5") for r in range(comm.size)])
    run_info = {
        "device": str(d.sim.device),
        "backend": d.sim.backend,
        "threads": d.sim.num_threads,
        "n_neurons": d.n_neurons,
        "n_synapses": d.n_synapses,
        "build_s": max(st["build_s"] for st in stats),
        "sim_s": max(st["wall_s"] for st in stats),
        "resumed_from_ms": None,
        "ranks": comm.size,
        "launcher": f"{launcher} ({comm.name})",
        "network_fingerprint": f"{d.fingerprint:016x}",
        "partition": str(d.partition),
        "rank_stats": stats,
    }
    _write_run(args, s, spec, result, run_info)
    return 0


def _write_run(
    args: argparse.Namespace, s: _Settings, spec: Any, result: Any, info: dict[str, Any]
) -> None:
    """Summary, spikes.h5, raster.png, spec.toml, summary.json (and result.nwb) of a run."""
    import torch

    import zentai
    from zentai.io import hdf5
    from zentai.io import toml as ztoml

    warmup_ms = s.warmup_s * 1000.0
    t_stop_ms = result.t_stop_ms
    rates = result.rates_hz(warmup_ms, t_stop_ms)
    cvs = result.cv_isi(warmup_ms, t_stop_ms, min_spikes=3)
    summary: dict[str, Any] = {
        "model": s.model or spec.name,
        "spec_name": spec.name,
        "spec_file": None if s.spec_file is None else str(s.spec_file),
        "scale": s.scale,
        "k_scale": s.k_scale if s.k_scale is not None else s.scale,
        "background": s.background,
        "seed": s.seed,
        "device": info["device"],
        "backend": info["backend"],
        "threads": info["threads"],
        "dtype": s.dtype,
        "dt_ms": s.dt_ms,
        "duration_s": s.duration_s,
        "warmup_s": s.warmup_s,
        "t_stop_ms": t_stop_ms,
        "n_neurons": info["n_neurons"],
        "n_synapses": info["n_synapses"],
        "populations": {p.name: p.size for p in spec.populations},
        "build_s": info["build_s"],
        "sim_s": info["sim_s"],
        "rtf": info["sim_s"] / (t_stop_ms / 1000.0),
        "n_spikes": result.n_spikes,
        "rates_hz": rates,
        "cv_isi": _nan_to_none(cvs),
        "resumed_from_ms": info["resumed_from_ms"],
        "checkpoint": None if s.checkpoint is None else str(s.checkpoint),
        "zentai_version": zentai.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
    }
    summary.update({k: v for k, v in info.items() if k not in summary})

    from zentai.viewer import raster_and_rates

    s.out.mkdir(parents=True, exist_ok=True)
    files = [s.out / n for n in ("spikes.h5", "raster.png", "spec.toml", "summary.json")]
    hdf5.write_result(result, files[0], spec=spec, summary=summary)
    classes = {p.name: p.labels.get("cell_class", "") for p in spec.populations}
    raster_and_rates(
        result,
        files[1],
        t_start=warmup_ms,
        t_stop=t_stop_ms,
        classes={k: v for k, v in classes.items() if v},
        title=spec.name,
    )
    run_table = {
        "duration": f"{s.duration_s!r} s",
        "warmup": f"{s.warmup_s!r} s",
        "dt": s.dt_ms,
        "device": s.device,
        "dtype": s.dtype,
        "seed": s.seed,
    }
    ztoml.dump(spec, files[2], run=run_table)
    write_json(files[3], summary)
    if getattr(args, "nwb", False):
        from zentai.io.nwb import write_nwb

        files.append(s.out / "result.nwb")
        write_nwb(result, files[-1], spec=spec, session_description=f"zentai run {args.model}")
    _print_table(s, summary, files)
    if "ranks" in info:
        sys.stdout.write(
            f"{info['ranks']} ranks ({info['launcher']}); network fingerprint "
            f"{info['network_fingerprint']}\n"
        )


# ============================================================================ zentai info
def cmd_info(args: argparse.Namespace) -> int:
    """``zentai info``: versions and the devices this torch can use."""
    import numpy as np
    import torch

    import zentai

    lines = [
        f"zentai  {zentai.__version__}",
        f"python  {platform.python_version()} ({sys.executable})",
        f"torch   {torch.__version__} (CPU threads: {torch.get_num_threads()})",
        f"numpy   {np.__version__}",
        "devices:",
        f"  cpu      {platform.machine() or 'unknown'}, {os.cpu_count()} logical cores",
    ]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            prop = torch.cuda.get_device_properties(i)
            lines.append(f"  cuda:{i}   {prop.name}, {prop.total_memory / 2**30:.1f} GiB")
    else:
        cuda = torch.version.cuda
        why = "no CUDA device visible" if cuda else "this torch build has no CUDA"
        lines.append(f"  cuda     not available ({why})")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


# ============================================================================ parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``zentai`` command."""
    from zentai import __version__

    parser = _Parser(
        prog="zentai",
        description="zentai: spiking-network simulation on PyTorch (CPU and CUDA).",
    )
    parser.add_argument("--version", action="version", version=f"zentai {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="build and simulate a model, write spikes, rates, a figure and a summary",
        description=(
            "Build a built-in model (microcircuit: Potjans & Diesmann 2014) or a TOML spec file, "
            "simulate warm-up + duration, and write spikes.h5, raster.png, spec.toml and "
            "summary.json into --out. Rates and CVs are computed after the warm-up. Options given "
            "here override a spec file's [run] table. A scenario (m1-gamma, or a TOML file with "
            "a [scenario] table; see zentai.scenarios) writes spikes.h5, psd.png, phases.png and "
            "summary.json instead. Body and cbgc scenarios: cpg-walk, brain-forelimb, "
            "cbgc-pulse, scan-opto (each writes summary.json with its checks, and figures)."
        ),
    )
    run.add_argument(
        "model",
        help="built-in model name (microcircuit), scenario name (m1-gamma, motor-loop, "
        "somatotopy, cpg-walk, brain-forelimb, cbgc-pulse, scan-opto), or path to a spec.toml "
        "or scenario TOML",
    )
    run.add_argument(
        "--scale", type=float, metavar="S", help="fraction of neurons, in (0, 1] (default 0.1)"
    )
    run.add_argument(
        "--fraction",
        type=float,
        metavar="F",
        help="scenarios: fraction of the real neuron density, in (0, 1] (default: the file's)",
    )
    run.add_argument(
        "--k-scale", type=float, metavar="K", help="fraction of in-degrees (default: --scale)"
    )
    run.add_argument(
        "--duration",
        metavar="T",
        help="simulated time after warm-up: seconds or e.g. '500 ms' (default 1)",
    )
    run.add_argument(
        "--warmup", metavar="T", help="warm-up before the measurement, seconds (default 0.5)"
    )
    run.add_argument("--device", metavar="DEV", help="cpu, cuda or cuda:N (default cpu)")
    run.add_argument(
        "--seed", type=int, metavar="N", help="seed of the wiring and the noise (default 0)"
    )
    run.add_argument("--dt", metavar="MS", help="time step in ms (default 0.1)")
    run.add_argument(
        "--background", choices=("poisson", "dc"), help="background input (default poisson)"
    )
    run.add_argument("--dtype", choices=("float32", "float64"), help="default float32")
    run.add_argument(
        "--out", required=True, metavar="DIR", help="output folder (created if missing)"
    )
    run.add_argument(
        "--nwb",
        action="store_true",
        help="also write result.nwb (NWB 2: units with labels and positions, population rates)",
    )
    run.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="if PATH exists, continue that run up to warm-up + duration; save the final state "
        "to PATH",
    )
    run.add_argument(
        "--checkpoint-every",
        metavar="T",
        help="with --checkpoint: also save every T of biological time (seconds or e.g. '200 ms')",
    )
    run.add_argument(
        "--backend",
        choices=("auto", "torch", "compiled", "triton"),
        help="auto (default): the compiled loop on the CPU, the Triton kernels on CUDA, where "
        "they apply; torch: the tensor reference path; compiled / triton: that path or an "
        "error saying why not",
    )
    run.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads to step with (default: all cores for large networks, else 1)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    info = sub.add_parser("info", help="versions and available devices")
    info.set_defaults(func=cmd_info)

    from zentai.cli import assimilate_cmd, atlas_cmd, data_cmd, plan_cmd, view_cmd

    assimilate_cmd.register(sub)
    data_cmd.register(sub)
    atlas_cmd.register(sub)
    view_cmd.register(sub)
    plan_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``zentai`` command with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    Bad input gives one line ``zentai: error: ...`` on stderr and exit code 2.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return int(exc.code or 0)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ZentaiInternalError:
        raise
    except ZentaiError as exc:
        message = " ".join(str(exc).split())
        sys.stderr.write(f"zentai {args.command}: error: {message}\n")
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `zentai run ... | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (keeps Python's exit flush quiet)
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"zentai {args.command}: interrupted\n")
        return 130
    except OSError as exc:
        sys.stderr.write(f"zentai {args.command}: error: {exc}\n")
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
