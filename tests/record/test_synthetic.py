"""Synthetic recordings: calcium equals the kernel convolution of the spikes, the probe picks
exactly the units within its radius, photometry sees only its light cone."""

import numpy as np
import pytest
from scipy.signal import fftconvolve

from zentai.build import NetworkSpec, Population
from zentai.celltypes import LIF
from zentai.errors import SpecError
from zentai.record.result import Result
from zentai.record.synthetic import (
    calcium_imaging,
    calcium_kernel,
    fiber_photometry,
    neuropixels,
)

RNG = np.random.default_rng(7)
POS = RNG.uniform(0, 1000, (60, 3))


def _result(n=60, t_stop=3000.0, rate=4.0):
    times, neurons = [], []
    for i in range(n):
        t = np.sort(RNG.uniform(0, t_stop, RNG.poisson(rate * t_stop / 1e3)))
        times.append(np.round(t, 1))
        neurons.append(np.full(t.size, i))
    t, i = np.concatenate(times), np.concatenate(neurons)
    order = np.argsort(t, kind="stable")
    return Result(
        dt_ms=0.1,
        t_stop_ms=t_stop,
        n_ensembles=1,
        populations={"E": (0, n)},
        spike_member=np.zeros(t.size, np.int32),
        spike_neuron=i[order],
        spike_time_ms=t[order],
        recorded_populations=("E",),
    )


def _spec(n=60):
    return NetworkSpec(populations=(Population(name="E", size=n, model=LIF(), positions=POS[:n]),))


def test_calcium_is_the_kernel_convolution_of_the_spikes():
    res = _result()
    tr = calcium_imaging(res, "E", frame_rate=30.0)
    # independent: spikes binned at 0.1 ms, convolved with the sampled kernel (FFT), read at
    # the frame times; equal up to the 0.1 ms binning (kernel slope <= A / tau_rise)
    dt = 1e-4
    grid = np.arange(0, 3.0 + dt / 2, dt)
    k = calcium_kernel(grid)
    for c in (0, 17, 59):
        t, i = res.spikes("E")
        train = np.bincount(np.round(t[i == c] / 1e3 / dt).astype(int), minlength=grid.size)
        conv = fftconvolve(train.astype(float), k)[: grid.size]
        at_frames = conv[np.round(tr.time.values / dt).astype(int)]
        np.testing.assert_allclose(tr.sel(cell=c).values, at_frames, atol=5 * 0.2 * dt / 0.1)
    # the kernel peaks at the amplitude; its integral is A (tau_d - tau_r) / peak
    t = np.linspace(0, 10, 400001)
    kk = calcium_kernel(t, amplitude=0.3, tau_rise=0.05, tau_decay=0.4)
    assert kk.max() == pytest.approx(0.3, rel=1e-6)
    tp = 0.05 * 0.4 / 0.35 * np.log(0.4 / 0.05)
    peak = np.exp(-tp / 0.4) - np.exp(-tp / 0.05)
    assert np.trapezoid(kk, t) == pytest.approx(0.3 * 0.35 / peak, rel=1e-6)


def test_neuropil_noise_and_field_of_view():
    res, spec = _result(), _spec()
    clean = calcium_imaging(res, "E")
    mixed = calcium_imaging(res, "E", neuropil=0.7)
    np.testing.assert_allclose(mixed.values, clean.values + 0.7 * clean.values.mean(axis=0))
    noisy = calcium_imaging(res, "E", photons=400.0, seed=3)
    again = calcium_imaging(res, "E", photons=400.0, seed=3)
    np.testing.assert_array_equal(noisy.values, again.values)  # one seed, same noise
    z = (noisy.values - clean.values) / np.sqrt((1 + clean.values) / 400.0)
    assert abs(z.mean()) < 0.02 and z.std() == pytest.approx(1.0, abs=0.02)
    fov = (500.0, 500.0, 400.0, 100.0, 700.0)
    sel = calcium_imaging(res, "E", spec=spec, fov=fov)
    inside = (
        (np.abs(POS[:, 0] - 500) <= 200) & (np.abs(POS[:, 2] - 500) <= 200)
        & (POS[:, 1] >= 100) & (POS[:, 1] <= 700)
    )  # fmt: skip
    assert sel.cell.values.tolist() == np.nonzero(inside)[0].tolist()
    with pytest.raises(SpecError, match="needs spec="):
        calcium_imaging(res, "E", fov=fov)


def test_probe_picks_exactly_the_units_within_its_radius():
    res, spec = _result(), _spec()
    entry, tip = np.array([100.0, 0.0, 200.0]), np.array([900.0, 1000.0, 700.0])
    units = neuropixels(res, spec, entry_um=tuple(entry), tip_um=tuple(tip), radius_um=250.0)
    # brute force: distance to the segment by dense sampling along it
    along = entry + np.linspace(0, 1, 20001)[:, None] * (tip - entry)
    d = np.sqrt(((POS[:, None, :] - along[None]) ** 2).sum(-1)).min(axis=1)
    want = set(np.nonzero(d <= 250.0)[0].tolist())
    margin = np.abs(d - 250.0) > 0.1  # sampling resolution of the brute force
    got = {u["neuron"] for u in units}
    assert {i for i in got if margin[i]} == {i for i in want if margin[i]} and len(got) >= 8
    t, i = res.spikes("E")
    for u in units:
        assert u["distance_um"] == pytest.approx(d[u["neuron"]], abs=0.1)
        np.testing.assert_array_equal(u["spike_times_ms"], t[i == u["neuron"]])
    assert [u["depth_um"] for u in units] == sorted(u["depth_um"] for u in units)


def test_photometry_sees_only_its_cone():
    res = _result(n=3)
    pos = np.array([[0.0, 100.0, 0.0], [0.0, 300.0, 20.0], [0.0, 100.0, 400.0]])
    spec = NetworkSpec(populations=(Population(name="E", size=3, model=LIF(), positions=pos),))
    sig = fiber_photometry(res, spec, ("E",), tip_um=(0.0, 0.0, 0.0), length_um=200.0)
    tr = calcium_imaging(res, "E", frame_rate=20.0).values
    w = np.exp(-np.linalg.norm(pos[:2], axis=1) / 200.0)  # cell 2 is 76 deg off the axis
    np.testing.assert_allclose(sig.values, (w[:, None] * tr[:2]).sum(0) / w.sum())
    with pytest.raises(SpecError, match="no cell"):
        fiber_photometry(res, spec, ("E",), tip_um=(0.0, 0.0, 0.0), direction=(0.0, -1.0, 0.0))
