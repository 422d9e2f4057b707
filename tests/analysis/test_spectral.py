"""Spectra, gamma peak and coherence: checked against scipy.signal and analytic spectra."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import xarray as xr

from zentai import analysis
from zentai import units as u
from zentai.errors import SpecError

FS = 1000.0  # Hz, 1 ms bins


def _rate(values: np.ndarray, dt_ms: float = 1.0) -> xr.DataArray:
    t = (np.arange(values.shape[-1]) + 0.5) * dt_ms
    dims = ("population", "time") if values.ndim == 2 else ("time",)
    coords = {"time": t}
    if values.ndim == 2:
        coords["population"] = [f"p{i}" for i in range(values.shape[0])]
    return xr.DataArray(values, dims=dims, coords=coords, attrs={"units": "Hz"})


def _narrowband(rng: np.random.Generator, n: int, band=(35.0, 45.0)) -> np.ndarray:
    sos = scipy.signal.butter(4, band, btype="bandpass", fs=FS, output="sos")
    x = scipy.signal.sosfiltfilt(sos, rng.standard_normal(n))
    return x / x.std()


def test_psd_equals_scipy_welch():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4000))
    psd = analysis.power_spectrum(_rate(x), resolution_hz=2.0)
    f, p = scipy.signal.welch(x, fs=FS, nperseg=500, detrend="constant", axis=-1)
    assert psd.dims == ("population", "frequency")
    np.testing.assert_array_equal(psd["frequency"].values, f)
    np.testing.assert_allclose(psd.values, p, rtol=1e-12)
    assert list(psd["population"].values) == ["p0", "p1"]
    assert psd.attrs["nperseg"] == 500 and psd.attrs["resolution_hz"] == 2.0


def test_sampling_from_array_bin_attr_and_quantity():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(3000)
    a = analysis.power_spectrum(x, resolution_hz=4 * u.Hz, fs_hz=FS)
    b = analysis.power_spectrum(xr.DataArray(x, dims="time", attrs={"bin_ms": 1.0}), 4.0)
    np.testing.assert_allclose(a.values, b.values)
    assert a.attrs["nperseg"] == 250


def test_40hz_sinusoid_peak_and_ratio():
    # A1 criterion: a 40 Hz rhythm in noise has its peak at 40 +- resolution and ratio >= 3.
    rng = np.random.default_rng(2)
    t_s = np.arange(10_000) / FS
    x = 20.0 + 5.0 * np.sin(2 * np.pi * 40.0 * t_s) + 5.0 * rng.standard_normal(t_s.size)
    psd = analysis.power_spectrum(_rate(x), resolution_hz=2.0)
    f, p = analysis.peak_frequency(psd, band=(30, 50))
    assert abs(f - 40.0) <= 2.0
    assert p == pytest.approx(float(psd.sel(frequency=f)))
    assert analysis.peak_ratio(psd, band=(30, 50)) > 50.0


def test_white_noise_ratio_near_one():
    rng = np.random.default_rng(3)
    psd = analysis.power_spectrum(_rate(rng.standard_normal(60_000)), resolution_hz=2.0)
    ratio = analysis.peak_ratio(psd, band=(30, 50))
    # max of 11 Welch estimates (~120 segments each, relative SD ~0.13) over a flat fit
    assert 0.9 < ratio < 1.5


def test_peak_ratio_on_exact_power_law():
    # P = f**-1.5 everywhere, times 5 at 40 Hz: the fit recovers the law exactly -> ratio 5.
    f = np.arange(0.0, 501.0, 2.0)
    p = np.where(f > 0, np.maximum(f, 1e-9) ** -1.5, 1.0)
    p[f == 40.0] *= 5.0
    psd = xr.DataArray(p, dims="frequency", coords={"frequency": f})
    assert analysis.peak_ratio(psd, band=(30, 50), background=(5, 200)) == pytest.approx(5.0)


def test_peak_frequency_per_population():
    t_s = np.arange(4000) / FS
    x = np.stack([np.sin(2 * np.pi * 36.0 * t_s), np.sin(2 * np.pi * 46.0 * t_s)])
    psd = analysis.power_spectrum(_rate(x), resolution_hz=2.0)
    f, _ = analysis.peak_frequency(psd, band=(30, 50))
    assert f.dims == ("population",)
    np.testing.assert_allclose(f.values, [36.0, 46.0])
    ratio = analysis.peak_ratio(psd)
    assert ratio.dims == ("population",)


def test_coherence_equals_scipy():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((2, 5000))
    c = analysis.coherence(x, y, resolution_hz=5.0, fs_hz=FS)
    f, ref = scipy.signal.coherence(x, y, fs=FS, nperseg=200)
    np.testing.assert_array_equal(c["frequency"].values, f)
    np.testing.assert_allclose(c.values, ref)


def test_coherence_shared_gamma_above_surrogates_independent_below():
    # A4 criterion: a shared irregular 40 Hz component is coherent beyond the shift surrogate.
    rng = np.random.default_rng(5)
    n = 20_000
    g = _narrowband(rng, n)
    x = g + rng.standard_normal(n)
    y = np.roll(g, 5) + rng.standard_normal(n)  # y lags by 5 ms
    coh, p95 = analysis.coherence_with_surrogates(_rate(x), _rate(y), band=(35, 45))
    assert coh > 0.5 > p95
    a, b = rng.standard_normal((2, n))
    coh0, p95_0 = analysis.coherence_with_surrogates(a, b, band=(35, 45), fs_hz=FS)
    assert coh0 < p95_0 < 0.1
    again = analysis.coherence_with_surrogates(a, b, band=(35, 45), fs_hz=FS)
    assert again == (coh0, p95_0)  # deterministic from seed


def test_errors():
    x = np.zeros(1000)
    with pytest.raises(SpecError, match=r"power_spectrum.fs_hz must be given"):
        analysis.power_spectrum(x)
    with pytest.raises(SpecError, match=r"power_spectrum.resolution_hz must give a segment"):
        analysis.power_spectrum(x, resolution_hz=0.1, fs_hz=FS)
    with pytest.raises(SpecError, match=r"power_spectrum.resolution_hz must be a positive"):
        analysis.power_spectrum(x, resolution_hz=-1, fs_hz=FS)
    with pytest.raises(SpecError, match="at least 2 samples"):
        analysis.power_spectrum(np.zeros(1), fs_hz=FS)
    with pytest.raises(SpecError, match=r"peak_frequency.psd must be a DataArray"):
        analysis.peak_frequency(x)
    psd = analysis.power_spectrum(np.random.default_rng(0).random(1000), fs_hz=FS)
    with pytest.raises(SpecError, match=r"peak_frequency.band must contain at least one"):
        analysis.peak_frequency(psd, band=(600, 700))
    with pytest.raises(SpecError, match=r"band must be a \(low, high\) pair with 0 <= low < high"):
        analysis.peak_frequency(psd, band=(50, 30))
    with pytest.raises(SpecError, match="below the Nyquist frequency 500 Hz"):
        analysis.coherence_with_surrogates(x, x, band=(400, 600), fs_hz=FS)
    with pytest.raises(SpecError, match=r"coherence\.y must have the shape"):
        analysis.coherence(x, x[:500], fs_hz=FS)


def test_psd_matches_elephant_if_installed():
    spectral = pytest.importorskip("elephant.spectral")
    rng = np.random.default_rng(6)
    x = rng.standard_normal(4000)
    f_e, p_e = spectral.welch_psd(x, frequency_resolution=2.0, fs=FS)
    psd = analysis.power_spectrum(x, resolution_hz=2.0, fs_hz=FS)
    np.testing.assert_allclose(np.asarray(f_e), psd["frequency"].values)
    np.testing.assert_allclose(np.asarray(p_e), psd.values, rtol=1e-10)
