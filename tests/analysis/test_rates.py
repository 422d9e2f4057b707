"""Population rates of arbitrary groupings, and propagation latency."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import xarray as xr

from zentai import analysis
from zentai import units as u
from zentai.errors import SpecError
from zentai.record.result import Result


def test_rate_equals_hand_count():
    # 3 neurons in "A" (ids 0-2), 2 in "B" (ids 3-4); bins (0,2], (2,4], (4,6] ms.
    times = np.array([0.5, 2.0, 2.1, 3.9, 4.0, 5.5, 6.0, 6.5])
    ids = np.array([0, 1, 3, 4, 2, 0, 3, 1])
    rate = analysis.population_rate((times, ids), {"A": [0, 1, 2], "B": [3, 4]}, 2.0, 0, 6.0)
    assert rate.dims == ("group", "time") and rate.attrs["units"] == "Hz"
    np.testing.assert_allclose(rate["time"].values, [1.0, 3.0, 5.0])
    counts_a = np.array([2, 1, 1])  # (0,2]: 0.5, 2.0; (2,4]: 4.0; (4,6]: 5.5  (6.5 outside)
    counts_b = np.array([0, 2, 1])  # (2,4]: 2.1, 3.9; (4,6]: 6.0
    np.testing.assert_allclose(rate.sel(group="A"), counts_a / 3 / 2e-3)
    np.testing.assert_allclose(rate.sel(group="B"), counts_b / 2 / 2e-3)


def test_grouping_forms_agree():
    rng = np.random.default_rng(0)
    times = rng.uniform(0, 100, 500)
    ids = rng.integers(0, 10, 500)
    labels = np.array(["L2/3"] * 4 + ["L5"] * 6)
    forms = [
        {"L2/3": 4, "L5": 6},
        {"L2/3": (0, 4), "L5": (4, 10)},
        {"L2/3": range(4), "L5": np.arange(4, 10)},
        labels,
    ]
    rates = [analysis.population_rate((times, ids), g, 5.0, 0.0, 100.0, dim="layer") for g in forms]
    for r in rates[1:]:
        xr.testing.assert_allclose(r, rates[0])
    assert list(rates[0]["layer"].values) == ["L2/3", "L5"]
    # mean rate over the window = total spikes / neurons / duration
    total = rates[0].mean("time") * np.array([4, 6])
    assert float(total.sum()) == pytest.approx(500 / 0.1)


def test_matches_result_population_rate():
    # Result.population_rate bins per-step counts; our spike binning must give the same.
    rng = np.random.default_rng(1)
    dt, n_steps = 0.1, 200
    steps = np.sort(rng.integers(0, n_steps, 300))
    neuron = rng.integers(0, 5, 300)
    pops = {"A": (0, 3), "B": (3, 5)}
    counts = np.zeros((n_steps, 1, 2))
    for k, i in zip(steps, neuron):
        counts[k, 0, int(i >= 3)] += 1
    res = Result(
        dt_ms=dt, t_stop_ms=n_steps * dt, n_ensembles=1, populations=pops,
        spike_member=np.zeros(300, np.int32), spike_neuron=neuron.astype(np.int64),
        spike_time_ms=(steps + 1) * dt, recorded_populations=("A", "B"),
        rate_counts=counts, rate_bin_ms=1.0, rate_populations=("A", "B"),
    )  # fmt: skip
    ours = analysis.population_rate(res, bin_ms=1 * u.ms)
    ref = res.population_rate.isel(member=0)
    np.testing.assert_allclose(ours.values, ref.values)
    np.testing.assert_allclose(ours["time"].values, ref["time"].values)


def test_gaussian_smoothing_keeps_mean_and_width():
    times = np.array([50.5])
    ids = np.array([0])
    raw = analysis.population_rate((times, ids), {"n": 1}, 1.0, 0.0, 101.0)
    sm = analysis.population_rate((times, ids), {"n": 1}, 1.0, 0.0, 101.0, smooth_ms=3.0)
    assert float(sm.sum()) == pytest.approx(float(raw.sum()))
    profile = sm.values[0]
    t = sm["time"].values
    sd = np.sqrt(np.sum(profile * (t - 50.5) ** 2) / profile.sum())
    assert sd == pytest.approx(3.0, rel=0.05)
    assert sm.attrs["smooth_ms"] == 3.0


def _smooth_noise(rng, n):
    sos = scipy.signal.butter(2, 0.1, output="sos")
    return scipy.signal.sosfiltfilt(sos, rng.standard_normal(n))


def test_latency_xcorr_recovers_shift():
    rng = np.random.default_rng(2)
    x = _smooth_noise(rng, 3000)
    a, b = x[20:-20], np.roll(x, 7)[20:-20]  # b is a delayed by 7 samples
    t = np.arange(a.size) * 0.5  # 0.5 ms bins -> 3.5 ms
    ra = xr.DataArray(a, dims="time", coords={"time": t})
    rb = xr.DataArray(b, dims="time", coords={"time": t})
    assert analysis.propagation_latency(ra, rb) == pytest.approx(3.5)
    assert analysis.propagation_latency(rb, ra) == pytest.approx(-3.5)
    assert analysis.propagation_latency(a, b, dt_ms=0.5, max_lag_ms=10) == pytest.approx(3.5)


def test_latency_threshold_crossing():
    # Ramps starting 12 ms and 19.5 ms after onset (100 ms) cross 50 Hz 7.5 ms apart.
    t = np.arange(0.0, 300.0, 1.0)
    rng = np.random.default_rng(3)
    base = 10.0 + rng.normal(0, 1.0, t.size)
    a = base + np.clip(t - 112.0, 0, None) * 10.0
    b = base + np.clip(t - 119.5, 0, None) * 10.0
    lat = analysis.propagation_latency(a, b, "threshold", onset_ms=100.0, threshold=50.0, dt_ms=1.0)
    assert lat == pytest.approx(7.5, abs=0.3)
    auto = analysis.propagation_latency(a, b, "threshold", onset_ms=100.0, dt_ms=1.0)
    assert auto == pytest.approx(7.5, abs=0.5)
    never = analysis.propagation_latency(
        a, base, "threshold", onset_ms=100.0, threshold=1e3, dt_ms=1
    )
    assert np.isnan(never)


def test_errors():
    times, ids = np.array([1.0]), np.array([0])
    with pytest.raises(SpecError, match=r"population_rate.bin_ms must not exceed the window 5 ms"):
        analysis.population_rate((times, ids), {"a": 1}, 10.0, 0.0, 5.0)
    with pytest.raises(SpecError, match=r"population_rate.t_stop_ms must be given"):
        analysis.population_rate((times, ids), {"a": 1})
    with pytest.raises(SpecError, match=r"population_rate.spikes must be two 1-D arrays"):
        analysis.population_rate((times, np.array([0, 1])), {"a": 1}, 1.0, 0, 5.0)
    with pytest.raises(SpecError, match=r"population_rate.groups must name at least one group"):
        analysis.population_rate((times, ids), {}, 1.0, 0, 5.0)
    with pytest.raises(SpecError, match=r"population_rate.groups\['a'\] must contain at least"):
        analysis.population_rate((times, ids), {"a": []}, 1.0, 0, 5.0)
    with pytest.raises(SpecError, match=r"population_rate.groups must be a mapping or a 1-D"):
        analysis.population_rate((times, ids), np.array([]), 1.0, 0, 5.0)
    with pytest.raises(SpecError, match=r"population_rate.t_stop_ms must be after"):
        analysis.population_rate((times, ids), {"a": 1}, 1.0, 5.0, 5.0)
    with pytest.raises(SpecError, match=r"population_rate.bin_ms must be a time"):
        analysis.population_rate((times, ids), {"a": 1}, 1 * u.mV, 0, 5.0)
    with pytest.raises(SpecError, match=r"propagation_latency.method must be"):
        analysis.propagation_latency(np.zeros(5), np.zeros(5), "peak", dt_ms=1.0)
    with pytest.raises(SpecError, match=r"propagation_latency.rate_b must share"):
        analysis.propagation_latency(np.zeros(5), np.zeros(6), dt_ms=1.0)
    with pytest.raises(SpecError, match=r"propagation_latency.max_lag_ms must be in"):
        analysis.propagation_latency(np.zeros(5), np.zeros(5), dt_ms=1.0, max_lag_ms=10)
