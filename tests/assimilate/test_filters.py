"""Ensemble filters against the exact Kalman filter on a linear-Gaussian problem."""

import numpy as np
import pytest

from zentai.assimilate import filters
from zentai.errors import SpecError

N_MEMBERS = 1000


def _problem():
    """A 3-variable Gaussian prior observed through 2 linear combinations."""
    mean = np.array([1.0, -2.0, 0.5])
    A = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.3, 0.2, 0.5]])
    cov = A @ A.T
    H = np.array([[1.0, 1.0, 0.0], [0.0, 0.5, -1.0]])
    R = np.diag([0.3, 0.2])
    y = np.array([0.2, -0.4])
    return mean, cov, H, R, y


def _ensemble(seed=0):
    mean, cov, H, R, y = _problem()
    X = np.random.default_rng(seed).multivariate_normal(mean, cov, size=N_MEMBERS).T
    return X, H @ X, mean, cov, H, R, y


def _assert_within_sampling_error(Xa, mean_a, cov_a):
    """Mean within 4 standard errors; each covariance element within 4 sampling sd of a
    covariance estimate from N Gaussian samples, sqrt((P_ii P_jj + P_ij^2) / N)."""
    m = Xa.mean(axis=1)
    C = np.cov(Xa)
    se = np.sqrt(np.diag(cov_a) / N_MEMBERS)
    assert np.all(np.abs(m - mean_a) < 4 * se), (m, mean_a, se)
    d = np.sqrt(np.diag(cov_a))
    sd_c = np.sqrt((np.outer(d, d) ** 2 + cov_a**2) / N_MEMBERS)
    assert np.all(np.abs(C - cov_a) < 4 * sd_c), (C, cov_a)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_enkf_matches_exact_kalman_filter_within_sampling_error(seed):
    X, Y, mean, cov, H, R, y = _ensemble(seed)
    Xa = filters.enkf(X, Y, y, R, np.random.default_rng(100 + seed))
    ma, Pa = filters.kalman(mean, cov, H, R, y)
    _assert_within_sampling_error(Xa, ma, Pa)
    # the update is real: the posterior is narrower than the prior in the observed directions
    assert np.trace(np.cov(Xa)) < 0.7 * np.trace(np.cov(X))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_etkf_matches_exact_kalman_filter_within_sampling_error(seed):
    X, Y, mean, cov, H, R, y = _ensemble(seed)
    Xa = filters.etkf(X, Y, y, R)
    _assert_within_sampling_error(Xa, *filters.kalman(mean, cov, H, R, y))


def test_etkf_is_the_kalman_update_of_the_sample_moments():
    """A square-root filter is deterministic: with a linear operator its analysis mean and
    covariance are exactly the Kalman update of the ensemble's own mean and covariance."""
    X, _, _, _, H, R, y = _ensemble(3)
    X = X[:, :50]
    Xa = filters.etkf(X, H @ X, y, R)
    ma, Pa = filters.kalman(X.mean(axis=1), np.cov(X), H, R, y)
    np.testing.assert_allclose(Xa.mean(axis=1), ma, atol=1e-12)
    np.testing.assert_allclose(np.cov(Xa), Pa, atol=1e-12)
    # localisation of ones changes nothing; zeros leave a row untouched
    np.testing.assert_allclose(filters.etkf(X, H @ X, y, R, localisation=np.ones((3, 2))), Xa)
    rho = np.ones((3, 2))
    rho[1] = 0.0
    Xl = filters.etkf(X, H @ X, y, R, localisation=rho)
    np.testing.assert_allclose(Xl[1], X[1], atol=1e-12)
    np.testing.assert_allclose(Xl[0], Xa[0], atol=1e-12)


def test_enkf_localisation_zero_cuts_the_update():
    X, Y, _, _, _, R, y = _ensemble(4)
    rho = np.ones((3, 2))
    rho[2] = 0.0
    Xa = filters.enkf(X, Y, y, R, np.random.default_rng(0), localisation=rho)
    np.testing.assert_array_equal(Xa[2], X[2])
    assert not np.allclose(Xa[0], X[0])


def test_dtb_with_one_voxel_is_an_enkf_whatever_the_local_share():
    """With one observation the local and the global part are the same update, and it is a
    stochastic EnKF: its mean follows the exact Kalman filter within sampling error."""
    X, _, mean, cov, _, _, _ = _ensemble(5)
    H = np.array([[1.0, 1.0, 0.0]])
    R = np.array([[0.3]])
    y = np.array([0.2])
    a = filters.dtb(X, H @ X, y, R, np.random.default_rng(7), state_obs=[0, 0, 0], rho=1.0)
    b = filters.dtb(X, H @ X, y, R, np.random.default_rng(7), state_obs=[0, 0, 0], rho=0.0)
    np.testing.assert_allclose(a, b, atol=1e-12)
    ma, _ = filters.kalman(mean, cov, H, R, y)
    se = np.sqrt(np.diag(cov) / N_MEMBERS)
    assert np.all(np.abs(a.mean(axis=1) - ma) < 4 * se)


def test_dtb_local_part_uses_only_the_rows_own_voxel():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 200))
    Y = np.stack([X[0] + 0.1 * rng.standard_normal(200), X[1] + 0.1 * rng.standard_normal(200)])
    y = np.array([1.0, -1.0])
    Xa = filters.dtb(X, Y, y, [0.05, 0.05], np.random.default_rng(1), state_obs=[0, 1], rho=1.0)
    # each variable moves to its own voxel's observation
    assert Xa[0].mean() > 0.8 and Xa[1].mean() < -0.8


def test_inflation_and_bounds():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 50)) + 3.0
    Xi = filters.inflate(X, multiplicative=1.5)
    np.testing.assert_allclose(Xi.mean(axis=1), X.mean(axis=1))
    np.testing.assert_allclose(Xi.std(axis=1), 1.5 * X.std(axis=1))
    Xr = filters.inflate(X, np.random.default_rng(1), additive=[0.0, 0.5])
    np.testing.assert_array_equal(Xr[0], X[0])
    assert not np.allclose(Xr[1], X[1])
    b = filters.Bounded("g", 0.5, 2.0)
    x = np.array([0.51, 1.0, 1.99])
    np.testing.assert_allclose(b.from_z(b.to_z(x)), x, rtol=1e-12)
    assert np.all((b.from_z([-50.0, 50.0]) >= 0.5) & (b.from_z([-50.0, 50.0]) <= 2.0))


def test_bad_input_is_refused_with_a_clear_error():
    X, Y, _, _, _, R, y = _ensemble(0)
    g = np.random.default_rng(0)
    with pytest.raises(SpecError, match=r"observation has shape \(3,\).*2 values per member"):
        filters.enkf(X, Y, np.zeros(3), R, g)
    with pytest.raises(SpecError, match="at least 2 members; got 1"):
        filters.etkf(X[:, :1], Y[:, :1], y, R)
    with pytest.raises(SpecError, match=r"non-finite at indices \[1\]"):
        filters.enkf(X, Y, np.array([0.0, np.nan]), R, g)
    with pytest.raises(SpecError, match=r"R must be"):
        filters.etkf(X, Y, y, np.eye(3))
    with pytest.raises(SpecError, match=r"low < high; got low = 2\.0, high = 1\.0"):
        filters.Bounded("g", 2.0, 1.0)
    with pytest.raises(SpecError, match="strictly inside"):
        filters.Bounded("g", 0.0, 1.0).to_z([0.5, 1.0])
