"""MODEL_SPEC §6.2: p = min(1, κ W / N_post), κ calibration, distance-dependent delays."""

import numpy as np
import pytest

from zentai import units as u
from zentai.connectome.probability import (
    calibrate_kappa,
    connection_probability,
    distance_delay,
    long_range_indegree,
)
from zentai.errors import SpecError, UnitError


def test_probability_closed_form_and_clipping():
    w = np.array([[0.01, 0.5], [0.2, 0.0]])
    n_post = np.array([100.0, 10.0])
    # κ W / N_post by hand: [[20*0.01/100, 20*0.5/10], [20*0.2/100, 0]] = [[0.002, 1 (1.0)], ...]
    expected = np.array([[0.002, 1.0], [0.04, 0.0]])
    np.testing.assert_allclose(connection_probability(w, n_post, kappa=20.0), expected)
    # 20 * 0.5 / 10 = 1.0 exactly; with κ = 40 it would be 2.0 -> clipped to 1
    p = connection_probability(w, n_post, kappa=40.0)
    assert p[0, 1] == 1.0 and p.max() == 1.0
    assert connection_probability([[1.0]], [0.0], 5.0)[0, 0] == 0.0  # empty target


def test_probability_rejects_bad_input():
    with pytest.raises(
        SpecError, match=r"connection_probability.w must be finite and >= 0; got -1"
    ):
        connection_probability([[-1.0]], [10.0], 1.0)
    with pytest.raises(SpecError, match="kappa must be a finite number >= 0"):
        connection_probability([[1.0]], [10.0], -2.0)


def test_indegree_by_hand():
    # K(t) = Σ_s N_pre(s) min(1, κ W_st / N_post(t)) = 10 * 0.1 + 20 * 0.3 = 7
    k = long_range_indegree([[1.0], [3.0]], n_pre=[10, 20], n_post=[100], kappa=10.0)
    np.testing.assert_allclose(k, [7.0])


def test_calibration_hits_target_without_clipping():
    rng = np.random.default_rng(3)
    w = rng.uniform(0.0, 1.0, (6, 4))
    n_pre = rng.integers(100, 1000, 6).astype(float)
    n_post = rng.integers(5000, 9000, 4).astype(float)
    n_pyr = np.array([1000.0, 0.0, 3000.0, 500.0])  # target 1 is not cortical
    kappa = calibrate_kappa(w, n_pre, n_post, n_pyr, k_exc_total=2000.0, f_lr=0.1)
    k = long_range_indegree(w, n_pre, n_post, kappa)
    assert np.average(k, weights=n_pyr) == pytest.approx(200.0, rel=1e-12)
    assert connection_probability(w, n_post, kappa).max() < 1.0  # closed-form branch


def test_calibration_hits_target_with_clipping():
    # one strong source saturates: p = min(1, κ * 5 / 10) clips for κ > 2
    w = np.array([[5.0, 0.0], [0.1, 0.2]])
    n_pre = np.array([50.0, 1000.0])
    n_post = np.array([10.0, 10.0])
    n_pyr = np.array([1.0, 1.0])
    kappa = calibrate_kappa(w, n_pre, n_post, n_pyr, k_exc_total=1000.0, f_lr=0.5)
    k = long_range_indegree(w, n_pre, n_post, kappa)
    assert k.mean() == pytest.approx(500.0, rel=1e-9)
    assert connection_probability(w, n_post, kappa)[0, 0] == 1.0
    # by hand: t0: 50 + 1000 κ 0.01, t1: 1000 κ 0.02 -> mean = 25 + 15 κ = 500 -> κ = 31.667
    assert kappa == pytest.approx(475.0 / 15.0, rel=1e-9)


def test_calibration_unreachable_target():
    with pytest.raises(SpecError, match="out of reach; with every probability at 1 it is 30"):
        calibrate_kappa([[1.0], [1.0]], [10, 20], [5], [1], k_exc_total=100.0, f_lr=0.5)
    with pytest.raises(SpecError, match=r"f_lr must be a fraction in \(0, 1\); got 1.5"):
        calibrate_kappa([[1.0]], [10], [5], [1], k_exc_total=100.0, f_lr=1.5)


def test_distance_delay():
    r_s = np.array([[0.0, 0.0, 0.0], [1000.0, 0.0, 0.0]])
    r_t = np.array([0.0, 3000.0, 4000.0])
    # |r| = 5000 µm and sqrt(1000² + 5000²) µm; at 0.5 m/s 1 mm takes 2 ms
    expected = 0.1 + np.array([5000.0, np.hypot(1000.0, 5000.0)]) * 1e-3 / 0.5
    np.testing.assert_allclose(distance_delay(r_s, r_t), expected)
    d = distance_delay(r_s, r_t, d_min=0.5 * u.ms, velocity="2 m/s")
    np.testing.assert_allclose(d, 0.5 + np.array([5.0, np.hypot(1.0, 5.0)]) / 2.0)
    with pytest.raises(UnitError, match=r"distance_delay\.velocity must be"):
        distance_delay(r_s, r_t, velocity=3 * u.ms)
    with pytest.raises(SpecError, match="velocity must be a speed > 0"):
        distance_delay(r_s, r_t, velocity=0.0)
