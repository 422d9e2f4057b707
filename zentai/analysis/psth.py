"""Peri-stimulus time histograms and their response phases (excitation / inhibition).

:func:`psth` counts spikes of a population around repeated stimuli; :func:`response_phases`
finds the time-ordered phases in which the count departs from the pre-stimulus baseline — the
triphasic SNr response to a cortical pulse (early excitation, inhibition, late excitation;
Nambu et al. 2000, J Neurophysiol 84:289) or the CN excitation–inhibition–rebound.

Detection: the pre-stimulus bins give the expected count of a ``smooth_ms`` sliding window
and its spread; a bin is excited when its window count is above the ``1 - alpha`` quantile,
inhibited when below the ``alpha`` quantile. The quantiles are Poisson's, widened to a normal
with the baseline's own standard deviation when that is larger (ongoing rhythms or correlated
firing make the baseline over-dispersed, and Poisson thresholds would then report the rhythm as
responses). Runs
of the same sign at least ``min_ms`` long are phases; runs separated by gaps shorter than
``merge_ms`` are merged. Each phase is ``{"sign": "+"|"-", "latency_ms", "duration_ms"}``
(latency: onset after the stimulus).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import norm, poisson

from zentai.errors import SpecError

__all__ = ["psth", "response_phases"]


def psth(
    spike_times_ms: Any,
    stimulus_ms: Any,
    *,
    before_ms: float = 50.0,
    after_ms: float = 100.0,
    bin_ms: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts in bins around each stimulus time, summed over stimuli.

    Returns (bin left edges relative to the stimulus (ms), counts). Bins cover
    [-before_ms, after_ms); spikes at exactly a stimulus time fall in the bin after it.
    """
    t = np.asarray(spike_times_ms, dtype=np.float64).reshape(-1)
    s = np.asarray(stimulus_ms, dtype=np.float64).reshape(-1)
    if s.size == 0:
        raise SpecError("psth needs at least one stimulus time.")
    if not (bin_ms > 0 and before_ms >= 0 and after_ms > 0):
        raise SpecError(
            f"psth: bin_ms and after_ms must be > 0, before_ms >= 0; got {bin_ms}, {after_ms}, "
            f"{before_ms}."
        )
    n_before = round(before_ms / bin_ms)
    n_bins = n_before + round(after_ms / bin_ms)
    edges = (np.arange(n_bins) - n_before) * bin_ms
    t = np.sort(t)
    counts = np.zeros(n_bins)
    for s0 in s:
        lo = np.searchsorted(t, s0 - n_before * bin_ms, side="left")
        hi = np.searchsorted(t, s0 + (n_bins - n_before) * bin_ms, side="left")
        k = np.floor((t[lo:hi] - s0) / bin_ms + 1e-9).astype(np.int64) + n_before
        np.add.at(counts, k[(k >= 0) & (k < n_bins)], 1.0)
    return edges, counts


def response_phases(
    edges_ms: Any,
    counts: Any,
    *,
    alpha: float = 0.001,
    smooth_ms: float = 3.0,
    min_ms: float = 2.0,
    merge_ms: float = 2.0,
    start_ms: float = 0.0,
) -> list[dict[str, Any]]:
    """Time-ordered response phases of a PSTH (see the module docstring).

    ``edges_ms``/``counts`` as from :func:`psth`; bins before 0 are the baseline (at least
    10 ms of them). Only phases starting at or after ``start_ms`` are reported.
    """
    e = np.asarray(edges_ms, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    if e.shape != c.shape or e.size < 2:
        raise SpecError(f"edges and counts must be 1-D of equal length; got {e.shape}, {c.shape}.")
    bin_ms = float(e[1] - e[0])
    base = c[e < 0]
    if base.size * bin_ms < 10.0:
        raise SpecError("response_phases needs at least 10 ms of pre-stimulus baseline.")
    w = max(1, round(smooth_ms / bin_ms))
    kernel = np.ones(w)
    sm = np.convolve(c, kernel, mode="same")
    lam = base.mean() * w
    hi = poisson.ppf(1 - alpha, lam) if lam > 0 else 0.0
    lo = poisson.ppf(alpha, lam) if lam > 0 else -1.0
    # over-dispersed baseline: the smoothed baseline's own spread (valid windows only)
    sb = np.convolve(base, kernel, mode="valid")
    sd = float(sb.std(ddof=1)) if sb.size > 2 else 0.0
    if sd > np.sqrt(max(lam, 1e-12)):
        z = float(norm.ppf(1 - alpha))
        hi, lo = max(hi, lam + z * sd), min(lo, lam - z * sd)
    sign = np.where(sm > hi, 1, np.where(sm < lo, -1, 0))
    sign[e < start_ms] = 0
    phases: list[list[float]] = []  # [sign, start index, stop index)
    i = 0
    n = len(sign)
    while i < n:
        if sign[i] == 0:
            i += 1
            continue
        j = i
        while j < n and sign[j] == sign[i]:
            j += 1
        if phases and phases[-1][0] == sign[i] and (i - phases[-1][2]) * bin_ms <= merge_ms:
            phases[-1][2] = j
        else:
            phases.append([sign[i], i, j])
        i = j
    out = []
    for s, a, b in phases:
        dur = (b - a) * bin_ms
        if dur + 1e-9 < min_ms:
            continue
        out.append(
            {
                "sign": "+" if s > 0 else "-",
                "latency_ms": float(e[int(a)]),
                "duration_ms": float(dur),
            }
        )
    return out
