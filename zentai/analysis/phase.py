"""Spike phases relative to a band-passed reference oscillation (acceptance A2, A3, A5).

Convention: the reference is band-passed (zero-phase Butterworth) and its analytic signal
``A(t) exp(i theta(t))`` taken with the Hilbert transform, so the filtered reference is
``A cos(theta)``: **phase 0 is the peak** of the reference oscillation, +-pi its trough, and
a positive phase means the spike comes after the peak (late in the cycle). Phases are in
radians in (-pi, pi]; :func:`phase_table` reports degrees.

Examples
--------
>>> import numpy as np
>>> from zentai import analysis
>>> analysis.vector_strength(np.zeros(5))
1.0
>>> round(float(np.degrees(analysis.circular_mean(np.radians([350.0, 10.0])))), 6) + 0.0
0.0
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import scipy.signal
import xarray as xr

from zentai.analysis.rates import _resolve_groups, _spike_arrays
from zentai.analysis.spectral import _as_signal, _band
from zentai.errors import SpecError

__all__ = [
    "bandpass_phase",
    "circular_mean",
    "phase_histogram",
    "phase_table",
    "spike_phases",
    "vector_strength",
]


def bandpass_phase(
    signal: Any,
    fs_hz: Any = None,
    band: Any = (30.0, 50.0),
    order: int = 4,
    *,
    dim: Hashable = "time",
) -> Any:
    """Instantaneous phase (rad) of ``signal`` in ``band``.

    A Butterworth band-pass of ``order`` (second-order sections, applied forward and backward
    with :func:`scipy.signal.sosfiltfilt`, so no phase lag) followed by
    :func:`scipy.signal.hilbert`. Phase 0 is the peak of the filtered signal.

    Parameters
    ----------
    signal : DataArray (..., time) or ndarray (..., n_times)
        Sampling from the ``time`` coordinate (ms) of a DataArray, else ``fs_hz``.
    band : (low, high) in Hz; must lie in (0, fs/2).

    Returns
    -------
    Same type and shape as ``signal`` (a DataArray keeps its coords; attrs ``units='rad'``).
    """
    owner = "bandpass_phase"
    x, fs = _as_signal(signal, owner, fs_hz, dim)
    lo, hi = _band(band, f"{owner}.band", nyquist_hz=fs / 2)
    if lo <= 0 or hi >= fs / 2:
        raise SpecError(
            f"{owner}.band must lie strictly inside (0, {fs / 2:g}) Hz (Nyquist); got {band!r}."
        )
    if not (isinstance(order, (int, np.integer)) and order >= 1):
        raise SpecError(f"{owner}.order must be a positive integer; got {order!r}.")
    sos = scipy.signal.butter(int(order), (lo, hi), btype="bandpass", fs=fs, output="sos")
    n = x.sizes[dim]
    padlen = min(n - 1, 3 * (2 * len(sos) + 1))
    filtered = scipy.signal.sosfiltfilt(sos, x.values, axis=-1, padlen=padlen)
    phase = np.angle(scipy.signal.hilbert(filtered, axis=-1))
    if isinstance(signal, xr.DataArray):
        return x.copy(data=phase).assign_attrs(
            {"units": "rad", "band_hz": (lo, hi), "phase_zero": "peak"}
        )
    return phase


def spike_phases(
    times_ms: Any,
    reference: Any,
    band: Any = (30.0, 50.0),
    *,
    fs_hz: Any = None,
    t0_ms: float = 0.0,
    order: int = 4,
) -> np.ndarray:
    """Phase (rad, in (-pi, pi]) of the band-passed ``reference`` at each spike time.

    The reference's instantaneous phase (:func:`bandpass_phase`) is unwrapped, linearly
    interpolated at ``times_ms`` and wrapped back, so spikes between samples get a phase
    between the neighbouring samples' phases. Phase 0 is the reference's peak.

    Parameters
    ----------
    times_ms : array (n_spikes,)
    reference : DataArray (time,) with a time coordinate in ms, or ndarray (n_times,)
        For an ndarray, sample ``i`` is at ``t0_ms + 1000 * i / fs_hz``.

    Returns
    -------
    ndarray (n_spikes,)
        NaN for spikes outside the reference's time span.
    """
    owner = "spike_phases"
    t = np.asarray(times_ms, dtype=np.float64)
    if t.ndim != 1:
        raise SpecError(f"{owner}.times_ms must be 1-D; got shape {t.shape}.")
    ref, fs = _as_signal(reference, owner, fs_hz)
    if ref.ndim != 1:
        raise SpecError(f"{owner}.reference must be 1-D (time,); got dims {ref.dims}.")
    phase = bandpass_phase(ref.values, fs, band, order)
    if isinstance(reference, xr.DataArray) and "time" in reference.coords:
        t_ref = np.asarray(ref["time"].values, dtype=np.float64)
    else:
        t_ref = float(t0_ms) + 1000.0 * np.arange(ref.size) / fs
    unwrapped = np.unwrap(phase)
    out = np.interp(t, t_ref, unwrapped)
    out = np.angle(np.exp(1j * out))
    out[(t < t_ref[0]) | (t > t_ref[-1])] = np.nan
    return out


def _phases(phases: Any, owner: str) -> np.ndarray:
    p = np.asarray(phases, dtype=np.float64).reshape(-1)
    p = p[~np.isnan(p)]
    if p.size == 0:
        raise SpecError(f"{owner}.phases must contain at least one non-NaN phase; got none.")
    return p


def circular_mean(phases: Any) -> float:
    """Direction (rad, in (-pi, pi]) of the mean resultant vector ``mean(exp(i phase))``.

    NaNs are ignored. NaN when the resultant is exactly zero (no preferred direction).
    """
    p = _phases(phases, "circular_mean")
    z = np.exp(1j * p).mean()
    return float(np.angle(z)) if abs(z) > 1e-12 else float("nan")


def vector_strength(phases: Any) -> float:
    """Mean resultant length ``|mean(exp(i phase))|`` in [0, 1] (NaNs ignored).

    1 for perfect locking; about ``sqrt(pi) / (2 sqrt(n))`` (order ``1/sqrt(n)``) for ``n``
    uniform phases; ``m / 2`` for spikes from a rate ``1 + m cos(theta - phi0)``.
    """
    p = _phases(phases, "vector_strength")
    return float(abs(np.exp(1j * p).mean()))


def phase_histogram(phases: Any, bins: int = 18, density: bool = False) -> xr.DataArray:
    """Histogram of phases over ``bins`` equal bins spanning [-pi, pi) (NaNs ignored).

    Returns a DataArray (phase,) with bin centres in rad; counts, or a probability density
    per rad when ``density``.
    """
    owner = "phase_histogram"
    if not (isinstance(bins, (int, np.integer)) and bins >= 1):
        raise SpecError(f"{owner}.bins must be a positive integer; got {bins!r}.")
    p = _phases(phases, owner)
    p = np.angle(np.exp(1j * p))  # into (-pi, pi]; pi counts with -pi
    p[p >= np.pi] -= 2 * np.pi
    edges = np.linspace(-np.pi, np.pi, int(bins) + 1)
    counts, _ = np.histogram(p, bins=edges)
    values = counts / (p.size * (edges[1] - edges[0])) if density else counts
    return xr.DataArray(
        values,
        dims=("phase",),
        coords={"phase": 0.5 * (edges[:-1] + edges[1:])},
        attrs={"units": "1/rad" if density else "count", "phase_units": "rad"},
    )


def phase_table(
    spikes: Any,
    groups: Any,
    reference: Any,
    band: Any = (30.0, 50.0),
    *,
    member: int = 0,
    fs_hz: Any = None,
    t0_ms: float = 0.0,
    order: int = 4,
    dim: str = "group",
) -> xr.Dataset:
    """Circular mean phase and vector strength of each group's spikes against ``reference``.

    Parameters
    ----------
    spikes : Result or (times_ms, neuron_ids)
    groups : see :func:`zentai.analysis.population_rate` (mapping name -> neuron ids, or
        one label per neuron, e.g. cell type or layer).
    reference, band, fs_hz, t0_ms, order : as in :func:`spike_phases`.

    Returns
    -------
    Dataset over ``dim`` with ``mean_phase_deg`` (in (-180, 180], phase 0 = reference
    peak; NaN for a group without spikes), ``vector_strength`` and ``n_spikes``.
    """
    times, ids = _spike_arrays(spikes, member, "phase_table")
    names, members = _resolve_groups(groups, spikes, "phase_table")
    phases = spike_phases(times, reference, band, fs_hz=fs_hz, t0_ms=t0_ms, order=order)
    mean_deg, vs, counts = [], [], []
    for idx in members:
        p = phases[np.isin(ids, idx)]
        p = p[~np.isnan(p)]
        counts.append(p.size)
        if p.size == 0:
            mean_deg.append(np.nan)
            vs.append(np.nan)
        else:
            mean_deg.append(np.degrees(circular_mean(p)))
            vs.append(vector_strength(p))
    coords = {dim: list(names)}
    return xr.Dataset(
        {
            "mean_phase_deg": ((dim,), np.array(mean_deg), {"units": "deg", "phase_zero": "peak"}),
            "vector_strength": ((dim,), np.array(vs), {"units": "1"}),
            "n_spikes": ((dim,), np.array(counts, dtype=np.int64)),
        },
        coords=coords,
    )
