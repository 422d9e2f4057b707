"""Peri-stimulus time histograms and their response phases (excitation / inhibition).

:func:`psth` counts spikes of a population around repeated stimuli; :func:`response_phases`
finds the time-ordered phases in which the count departs from the pre-stimulus baseline — the
triphasic SNr response to a cortical pulse (early excitation, inhibition, late excitation;
Nambu et al. 2000, J Neurophysiol 84:289) or the CN excitation–inhibition–rebound.

Detection: the pre-stimulus bins give the expected count of a ``smooth_ms`` sliding window
and its spread; a bin is excited when its window count is above the ``1 - alpha`` quantile,
inhibited when below the ``alpha`` quantile. The quantiles are Poisson's, widened to the
baseline's own standard deviation (Student's t) when that is larger (ongoing rhythms or correlated
firing make the baseline over-dispersed, and Poisson thresholds would then report the rhythm as
responses). When the baseline is long enough the same test also runs on windows three times
longer (each scale at ``alpha / 2``; Student's t for the estimated spread), where a fast rhythm
averages out and a long pause or plateau stands out; it only adds phases the fine scale missed,
with edges where the fine windows cross the baseline mean. Runs
of the same sign at least ``min_ms`` long are phases; runs separated by gaps shorter than
``merge_ms`` are merged. Each phase is ``{"sign": "+"|"-", "latency_ms", "duration_ms"}``
(latency: onset after the stimulus).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import poisson
from scipy.stats import t as student_t

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
    # two scales, each at alpha / 2: the smoothing window and three times it (when the
    # baseline holds at least ten such windows). A population rhythm inflates the baseline's
    # spread at the fine scale so much that even a complete silence of 10+ ms stays inside the
    # widened band (measured: cbgc SNr, 90 Hz rhythm, lam 139 +- 46 per 3 ms); at the coarse
    # scale the rhythm averages out (_add_coarse: only phases the fine scale missed, with
    # edges from the fine scale).
    two = base.size >= 30 * w
    a = alpha / 2 if two else alpha
    sm, lam, sign = _signs(c, base, w, a)
    if two:
        coarse = _signs(c, base, 3 * w, a)[2]
        sign = _add_coarse(sign, coarse, np.sign(sm - lam).astype(np.int64), 3 * w)
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


def _signs(
    c: np.ndarray, base: np.ndarray, w: int, alpha: float
) -> tuple[np.ndarray, float, np.ndarray]:
    """Window sums of ``w`` bins, their baseline mean, and +1 / -1 / 0 per bin where the sum is
    above / below the baseline's ``alpha`` quantiles (Poisson, widened to the baseline's own
    spread when that is larger)."""
    kernel = np.ones(w)
    # windows cut by the ends of the PSTH are scaled up to w bins
    sm = np.convolve(c, kernel, mode="same") * w / np.convolve(np.ones(c.size), kernel, "same")
    lam = float(base.mean()) * w
    hi = poisson.ppf(1 - alpha, lam) if lam > 0 else 0.0
    lo = poisson.ppf(alpha, lam) if lam > 0 else -1.0
    # over-dispersed baseline: the smoothed baseline's own spread (valid windows only)
    sb = np.convolve(base, kernel, mode="valid")
    sd = float(sb.std(ddof=1)) if sb.size > 2 else 0.0
    if sd > np.sqrt(max(lam, 1e-12)):
        # the spread is estimated from ~base.size / w independent windows: Student's t
        z = float(student_t.ppf(1 - alpha, df=max(1, base.size // w - 1)))
        hi, lo = max(hi, lam + z * sd), min(lo, lam - z * sd)
    return sm, lam, np.where(sm > hi, 1, np.where(sm < lo, -1, 0))


def _add_coarse(sign: np.ndarray, coarse: np.ndarray, side: np.ndarray, reach: int) -> np.ndarray:
    """The phases only the coarse scale found, added to the fine scale's ``sign``: each run of
    coarse-scale bins that the fine scale left unmarked and whose fine window is on the same
    side of the mean, grown by up to ``reach`` bins (the coarse window's width, by which it
    can blur an edge next to another phase) over unmarked bins on that side. A run that would
    touch a fine-scale phase of its sign is dropped: that phase is already found, with sharper
    edges."""
    out = sign.copy()
    cand = (sign == 0) & (coarse != 0) & (side == coarse)
    n, i = sign.size, 0
    while i < n:
        if not cand[i]:
            i += 1
            continue
        s, j = coarse[i], i
        while j < n and cand[j] and coarse[j] == s:
            j += 1
        a, b = i, j
        while a > 0 and i - a < reach and sign[a - 1] == 0 and side[a - 1] == s:
            a -= 1
        while b < n and b - j < reach and sign[b] == 0 and side[b] == s:
            b += 1
        if not ((a > 0 and sign[a - 1] == s) or (b < n and sign[b] == s)):
            out[a:b] = s
        i = j
    return out
