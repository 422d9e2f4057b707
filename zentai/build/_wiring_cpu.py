"""Compiled (numba) CPU loops for the wiring's hot spots, the tensor code's values.

* :func:`draw_per_post` — the partners of fixed in-degree / fixed total number rules:
  ``uniform_int(k, post, slot, n)`` for every slot of every post (one stream key per post
  instead of one per synapse), with the autapse skip.
* :func:`slots` — index of each synapse among its post's synapses (post ids sorted).
* :func:`affine` — ``mu + sigma * z`` (two roundings, as torch computes it) and a count of the
  values outside [low, high].
* :func:`place_drawn` — the build's second pass in one loop: slots, weight and delay draws
  (``wiring.draw``'s values; the normals through ``_rng_cpu._normal``, equal to torch's but
  for the last float64 bits) and the stable placement into CSR rows (``csr.scatter_rows``).

:mod:`zentai.build.wiring` calls them for CPU tensors when numba is installed; its tensor code
stays the reference (tests compare both).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from zentai._rng_cpu import _G1, _G2, _INV53, _S11, _mix, _normal

_S32 = np.uint64(32)


@njit(cache=True, nogil=True, parallel=True)
def draw_per_post(k, a, degrees, first, n_eff, exclude_self, pre_out, post_out):  # pragma: no cover
    """Partners of posts a, a+1, ...: ``degrees[j]`` draws for post a + j from ``first[j]``."""
    n = np.uint64(n_eff)
    for j in prange(degrees.shape[0]):
        post = a + j
        h = _mix(np.uint64(post) * _G1 + k)
        base = first[j]
        for s in range(degrees[j]):
            b = _mix(h + np.uint64(s) * _G2) >> _S32
            r = np.int64((b * n) >> _S32)
            if exclude_self and r >= post:
                r += 1
            pre_out[base + s] = r
            post_out[base + s] = post


@njit(cache=True, nogil=True)
def slots(post, out):  # pragma: no cover - compiled
    """out[i] = i - (first index of post[i]'s run); returns False if ``post`` is unsorted."""
    start = 0
    for i in range(post.shape[0]):
        if i and post[i] != post[i - 1]:
            if post[i] < post[i - 1]:
                return False
            start = i
        out[i] = i - start
    return True


@njit(cache=True, nogil=True, parallel=True)
def affine(z, mu, sigma, low, high, out):  # pragma: no cover - compiled
    """out = mu + sigma * z; returns how many values fall outside [low, high]."""
    bad = 0
    for i in prange(z.shape[0]):
        x = mu + sigma * z[i]
        out[i] = x
        bad += (x < low) | (x > high)
    return bad


# ------------------------------------------------ drawing weights and delays into the table
#: synapses per block of the fused loop: drawn in one vectorised pass, then stored
_BLOCK = 512


@njit(inline="always")
def _fill(par, k, post, slot, n, out):
    """out[:n] = draws of ``wiring.draw`` for (post, slot): ``par`` = (kind, a, b, low, high);
    kind 0: a; 1: a + b u; 2: a + b z (bounds applied by :func:`_redraw`)."""
    kind = par[0]
    if kind == 0.0:
        for i in range(n):
            out[i] = par[1]
    elif kind == 1.0:
        for i in range(n):
            h = _mix(np.uint64(post[i]) * _G1 + k)
            out[i] = par[1] + par[2] * (np.float64(_mix(h + slot[i] * _G2) >> _S11) * _INV53)
    else:
        for i in range(n):
            out[i] = par[1] + par[2] * _normal(_mix(np.uint64(post[i]) * _G1 + k), slot[i])


@njit(inline="always")
def _redraw(par, k_redraw, post, slot, x, max_rounds):
    """x, or while outside [low, high] the draw of round r = 1, 2, ... under key(k_redraw, r);
    NaN after ``max_rounds`` rounds."""
    r = 0
    while x < par[3] or x > par[4]:
        r += 1
        if r > max_rounds:
            return np.nan
        kr = _mix((k_redraw ^ np.uint64(r)) + _G1)
        x = par[1] + par[2] * _normal(_mix(np.uint64(post) * _G1 + kr), slot)
    return x


@njit(cache=True, nogil=True, parallel=True)
def place_drawn(
    pre, post, off, base, wpar, dpar, keys, max_rounds, cursor, target, weight, delay, T, status
):  # pragma: no cover - compiled
    """Draw each synapse's weight and delay and store the synapse at its row's next free place.

    The synapses (``pre`` global rows, ``post`` population-local ids, sorted) are cut into T
    chunks run in parallel: chunk k's rows start after what the chunks before it put there
    (per-chunk row counts), so each row keeps the part's order (a stable counting sort).
    A synapse's slot (index among its post's synapses) keys its draws, as ``wiring.slots``.
    ``keys`` = (weight key, its redraw key, delay key, its redraw key). ``status[k]`` gets
    chunk k's (weights not drawn inside the bounds, delays not drawn, unsorted posts, least
    delay); ``cursor`` is advanced.
    """
    n = pre.shape[0]
    N = cursor.shape[0]
    counts = np.zeros((T, N), np.int64)
    for k in prange(T):
        ck = counts[k]
        for j in range(n * k // T, n * (k + 1) // T):
            ck[pre[j]] += 1
    starts = np.empty((T, N), np.int64)
    starts[0] = cursor
    for k in range(1, T):
        starts[k] = starts[k - 1] + counts[k - 1]
    for k in prange(T):
        cur = starts[k]
        j0, j1 = n * k // T, n * (k + 1) // T
        first = j0  # first synapse of the run of post[j0]
        while first > 0 and post[first - 1] == post[j0]:
            first -= 1
        slot = np.empty(_BLOCK, np.uint64)
        w = np.empty(_BLOCK)
        d = np.empty(_BLOCK)
        bad_w, bad_d, unsorted, d_min = 0, 0, False, np.inf
        for b0 in range(j0, j1, _BLOCK):
            m = min(_BLOCK, j1 - b0)
            for i in range(m):
                j = b0 + i
                if j > j0 and post[j] != post[j - 1]:
                    unsorted |= post[j] < post[j - 1]
                    first = j
                slot[i] = j - first
            q = post[b0 : b0 + m]
            _fill(wpar, keys[0], q, slot, m, w)
            _fill(dpar, keys[2], q, slot, m, d)
            for i in range(m):
                wi = _redraw(wpar, keys[1], q[i], slot[i], w[i], max_rounds)
                di = _redraw(dpar, keys[3], q[i], slot[i], d[i], max_rounds)
                bad_w += np.isnan(wi)
                bad_d += np.isnan(di)
                d_min = min(d_min, di)
                p = pre[b0 + i]
                pos = cur[p]
                cur[p] = pos + 1
                target[pos] = base + q[i] - off
                weight[pos] = wi  # float64 -> float32: round to nearest, as torch's .to()
                delay[pos] = di
        status[k, 0] = bad_w
        status[k, 1] = bad_d
        status[k, 2] = unsorted
        status[k, 3] = d_min
    cursor[:] = starts[T - 1]
