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
- ``vector_strength_of`` / ``phase_deg_of`` (brain scenarios): the same for whole populations
  (``analysis.vector_strength_of``), against the same reference band-passed around the measured
  peak (``locking_band_hz``: ``peak_hz`` +- 5 Hz; see :func:`_locking_band`);
- ``checks``: each acceptance point of issue 4 (m1-gamma) as ``{"pass": bool, ...numbers}``.

Undefined numbers (a silent group, a reference without spikes) are ``null``, and checks that
need them fail. The numbers are whatever the model gives.
"""

from __future__ import annotations

import math
import os
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from zentai.errors import SpecError, closest
from zentai.io.jsonfile import write_json
from zentai.scenarios import Scenario, load_scenario

__all__ = ["PEAK_SEARCH_HZ", "evaluate_checks", "run_scenario"]

#: where ``peak_hz`` is searched
PEAK_SEARCH_HZ = (20.0, 80.0)
#: half-width (Hz) of the band around the measured peak in which the locking of distant
#: populations (``analysis.vector_strength_of``) is measured
LOCKING_HALF_WIDTH_HZ = 5.0
RATIO_MIN = 3.0
E_FS_MAX_DEG = 45.0
#: fewer spikes than this give no phase (a circular mean of a handful of spikes is noise: its
#: vector strength alone is >= 1/sqrt(n) by chance)
MIN_PHASE_SPIKES = 20
_LAYER_ORDER = ("L2/3", "L4", "L5A", "L5B", "L6a", "L6b")
#: the sheet's layers -> the layers of MODEL_SPEC §0 A3 (L2/3 -> L4 -> L5 -> L6)
_SPEC_LAYER = {"L2/3": "L2/3", "L4": "L4", "L5A": "L5", "L5B": "L5", "L6a": "L6", "L6b": "L6"}
_SPEC_ORDER = ("L2/3", "L4", "L5", "L6")


def _locking_band(peak_hz: float | None) -> tuple[float, float] | None:
    """Reference band for the downstream vector strengths: the measured peak +- 5 Hz.

    Not the 30-50 Hz analysis band: a spike 10-20 ms downstream of MOp (pons, cerebellum) has a
    phase of 2 pi f x delay, which moves by 70-140 degrees across a 20 Hz wide band, so the
    band's wandering instantaneous frequency smears the pooled phase. Measured (motor-loop, seed
    0, peak 30 Hz): granule VS 0.004 in 30-50 Hz, 0.048 in 25-35 Hz (Purkinje 0.013 / 0.003).
    """
    if peak_hz is None:
        return None
    lo = max(peak_hz - LOCKING_HALF_WIDTH_HZ, 1.0)
    return (lo, peak_hz + LOCKING_HALF_WIDTH_HZ)


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
def evaluate_checks(
    summary: dict[str, Any], band: tuple[float, float], phases: bool = True
) -> dict[str, Any]:
    """The acceptance points as ``{name: {"pass": bool, ...numbers}}`` from a summary's numbers.

    ``peak_in_band``: ``band[0] <= peak_hz <= band[1]``; ``peak_ratio_ge_3``. With ``phases``
    (m1-gamma; MODEL_SPEC §0 A2, A3): in the stimulated layer (``summary["stim_layer"]``)
    ``e_fs_within_45``: ``|wrap(E - FS)| <= 45°`` and ``lts_lags_fs``: ``wrap(LTS - FS) > 0``;
    ``e_phase_order``: every wrapped step between successive MODEL_SPEC layers' E phases
    (``summary["phase_deg_pooled"]``: L2/3 -> L4 -> L5 -> L6, sublayers pooled) is > 0; every
    layer with E cells in the column must have a phase (at least :data:`MIN_PHASE_SPIKES`
    spikes; ``silent_layers`` lists those without), and at least two layers. The per-sublayer
    phases stay in ``summary["phase_deg"]``. From the brain analyses when present:
    ``coherence.<name>``: coherence above its surrogate 95th percentile (motor-loop);
    ``granule_vs_gt_2x_purkinje``;
    ``centroid_monotonic.<area>``: the projections of the area's evoked-response centroids on
    the direction from the first to the last stimulation site are strictly monotonic
    (somatotopy).
    """
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
    if not phases:
        return _brain_checks(summary, checks)
    phases = summary["phase_deg"]
    ly = summary["stim_layer"]
    e, fs, lts = (phases.get(f"{ly}.{c}") for c in ("E", "FS", "LTS"))
    d = None if e is None or fs is None else _wrap_deg(e - fs)
    checks["e_fs_within_45"] = {
        "pass": d is not None and abs(d) <= E_FS_MAX_DEG,
        "layer": ly,
        "e_deg": e,
        "fs_deg": fs,
        "diff_deg": d,
    }
    lag = None if lts is None or fs is None else _wrap_deg(lts - fs)
    checks["lts_lags_fs"] = {
        "pass": lag is not None and lag > 0,
        "layer": ly,
        "lts_deg": lts,
        "fs_deg": fs,
        "lag_deg": lag,
    }
    pooled = summary["phase_deg_pooled"]
    present = [x for x in _SPEC_ORDER if f"{x}.E" in pooled]
    e_layers = [x for x in present if pooled.get(f"{x}.E") is not None]
    steps = [_wrap_deg(pooled[f"{b}.E"] - pooled[f"{a}.E"]) for a, b in pairwise(e_layers)]
    checks["e_phase_order"] = {
        "pass": len(e_layers) >= 2 and e_layers == present and all(st > 0 for st in steps),
        "layers": e_layers,
        "e_deg": [pooled[f"{x}.E"] for x in e_layers],
        "steps_deg": steps,
        "silent_layers": [x for x in present if x not in e_layers],
    }
    return checks


def _brain_checks(summary: dict[str, Any], checks: dict[str, Any]) -> dict[str, Any]:
    for name, c in summary.get("coherence", {}).items():
        ok = c["coherence"] is not None and c["surrogate_p95"] is not None
        checks[f"coherence.{name}"] = {
            "pass": ok and c["coherence"] > c["surrogate_p95"],
            "coherence": c["coherence"],
            "surrogate_p95": c["surrogate_p95"],
        }
    vs = summary.get("vector_strength_of", {})
    if "CB.GrC" in vs and "CB.PC" in vs:
        g, p = vs["CB.GrC"], vs["CB.PC"]
        checks["granule_vs_gt_2x_purkinje"] = {
            "pass": g is not None and p is not None and g > 2 * p,
            "granule": g,
            "purkinje": p,
        }
    sites = np.asarray(summary.get("stim_site_um", []), dtype=float)
    for area, cents in summary.get("centroids_um", {}).items():
        c = np.array([[np.nan if x is None else x for x in row] for row in cents], dtype=float)
        proj = None
        ok = False
        if len(sites) >= 2 and np.all(np.isfinite(c)):
            axis = sites[-1] - sites[0]
            axis = axis / max(np.linalg.norm(axis), 1e-9)
            proj = (c - c[0]) @ axis
            d = np.diff(proj)
            ok = bool(np.all(d > 0) or np.all(d < 0))
        checks[f"centroid_monotonic.{area}"] = {
            "pass": ok,
            "projection_um": None if proj is None else [float(x) for x in proj],
        }
    return checks


# ---------------------------------------------------------------------------- geometry
def _stim_voxel(atlas: Any, geo: Any, sc: Scenario, target: Any, cortical: tuple) -> np.ndarray:
    """The voxel index of a target: explicit, or the layer voxel of ``target.region`` (default
    the first cortical region) nearest that region's centroid moved by ``target.ap_offset_um``
    along the AP axis."""
    from zentai.atlas.geometry import LAYERS

    layer, voxel = target.layer, target.voxel
    region = target.region or cortical[0]
    in_layer = geo.layer == LAYERS.index(layer)
    if sc.hemisphere is not None:
        in_layer &= atlas.mask("root", sc.hemisphere)[tuple(geo.index.T)]
    if voxel == "center":
        in_layer &= atlas.mask(region)[tuple(geo.index.T)]
    candidates = geo.index[in_layer]
    if candidates.size == 0:
        where = region if voxel == "center" else "+".join(cortical)
        raise SpecError(f"stim.target.layer {layer!r} has no voxel in {where}.")
    if voxel != "center":
        v = np.asarray(voxel)
        if not (candidates == v[None, :]).all(axis=1).any():
            raise SpecError(
                f"stim.target.voxel {list(voxel)!r} is not a {layer} voxel of "
                f"{'+'.join(cortical)} ({sc.hemisphere or 'both'} hemisphere(s))."
            )
        return v
    region_idx = np.argwhere(atlas.mask(region, sc.hemisphere))
    centroid = region_idx.mean(axis=0)
    centroid[0] += target.ap_offset_um / atlas.resolution_um
    return candidates[np.argmin(((candidates - centroid) ** 2).sum(axis=1))]


def _target_neurons(layout: Any, pop: str, voxel: np.ndarray, radius_um: float) -> np.ndarray:
    if pop not in layout.voxels:
        return np.zeros(0, np.int64)
    if radius_um <= 0:
        return layout.neurons_in_voxel(pop, tuple(int(i) for i in voxel))
    centre = (voxel + 0.5) * layout.resolution_um
    d = np.linalg.norm(layout.positions[pop] - centre[None, :], axis=1)
    return np.flatnonzero(d <= radius_um)


# ---------------------------------------------------------------------------- brain analyses
def _check_names(sc: Scenario, spec: Any, layout: Any) -> None:
    """Every name of the analysis lists must be a population or (coherence, centroids) an area."""
    pops = {p.name for p in spec.populations}
    areas = tuple(getattr(layout, "areas", ()))
    for key, allowed in (
        ("coherence_with", pops | set(areas)),
        ("vector_strength_of", pops),
        ("centroid_areas", set(areas)),
    ):
        for name in getattr(sc, key):
            if name not in allowed:
                raise SpecError(
                    f"analysis.{key} names {name!r}, which this model does not have; "
                    f"{closest(name, sorted(allowed))}."
                )


def _group_ids(result: Any, layout: Any, name: str) -> np.ndarray:
    """Global neuron ids of a population, or of an area: its cortical E cells, or, for a
    subcortical area, all its cells."""
    if name in result.populations:
        return result.neuron_ids(name)
    i = layout.areas.index(name)
    cortical = [p for p in layout.area if p.startswith("Isocortex.") and p.endswith(".E")]
    pops = [p for p in cortical if (layout.area[p] == i).any()] or list(layout.area)
    parts = [result.populations[p][0] + np.flatnonzero(layout.area[p] == i) for p in pops]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def coherence_resolution(resolution_hz: float, n_bins: int, band: tuple) -> float | None:
    """The Welch resolution of the coherences of a rate of ``n_bins`` 1 ms bins: the scenario's,
    coarsened until the signal holds two segments (the surrogates shift by at least one); None
    when no frequency of that resolution lies in the closed ``band`` (a too short run)."""
    res = max(float(resolution_hz), 1000.0 / max(n_bins // 2, 1))
    step = 1000.0 / round(1000.0 / res)  # the spectrum's frequency step (whole segments)
    if n_bins < 4 or math.floor(band[1] / step) * step < band[0]:
        return None
    return res


def _coherences(sc, result, layout, stim_rate, t_start, t_stop, seed) -> dict[str, Any]:
    """Band coherence of the stimulated group's rate with each ``analysis.coherence_with``."""
    from zentai import analysis

    out: dict[str, Any] = {}
    resolution = coherence_resolution(sc.resolution_hz, stim_rate.sizes["time"], sc.band_hz)
    for name in sc.coherence_with:
        ids = _group_ids(result, layout, name)
        rate = analysis.population_rate(
            result, {name: ids}, bin_ms=1.0, t_start_ms=t_start, t_stop_ms=t_stop
        ).sel(group=name)
        coh = p95 = None
        if resolution and ids.size and float(rate.sum()) > 0 and float(stim_rate.sum()) > 0:
            c, q = analysis.coherence_with_surrogates(
                stim_rate,
                rate,
                sc.band_hz,
                n_surrogates=sc.n_surrogates,
                seed=seed,
                resolution_hz=resolution,
            )
            coh, p95 = _finite(c), _finite(q)
        out[name] = {
            "coherence": coh,
            "surrogate_p95": p95,
            "resolution_hz": resolution,
            "n_neurons": int(ids.size),
            "rate_hz": float(rate.mean()) if ids.size else None,
        }
    return out


