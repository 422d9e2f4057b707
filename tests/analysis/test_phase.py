"""Spike phases: inhomogeneous Poisson spikes locked to a known 40 Hz phase (analytic answers)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from zentai import analysis
from zentai.errors import SpecError

F_HZ = 40.0
T_MS = 20_000.0


def _reference(dt_ms: float = 1.0) -> xr.DataArray:
    """40 Hz cosine sampled at bin centres: its peaks are phase 0."""
    t = (np.arange(int(T_MS / dt_ms)) + 0.5) * dt_ms
    return xr.DataArray(np.cos(2 * np.pi * F_HZ * t * 1e-3), dims="time", coords={"time": t})


def _locked_spikes(rng, rate_hz: float, m: float, phi0: float) -> np.ndarray:
    """Spike times (ms) of rate_hz * (1 + m cos(2 pi f t - phi0)), drawn by thinning."""
    lam_max = rate_hz * (1 + m)
    n = rng.poisson(lam_max * T_MS * 1e-3)
    t = np.sort(rng.uniform(0.0, T_MS, n))
    keep = rng.uniform(0, lam_max, n) < rate_hz * (
        1 + m * np.cos(2 * np.pi * F_HZ * t * 1e-3 - phi0)
    )
    t = t[keep]
    return t[(t > 100.0) & (t < T_MS - 100.0)]  # leave the filter's edge transients out


def test_bandpass_phase_is_zero_at_peaks():
    ref = _reference()
    phase = analysis.bandpass_phase(ref, band=(30, 50))
    assert phase.dims == ref.dims and phase.attrs["units"] == "rad"
    interior = phase.values[500:-500]
    expected = np.angle(np.exp(1j * 2 * np.pi * F_HZ * ref["time"].values[500:-500] * 1e-3))
    np.testing.assert_allclose(np.angle(np.exp(1j * (interior - expected))), 0.0, atol=5e-3)


@pytest.mark.parametrize(("phi0", "m"), [(0.0, 0.8), (1.0, 0.5), (-2.5, 0.3)])
def test_locked_poisson_mean_phase_and_vector_strength(phi0, m):
    # rate ∝ 1 + m cos(theta - phi0) => E[exp(i theta)] = (m / 2) exp(i phi0).
    rng = np.random.default_rng(11)
    t = _locked_spikes(rng, 300.0, m, phi0)
    phases = analysis.spike_phases(t, _reference(), band=(30, 50))
    n = t.size
    assert n > 4000
    vs = analysis.vector_strength(phases)
    assert vs == pytest.approx(m / 2, abs=4 / np.sqrt(2 * n))  # SE of R ~ 1/sqrt(2n)
    err = np.angle(np.exp(1j * (analysis.circular_mean(phases) - phi0)))
    assert abs(err) < 4 / (np.sqrt(2 * n) * m / 2)  # circular SE ~ 1/(R sqrt(2n))


def test_spike_phases_plain_array_and_outside_nan():
    ref = _reference()
    t = np.array([-5.0, 250.0, 262.5, 1e6])  # 250 ms is a peak (10 cycles), 262.5 ms a half cycle
    p_da = analysis.spike_phases(t, ref)
    p_np = analysis.spike_phases(t, ref.values, fs_hz=1000.0, t0_ms=0.5)
    np.testing.assert_allclose(p_da, p_np, equal_nan=True)
    assert np.isnan(p_da[0]) and np.isnan(p_da[3])
    assert abs(p_da[1]) < 0.01
    assert abs(abs(p_da[2]) - np.pi) < 0.01


def test_uniform_phases_vector_strength_order_one_over_sqrt_n():
    # Rayleigh: E[R] ~ sqrt(pi) / (2 sqrt(n)) for n uniform phases.
    rng = np.random.default_rng(12)
    n = 200
    rs = [analysis.vector_strength(rng.uniform(-np.pi, np.pi, n)) for _ in range(400)]
    assert np.mean(rs) == pytest.approx(np.sqrt(np.pi) / (2 * np.sqrt(n)), rel=0.08)


def test_circular_mean_wraps_and_ignores_nan():
    p = np.radians([350.0, 10.0, np.nan])
    assert analysis.circular_mean(p) == pytest.approx(0.0, abs=1e-12)
    assert analysis.circular_mean(np.radians([170.0, -170.0])) == pytest.approx(np.pi)
    assert analysis.vector_strength([0.3, 0.3, 0.3]) == pytest.approx(1.0)
    assert np.isnan(analysis.circular_mean([0.0, np.pi]))


def test_phase_histogram_counts_and_density():
    rng = np.random.default_rng(13)
    p = rng.vonmises(0.5, 2.0, 1000)
    h = analysis.phase_histogram(p, bins=18)
    assert h.dims == ("phase",) and h.size == 18 and int(h.sum()) == 1000
    np.testing.assert_allclose(np.diff(h["phase"].values), 2 * np.pi / 18)
    d = analysis.phase_histogram(p, bins=18, density=True)
    assert float(d.sum()) * 2 * np.pi / 18 == pytest.approx(1.0)
    assert int(analysis.phase_histogram([np.pi, -np.pi], bins=4)[0]) == 2


def test_phase_table_per_cell_type():
    # A2 shape: E and FS in phase, LTS 60 degrees later; weaker locking for LTS.
    rng = np.random.default_rng(14)
    spec = {"E": (0.0, 0.8), "FS": (0.0, 0.8), "LTS": (np.pi / 3, 0.4)}
    labels = np.repeat(list(spec), 10)  # neurons 0-9 E, 10-19 FS, 20-29 LTS
    times, ids = [], []
    for g, (phi0, m) in enumerate(spec.values()):
        t = _locked_spikes(rng, 200.0, m, phi0)
        times.append(t)
        ids.append(10 * g + rng.integers(0, 10, t.size))
    table = analysis.phase_table(
        (np.concatenate(times), np.concatenate(ids)), labels, _reference(), band=(30, 50)
    )
    assert list(table["group"].values) == ["E", "FS", "LTS"]
    deg = table["mean_phase_deg"].values
    assert abs(deg[0] - deg[1]) < 5.0
    assert deg[2] - deg[0] == pytest.approx(60.0, abs=8.0)
    np.testing.assert_allclose(table["vector_strength"].values, [0.4, 0.4, 0.2], atol=0.04)
    assert table["n_spikes"].sum() == sum(t.size for t in times)
    empty = analysis.phase_table(
        (np.concatenate(times), np.concatenate(ids)), {"none": [99]}, _reference()
    )
    assert np.isnan(empty["mean_phase_deg"].item()) and empty["n_spikes"].item() == 0


def test_errors():
    ref = _reference()
    with pytest.raises(SpecError, match=r"bandpass_phase.band must lie below the Nyquist"):
        analysis.bandpass_phase(ref, band=(300, 600))
    with pytest.raises(SpecError, match=r"bandpass_phase.band must lie strictly inside"):
        analysis.bandpass_phase(ref, band=(0, 50))
    with pytest.raises(SpecError, match=r"vector_strength.phases must contain at least one"):
        analysis.vector_strength([])
    with pytest.raises(SpecError, match=r"circular_mean.phases must contain"):
        analysis.circular_mean([np.nan])
    with pytest.raises(SpecError, match=r"spike_phases.times_ms must be 1-D"):
        analysis.spike_phases(np.zeros((2, 2)), ref)
    with pytest.raises(SpecError, match=r"phase_histogram.bins must be a positive integer"):
        analysis.phase_histogram([0.0], bins=0)


def test_vector_strength_matches_elephant_if_installed():
    pa = pytest.importorskip("elephant.phase_analysis")
    rng = np.random.default_rng(15)
    p = rng.vonmises(1.0, 1.5, 500)
    angle, length = pa.mean_phase_vector(p)
    assert analysis.vector_strength(p) == pytest.approx(float(length))
    assert analysis.circular_mean(p) == pytest.approx(float(angle))
