"""Ensemble Kalman filters: the analysis step that moves an ensemble towards observations.

Shapes: ``X`` (n, N) is the ensemble of N members of an n-vector (here: parameters in an
unbounded space, see :class:`Bounded`); ``Y`` (m, N) the members' predicted observations;
``y`` (m,) the observation; ``R`` (m, m) or (m,) (a diagonal) its error covariance.

* :func:`enkf` — stochastic EnKF with perturbed observations (Burgers, van Leeuwen & Evensen
  1998; Houtekamer & Mitchell 1998), optional Schur-product localisation of the gain
  (Houtekamer & Mitchell 2001).
* :func:`etkf` — ensemble transform Kalman filter, a deterministic square-root filter (Bishop,
  Etherton & Majumdar 2001) in the symmetric form of Hunt, Kostelich & Szunyogh (2007); with
  ``localisation`` each state row is analysed with its own observation weights (R-localisation,
  the LETKF of Hunt et al. 2007).
* :func:`dtb` — the Digital Twin Brain's blend of a local (same voxel) and a global (all voxels)
  update (Lu et al. 2023; ``DataAssimilation.py`` of yeyeleijun/Digital_twin_brain, read for
  the equations, see MODEL_SPEC §7.1).
* :func:`inflate` — multiplicative and additive inflation; :func:`kalman` — the exact Kalman
  update of a Gaussian, the reference the tests compare the ensemble filters with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zentai.errors import SpecError

__all__ = ["Bounded", "dtb", "enkf", "etkf", "inflate", "kalman"]


@dataclass(frozen=True)
class Bounded:
    """A parameter in (low, high), estimated as ``z = logit((x - low) / (high - low))``.

    The filter works on z, which is unbounded, so an update can never leave the bounds
    (state augmentation in a logit space, as the Digital Twin Brain's sigmoid
    parameterisation).
    """

    name: str
    low: float
    high: float

    def __post_init__(self) -> None:
        lo, hi = self.low, self.high
        if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float))):
            raise SpecError(f"parameter {self.name!r}: bounds must be numbers; got {lo!r}, {hi!r}.")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise SpecError(
                f"parameter {self.name!r}: bounds must be finite with low < high; got "
                f"low = {lo}, high = {hi}."
            )

    def to_z(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if np.any(~np.isfinite(x)) or np.any(x <= self.low) or np.any(x >= self.high):
            raise SpecError(
                f"parameter {self.name!r}: values must lie strictly inside ({self.low}, "
                f"{self.high}); got {x.min():.6g} .. {x.max():.6g}."
            )
        p = (x - self.low) / (self.high - self.low)
        return np.log(p) - np.log1p(-p)

    def from_z(self, z: Any) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        p = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow
        return self.low + (self.high - self.low) * p


def _check(X: Any, Y: Any, y: Any, R: Any) -> tuple[np.ndarray, ...]:
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2:
        raise SpecError(
            f"ensembles must be 2-D (variables, members); got X {X.shape}, Y {Y.shape}."
        )
    N = X.shape[1]
    if N < 2:
        raise SpecError(f"an ensemble needs at least 2 members; got {N}.")
    if Y.shape[1] != N:
        raise SpecError(f"predicted observations Y have {Y.shape[1]} members, the state X has {N}.")
    m = Y.shape[0]
    if y.shape != (m,):
        raise SpecError(
            f"observation has shape {y.shape}, the observation operator gives {m} values per "
            f"member (expected shape ({m},))."
        )
    if not np.all(np.isfinite(y)):
        bad = np.flatnonzero(~np.isfinite(y)).tolist()
        raise SpecError(f"observation values must be finite; non-finite at indices {bad}.")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
        raise SpecError("the ensemble (X or its predicted observations Y) holds NaN or inf.")
    R = np.asarray(R, dtype=np.float64)
    if R.ndim == 0:
        R = np.full(m, float(R))
    if R.ndim == 1:
        if R.shape != (m,) or np.any(R <= 0) or not np.all(np.isfinite(R)):
            raise SpecError(
                f"observation error variances R must be {m} finite positive values; got {R}."
            )
        R = np.diag(R)
    if R.shape != (m, m):
        raise SpecError(f"observation error covariance R must be ({m}, {m}); got {R.shape}.")
    return X, Y, y, R


def _anomalies(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = A.mean(axis=1, keepdims=True)
    return mean, A - mean


def enkf(
    X: Any,
    Y: Any,
    y: Any,
    R: Any,
    rng: np.random.Generator,
    *,
    localisation: Any = None,
    center_perturbations: bool = True,
) -> np.ndarray:
    """Stochastic EnKF analysis: each member moves by K (y + e_k - Y_k), e_k ~ N(0, R).

    ``K = rho o (X' Y'^T) / (N-1) [Y' Y'^T / (N-1) + R]^-1``, ``rho`` (n, m) the localisation
    (1 everywhere when None). ``center_perturbations`` removes the perturbations' sample mean,
    so the analysis mean is the Kalman update of the forecast mean (less sampling noise).
    Returns the analysis ensemble (n, N).
    """
    X, Y, y, R = _check(X, Y, y, R)
    N = X.shape[1]
    _, Xa = _anomalies(X)
    _, Ya = _anomalies(Y)
    Pxy = Xa @ Ya.T / (N - 1)
    Pyy = Ya @ Ya.T / (N - 1)
    if localisation is not None:
        rho = np.asarray(localisation, dtype=np.float64)
        if rho.shape != Pxy.shape:
            raise SpecError(
                f"localisation must have shape (state, observations) = {Pxy.shape}; got "
                f"{rho.shape}."
            )
        Pxy = rho * Pxy
    e = rng.multivariate_normal(np.zeros(len(y)), R, size=N).T
    if center_perturbations:
        e -= e.mean(axis=1, keepdims=True)
    innov = y[:, None] + e - Y
    return X + Pxy @ np.linalg.solve(Pyy + R, innov)


def etkf(X: Any, Y: Any, y: Any, R: Any, *, localisation: Any = None) -> np.ndarray:
    """Ensemble transform Kalman filter (deterministic square root), Hunt et al. (2007).

    ``C = Y'^T R^-1``, ``Pa~ = [(N-1) I + C Y']^-1``, mean weights ``w = Pa~ C (y - mean Y)``,
    perturbation weights ``W = [(N-1) Pa~]^(1/2)`` (symmetric square root), and
    ``Xa = mean X + X' (w + W)``. With ``localisation`` (n, m) row i uses ``R^-1`` weighted by
    ``rho[i]`` (an observation with weight 0 is ignored for that row).
    """
    X, Y, y, R = _check(X, Y, y, R)
    N = X.shape[1]
    xm, Xa = _anomalies(X)
    ym, Ya = _anomalies(Y)
    Rinv = np.linalg.inv(R)
    d = y - ym[:, 0]

    def transform(rinv: np.ndarray) -> np.ndarray:
        C = Ya.T @ rinv
        evals, evecs = np.linalg.eigh((N - 1) * np.eye(N) + C @ Ya)
        Pa = (evecs / evals) @ evecs.T
        w = Pa @ C @ d
        W = (evecs * np.sqrt((N - 1) / evals)) @ evecs.T
        return w[:, None] + W

    if localisation is None:
        return xm + Xa @ transform(Rinv)
    rho = np.asarray(localisation, dtype=np.float64)
    if rho.shape != (X.shape[0], Y.shape[0]):
        raise SpecError(
            f"localisation must have shape (state, observations) = {(X.shape[0], Y.shape[0])}; "
            f"got {rho.shape}."
        )
    out = np.empty_like(X)
    for i in range(X.shape[0]):
        s = np.sqrt(rho[i])
        out[i] = xm[i] + Xa[i] @ transform(s[:, None] * Rinv * s[None, :])
    return out


def dtb(
    X: Any,
    Y: Any,
    y: Any,
    R: Any,
    rng: np.random.Generator,
    *,
    state_obs: Any,
    rho: float = 0.5,
) -> np.ndarray:
    """The Digital Twin Brain's diffusion EnKF update (MODEL_SPEC §7.1, Lu et al. 2023).

    Observation k is one voxel's signal; ``state_obs[i]`` is the voxel (observation index) of
    state row i. With ``C_k = var(Y_k) + R_kk`` and perturbed innovations ``d = y + e - Y``:
    a local part ``rho d_j sum_e' Y'_j X'_i / ((N-1) C_j)`` from the row's own voxel j, and a
    global part ``(1 - rho) / V sum_k d_k sum_e' Y'_k X'_i / ((N-1) C_k)`` averaged over all V
    voxels. ``rho`` is the DTB's ``solo_rate`` (0.5 in its demo, 0.8 its default).
    """
    X, Y, y, R = _check(X, Y, y, R)
    N = X.shape[1]
    m = Y.shape[0]
    idx = np.asarray(state_obs, dtype=np.int64)
    if idx.shape != (X.shape[0],) or np.any(idx < 0) or np.any(idx >= m):
        raise SpecError(
            f"state_obs must give each of the {X.shape[0]} state rows an observation index in "
            f"[0, {m}); got {state_obs!r}."
        )
    if not 0.0 <= rho <= 1.0:
        raise SpecError(f"dtb rho (local share) must be in [0, 1]; got {rho}.")
    _, Xa = _anomalies(X)
    _, Ya = _anomalies(Y)
    C = (Ya**2).sum(axis=1) / (N - 1) + np.diag(R)  # (m,)
    e = rng.standard_normal((m, N)) * np.sqrt(np.diag(R))[:, None]
    d = y[:, None] + e - Y  # (m, N)
    # gain of observation k on state row i: sum_e' Y'_k X'_i / ((N-1) C_k)
    gain = (Xa @ Ya.T) / ((N - 1) * C[None, :])  # (n, m)
    local = rho * gain[np.arange(X.shape[0]), idx][:, None] * d[idx]
    glob = (1.0 - rho) / m * gain @ d
    return X + local + glob


def inflate(
    X: Any,
    rng: np.random.Generator | None = None,
    *,
    multiplicative: float = 1.0,
    additive: Any = 0.0,
) -> np.ndarray:
    """Spread an ensemble: anomalies times ``multiplicative`` (>= 1), then ``N(0, additive^2)``
    added to every member (``additive``: a scalar or one standard deviation per row)."""
    X = np.asarray(X, dtype=np.float64)
    if not (math.isfinite(multiplicative) and multiplicative > 0):
        raise SpecError(f"multiplicative inflation must be > 0; got {multiplicative}.")
    sd = np.broadcast_to(np.asarray(additive, dtype=np.float64), (X.shape[0],))
    if np.any(sd < 0) or not np.all(np.isfinite(sd)):
        raise SpecError(f"additive inflation must be finite standard deviations >= 0; got {sd}.")
    mean = X.mean(axis=1, keepdims=True)
    out = mean + multiplicative * (X - mean)
    if np.any(sd > 0):
        if rng is None:
            raise SpecError("additive inflation needs a random generator (rng=).")
        out = out + sd[:, None] * rng.standard_normal(X.shape)
    return out


def kalman(mean: Any, cov: Any, H: Any, R: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Exact Kalman analysis of a Gaussian N(mean, cov) observed as ``y = H x + N(0, R)``.

    Returns the posterior mean and covariance (Joseph form, symmetric)."""
    mean = np.asarray(mean, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    R = np.atleast_2d(np.asarray(R, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    S = H @ cov @ H.T + R
    K = np.linalg.solve(S, H @ cov).T
    post_mean = mean + K @ (y - H @ mean)
    I_KH = np.eye(len(mean)) - K @ H
    post_cov = I_KH @ cov @ I_KH.T + K @ R @ K.T
    return post_mean, 0.5 * (post_cov + post_cov.T)
