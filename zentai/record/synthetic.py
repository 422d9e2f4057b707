"""Synthetic recordings: a simulation seen through the instruments of an experiment.

So that simulation and experiment are compared in the same modality:

* :func:`calcium_imaging` — two-photon ΔF/F per cell: each spike adds a GCaMP-like
  double-exponential transient, sampled at the frame times; optional neuropil contamination
  (the field of view's mean trace, coefficient ``neuropil``, as Suite2p's default 0.7 assumes)
  and photon shot noise; cells chosen by a field of view on the brain's surface;
* :func:`fiber_photometry` — one population signal: the cells' ΔF/F weighted by the light
  collected from them by a fibre (a cone under the tip, attenuated with distance);
* :func:`neuropixels` — the units a straight probe would record: every neuron within
  ``radius_um`` of the track, with its distance, CCF position and spikes.

Kernel defaults are GCaMP6s-like and marked [N] (not fitted): amplitude 0.2 ΔF/F per spike
(Chen et al. 2013, Nature 499:295, report ~0.2-0.25 for one action potential in vivo), rise
0.1 s (their "rise time of the sensor", 100-150 ms, which sets when two spikes separate) and
decay 1.0 s; pass your indicator's values. Every random choice (shot noise) flows from ``seed``.
Positions are CCF µm (x anterior-posterior, y dorsal-ventral, z left-right), as the builders
place neurons.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from zentai.errors import SpecError

__all__ = ["calcium_imaging", "calcium_kernel", "fiber_photometry", "neuropixels"]


def calcium_kernel(
    t_s: np.ndarray, *, amplitude: float = 0.2, tau_rise: float = 0.1, tau_decay: float = 1.0
) -> np.ndarray:
    """ΔF/F of one spike ``t_s`` seconds later: ``A (e^{-t/τd} - e^{-t/τr}) / peak``, 0 before
    the spike (the double exponential scaled so that its maximum is ``amplitude``)."""
    if not (tau_decay > tau_rise > 0 and amplitude > 0):
        raise SpecError(
            f"calcium kernel needs tau_decay > tau_rise > 0 and amplitude > 0; got "
            f"tau_rise={tau_rise}, tau_decay={tau_decay}, amplitude={amplitude}."
        )
    t = np.asarray(t_s, dtype=np.float64)
    t_peak = tau_rise * tau_decay / (tau_decay - tau_rise) * np.log(tau_decay / tau_rise)
    peak = np.exp(-t_peak / tau_decay) - np.exp(-t_peak / tau_rise)
    k = (np.exp(-np.maximum(t, 0) / tau_decay) - np.exp(-np.maximum(t, 0) / tau_rise)) / peak
    return np.where(t >= 0, amplitude * k, 0.0)


def _positions(spec: Any, population: str) -> np.ndarray:
    pos = spec.population(population).positions
    if pos is None:
        raise SpecError(f"population {population!r} has no positions (needed for a field of view).")
    return np.asarray(pos, dtype=np.float64)


def calcium_imaging(
    result: Any,
    population: str,
    *,
    spec: Any = None,
    fov: tuple[float, float, float, float, float] | None = None,
    member: int = 0,
    frame_rate: float = 30.0,
    amplitude: float = 0.2,
    tau_rise: float = 0.1,
    tau_decay: float = 1.0,
    neuropil: float = 0.0,
    photons: float | None = None,
    seed: int = 0,
) -> xr.DataArray:
    """ΔF/F traces (cell, frame) of the cells of ``population`` (module docstring).

    ``fov``: (x, z, width, depth_min, depth_max) in µm — cells with |x - x0| and |z - z0| within
    width / 2 and y in [depth_min, depth_max] (needs ``spec`` for the positions); all cells
    otherwise. ``neuropil``: coefficient of the field's mean trace added to every cell.
    ``photons``: mean photons per cell and frame at rest (shot noise: the measured F is a Poisson
    count of photons x (1 + ΔF/F)); None for no noise. Frames are sampled at t = k / frame_rate
    from 0 to the end of the run.
    """
    if frame_rate <= 0:
        raise SpecError(f"calcium_imaging frame_rate must be > 0 Hz; got {frame_rate}.")
    if not 0 <= neuropil <= 1:
        raise SpecError(f"calcium_imaging neuropil must be in [0, 1]; got {neuropil}.")
    a, b = result.populations[population]
    cells = np.arange(b - a)
    if fov is not None:
        if spec is None:
            raise SpecError("calcium_imaging: a field of view needs spec= (for the positions).")
        x0, z0, width, d0, d1 = fov
        pos = _positions(spec, population)
        inside = (
            (np.abs(pos[:, 0] - x0) <= width / 2)
            & (np.abs(pos[:, 2] - z0) <= width / 2)
            & (pos[:, 1] >= d0)
            & (pos[:, 1] <= d1)
        )
        cells = cells[inside]
    frames = np.arange(0.0, result.t_stop_ms / 1e3, 1.0 / frame_rate)
    t_ms, idx = result.spikes(population, member=member)
    dff = np.zeros((cells.size, frames.size))
    order = np.argsort(idx, kind="stable")
    t_sorted, i_sorted = t_ms[order] / 1e3, idx[order]
    starts = np.searchsorted(i_sorted, cells, "left")
    stops = np.searchsorted(i_sorted, cells, "right")
    for r in range(cells.size):
        ts = t_sorted[starts[r] : stops[r]]
        if ts.size:
            dff[r] = calcium_kernel(
                frames[:, None] - ts[None, :],
                amplitude=amplitude,
                tau_rise=tau_rise,
                tau_decay=tau_decay,
            ).sum(axis=1)
    if neuropil > 0 and cells.size:
        dff = dff + neuropil * dff.mean(axis=0, keepdims=True)
    if photons is not None:
        if photons <= 0:
            raise SpecError(f"calcium_imaging photons must be > 0; got {photons}.")
        rng = np.random.default_rng(seed)
        dff = rng.poisson(photons * (1.0 + dff)) / photons - 1.0
    return xr.DataArray(
        dff,
        dims=("cell", "time"),
        coords={"cell": cells, "time": frames},
        name="dF/F",
        attrs={"population": population, "member": member, "frame_rate_hz": frame_rate},
    )


def fiber_photometry(
    result: Any,
    spec: Any,
    populations: tuple[str, ...],
    *,
    tip_um: tuple[float, float, float],
    direction: tuple[float, float, float] = (0.0, 1.0, 0.0),
    half_angle_deg: float = 20.0,
    length_um: float = 200.0,
    member: int = 0,
    frame_rate: float = 20.0,
    **kernel: float,
) -> xr.DataArray:
    """One ΔF/F trace: the cells in the cone under the fibre tip (axis ``direction``, the way
    light leaves the fibre; half angle ``half_angle_deg``, NA 0.37 in tissue ~ 16-20°), each
    weighted by exp(-distance / ``length_um``) (scattering and absorption), normalised by the
    sum of weights. ``kernel``: amplitude / tau_rise / tau_decay as :func:`calcium_imaging`."""
    axis = np.asarray(direction, dtype=np.float64)
    if not np.isfinite(axis).all() or np.linalg.norm(axis) == 0:
        raise SpecError(f"fiber_photometry direction must be a non-zero vector; got {direction}.")
    axis /= np.linalg.norm(axis)
    tip = np.asarray(tip_um, dtype=np.float64)
    cos_max = np.cos(np.radians(half_angle_deg))
    num, den = None, 0.0
    for pop in populations:
        rel = _positions(spec, pop) - tip
        dist = np.linalg.norm(rel, axis=1)
        along = rel @ axis
        inside = (along > 0) & (along >= cos_max * dist)
        w = np.where(inside, np.exp(-dist / length_um), 0.0)
        if not w.any():
            continue
        tr = calcium_imaging(result, pop, member=member, frame_rate=frame_rate, **kernel)
        part = (w[:, None] * tr.values).sum(axis=0)
        num = part if num is None else num + part
        den += float(w.sum())
    if num is None:
        raise SpecError(
            f"fiber_photometry: no cell of {list(populations)} lies in the light cone under "
            f"{tuple(tip_um)} µm."
        )
    frames = np.arange(0.0, result.t_stop_ms / 1e3, 1.0 / frame_rate)
    return xr.DataArray(num / den, dims=("time",), coords={"time": frames}, name="dF/F")


def neuropixels(
    result: Any,
    spec: Any,
    *,
    entry_um: tuple[float, float, float],
    tip_um: tuple[float, float, float],
    radius_um: float = 50.0,
    member: int = 0,
) -> list[dict[str, Any]]:
    """The units a straight probe from ``entry_um`` to ``tip_um`` records: every neuron (of
    populations with positions) within ``radius_um`` of the segment. Each unit: population,
    neuron (local index), distance (µm), depth along the track from the entry (µm), position,
    spike times (ms); sorted by depth."""
    p0 = np.asarray(entry_um, dtype=np.float64)
    p1 = np.asarray(tip_um, dtype=np.float64)
    seg = p1 - p0
    length = float(np.linalg.norm(seg))
    if length == 0 or radius_um <= 0:
        raise SpecError(
            f"neuropixels needs entry != tip and radius_um > 0; got {entry_um}, {tip_um}, "
            f"{radius_um}."
        )
    units = []
    for p in spec.populations:
        if p.positions is None or p.name not in result.recorded_populations:
            continue
        pos = np.asarray(p.positions, dtype=np.float64)
        s = np.clip((pos - p0) @ seg / length**2, 0.0, 1.0)
        dist = np.linalg.norm(pos - (p0 + s[:, None] * seg), axis=1)
        near = np.nonzero(dist <= radius_um)[0]
        if near.size == 0:
            continue
        t_ms, idx = result.spikes(p.name, member=member)
        for k in near:
            units.append(
                {
                    "population": p.name,
                    "neuron": int(k),
                    "distance_um": float(dist[k]),
                    "depth_um": float(s[k] * length),
                    "position_um": pos[k].copy(),
                    "spike_times_ms": t_ms[idx == k],
                }
            )
    units.sort(key=lambda u: (u["depth_um"], u["population"], u["neuron"]))
    return units
