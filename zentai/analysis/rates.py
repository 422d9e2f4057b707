"""Population rates of arbitrary neuron groupings, and propagation latency between two rates.

A *grouping* says which neurons each output row averages over. It can be

- a mapping ``name -> neuron ids`` (array, list or ``range`` of global ids; a 2-tuple of ints
  is read as ``[start, stop)``, the form of ``Result.populations``); groups may overlap;
- a mapping ``name -> int``: consecutive blocks of that many neurons, in order, from id 0
  (raw arrays without a :class:`~zentai.record.result.Result`);
- an array with one label per neuron (global id -> label: region, layer, cell type, voxel);
  groups are the distinct labels in order of first appearance;
- ``None`` with a Result: its populations.

Spike input is a ``Result`` (one ensemble member picked by ``member``) or a pair of arrays
``(times_ms, neuron_ids)``.

Examples
--------
>>> import numpy as np
>>> from zentai import analysis
>>> times_ms = np.array([0.5, 1.5, 1.7, 3.0])
>>> ids = np.array([0, 1, 2, 3])
>>> rate = analysis.population_rate((times_ms, ids), {"E": 2, "I": 2}, bin_ms=1.0, t_stop_ms=4.0)
>>> rate.sel(group="E").values.tolist()  # Hz per neuron: 1 spike / 2 neurons / 1 ms
[500.0, 500.0, 0.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.ndimage
import scipy.signal
import xarray as xr

from zentai import units as u
from zentai.errors import SpecError
from zentai.record.result import Result

__all__ = ["population_rate", "propagation_latency"]


# ---------------------------------------------------------------------------- input helpers
def _spike_arrays(spikes: Any, member: int, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """(times_ms float64, global neuron ids int64) of one member."""
    if isinstance(spikes, Result):
        times, ids = spikes.spikes(None, member)
        return np.asarray(times, np.float64), np.asarray(ids, np.int64)
    try:
        times, ids = spikes
    except (TypeError, ValueError):
        raise SpecError(
            f"{owner}.spikes must be a Result or a (times_ms, neuron_ids) pair; "
            f"got {type(spikes).__name__}."
        ) from None
    times = np.asarray(times, dtype=np.float64)
    ids = np.asarray(ids)
    if times.ndim != 1 or ids.shape != times.shape:
        raise SpecError(
            f"{owner}.spikes must be two 1-D arrays of equal length (times_ms, neuron_ids); "
            f"got shapes {times.shape} and {ids.shape}."
        )
    if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0):
        raise SpecError(
            f"{owner}.spikes neuron ids must be non-negative integers; got {ids[:5]!r}."
        )
    if not np.all(np.isfinite(times)):
        raise SpecError(f"{owner}.spikes times_ms must be finite; got NaN or inf.")
    return times, ids.astype(np.int64)


def _resolve_groups(groups: Any, spikes: Any, owner: str) -> tuple[list[Any], list[np.ndarray]]:
    """(names, neuron ids of each group) from any grouping form (see module docstring)."""
    if groups is None:
        if not isinstance(spikes, Result):
            raise SpecError(
                f"{owner}.groups must be given for raw spike arrays (mapping name -> ids, "
                "name -> count, or a label per neuron); got None."
            )
        groups = spikes.populations
    if isinstance(groups, Mapping):
        if len(groups) == 0:
            raise SpecError(f"{owner}.groups must name at least one group; got an empty mapping.")
        names = list(groups)
        values = list(groups.values())
        is_count = [isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values]
        if any(is_count):
            if not all(is_count) or min(values) < 1:
                raise SpecError(
                    f"{owner}.groups given as name -> count must have positive integer counts "
                    f"for every group; got {dict(groups)!r}."
                )
            stops = np.cumsum(values)
            members = [np.arange(s - c, s) for s, c in zip(stops, values)]
            return names, members
        members = []
        for name, v in zip(names, values):
            if (
                isinstance(v, tuple)
                and len(v) == 2
                and all(isinstance(e, (int, np.integer)) for e in v)
            ):
                v = range(int(v[0]), int(v[1]))
            ids = np.asarray(v).reshape(-1) if not isinstance(v, range) else np.asarray(v)
            if ids.size == 0:
                raise SpecError(
                    f"{owner}.groups[{name!r}] must contain at least one neuron; got none."
                )
            if ids.dtype.kind not in "iu" or ids.min() < 0:
                raise SpecError(
                    f"{owner}.groups[{name!r}] must be non-negative integer neuron ids; got {v!r}."
                )
            members.append(np.unique(ids.astype(np.int64)))
        return names, members
    labels = np.asarray(groups)
    if labels.ndim != 1 or labels.size == 0:
        raise SpecError(
            f"{owner}.groups must be a mapping or a 1-D array with one label per neuron; "
            f"got shape {labels.shape}."
        )
    uniq, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first)
    names = [v.item() if hasattr(v, "item") else v for v in uniq[order]]
    members = [np.flatnonzero(inverse == k) for k in order]
    return names, members


def _time_arg(value: Any, owner: str) -> float:
    v = u.to_canonical(value, "ms", owner=owner)
    if np.ndim(v) != 0 or not np.isfinite(v):
        raise SpecError(f"{owner} must be a finite time in ms; got {value!r}.")
    return float(v)


def _time_window(spikes: Any, t_start_ms: Any, t_stop_ms: Any, owner: str) -> tuple[float, float]:
    """(t0, t1) in ms; ``t_stop_ms=None`` means the end of a :class:`Result`."""
    t0 = _time_arg(t_start_ms, f"{owner}.t_start_ms")
    if t_stop_ms is None:
        if not isinstance(spikes, Result):
            raise SpecError(f"{owner}.t_stop_ms must be given for raw spike arrays; got None.")
        t1 = float(spikes.t_stop_ms)
    else:
        t1 = _time_arg(t_stop_ms, f"{owner}.t_stop_ms")
    if not t1 > t0:
        raise SpecError(f"{owner}.t_stop_ms must be after t_start_ms ({t0:g} ms); got {t1:g} ms.")
    return t0, t1


# ---------------------------------------------------------------------------- population rate
def population_rate(
    spikes: Any,
    groups: Any = None,
    bin_ms: Any = 1.0,
    t_start_ms: Any = 0.0,
    t_stop_ms: Any = None,
    member: int = 0,
    *,
    smooth_ms: Any = None,
    dim: str = "group",
) -> xr.DataArray:
    """Binned firing rate of each group in Hz per neuron.

    Bins are ``(t_start + i bin, t_start + (i + 1) bin]`` (right-closed, matching the NEST
    stamp ``(k + 1) dt`` of a spike emitted during step ``k`` and ``Result.population_rate``);
    a last partial bin is dropped. The rate of a group is its spike count in the bin over
    (group size x bin width); a group's size counts all its neurons, spiking or not.

    Parameters
    ----------
    spikes : Result or (times_ms, neuron_ids)
    groups : grouping (see module docstring); ``None`` uses a Result's populations.
    bin_ms, t_start_ms, t_stop_ms : float or quantity
        ``t_stop_ms`` defaults to the Result's ``t_stop_ms`` and is required for raw arrays.
    member : int
        Ensemble member of a Result.
    smooth_ms : float or quantity, optional
        Standard deviation of a Gaussian kernel applied along time
        (:func:`scipy.ndimage.gaussian_filter1d`, edges reflected, so the mean rate is kept).
    dim : str
        Name of the group dimension (e.g. ``"region"``, ``"layer"``).

    Returns
    -------
    DataArray (dim, time)
        ``time`` = bin centres in ms; attrs ``units='Hz'``, ``bin_ms``, ``smooth_ms``.
    """
    owner = "population_rate"
    times, ids = _spike_arrays(spikes, member, owner)
    names, members = _resolve_groups(groups, spikes, owner)
    bin_w = _time_arg(bin_ms, f"{owner}.bin_ms")
    if bin_w <= 0:
        raise SpecError(f"{owner}.bin_ms must be positive; got {bin_ms!r}.")
    t0, t1 = _time_window(spikes, t_start_ms, t_stop_ms, owner)
    n_bins = int(np.floor((t1 - t0) / bin_w + 1e-9))
    if n_bins < 1:
        raise SpecError(
            f"{owner}.bin_ms must not exceed the window {t1 - t0:g} ms; got {bin_w:g} ms."
        )
    b = np.ceil((times - t0) / bin_w - 1e-9).astype(np.int64) - 1
    keep = (b >= 0) & (b < n_bins)
    b, sid = b[keep], ids[keep]
    counts = np.zeros((len(names), n_bins))
    for g, idx in enumerate(members):
        in_g = np.isin(sid, idx)
        counts[g] = np.bincount(b[in_g], minlength=n_bins)
    sizes = np.array([idx.size for idx in members], dtype=np.float64)
    rate = counts / sizes[:, None] / (bin_w * 1e-3)
    sigma = None
    if smooth_ms is not None:
        sigma = _time_arg(smooth_ms, f"{owner}.smooth_ms")
        if sigma <= 0:
            raise SpecError(f"{owner}.smooth_ms must be positive; got {smooth_ms!r}.")
        rate = scipy.ndimage.gaussian_filter1d(rate, sigma / bin_w, axis=-1, mode="reflect")
    centres = t0 + (np.arange(n_bins) + 0.5) * bin_w
    return xr.DataArray(
        rate,
        dims=(dim, "time"),
        coords={dim: names, "time": centres},
        attrs={"units": "Hz", "time_units": "ms", "bin_ms": bin_w, "smooth_ms": sigma},
    )


# ---------------------------------------------------------------------------- latency
def _trace(x: Any, dt_ms: Any, t0_ms: float, owner: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(x, xr.DataArray):
        if x.ndim != 1:
            raise SpecError(f"{owner} rates must be 1-D (time,); got dims {x.dims}.")
        if "time" in x.coords:
            return np.asarray(x.values, np.float64), np.asarray(x["time"].values, np.float64)
        x = x.values
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise SpecError(f"{owner} rates must be 1-D with >= 2 samples; got shape {v.shape}.")
    if dt_ms is None:
        raise SpecError(f"{owner}.dt_ms must be given for plain arrays; got None.")
    dt = _time_arg(dt_ms, f"{owner}.dt_ms")
    if dt <= 0:
        raise SpecError(f"{owner}.dt_ms must be positive; got {dt_ms!r}.")
    return v, t0_ms + dt * np.arange(v.size)


def _first_crossing(v: np.ndarray, t: np.ndarray, onset: float, thr: float) -> float:
    after = np.flatnonzero((t >= onset) & (v >= thr))
    if after.size == 0:
        return float("nan")
    i = int(after[0])
    if i == 0 or t[i - 1] < onset or v[i - 1] >= thr:
        return float(t[i])
    frac = (thr - v[i - 1]) / (v[i] - v[i - 1])
    return float(t[i - 1] + frac * (t[i] - t[i - 1]))


def propagation_latency(
    rate_a: Any,
    rate_b: Any,
    method: str = "xcorr",
    *,
    max_lag_ms: Any = 50.0,
    onset_ms: Any = None,
    threshold: Any = None,
    n_sd: float = 3.0,
    dt_ms: Any = None,
    t0_ms: float = 0.0,
) -> float:
    """Delay (ms) of ``rate_b`` behind ``rate_a``; positive when b follows a.

    Two methods:

    ``"xcorr"``
        The lag ``k dt`` in ``[-max_lag_ms, max_lag_ms]`` maximising the cross-correlation
        ``sum_t (a_t - mean a)(b_{t+k} - mean b)`` (no normalisation by overlap). Resolution is
        one sample; suited to ongoing activity (e.g. gamma travelling from M1 to M2).
    ``"threshold"``
        Each trace's first upward crossing of its threshold at or after ``onset_ms`` (the
        stimulus onset), linearly interpolated between samples; latency = ``t_b - t_a``, NaN if
        either never crosses. ``threshold`` is a rate (Hz) for both, a pair ``(thr_a, thr_b)``,
        or ``None``: each trace's pre-onset mean + ``n_sd`` standard deviations.

    Inputs are 1-D DataArrays with a ``time`` coordinate (ms) or plain arrays sampled every
    ``dt_ms`` from ``t0_ms``; both traces must share the same time samples.
    """
    owner = "propagation_latency"
    a, ta = _trace(rate_a, dt_ms, float(t0_ms), owner)
    b, tb = _trace(rate_b, dt_ms, float(t0_ms), owner)
    if a.shape != b.shape or not np.allclose(ta, tb):
        raise SpecError(
            f"{owner}.rate_b must share rate_a's time samples; got {b.size} vs {a.size} samples."
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise SpecError(f"{owner} rates must be finite; got NaN or inf.")
    dt = float(np.median(np.diff(ta)))
    if method == "xcorr":
        max_lag = _time_arg(max_lag_ms, f"{owner}.max_lag_ms")
        k_max = int(np.floor(max_lag / dt + 1e-9))
        if max_lag < 0 or k_max >= a.size:
            raise SpecError(
                f"{owner}.max_lag_ms must be in [0, {(a.size - 1) * dt:g}) ms (trace length); "
                f"got {max_lag_ms!r}."
            )
        c = scipy.signal.correlate(b - b.mean(), a - a.mean(), mode="full", method="direct")
        lags = np.arange(-k_max, k_max + 1)
        return float(lags[np.argmax(c[a.size - 1 + lags])] * dt)
    if method == "threshold":
        if onset_ms is None:
            raise SpecError(f"{owner}.onset_ms must be given for method='threshold'; got None.")
        onset = _time_arg(onset_ms, f"{owner}.onset_ms")
        if threshold is None:
            base = ta < onset
            if base.sum() < 2:
                raise SpecError(
                    f"{owner}.onset_ms must leave >= 2 baseline samples before it when "
                    f"threshold is None; got {onset:g} ms. Pass threshold (Hz)."
                )
            thr = [x[base].mean() + n_sd * x[base].std() for x in (a, b)]
        elif np.ndim(threshold) == 0:
            thr = [float(u.to_canonical(threshold, "Hz", owner=f"{owner}.threshold"))] * 2
        else:
            thr = [float(u.to_canonical(x, "Hz", owner=f"{owner}.threshold")) for x in threshold]
            if len(thr) != 2:
                raise SpecError(f"{owner}.threshold must be a rate or a pair; got {threshold!r}.")
        return _first_crossing(b, tb, onset, thr[1]) - _first_crossing(a, ta, onset, thr[0])
    raise SpecError(f"{owner}.method must be 'xcorr' or 'threshold'; got {method!r}.")
