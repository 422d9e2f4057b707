"""Voxel activity maps, top views and centroids."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from zentai import analysis
from zentai.errors import SpecError


def test_voxel_activity_hand_count():
    # neurons 0,1 in voxel 0; 2 in voxel 2; 3 unassigned (-1); voxel 1 empty.
    neuron_voxel = np.array([0, 0, 2, -1])
    times = np.array([1.0, 4.0, 6.0, 9.0, 2.0])
    ids = np.array([0, 1, 2, 2, 3])
    act = analysis.voxel_activity((times, ids), neuron_voxel, 3, bin_ms=5.0, t_stop_ms=10.0)
    assert act.dims == ("voxel", "time") and act.attrs["units"] == "Hz"
    expected = np.array([[2 / 2, 0], [0, 0], [0, 2 / 1]]) / 5e-3
    np.testing.assert_allclose(act.values, expected)
    whole = analysis.voxel_activity((times, ids), neuron_voxel, t_stop_ms=10.0)
    np.testing.assert_allclose(whole.values[:, 0], [100.0, 0.0, 200.0])


def test_voxel_coordinates_volume_and_top_view():
    shape = (2, 3, 2)  # (AP, DV, ML)
    coords = np.array([[0, 0, 0], [0, 2, 0], [1, 1, 1], [1, 1, 1]])
    times = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    ids = np.array([0, 1, 1, 2, 3])
    vol = analysis.voxel_activity((times, ids), coords, shape=shape, t_stop_ms=10.0)
    assert vol.dims == ("axis_0", "axis_1", "axis_2", "time") and vol.shape == (2, 3, 2, 1)
    v = vol.values[..., 0]
    assert v[0, 0, 0] == pytest.approx(100.0)  # 1 spike / 1 neuron / 10 ms
    assert v[0, 2, 0] == pytest.approx(200.0)
    assert v[1, 1, 1] == pytest.approx(100.0)  # 2 spikes / 2 neurons
    top = analysis.top_view(vol, axis=1)
    assert top.dims == ("axis_0", "axis_2", "time")
    np.testing.assert_allclose(top.values[..., 0], [[200.0, 0.0], [0.0, 100.0]])
    summed = analysis.top_view(v, axis=1, reduce="sum")
    np.testing.assert_allclose(summed, [[300.0, 0.0], [0.0, 100.0]])


def test_top_view_nan_aware():
    v = np.array([[[np.nan, 1.0]], [[np.nan, np.nan]]]).transpose(0, 2, 1)  # (2, 2, 1)
    out = analysis.top_view(v, axis=1)
    assert out[0, 0] == 1.0 and np.isnan(out[1, 0])
    da = xr.DataArray(np.ones((2, 3, 4)), dims=("ap", "dv", "ml"))
    assert analysis.top_view(da, axis="dv", reduce="sum").dims == ("ap", "ml")


def test_centroid_of_gaussian_blob():
    # Blob centred at (400, 600, 800) um, >= 4 sigma from the edges of a 100 um grid.
    g = np.stack(np.meshgrid(*[np.arange(13) * 100.0] * 3, indexing="ij"), -1).reshape(-1, 3)
    centre = np.array([400.0, 600.0, 800.0])
    blob = np.exp(-np.sum((g - centre) ** 2, axis=1) / (2 * 100.0**2))
    np.testing.assert_allclose(analysis.centroid(blob, g), centre, atol=0.05)
    # two time bins: blob, then blob moved 200 um along -ML
    shift = np.array([0.0, 0.0, -200.0])
    moved = np.exp(-np.sum((g - centre - shift) ** 2, axis=1) / (2 * 100.0**2))
    c = analysis.centroid(np.stack([blob, moved], 1), g)
    np.testing.assert_allclose(c, [centre, centre + shift], atol=0.05)
    # weights: doubling one of two points pulls the centroid to 2/3
    two = np.array([[0.0, 0, 0], [90.0, 0, 0]])
    np.testing.assert_allclose(analysis.centroid([1.0, 1.0], two, weights=[1, 2]), [60.0, 0, 0])
    assert np.all(np.isnan(analysis.centroid([0.0, 0.0], two)))


def test_errors():
    spikes = (np.array([1.0]), np.array([0]))
    with pytest.raises(SpecError, match=r"voxel_activity.neuron_voxel must be a non-empty"):
        analysis.voxel_activity(spikes, np.array([]), t_stop_ms=5.0)
    with pytest.raises(SpecError, match=r"voxel_activity.bin_ms must not exceed the window"):
        analysis.voxel_activity(spikes, [0], bin_ms=10.0, t_stop_ms=5.0)
    with pytest.raises(SpecError, match=r"voxel_activity.n_voxels must be a positive integer"):
        analysis.voxel_activity(spikes, [4], n_voxels=2, t_stop_ms=5.0)
    with pytest.raises(SpecError, match=r"voxel_activity.neuron_voxel must cover every"):
        analysis.voxel_activity((np.array([1.0]), np.array([3])), [0], t_stop_ms=5.0)
    with pytest.raises(SpecError, match=r"voxel_activity.shape must be given"):
        analysis.voxel_activity(spikes, [[0, 0]], t_stop_ms=5.0)
    with pytest.raises(SpecError, match=r"centroid.activity must have shape \(2,\)"):
        analysis.centroid([1.0, 2.0, 3.0], np.zeros((2, 3)))
    with pytest.raises(SpecError, match=r"centroid.activity must be finite and non-negative"):
        analysis.centroid([-1.0, 2.0], np.zeros((2, 3)))
    with pytest.raises(SpecError, match=r"top_view.reduce must be"):
        analysis.top_view(np.zeros((2, 2)), reduce="mean")
    with pytest.raises(SpecError, match=r"top_view.axis must be an integer axis"):
        analysis.top_view(np.zeros(3))


def test_morans_i_known_maps_and_null_expectation():
    checker = (np.indices((6, 6)).sum(axis=0) % 2).astype(float)
    assert analysis.morans_i(checker, permutations=0)[0] == pytest.approx(-1.0)
    # a smooth gradient: strongly positive and significant
    i, p = analysis.morans_i(np.add.outer(np.arange(16.0), np.arange(16.0)), permutations=199)
    assert i > 0.9 and p == pytest.approx(1 / 200)
    # white noise: E[I] = -1 / (n - 1) under randomisation (Cliff & Ord 1981); mean of 400 maps
    gen = np.random.default_rng(3)
    null = [analysis.morans_i(gen.normal(size=(8, 8)), permutations=0)[0] for _ in range(400)]
    se = np.std(null) / np.sqrt(len(null))
    assert abs(np.mean(null) + 1 / 63) < 4 * se
    # NaN cells are outside the map: a NaN border leaves the inner map's value
    inner = gen.normal(size=(5, 5))
    padded = np.full((7, 7), np.nan)
    padded[1:6, 1:6] = inner
    assert analysis.morans_i(padded, permutations=0)[0] == pytest.approx(
        analysis.morans_i(inner, permutations=0)[0]
    )
    # same seed, same p
    noise = gen.normal(size=(8, 8))
    assert analysis.morans_i(noise, seed=5) == analysis.morans_i(noise, seed=5)


def test_morans_i_errors():
    with pytest.raises(SpecError, match="2-D"):
        analysis.morans_i(np.zeros(5))
    with pytest.raises(SpecError, match="at least 3"):
        analysis.morans_i(np.full((3, 3), np.nan))
    with pytest.raises(SpecError, match="permutations"):
        analysis.morans_i(np.zeros((3, 3)), permutations=-1)
