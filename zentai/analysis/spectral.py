"""Power spectra, gamma peaks and coherence of binned signals (population rates, LFP proxies).

Signals are :class:`xarray.DataArray` with a ``time`` dimension whose coordinate is in ms
(as returned by :func:`zentai.analysis.population_rate` and ``Result.population_rate``), or
plain arrays with the time axis last and an explicit ``fs_hz``. Spectra come back as
DataArrays with the time dimension replaced by ``frequency`` (Hz).

Examples
--------
>>> import numpy as np
>>> from zentai import analysis
>>> t_s = np.arange(4000) / 1000.0
>>> x = np.sin(2 * np.pi * 40.0 * t_s)
>>> psd = analysis.power_spectrum(x, fs_hz=1000.0, resolution_hz=2.0)
>>> freq, power = analysis.peak_frequency(psd, band=(30, 50))
>>> round(freq)
40
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import scipy.signal
import xarray as xr

from zentai import units as u
from zentai.errors import SpecError

__all__ = [
    "coherence",
    "coherence_with_surrogates",
    "peak_frequency",
    "peak_ratio",
    "power_spectrum",
]


# ---------------------------------------------------------------------------- shared helpers
def _positive(value: Any, unit: str, owner: str) -> float:
    v = u.to_canonical(value, unit, owner=owner)
    if np.ndim(v) != 0 or not np.isfinite(v) or v <= 0:
        raise SpecError(f"{owner} must be a positive number ({unit}); got {value!r}.")
    return float(v)


def _band(band: Any, owner: str, nyquist_hz: float | None = None) -> tuple[float, float]:
    """(lo, hi) in Hz with 0 <= lo < hi (<= nyquist when given)."""
    try:
        lo, hi = band
    except (TypeError, ValueError):
        raise SpecError(f"{owner} must be a (low, high) pair in Hz; got {band!r}.") from None
    lo = u.to_canonical(lo, "Hz", owner=owner)
    hi = u.to_canonical(hi, "Hz", owner=owner)
    if not (np.ndim(lo) == 0 and np.ndim(hi) == 0 and 0 <= lo < hi):
        raise SpecError(
            f"{owner} must be a (low, high) pair with 0 <= low < high Hz; got {band!r}."
        )
    if nyquist_hz is not None and hi > nyquist_hz:
        raise SpecError(
            f"{owner} must lie below the Nyquist frequency {nyquist_hz:g} Hz; got {band!r}. "
            "Bin the signal more finely or lower the band."
        )
    return float(lo), float(hi)


def _as_signal(
    x: Any, owner: str, fs_hz: Any = None, dim: Hashable = "time"
) -> tuple[xr.DataArray, float]:
    """Return (DataArray with ``dim`` last, sampling rate in Hz)."""
    if isinstance(x, xr.DataArray):
        if dim not in x.dims:
            raise SpecError(f"{owner}.{dim} must be a dimension of the signal; got dims {x.dims}.")
        x = x.transpose(..., dim)
        if fs_hz is None:
            if dim in x.coords and x.sizes[dim] >= 2:
                step = np.diff(np.asarray(x[dim].values, dtype=np.float64))
                if not np.allclose(step, step[0], rtol=1e-6, atol=1e-9) or step[0] <= 0:
                    raise SpecError(
                        f"{owner}.{dim} coordinate must be uniformly increasing (ms); "
                        f"got steps from {step.min():g} to {step.max():g} ms. Pass fs_hz."
                    )
                fs = 1000.0 / float(step[0])
            elif "bin_ms" in x.attrs:
                fs = 1000.0 / float(x.attrs["bin_ms"])
            else:
                raise SpecError(
                    f"{owner}.fs_hz must be given when the signal has no {dim!s} coordinate "
                    "in ms; got None."
                )
        else:
            fs = _positive(fs_hz, "Hz", f"{owner}.fs_hz")
    else:
        arr = np.asarray(x)
        if arr.ndim == 0 or arr.dtype.kind not in "iuf":
            raise SpecError(
                f"{owner}.signal must be a real array with time on the last axis; got {x!r}."
            )
        if fs_hz is None:
            raise SpecError(f"{owner}.fs_hz must be given for a plain array; got None.")
        fs = _positive(fs_hz, "Hz", f"{owner}.fs_hz")
        dims = (*(f"dim_{i}" for i in range(arr.ndim - 1)), dim)
        x = xr.DataArray(arr.astype(np.float64), dims=dims)
    if x.sizes[dim] < 2:
        raise SpecError(f"{owner}.signal must have at least 2 samples in time; got {x.sizes[dim]}.")
    if not np.all(np.isfinite(x.values)):
        raise SpecError(f"{owner}.signal must be finite; got NaN or inf values.")
    return x, fs


def _nperseg(fs: float, resolution_hz: Any, n: int, owner: str) -> int:
    res = _positive(resolution_hz, "Hz", f"{owner}.resolution_hz")
    nperseg = round(fs / res)
    if nperseg < 2 or nperseg > n:
        raise SpecError(
            f"{owner}.resolution_hz must give a segment of 2..{n} samples "
            f"(fs / resolution, fs = {fs:g} Hz); got {resolution_hz!r} -> {nperseg} samples. "
            "Use a coarser resolution or a longer signal."
        )
    return nperseg


def _freq_array(psd: Any, owner: str) -> tuple[xr.DataArray, np.ndarray]:
    if not isinstance(psd, xr.DataArray) or "frequency" not in psd.dims:
        raise SpecError(
            f"{owner}.psd must be a DataArray with a 'frequency' dimension "
            f"(from power_spectrum); got {type(psd).__name__}."
        )
    psd = psd.transpose(..., "frequency")
    return psd, np.asarray(psd["frequency"].values, dtype=np.float64)


def _in_band(freqs: np.ndarray, lo: float, hi: float, owner: str) -> np.ndarray:
    sel = (freqs >= lo) & (freqs <= hi)
    if not sel.any():
        raise SpecError(
            f"{owner}.band must contain at least one frequency of the spectrum "
            f"({freqs[0]:g}..{freqs[-1]:g} Hz, step {freqs[1] - freqs[0]:g}); got ({lo:g}, {hi:g})."
        )
    return sel


def _wrap(values: np.ndarray, like: xr.DataArray, attrs: dict[str, Any]) -> Any:
    if like.ndim == 1:
        return float(values)
    return xr.DataArray(
        values,
        dims=like.dims[:-1],
        coords={k: v for k, v in like.coords.items() if k in like.dims[:-1]},
        attrs=attrs,
    )


# ---------------------------------------------------------------------------- spectra
def power_spectrum(
    rate: Any,
    resolution_hz: Any = 2.0,
    detrend: str | bool = "constant",
    *,
    fs_hz: Any = None,
    dim: Hashable = "time",
    window: str = "hann",
) -> xr.DataArray:
    """Welch power spectral density along time.

    Thin, labelled wrapper around :func:`scipy.signal.welch`: segments of
    ``nperseg = round(fs_hz / resolution_hz)`` samples (so the frequency step is
    ``fs_hz / nperseg`` ~ ``resolution_hz``), 50 % overlap, ``window`` taper, one-sided density
    scaling, each segment detrended (``"constant"`` removes its mean, ``"linear"`` a line,
    ``False`` nothing).

    Parameters
    ----------
    rate : DataArray (..., time) or ndarray (..., n_times)
        A DataArray's sampling rate comes from its uniform ``time`` coordinate (ms), else its
        ``bin_ms`` attribute; a plain array needs ``fs_hz``.
    resolution_hz : float or quantity
        Requested frequency resolution.

    Returns
    -------
    DataArray (..., frequency)
        Power per Hz in the squared unit of the input over Hz (``Hz**2/Hz`` for a rate);
        coordinate ``frequency`` in Hz; attrs ``units``, ``resolution_hz``, ``nperseg``.
    """
    owner = "power_spectrum"
    x, fs = _as_signal(rate, owner, fs_hz, dim)
    nperseg = _nperseg(fs, resolution_hz, x.sizes[dim], owner)
    freqs, pxx = scipy.signal.welch(
        x.values, fs=fs, window=window, nperseg=nperseg, detrend=detrend, axis=-1
    )
    unit = x.attrs.get("units", "1")
    coords = {k: v for k, v in x.coords.items() if dim not in v.dims}
    coords["frequency"] = freqs
    return xr.DataArray(
        pxx,
        dims=(*x.dims[:-1], "frequency"),
        coords=coords,
        attrs={
            "units": f"({unit})**2/Hz",
            "frequency_units": "Hz",
            "resolution_hz": fs / nperseg,
            "nperseg": nperseg,
            "fs_hz": fs,
        },
    )


def peak_frequency(psd: xr.DataArray, band: Any = (30.0, 50.0)) -> tuple[Any, Any]:
    """Frequency (Hz) and power of the largest PSD value inside ``band`` (inclusive).

    Floats for a 1-D spectrum, DataArrays over the remaining dimensions otherwise.
    """
    owner = "peak_frequency"
    psd, freqs = _freq_array(psd, owner)
    lo, hi = _band(band, f"{owner}.band")
    sel = _in_band(freqs, lo, hi, owner)
    p = psd.values[..., sel]
    k = np.argmax(p, axis=-1)
    f_peak = freqs[sel][k]
    p_peak = np.take_along_axis(p, k[..., None], axis=-1)[..., 0]
    return (
        _wrap(f_peak, psd, {"units": "Hz"}),
        _wrap(p_peak, psd, {"units": psd.attrs.get("units", "")}),
    )


def peak_ratio(
    psd: xr.DataArray,
    band: Any = (30.0, 50.0),
    background: Any = (5.0, 200.0),
) -> Any:
    """Peak power in ``band`` over a fitted 1/f background at the peak frequency.

    The background is a power law ``P(f) = c * f**(-beta)``: a least-squares line
    ``log10 P = a + b log10 f`` fitted to every PSD value with frequency in the closed interval
    ``background`` (Hz; clipped to the spectrum, 0 Hz always left out) and *outside* the
    closed ``band``. The ratio is ``P(f_peak) / 10**(a + b log10 f_peak)`` where ``f_peak`` is
    :func:`peak_frequency`'s answer. White noise gives about 1 (a little above: the peak is the
    largest of several noisy estimates); acceptance A1 asks for a gamma peak >= 3.

    Returns a float for a 1-D spectrum, else a DataArray over the remaining dimensions.
    """
    owner = "peak_ratio"
    psd, freqs = _freq_array(psd, owner)
    lo, hi = _band(band, f"{owner}.band")
    b_lo, b_hi = _band(background, f"{owner}.background")
    f_peak, p_peak = peak_frequency(psd, (lo, hi))
    fit = (freqs >= b_lo) & (freqs <= b_hi) & (freqs > 0) & ~((freqs >= lo) & (freqs <= hi))
    if fit.sum() < 2:
        raise SpecError(
            f"{owner}.background must contain at least 2 frequencies outside the band; "
            f"got {background!r} with band {band!r}."
        )
    logf = np.log10(freqs[fit])
    p_fit = psd.values[..., fit]
    if np.any(p_fit <= 0):
        raise SpecError(f"{owner}.psd must be positive in the background range; got zeros.")
    logp = np.log10(p_fit).reshape(-1, fit.sum())  # (n_signals, n_fit)
    design = np.stack([np.ones_like(logf), logf], axis=1)
    coef, *_ = np.linalg.lstsq(design, logp.T, rcond=None)  # (2, n_signals)
    fp = np.asarray(f_peak.values if isinstance(f_peak, xr.DataArray) else f_peak).reshape(-1)
    pp = np.asarray(p_peak.values if isinstance(p_peak, xr.DataArray) else p_peak).reshape(-1)
    bg = 10.0 ** (coef[0] + coef[1] * np.log10(fp))
    ratio = (pp / bg).reshape(psd.shape[:-1])
    return _wrap(ratio, psd, {"units": "1"})


# ---------------------------------------------------------------------------- coherence
def coherence(
    x: Any,
    y: Any,
    resolution_hz: Any = 2.0,
    *,
    fs_hz: Any = None,
    dim: Hashable = "time",
    window: str = "hann",
) -> xr.DataArray:
    """Magnitude-squared coherence (:func:`scipy.signal.coherence`) along time.

    ``x`` and ``y`` must have the same shape and sampling; segments as in
    :func:`power_spectrum`. Returns a DataArray (..., frequency) with values in [0, 1].
    """
    owner = "coherence"
    xa, fs = _as_signal(x, owner, fs_hz, dim)
    ya, fs_y = _as_signal(y, owner, fs_hz, dim)
    if xa.shape != ya.shape or not np.isclose(fs, fs_y):
        raise SpecError(
            f"{owner}.y must have the shape and sampling of x; got {ya.shape} at {fs_y:g} Hz "
            f"vs {xa.shape} at {fs:g} Hz."
        )
    nperseg = _nperseg(fs, resolution_hz, xa.sizes[dim], owner)
    freqs, cxy = scipy.signal.coherence(
        xa.values, ya.values, fs=fs, window=window, nperseg=nperseg, axis=-1
    )
    coords = {k: v for k, v in xa.coords.items() if dim not in v.dims}
    coords["frequency"] = freqs
    return xr.DataArray(
        cxy,
        dims=(*xa.dims[:-1], "frequency"),
        coords=coords,
        attrs={"units": "1", "resolution_hz": fs / nperseg, "nperseg": nperseg, "fs_hz": fs},
    )


def coherence_with_surrogates(
    x: Any,
    y: Any,
    band: Any = (30.0, 50.0),
    n_surrogates: int = 100,
    seed: int = 0,
    *,
    resolution_hz: Any = 2.0,
    fs_hz: Any = None,
    dim: Hashable = "time",
) -> tuple[float, float]:
    """Band-mean coherence of two 1-D signals and the 95th percentile of a shift surrogate.

    The statistic is the mean of :func:`coherence` over frequencies in the closed ``band``.
    Surrogates circularly shift ``y`` in time (``np.roll``) by a whole number of samples
    drawn uniformly from ``[nperseg, n - nperseg]`` with ``numpy.random.default_rng(seed)``,
    so every shift exceeds one Welch segment: each signal keeps its own spectrum while the
    timing between them is broken. This tests a coupling through a shared *irregular*
    component (such as network gamma, whose phase wanders); two perfect clocks at the same
    frequency are coherent at any shift and are not separated by this test.

    Returns
    -------
    (coh_in_band, p95_of_surrogates) : (float, float)
        Coupling is significant at 5 % when ``coh_in_band > p95_of_surrogates``.
    """
    owner = "coherence_with_surrogates"
    xa, fs = _as_signal(x, owner, fs_hz, dim)
    ya, _ = _as_signal(y, owner, fs_hz, dim)
    if xa.ndim != 1 or ya.shape != xa.shape:
        raise SpecError(
            f"{owner}.y must be 1-D with the shape of x; got x {xa.shape}, y {ya.shape}."
        )
    if not (isinstance(n_surrogates, (int, np.integer)) and n_surrogates >= 1):
        raise SpecError(f"{owner}.n_surrogates must be a positive integer; got {n_surrogates!r}.")
    lo, hi = _band(band, f"{owner}.band", nyquist_hz=fs / 2)
    n = xa.sizes[dim]
    nperseg = _nperseg(fs, resolution_hz, n, owner)
    if n - 2 * nperseg < 0:
        raise SpecError(
            f"{owner}.resolution_hz must leave room for shifts longer than one segment "
            f"(signal >= 2 segments of {nperseg} samples); got {n} samples."
        )
    xv, yv = xa.values, ya.values
    freqs, c0 = scipy.signal.coherence(xv, yv, fs=fs, nperseg=nperseg)
    sel = _in_band(freqs, lo, hi, owner)
    rng = np.random.default_rng(seed)
    shifts = rng.integers(nperseg, n - nperseg + 1, size=int(n_surrogates))
    ys = np.stack([np.roll(yv, int(s)) for s in shifts])
    _, cs = scipy.signal.coherence(xv[None, :], ys, fs=fs, nperseg=nperseg, axis=-1)
    return float(c0[sel].mean()), float(np.percentile(cs[:, sel].mean(axis=1), 95))
