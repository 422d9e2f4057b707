"""Peri-stimulus time histograms and their response phases (excitation / inhibition).

:func:`psth` counts spikes of a population around repeated stimuli; :func:`response_phases`
finds the time-ordered phases in which the count departs from the pre-stimulus baseline — the
triphasic SNr response to a cortical pulse (early excitation, inhibition, late excitation;
Nambu et al. 2000, J Neurophysiol 84:289) or the CN excitation–inhibition–rebound.

Detection: the pre-stimulus bins give the expected count of a ``smooth_ms`` sliding window
and its spread; a bin is excited when its window count is above the upper quantile of the
null distribution, inhibited when below the lower one. ``alpha`` bounds the chance of any
false phase in a PSTH without a response: it is split (Bonferroni) over the two tails, the
scales and every bin of the analysed span.

* Summed counts (n_bins,): the quantiles are Poisson's, widened to the baseline's own
  standard deviation (Student's t) when that is larger (ongoing rhythms or correlated firing
  make the baseline over-dispersed, and Poisson thresholds would then report the rhythm as
  responses).
* Per-trial counts (n_trials, n_bins), the preferred input: a paired test. Each trial's
  window count is compared with that trial's own baseline mean; the trial mean of these
  changes is tested against the spread of the trials' baseline windows pooled over trials and
  window positions (hundreds of degrees of freedom where the summed PSTH has ~10 baseline
  windows; Poisson's variance as a floor), or against the trial-mean baseline's spread when an
  F-test finds that larger (trial-coherent structure in the baseline).

When the baseline is long enough the same test also runs on windows three times longer, where
a fast rhythm averages out and a long pause or plateau stands out; it only adds phases the
fine scale missed, with edges where the fine windows cross the baseline mean. Windows cut by
the ends of the PSTH are not tested. Runs of the same sign at least ``min_ms`` long are
phases; runs separated by gaps shorter than ``merge_ms`` are merged. Each phase is
``{"sign": "+"|"-", "latency_ms", "duration_ms"}`` (latency: onset after the stimulus).
False phases measured on 40 no-response experiments of 30 trials (Poisson and synchronised
90 Hz rhythm; tests/analysis/test_psth.py): at most 1 of 40 with either input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import f as f_dist
from scipy.stats import poisson
from scipy.stats import t as student_t

from zentai.errors import SpecError

__all__ = ["psth", "response_phases"]

#: per-trial test: the trial-mean baseline's own spread replaces the pooled per-trial one when an
#: F-test finds it larger at this level (trial-coherent structure in the baseline)
COHERENT_P = 0.01


def psth(
    spike_times_ms: Any,
    stimulus_ms: Any,
    *,
    before_ms: float = 50.0,
    after_ms: float = 100.0,
    bin_ms: float = 1.0,
    per_trial: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts in bins around each stimulus time, summed over stimuli.

    Returns (bin left edges relative to the stimulus (ms), counts); counts are (n_bins,), or
    (n_stimuli, n_bins) with ``per_trial`` (one row per stimulus, in the order given). Bins
    cover [-before_ms, after_ms); spikes at exactly a stimulus time fall in the bin after it.
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
    counts = np.zeros((s.size, n_bins))
    for row, s0 in enumerate(s):
        lo = np.searchsorted(t, s0 - n_before * bin_ms, side="left")
        hi = np.searchsorted(t, s0 + (n_bins - n_before) * bin_ms, side="left")
        k = np.floor((t[lo:hi] - s0) / bin_ms + 1e-9).astype(np.int64) + n_before
        counts[row] = np.bincount(k[(k >= 0) & (k < n_bins)], minlength=n_bins)
    return edges, (counts if per_trial else counts.sum(axis=0))


def response_phases(
    edges_ms: Any,
    counts: Any,
    *,
    alpha: float = 0.05,
    smooth_ms: float = 3.0,
    min_ms: float = 2.0,
    merge_ms: float = 2.0,
    start_ms: float = 0.0,
) -> list[dict[str, Any]]:
    """Time-ordered response phases of a PSTH (see the module docstring).

    ``edges_ms``/``counts`` as from :func:`psth`: summed counts (n_bins,), or per-trial counts
    (n_trials, n_bins) from ``psth(..., per_trial=True)``, which select the paired test of the
    module docstring. Bins before 0 are the baseline (at least 10 ms of them). Only phases
    starting at or after ``start_ms`` are reported. ``alpha``: the chance of any false phase
    in a PSTH without a response.
    """
    e = np.asarray(edges_ms, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or c.ndim not in (1, 2) or c.shape[-1] != e.size:
        raise SpecError(
            f"edges must be 1-D and counts (n_bins,) or (n_trials, n_bins) with n_bins = "
            f"len(edges); got {e.shape}, {c.shape}."
        )
    if c.ndim == 2 and c.shape[0] < 3:
        raise SpecError(f"per-trial counts need at least 3 trials; got {c.shape[0]}.")
    bin_ms = float(e[1] - e[0])
    base = c[..., e < 0]
    if base.shape[-1] * bin_ms < 10.0:
        raise SpecError("response_phases needs at least 10 ms of pre-stimulus baseline.")
    w = max(1, round(smooth_ms / bin_ms))
    test = _paired_signs if c.ndim == 2 else _signs
    base_bins = base.shape[-1]
    # two scales: the smoothing window and three times it (when the baseline holds at least
    # ten such windows). A population rhythm inflates the baseline's
    # spread at the fine scale so much that even a complete silence of 10+ ms stays inside the
    # widened band (measured: cbgc SNr, 90 Hz rhythm, lam 139 +- 46 per 3 ms); at the coarse
    # scale the rhythm averages out (_add_coarse: only phases the fine scale missed, with
    # edges from the fine scale).
    two = base_bins >= 30 * w
    scales = (w, 3 * w) if two else (w,)
    # alpha bounds the chance of any false phase in the analysed span: split over the scales,
    # the span's bins (each a sliding-window test; counting only the disjoint windows let
    # ~10 % of Poisson PSTHs through at alpha 0.05, measured) and the two tails (Bonferroni)
    a_tail = alpha / (2 * len(scales) * max(1, int((e >= start_ms).sum())))
    side, sign = test(c, base, w, a_tail)
    if two:
        coarse = test(c, base, 3 * w, a_tail)[1]
        sign = _add_coarse(sign, coarse, side, 3 * w)
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


def _window_sums(c: np.ndarray, w: int) -> np.ndarray:
    """Sliding sums of ``w`` bins along the last axis, centred as np.convolve's "same"; windows
    cut by the ends of the PSTH are NaN (never a phase)."""
    kernel = np.ones(w)
    out = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), -1, c)
    full = np.convolve(np.ones(c.shape[-1]), kernel, "same") == w
    return np.where(full, out, np.nan)


def _paired_signs(
    c: np.ndarray, base: np.ndarray, w: int, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial counts: the side of each bin's trial-mean change from the baseline (+1 / -1 /
    0), and +1 / -1 / 0 where that change lies beyond the ``alpha`` quantiles of its null
    distribution. The change of trial k at a bin is its window sum minus its own baseline mean
    per window. Its trial mean varies under "no response" (a) as the trials' baseline windows
    do around their means, over the number of trials (pooled over trials and window
    positions: many degrees of freedom, any over- or under-dispersion included, Poisson's
    variance as a floor), or (b) as the trial-mean baseline itself does from window to window,
    when that is significantly larger (F-test at :data:`COHERENT_P`: a rhythm whose phases
    happen to agree across trials, or the tail of the previous stimulus's response, moves
    every trial's window the same way; few degrees of freedom)."""
    k = c.shape[0]
    b = base.mean(axis=1, keepdims=True) * w
    d = _window_sums(c, w) - b
    kernel = np.ones(w)
    sb = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), 1, base) - b
    n_win = base.shape[1] // w  # independent baseline windows per trial
    df_a, df_b = max(1, k * n_win - k), max(1, n_win - 1)
    var_a = max(float((sb**2).mean()), float(b.mean())) / k
    var_b = float(sb.mean(axis=0).var(ddof=1)) if sb.shape[1] > 2 else 0.0
    if var_b > var_a and f_dist.sf(var_b / var_a, df_b, df_a) < COHERENT_P:
        crit = float(student_t.ppf(1 - alpha, df=df_b)) * np.sqrt(var_b)
    else:
        crit = float(student_t.ppf(1 - alpha, df=df_a)) * np.sqrt(var_a)
    m = d.mean(axis=0)
    side = np.sign(np.nan_to_num(m)).astype(np.int64)
    if crit <= 0.0:  # a silent baseline: any spike is a change
        return side, side.copy()
    return side, np.where(m > crit, 1, np.where(m < -crit, -1, 0))


def _signs(c: np.ndarray, base: np.ndarray, w: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Summed counts: the side of each bin's window sum against the baseline mean, and +1 / -1
    / 0 per bin where the sum is above / below the baseline's ``alpha`` quantiles (Poisson,
    widened to the baseline's own spread when that is larger)."""
    kernel = np.ones(w)
    sm = _window_sums(c, w)
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
    side = np.sign(np.nan_to_num(sm - lam)).astype(np.int64)
    return side, np.where(sm > hi, 1, np.where(sm < lo, -1, 0))


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
