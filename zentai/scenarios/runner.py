"""Run a scenario: build the cortical sheet, stimulate, simulate, measure, write the files.

:func:`run_scenario` returns (and writes as ``summary.json``) a dict with

- ``peak_hz``: frequency of the largest PSD value, 20-80 Hz, of the *stimulated group's*
  population rate (all neurons that the ``[[stim]]`` tables drive, 1 ms bins, after warm-up);
  ``peak_ratio``: :func:`zentai.analysis.peak_ratio` of that PSD in ``analysis.band``
  (peak in the band over the fitted 1/f background at the peak frequency);
- ``phase_deg`` / ``vector_strength``: per ``"<layer>.<class>"``, the circular mean phase (deg,
  phase 0 = reference peak, larger = later) and vector strength of the spikes, after warm-up, of
  that population's neurons in the analysis column. The reference is the population rate of all
  excitatory cells of the column (stimulated ones included), band-passed in ``analysis.band``;
  the column is every neuron within ``analysis.column_radius_um`` of the axis through the first
  stimulus's voxel centre along the cortical normal there;
- ``rates_hz`` (per population, after warm-up), ``n_neurons``, ``n_synapses``, ``build_s``,
  ``sim_s``, ``n_stimulated``, ``stim_voxel``, the settings;
- ``checks``: each acceptance point of issue 4 (m1-gamma) as ``{"pass": bool, ...numbers}``.

Undefined numbers (a silent group, a reference without spikes) are ``null``, and checks that
need them fail. The numbers are whatever the model gives.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from zentai.errors import SpecError
from zentai.scenarios import Scenario, load_scenario

__all__ = ["PEAK_SEARCH_HZ", "evaluate_checks", "run_scenario"]

#: where ``peak_hz`` is searched
PEAK_SEARCH_HZ = (20.0, 80.0)
RATIO_MIN = 3.0
E_FS_MAX_DEG = 45.0
_LAYER_ORDER = ("L2/3", "L4", "L5A", "L5B", "L6a", "L6b")


def _wrap_deg(x: float) -> float:
    """Angle difference wrapped into (-180, 180]."""
    y = (x + 180.0) % 360.0 - 180.0
    return 180.0 if y == -180.0 else y


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------------- checks
def evaluate_checks(summary: dict[str, Any], band: tuple[float, float]) -> dict[str, Any]:
    """The acceptance points as ``{name: {"pass": bool, ...numbers}}`` from a summary's numbers.

    ``peak_in_band``: ``band[0] <= peak_hz <= band[1]``; ``peak_ratio_ge_3``; per layer
    ``e_fs_within_45.<layer>``: ``|wrap(E - FS)| <= 45°``; ``lts_lags_fs.<layer>``:
    ``wrap(LTS - FS) > 0``; ``e_phase_order``: every wrapped step between successive layers'
    E phases (L2/3 -> L6b, layers with a phase) is > 0, with at least two layers.
    """
    phases = summary["phase_deg"]
    checks: dict[str, Any] = {}
    f = summary["peak_hz"]
    checks["peak_in_band"] = {
        "pass": f is not None and band[0] <= f <= band[1],
        "peak_hz": f,
        "band_hz": list(band),
    }
    r = summary["peak_ratio"]
    checks["peak_ratio_ge_3"] = {
        "pass": r is not None and r >= RATIO_MIN,
        "peak_ratio": r,
        "min": RATIO_MIN,
    }
    layers = [ly for ly in _LAYER_ORDER if any(k.startswith(f"{ly}.") for k in phases)]
    for ly in layers:
        e, fs, lts = (phases.get(f"{ly}.{c}") for c in ("E", "FS", "LTS"))
        d = None if e is None or fs is None else _wrap_deg(e - fs)
        checks[f"e_fs_within_45.{ly}"] = {
            "pass": d is not None and abs(d) <= E_FS_MAX_DEG,
            "e_deg": e,
            "fs_deg": fs,
            "diff_deg": d,
        }
        lag = None if lts is None or fs is None else _wrap_deg(lts - fs)
        checks[f"lts_lags_fs.{ly}"] = {
            "pass": lag is not None and lag > 0,
            "lts_deg": lts,
            "fs_deg": fs,
            "lag_deg": lag,
        }
    e_layers = [ly for ly in layers if phases.get(f"{ly}.E") is not None]
    steps = [_wrap_deg(phases[f"{b}.E"] - phases[f"{a}.E"]) for a, b in pairwise(e_layers)]
    checks["e_phase_order"] = {
        "pass": len(e_layers) >= 2 and all(s > 0 for s in steps),
        "layers": e_layers,
        "e_deg": [phases[f"{ly}.E"] for ly in e_layers],
        "steps_deg": steps,
    }
    return checks


# ---------------------------------------------------------------------------- geometry
def _stim_voxel(atlas: Any, geo: Any, sc: Scenario, layer: str, voxel: Any) -> np.ndarray:
    """The voxel index of a target: explicit, or the layer voxel nearest the region centroid."""
    from zentai.atlas.geometry import LAYERS

    in_layer = geo.layer == LAYERS.index(layer)
    if sc.hemisphere is not None:
        in_layer &= atlas.mask("root", sc.hemisphere)[tuple(geo.index.T)]
    candidates = geo.index[in_layer]
    if candidates.size == 0:
        raise SpecError(f"stim.target.layer {layer!r} has no voxel in {'+'.join(sc.regions)}.")
    if voxel != "center":
        v = np.asarray(voxel)
        if not (candidates == v[None, :]).all(axis=1).any():
            raise SpecError(
                f"stim.target.voxel {list(voxel)!r} is not a {layer} voxel of "
                f"{'+'.join(sc.regions)} ({sc.hemisphere or 'both'} hemisphere(s))."
            )
        return v
    region_idx = np.argwhere(atlas.mask(sc.regions[0], sc.hemisphere))
    centroid = region_idx.mean(axis=0)
    return candidates[np.argmin(((candidates - centroid) ** 2).sum(axis=1))]


def _target_neurons(layout: Any, pop: str, voxel: np.ndarray, radius_um: float) -> np.ndarray:
    if pop not in layout.voxels:
        return np.zeros(0, np.int64)
    if radius_um <= 0:
        return layout.neurons_in_voxel(pop, tuple(int(i) for i in voxel))
    centre = (voxel + 0.5) * layout.resolution_um
    d = np.linalg.norm(layout.positions[pop] - centre[None, :], axis=1)
    return np.flatnonzero(d <= radius_um)


# ---------------------------------------------------------------------------- figures
def _save_psd(path: Path, psd: Any, band: tuple[float, float], title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if psd is not None:
        f = np.asarray(psd["frequency"].values)
        p = np.asarray(psd.values)
        keep = (f > 0) & (f <= 200)
        ax.semilogy(f[keep], np.maximum(p[keep], 1e-12), color="k", lw=1)
    else:
        ax.text(0.5, 0.5, "stimulated group silent", ha="center", transform=ax.transAxes)
    ax.axvspan(*band, color="tab:orange", alpha=0.2, label=f"{band[0]:g}-{band[1]:g} Hz")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("PSD (Hz²/Hz)")
    ax.set_title(title)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _save_phases(path: Path, phase_deg: dict, vs: dict, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection="polar")
    colors = {"E": "tab:red", "FS": "tab:blue", "LTS": "tab:green"}
    markers = dict(zip(_LAYER_ORDER, "os^vDP"))
    for key, deg in phase_deg.items():
        if deg is None:
            continue
        layer, cls = key.rsplit(".", 1)
        ax.plot(
            [math.radians(deg)],
            [vs[key]],
            marker=markers.get(layer, "o"),
            color=colors.get(cls, "k"),
            ls="",
            label=key,
        )
    ax.set_title(f"{title}\nmean phase (angle), vector strength (radius)", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.05, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _print_table(summary: dict[str, Any], files: list[Path]) -> None:
    out = sys.stdout

    def num(x: Any, fmt: str, width: int = 0) -> str:
        return f"{'-' if x is None else format(x, fmt):>{width}}"

    out.write(
        f"{summary['scenario']} | fraction {summary['fraction']:g} | seed {summary['seed']} | "
        f"{summary['device']} | neurons {summary['n_neurons']:,} | synapses "
        f"{summary['n_synapses']:,} | stimulated {summary['n_stimulated']} | build "
        f"{summary['build_s']:.1f} s | simulation {summary['sim_s']:.1f} s\n"
        f"peak {num(summary['peak_hz'], '.1f')} Hz | ratio {num(summary['peak_ratio'], '.2f')}\n"
    )
    out.write(f"{'group':<10} {'rate Hz':>8} {'phase°':>8} {'VS':>6} {'column':>6}\n")
    for key in summary["phase_deg"]:
        out.write(
            f"{key:<10} {num(summary['rates_hz'].get('Isocortex.' + key), '.2f', 8)} "
            f"{num(summary['phase_deg'][key], '.1f', 8)} "
            f"{num(summary['vector_strength'][key], '.3f', 6)} {summary['column_sizes'][key]:>6}\n"
        )
    for name, c in summary["checks"].items():
        out.write(f"  [{'pass' if c['pass'] else 'FAIL'}] {name}\n")
    out.write("wrote " + ", ".join(str(f) for f in files) + "\n")


# ---------------------------------------------------------------------------- run
def run_scenario(
    name_or_path: str | Path | Scenario,
    *,
    fraction: float | None = None,
    device: str = "cpu",
    seed: int | None = None,
    out: str | os.PathLike = "out",
    progress: bool | None = None,
    duration_ms: float | None = None,
    warmup_ms: float | None = None,
    dtype: str = "float32",
    atlas: Any = None,
    echo: bool = True,
) -> dict[str, Any]:
    """Build, stimulate, simulate and analyse a scenario; write the files into ``out``.

    ``fraction``, ``seed``, ``duration_ms`` and ``warmup_ms`` override the file's values
    (``seed`` seeds placement, wiring and noise). Files: ``summary.json``, ``spikes.h5``,
    ``psd.png``, ``phases.png``. Returns the summary (see the module docstring).
    """
    import torch

    import zentai
    from zentai import analysis
    from zentai.atlas.atlas import load as load_atlas
    from zentai.atlas.geometry import cortical_geometry
    from zentai.build import network
    from zentai.build.cortex import cortex_spec
    from zentai.io import hdf5
    from zentai.record.recorders import Spikes
    from zentai.sim import Simulator, resolve_device
    from zentai.stim import DC

    sc = name_or_path if isinstance(name_or_path, Scenario) else load_scenario(name_or_path)
    frac = sc.fraction if fraction is None else float(fraction)
    if not (math.isfinite(frac) and 0 < frac <= 1):
        raise SpecError(f"fraction must be in (0, 1]; got {fraction!r}.")
    seed = sc.seed if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError(f"seed must be an integer >= 0; got {seed!r}.")
    duration = sc.duration_ms if duration_ms is None else float(duration_ms)
    warmup = sc.warmup_ms if warmup_ms is None else float(warmup_ms)
    if not (duration > 0 and warmup >= 0):
        raise SpecError(f"duration must be > 0 and warmup >= 0 ms; got {duration}, {warmup}.")
    n_steps = (warmup + duration) / sc.dt_ms
    if abs(n_steps - round(n_steps)) > 1e-6 * max(1.0, n_steps):
        raise SpecError(f"duration and warmup must be multiples of dt = {sc.dt_ms:g} ms.")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError(f"out must be a folder; {str(out)!r} is a file.")
    resolve_device(device)

    t0 = time.perf_counter()
    if atlas is None:
        atlas = load_atlas("allen_mouse_100um")
    spec, layout = cortex_spec(
        atlas,
        sc.regions,
        fraction=frac,
        hemisphere=sc.hemisphere,
        seed=seed,
        models=sc.models,
    )
    geo = cortical_geometry(atlas, sc.regions)
    stimuli, stimulated, stim_voxels = [], {}, []
    for i, st in enumerate(sc.stimuli):
        voxel = _stim_voxel(atlas, geo, sc, st.target.layer, st.target.voxel)
        stim_voxels.append(voxel)
        pop = st.target.population
        idx = _target_neurons(layout, pop, voxel, st.target.radius_um)
        if idx.size == 0:
            raise SpecError(
                f"stim[{i}].target holds no {pop} neuron at fraction {frac:g} (voxel "
                f"{voxel.tolist()}, radius_um {st.target.radius_um:g}); give a larger "
                "target.radius_um or a larger fraction."
            )
        stimuli.append(
            DC(
                target=pop,
                amplitude=st.amplitude_pa,
                start=st.start_ms,
                stop=st.stop_ms,
                neurons=idx,
            )
        )
        stimulated.setdefault(pop, set()).update(int(j) for j in idx)
    spec = spec.add(*stimuli, Spikes())
    net = network(spec, seed=seed)
    build_s = time.perf_counter() - t0

    sim = Simulator(net, dt=sc.dt_ms, device=device, dtype=dtype, seed=seed)
    sim.run(round(n_steps) * sc.dt_ms, progress=progress)
    result = sim.result()
    sim_s = sim.wall_s

    # ---- analysis window: after the warm-up
    t_start, t_stop = warmup, result.t_stop_ms
    band = sc.band_hz
    stim_ids = np.concatenate(
        [result.populations[p][0] + np.array(sorted(s), np.int64) for p, s in stimulated.items()]
    )
    stim_rate = analysis.population_rate(
        result, {"stimulated": stim_ids}, bin_ms=1.0, t_start_ms=t_start, t_stop_ms=t_stop
    ).sel(group="stimulated")
    n_bins = stim_rate.sizes["time"]
    resolution = max(sc.resolution_hz, 1000.0 / n_bins)  # one segment at least
    psd = peak_hz = ratio = None
    if float(stim_rate.sum()) > 0 and n_bins >= 4:
        psd = analysis.power_spectrum(stim_rate, resolution_hz=resolution)
        peak_hz = _finite(analysis.peak_frequency(psd, PEAK_SEARCH_HZ)[0])
        try:
            ratio = _finite(analysis.peak_ratio(psd, band))
        except SpecError:  # zeros in the 1/f fit range: undefined
            ratio = None

    # ---- the column and the phases
    centre = (stim_voxels[0] + 0.5) * atlas.resolution_um
    at = (geo.index == stim_voxels[0][None, :]).all(axis=1)
    normal = geo.normal[np.flatnonzero(at)[0]]
    normal = normal / np.linalg.norm(normal)
    column: dict[str, np.ndarray] = {}
    for p in spec.populations:
        d = layout.positions[p.name] - centre[None, :]
        lateral = d - (d @ normal)[:, None] * normal[None, :]
        local = np.flatnonzero(np.linalg.norm(lateral, axis=1) <= sc.column_radius_um)
        key = f"{p.labels['layer']}.{p.labels['cell_class']}"
        column[key] = result.populations[p.name][0] + local
    e_ids = np.concatenate([ids for k, ids in column.items() if k.endswith(".E")])
    phase_deg: dict[str, float | None] = dict.fromkeys(column)
    vs: dict[str, float | None] = dict.fromkeys(column)
    n_phase_spikes: dict[str, int] = dict.fromkeys(column, 0)
    if e_ids.size:
        ref = analysis.population_rate(
            result, {"column.E": e_ids}, bin_ms=1.0, t_start_ms=t_start, t_stop_ms=t_stop
        ).sel(group="column.E")
        nyquist = 500.0
        if float(ref.sum()) > 0 and band[1] < nyquist and n_bins > 30:
            times, ids = result.spikes()
            after = times > t_start
            groups = {k: v for k, v in column.items() if v.size}
            table = analysis.phase_table((times[after], ids[after]), groups, ref, band)
            for k in groups:
                row = table.sel(group=k)
                phase_deg[k] = _finite(row["mean_phase_deg"])
                vs[k] = _finite(row["vector_strength"])
                n_phase_spikes[k] = int(row["n_spikes"])

    rates = result.rates_hz(t_start, t_stop)
    summary: dict[str, Any] = {
        "scenario": sc.name,
        "scenario_file": sc.source,
        "regions": list(sc.regions),
        "hemisphere": sc.hemisphere or "both",
        "fraction": frac,
        "models": sc.models,
        "seed": seed,
        "device": str(sim.device),
        "dtype": dtype,
        "dt_ms": sc.dt_ms,
        "duration_ms": duration,
        "warmup_ms": warmup,
        "t_stop_ms": result.t_stop_ms,
        "band_hz": list(band),
        "peak_search_hz": list(PEAK_SEARCH_HZ),
        "resolution_hz": float(resolution) if psd is None else float(psd.attrs["resolution_hz"]),
        "stim_voxel": [v.tolist() for v in stim_voxels],
        "stim_voxel_um": [((v + 0.5) * atlas.resolution_um).tolist() for v in stim_voxels],
        "n_stimulated": int(stim_ids.size),
        "stimulated_rate_hz": float(stim_rate.mean()),
        "column_radius_um": sc.column_radius_um,
        "column_sizes": {k: int(v.size) for k, v in column.items()},
        "reference": "band-passed population rate of the column's E cells",
        "peak_hz": peak_hz,
        "peak_ratio": ratio,
        "phase_deg": phase_deg,
        "vector_strength": vs,
        "phase_n_spikes": n_phase_spikes,
        "rates_hz": {k: float(v) for k, v in rates.items()},
        "n_neurons": int(net.n_neurons),
        "n_synapses": int(net.n_synapses),
        "build_s": build_s,
        "sim_s": sim_s,
        "zentai_version": zentai.__version__,
        "torch_version": torch.__version__,
    }
    summary["checks"] = evaluate_checks(summary, band)

    out.mkdir(parents=True, exist_ok=True)
    files = [out / n for n in ("spikes.h5", "psd.png", "phases.png", "summary.json")]
    hdf5.write_result(result, files[0], spec=spec, summary=summary)
    title = f"{sc.name}, fraction {frac:g}"
    _save_psd(files[1], psd, band, f"{title}: stimulated group ({stim_ids.size} cells)")
    _save_phases(files[2], phase_deg, vs, title)
    _write_json(files[3], summary)
    if echo:
        _print_table(summary, files)
    return summary