def _centroids(sc, result, layout, stim_voxels, atlas, t_start) -> tuple[dict, list]:
    """Centroid (µm) of the evoked rate of each area's cortical E cells per stimulus window.

    Evoked rate of a cell: its rate in the stimulus window minus its rate in the baseline (from
    the end of the warm-up to the first stimulus onset), floored at 0.
    """
    from zentai import analysis

    if not sc.centroid_areas:
        return {}, []
    first = min(st.start_ms for st in sc.stimuli)
    if first <= t_start:
        raise SpecError(
            "analysis.centroid_areas needs a baseline: the first stimulus must start after the "
            f"warm-up ({t_start:g} ms); it starts at {first:g} ms."
        )
    times, ids = result.spikes()
    sites = [((v + 0.5) * atlas.resolution_um).tolist() for v in stim_voxels]
    out: dict[str, Any] = {}
    for area in sc.centroid_areas:
        i = layout.areas.index(area)
        gids, pos = [], []
        for p, a in layout.area.items():
            if p.startswith("Isocortex.") and p.endswith(".E"):
                sel = np.flatnonzero(a == i)
                gids.append(result.populations[p][0] + sel)
                pos.append(layout.positions[p][sel])
        gids_a, pos_a = np.concatenate(gids), np.concatenate(pos)
        order = np.argsort(gids_a)

        def rate(lo: float, hi: float, gids_a=gids_a, order=order) -> np.ndarray:
            keep = (times >= lo) & (times < hi) & np.isin(ids, gids_a)
            cell = order[np.searchsorted(gids_a, ids[keep], sorter=order)]
            counts = np.bincount(cell, minlength=gids_a.size)
            return counts / max(hi - lo, 1e-9) * 1e3

        base = rate(t_start, first)
        cents = []
        for st in sc.stimuli:
            stop = result.t_stop_ms if st.stop_ms is None else st.stop_ms
            evoked = np.maximum(rate(st.start_ms, stop) - base, 0.0)
            c = analysis.centroid(evoked, pos_a)
            cents.append([_finite(x) for x in c])
        out[area] = cents
    return out, sites


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
    for pop, r in summary["rates_hz"].items():
        if not pop.startswith("Isocortex."):
            vs = summary.get("vector_strength_of", {}).get(pop)
            out.write(f"{pop:<10} {r:>8.2f} {'':>8} {num(vs, '.3f', 6)}\n")
    for name, c in summary.get("coherence", {}).items():
        out.write(
            f"coherence with {name}: {num(c['coherence'], '.3f')} (surrogate 95th percentile "
            f"{num(c['surrogate_p95'], '.3f')})\n"
        )
    for area, cents in summary.get("centroids_um", {}).items():
        rows = "; ".join(", ".join(num(x, ".0f") for x in c) for c in cents)
        out.write(f"evoked centroids in {area} (µm, per stimulus): {rows}\n")
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
    backend: str = "auto",
    num_threads: int | None = None,
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
    from zentai.build.network import estimate
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
    common = {"fraction": frac, "hemisphere": sc.hemisphere, "seed": seed, "models": sc.models}
    if sc.kind == "brain":
        from zentai.build.brain import brain_spec, classify_regions

        cortical = classify_regions(atlas, sc.regions).cortex
        if not cortical:
            raise SpecError(
                f"scenario {sc.name!r}: the stimulus targets the cortex, but build.regions "
                f"{list(sc.regions)!r} holds no isocortical area."
            )
        spec, layout = brain_spec(
            atlas, sc.regions, topography=sc.topography, mossy_share=sc.mossy_share, **common
        )
    else:
        cortical = sc.regions
        spec, layout = cortex_spec(atlas, sc.regions, **common)
    geo = cortical_geometry(atlas, cortical)
    stimuli, stimulated, stim_voxels = [], {}, []
    for i, st in enumerate(sc.stimuli):
        voxel = _stim_voxel(atlas, geo, sc, st.target, cortical)
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
    est = estimate(spec)
    if echo:
        print(f"{sc.name} | fraction {frac:g} | {est}", flush=True)
    est.check(frac)
    from zentai.distributed.comm import launched_ranks

    engine = {"dt": sc.dt_ms, "device": device, "dtype": dtype, "seed": seed,
              "backend": backend, "num_threads": num_threads}  # fmt: skip
    if launched_ranks()[1] > 1:  # one of R processes (torchrun / mpiexec): zentai.distributed
        from zentai.distributed import DistributedSimulator

        dsim = DistributedSimulator(spec, network_seed=seed, **engine)
        build_s = time.perf_counter() - t0
        dsim.run(round(n_steps) * sc.dt_ms, progress=progress)
        result = dsim.gather_result()
        sim_s = max(dsim.comm.allgather_object(dsim.wall_s))
        dsim.comm.close()  # no collective after this; rank 0 analyses and writes alone
        sim, ranks, partition_text = dsim.sim, dsim.n_ranks, str(dsim.partition)
        n_neurons, n_synapses = dsim.n_neurons, dsim.n_synapses
        if result is None:  # ranks > 0: rank 0 analyses and writes
            return {"rank": dsim.rank, "ranks": dsim.n_ranks}
    else:
        net = network(spec, seed=seed)
        build_s = time.perf_counter() - t0
        sim = Simulator(net, **engine)
        sim.run(round(n_steps) * sc.dt_ms, progress=progress)
        result = sim.result()
        sim_s, ranks, partition_text = sim.wall_s, 1, None
        n_neurons, n_synapses = net.n_neurons, net.n_synapses

    # the spikes first, so that they are kept if an analysis fails (written again below, with
    # the summary)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / n for n in ("spikes.h5", "psd.png", "phases.png", "summary.json")]
    hdf5.write_result(result, files[0], spec=spec)

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
    locking_band = _locking_band(peak_hz)

    # ---- the column and the phases
    centre = (stim_voxels[0] + 0.5) * atlas.resolution_um
    at = (geo.index == stim_voxels[0][None, :]).all(axis=1)
    normal = geo.normal[np.flatnonzero(at)[0]]
    normal = normal / np.linalg.norm(normal)
    column: dict[str, np.ndarray] = {}
    for p in spec.populations:
        if not p.name.startswith("Isocortex."):
            continue
        d = layout.positions[p.name] - centre[None, :]
        lateral = d - (d @ normal)[:, None] * normal[None, :]
        local = np.flatnonzero(np.linalg.norm(lateral, axis=1) <= sc.column_radius_um)
        key = f"{p.labels['layer']}.{p.labels['cell_class']}"
        column[key] = result.populations[p.name][0] + local
    e_ids = np.concatenate([ids for k, ids in column.items() if k.endswith(".E")])
    phase_deg: dict[str, float | None] = dict.fromkeys(column)
    vs: dict[str, float | None] = dict.fromkeys(column)
    n_phase_spikes: dict[str, int] = dict.fromkeys(column, 0)
    _check_names(sc, spec, layout)
    vs_of: dict[str, float | None] = dict.fromkeys(sc.vector_strength_of)
    phase_of: dict[str, float | None] = dict.fromkeys(sc.vector_strength_of)
    # MODEL_SPEC layers (L5 = L5A + L5B, L6 = L6a + L6b), spikes pooled over the sublayers
    pooled: dict[str, np.ndarray] = {}
    for k, ids_k in column.items():
        layer, cls = k.rsplit(".", 1)
        pooled.setdefault(f"{_SPEC_LAYER[layer]}.{cls}", []).append(ids_k)
    pooled = {k: np.concatenate(v) for k, v in pooled.items()}
    phase_pooled: dict[str, float | None] = dict.fromkeys(pooled)
    if e_ids.size:
        ref = analysis.population_rate(
            result, {"column.E": e_ids}, bin_ms=1.0, t_start_ms=t_start, t_stop_ms=t_stop
        ).sel(group="column.E")
        nyquist = 500.0
        if float(ref.sum()) > 0 and band[1] < nyquist and n_bins > 30:
            times, ids = result.spikes()
            after = times > t_start
            groups = {k: v for k, v in column.items() if v.size}
            extra = {
                k: result.neuron_ids(k)
                for k in sc.vector_strength_of
                if k in result.populations and result.neuron_ids(k).size
            }
            pooled_groups = {f"pooled:{k}": v for k, v in pooled.items() if v.size}
            spikes_after = (times[after], ids[after])
            table = analysis.phase_table(spikes_after, {**groups, **pooled_groups}, ref, band)
            for k in pooled_groups:
                row = table.sel(group=k)
                if int(row["n_spikes"]) >= MIN_PHASE_SPIKES:
                    phase_pooled[k.split(":", 1)[1]] = _finite(row["mean_phase_deg"])
            if extra and locking_band is not None:
                far = analysis.phase_table(spikes_after, extra, ref, locking_band)
                for k in extra:
                    row = far.sel(group=k)
                    vs_of[k] = _finite(row["vector_strength"])
                    phase_of[k] = _finite(row["mean_phase_deg"])
            for k in groups:
                row = table.sel(group=k)
                n_phase_spikes[k] = int(row["n_spikes"])
                if n_phase_spikes[k] >= MIN_PHASE_SPIKES:
                    phase_deg[k] = _finite(row["mean_phase_deg"])
                    vs[k] = _finite(row["vector_strength"])

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
        "backend": sim.backend,
        "threads": sim.num_threads,
        "ranks": ranks,
        "partition": partition_text,
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
        "phase_deg_pooled": phase_pooled,
        "stim_layer": sc.stimuli[0].target.layer,
        "vector_strength": vs,
        "phase_n_spikes": n_phase_spikes,
        "rates_hz": {k: float(v) for k, v in rates.items()},
        "n_neurons": int(n_neurons),
        "n_synapses": int(n_synapses),
        "build_s": build_s,
        "sim_s": sim_s,
        "zentai_version": zentai.__version__,
        "torch_version": torch.__version__,
    }
    if sc.kind == "brain":
        summary["coherence"] = _coherences(sc, result, layout, stim_rate, t_start, t_stop, seed)
        summary["vector_strength_of"] = vs_of
        summary["locking_band_hz"] = None if locking_band is None else list(locking_band)
        summary["phase_deg_of"] = phase_of
        summary["vector_strength"] = {**vs, **vs_of}
        summary["centroids_um"], summary["stim_site_um"] = _centroids(
            sc, result, layout, stim_voxels, atlas, t_start
        )
        summary["areas"] = {
            a: {
                p: int((layout.area[p] == i).sum())
                for p in layout.area
                if (layout.area[p] == i).any()
            }
            for i, a in enumerate(layout.areas)
        }
    summary["checks"] = evaluate_checks(summary, band, phases=sc.kind == "cortex")
    if not sc.gamma_checks:  # reported as numbers, not judged
        for name in ("peak_in_band", "peak_ratio_ge_3"):
            summary["checks"].pop(name)

    hdf5.write_result(result, files[0], spec=spec, summary=summary)
    title = f"{sc.name}, fraction {frac:g}"
    _save_psd(files[1], psd, band, f"{title}: stimulated group ({stim_ids.size} cells)")
    _save_phases(files[2], phase_deg, vs, title)
    write_json(files[3], summary)
    if echo:
        _print_table(summary, files)
    return summary
