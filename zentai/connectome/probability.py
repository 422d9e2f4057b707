"""From connectome weights to pairwise connection probabilities and delays (MODEL_SPEC §6.2).

For a source s and a target t with (voxel or regional) weight ``W_st``:

* expected long-range synapses into t from s: ``S_st = κ W_st N_pre(s)``;
* pairwise probability ``p_st = min(1, S_st / (N_pre(s) N_post(t))) = min(1, κ W_st / N_post(t))``,
  proportional to the normalised connection density per target cell;
* one global constant κ, calibrated so that the mean long-range in-degree of a cortical pyramidal
  cell is a fraction ``f_lr`` of its total excitatory in-degree (:func:`calibrate_kappa`);
* delay ``d = d_min + |r_s - r_t| / v`` (:func:`distance_delay`).

The rule is a proposal of the project ([N] in MODEL_SPEC §6.2), not a published model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zentai import units as u
from zentai.errors import SpecError

__all__ = ["calibrate_kappa", "connection_probability", "distance_delay", "long_range_indegree"]


def _nonneg(x: Any, owner: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.size and (not np.all(np.isfinite(a)) or a.min() < 0):
        bad = float(a[~np.isfinite(a) | (a < 0)].flat[0])
        raise SpecError(f"{owner} must be finite and >= 0; got {bad!r}.")
    return a


def connection_probability(w: Any, n_post: Any, kappa: float) -> np.ndarray:
    """Pairwise probability ``min(1, κ W / N_post)`` (MODEL_SPEC §6.2, step 3).

    Parameters
    ----------
    w : array_like, (..., n_targets)
        Connectome weights ``W_st`` (any nonnegative scale; κ absorbs it).
    n_post : array_like, (n_targets,)
        Eligible postsynaptic cells in each target. A target with no cells gets probability 0.
    kappa : float
        The calibration constant (:func:`calibrate_kappa`), in synapses per unit ``W`` per
        presynaptic cell.

    Returns
    -------
    ndarray, broadcast shape of ``w`` and ``n_post``, values in [0, 1].

    Examples
    --------
    >>> connection_probability([[0.1, 2.0]], [100, 100], kappa=100.0)
    array([[0.1, 1. ]])
    """
    w = _nonneg(w, "connection_probability.w")
    n_post = _nonneg(n_post, "connection_probability.n_post")
    if isinstance(kappa, bool) or not np.isfinite(kappa) or kappa < 0:
        raise SpecError(
            f"connection_probability.kappa must be a finite number >= 0; got {kappa!r}."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n_post > 0, kappa * w / np.where(n_post > 0, n_post, 1.0), 0.0)
    return np.minimum(p, 1.0)


def long_range_indegree(w: Any, n_pre: Any, n_post: Any, kappa: float) -> np.ndarray:
    """Expected long-range in-degree of one cell in each target, ``Σ_s N_pre(s) p_st``.

    ``w`` is (n_sources, n_targets), ``n_pre`` (n_sources,), ``n_post`` (n_targets,).

    Examples
    --------
    >>> long_range_indegree([[1.0], [3.0]], n_pre=[10, 20], n_post=[100], kappa=10.0)
    array([7.])
    """
    n_pre = _nonneg(n_pre, "long_range_indegree.n_pre")
    p = connection_probability(w, n_post, kappa)
    if p.ndim != 2 or p.shape[0] != n_pre.shape[0]:
        raise SpecError(
            f"long_range_indegree.w must be (n_sources, n_targets) with n_sources = "
            f"len(n_pre) = {n_pre.shape[0]}; got shape {np.shape(w)}."
        )
    return n_pre @ p


def calibrate_kappa(
    w: Any,
    n_pre: Any,
    n_post: Any,
    n_pyramidal: Any,
    k_exc_total: float,
    f_lr: float,
) -> float:
    """κ making a cortical pyramidal cell's mean long-range in-degree ``f_lr * k_exc_total``.

    Solves, for the single constant κ (MODEL_SPEC §6.2, step 4),

    ``Σ_t n_pyr(t) K_LR(t; κ) / Σ_t n_pyr(t) = f_lr · k_exc_total``, with
    ``K_LR(t; κ) = Σ_s N_pre(s) min(1, κ W_st / N_post(t))``.

    Without clipping (all ``κ W / N_post <= 1``) this is closed form:
    ``κ = f_lr k_exc_total Σ_t n_pyr(t) / Σ_t n_pyr(t) Σ_s W_st N_pre(s) / N_post(t)``.
    When that κ clips some probabilities at 1, the left side (nondecreasing in κ) is solved by
    bisection to a relative tolerance of 1e-12.

    Parameters
    ----------
    w : array_like, (n_sources, n_targets)
    n_pre : array_like, (n_sources,)
        Eligible presynaptic (long-range projecting) cells per source.
    n_post : array_like, (n_targets,)
        Eligible postsynaptic cells per target.
    n_pyramidal : array_like, (n_targets,)
        Cortical pyramidal cells per target (0 outside the cortex): the averaging weights.
    k_exc_total : float
        Total excitatory in-degree of a cortical pyramidal cell (local + long-range).
    f_lr : float
        Long-range fraction of that in-degree, in (0, 1).

    Raises
    ------
    SpecError
        Bad inputs, or a target in-degree that even κ -> ∞ (every p = 1) cannot reach.

    Examples
    --------
    >>> kappa = calibrate_kappa([[1.0], [3.0]], [10, 20], [100], [50], k_exc_total=100.0, f_lr=0.07)
    >>> round(kappa, 9)  # 0.07 * 100 / ((10 * 1 + 20 * 3) / 100)
    10.0
    """
    w = _nonneg(w, "calibrate_kappa.w")
    n_pre = _nonneg(n_pre, "calibrate_kappa.n_pre")
    n_post = _nonneg(n_post, "calibrate_kappa.n_post")
    n_pyr = _nonneg(n_pyramidal, "calibrate_kappa.n_pyramidal")
    if not (isinstance(f_lr, (int, float)) and 0.0 < f_lr < 1.0):
        raise SpecError(f"calibrate_kappa.f_lr must be a fraction in (0, 1); got {f_lr!r}.")
    if not (isinstance(k_exc_total, (int, float)) and k_exc_total > 0):
        raise SpecError(f"calibrate_kappa.k_exc_total must be > 0; got {k_exc_total!r}.")
    if w.ndim != 2 or w.shape != (n_pre.size, n_post.size) or n_pyr.shape != n_post.shape:
        raise SpecError(
            f"calibrate_kappa needs w (n_sources, n_targets) = ({n_pre.size}, {n_post.size}) and "
            f"n_pyramidal of shape ({n_post.size},); got w {w.shape}, n_pyramidal {n_pyr.shape}."
        )
    if n_pyr.sum() <= 0:
        raise SpecError("calibrate_kappa.n_pyramidal must have at least one cell; got all 0.")
    target = f_lr * k_exc_total
    weights = n_pyr / n_pyr.sum()

    def mean_k(kappa: float) -> float:
        return float(weights @ long_range_indegree(w, n_pre, n_post, kappa))

    reach = (n_post > 0)[None, :] & (w > 0)
    k_max = float(weights @ (n_pre @ reach))  # every reachable p = 1
    if k_max <= target:
        raise SpecError(
            f"calibrate_kappa: a mean long-range in-degree of {target:g} (f_lr * k_exc_total) is "
            f"out of reach; with every probability at 1 it is {k_max:g}. Lower f_lr or "
            f"k_exc_total, or add source cells."
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        slope_t = np.where(n_post > 0, (n_pre @ w) / np.where(n_post > 0, n_post, 1.0), 0.0)
    kappa = target / float(weights @ slope_t)
    if mean_k(kappa) >= target * (1 - 1e-12):
        return kappa
    lo, hi = kappa, 2.0 * kappa
    while mean_k(hi) < target:
        lo, hi = hi, 2.0 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mean_k(mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return hi


def distance_delay(
    r_source_um: Any, r_target_um: Any, d_min: Any = 0.1, velocity: Any = 0.5
) -> np.ndarray:
    """Axonal delay ``d = d_min + |r_s - r_t| / v`` in ms (MODEL_SPEC §6.2, step 6).

    Parameters
    ----------
    r_source_um, r_target_um : array_like, (..., 3), µm
        Positions (e.g. voxel centres); broadcast against each other.
    d_min : float or quantity, ms
        Minimal (synaptic) delay. Default 0.1 ms, one step of the default dt.
    velocity : float or quantity, m/s
        Conduction velocity. Default 0.5 m/s, the value of the mouse M1 model
        (Dura-Bernal et al. 2023, Cell Rep 42:112574; MODEL_SPEC §1.3, §6.2).

    Returns
    -------
    ndarray, (...), ms

    Examples
    --------
    >>> float(distance_delay([0.0, 0.0, 0.0], [3000.0, 4000.0, 0.0]))  # 5 mm at 0.5 m/s
    10.1
    """
    d_min_ms = u.to_canonical(d_min, "ms", owner="distance_delay.d_min")
    v = u.to_canonical(velocity, "m/s", owner="distance_delay.velocity")
    if not (np.isfinite(d_min_ms) and d_min_ms >= 0):
        raise SpecError(f"distance_delay.d_min must be a time >= 0; got {d_min!r}.")
    if not (np.isfinite(v) and v > 0):
        raise SpecError(f"distance_delay.velocity must be a speed > 0 (m/s); got {velocity!r}.")
    rs = np.asarray(r_source_um, dtype=np.float64)
    rt = np.asarray(r_target_um, dtype=np.float64)
    dist_um = np.linalg.norm(rs - rt, axis=-1)
    return d_min_ms + dist_um * 1e-3 / v  # µm / (m/s) = 1e-6 s = 1e-3 ms
