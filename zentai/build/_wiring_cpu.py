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
* :func:`count_per_post`, :func:`place_per_post` — the same two passes for partners drawn per
  (post, slot) (``wiring.PerPostDraws``), drawing them again instead of reading arrays.
* :func:`bernoulli_pres` — the pres of each post of a ``Bernoulli(p)`` rule by geometric
  skipping (``wiring._bernoulli``): counted in one call, written in a second.
* :func:`pf_box_pairs` — the granule cells inside each post's parallel-fibre box
  (``cerebellum._pf_candidates``), counted, then written.

:mod:`zentai.build.wiring` calls them for CPU tensors when numba is installed; its tensor code
stays the reference (tests compare both).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from zentai._rng_cpu import _G1, _G2, _mix, _normal, _uniform, _walk

_S32 = np.uint64(32)


@njit(inline="always")
def _pre_of(h, s, n, exclude_self, post):
    """Partner of slot ``s`` of ``post`` (stream state ``h``): uniform_int over n, skipping
    ``post`` itself when autapses are excluded."""
    r = np.int64(((_mix(h + np.uint64(s) * _G2) >> _S32) * n) >> _S32)
    return r + 1 if exclude_self and r >= post else r


@njit(cache=True, nogil=True, parallel=True)
def draw_per_post(k, a, degrees, first, n_eff, exclude_self, pre_out, post_out):  # pragma: no cover
    """Partners of posts a, a+1, ...: ``degrees[j]`` draws for post a + j from ``first[j]``."""
    n = np.uint64(n_eff)
    for j in prange(degrees.shape[0]):
        post = a + j
        h = _mix(np.uint64(post) * _G1 + k)
        base = first[j]
        for s in range(degrees[j]):
            pre_out[base + s] = _pre_of(h, s, n, exclude_self, post)
            post_out[base + s] = post


@njit(cache=True, nogil=True, parallel=True)
def count_per_post(k, a, degrees, n_pre, n_eff, exclude_self, T):  # pragma: no cover
    """Row counts of :func:`draw_per_post`'s partners (pre in [0, n_pre)), per chunk of T
    chunks of posts: a (T, n_pre) array."""
    n = np.uint64(n_eff)
    P = degrees.shape[0]
    part = np.zeros((T, n_pre), np.int64)
    for t in prange(T):
        pt = part[t]
        for j in range(P * t // T, P * (t + 1) // T):
            post = a + j
            h = _mix(np.uint64(post) * _G1 + k)
            for s in range(degrees[j]):
                pt[_pre_of(h, s, n, exclude_self, post)] += 1
    return part


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
            out[i] = par[1] + par[2] * _uniform(_mix(np.uint64(post[i]) * _G1 + k), slot[i])
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


# compiled on its own (not inlined into its two callers' IR as the small helpers are): the
# inlined copies made numba take 80-90 s to compile place_per_post on a 2-core VM, ~20 s now;
# the loops' speed is the same (LLVM still optimises across the call)
@njit(cache=True, nogil=True, error_model="numpy")
def _place_block(pre, q, slot, m, wpar, dpar, keys, max_rounds, cur, base, off, out, w, d, st):
    """Draw the weights and delays of m synapses (rows ``pre``, posts ``q``, slots), then
    store each at its row's next free place ``cur[pre]``; ``out`` = (target, weight, delay);
    ``st`` = (weights not drawn inside the bounds, delays not drawn, least delay), updated."""
    _fill(wpar, keys[0], q, slot, m, w)
    _fill(dpar, keys[2], q, slot, m, d)
    bad_w, bad_d, d_min = st
    target, weight, delay = out
    for i in range(m):
        wi = _redraw(wpar, keys[1], q[i], slot[i], w[i], max_rounds)
        di = _redraw(dpar, keys[3], q[i], slot[i], d[i], max_rounds)
        bad_w += np.isnan(wi)
        bad_d += np.isnan(di)
        d_min = min(d_min, di)
        p = pre[i]
        pos = cur[p]
        cur[p] = pos + 1
        target[pos] = base + q[i] - off
        weight[pos] = wi  # float64 -> float32: round to nearest, as torch's .to()
        delay[pos] = di
    return bad_w, bad_d, d_min


@njit(inline="always")
def _chunk_starts(cursor, part):
    """Where each chunk's synapses of each row start: after the row's earlier ones (cursor,
    the part's rows only) and those of the chunks before it (``part``: per-chunk counts)."""
    starts = np.empty_like(part)
    starts[0] = cursor
    for t in range(1, part.shape[0]):
        starts[t] = starts[t - 1] + part[t - 1]
    return starts


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def place_drawn(
    pre, post, pre_offset, n_pre, off, base, wpar, dpar, keys, max_rounds, cursor, out, T, status
):  # pragma: no cover - compiled
    """Draw each synapse's weight and delay and store the synapse at its row's next free place.

    Synapses: rows ``pre_offset + pre`` (pre in [0, n_pre)), population-local ``post``
    (sorted); per-chunk work and memory scale with n_pre, not the network. They are cut into
    T chunks run in parallel: chunk t's rows start after what the chunks before it put there
    (per-chunk row counts), so each row keeps the part's order (a stable counting sort). A
    synapse's slot (index among its post's synapses) keys its draws, as ``wiring.slots``.
    ``keys`` = (weight key, its redraw key, delay key, its redraw key); ``out`` = (target,
    weight, delay) tables. ``status[t]`` gets chunk t's (weights not drawn inside the bounds,
    delays not drawn, least delay, unsorted posts); ``cursor`` is advanced.
    """
    n = pre.shape[0]
    part = np.zeros((T, n_pre), np.int64)  # the pre population's rows only
    for t in prange(T):
        pt = part[t]
        for j in range(n * t // T, n * (t + 1) // T):
            pt[pre[j]] += 1
    starts = _chunk_starts(cursor[pre_offset : pre_offset + n_pre], part)
    for t in prange(T):
        cur = starts[t]
        j0, j1 = n * t // T, n * (t + 1) // T
        first = j0  # first synapse of the run of post[j0]
        while first > 0 and post[first - 1] == post[j0]:
            first -= 1
        rows, q = np.empty(_BLOCK, np.int64), np.empty(_BLOCK, np.int64)
        slot = np.empty(_BLOCK, np.uint64)
        w, d = np.empty(_BLOCK), np.empty(_BLOCK)
        st = (np.int64(0), np.int64(0), np.inf)  # not literal 0s: one signature of _place_block
        unsorted = False
        for b0 in range(j0, j1, _BLOCK):
            m = min(_BLOCK, j1 - b0)
            for i in range(m):
                j = b0 + i
                if j > j0 and post[j] != post[j - 1]:
                    unsorted |= post[j] < post[j - 1]
                    first = j
                slot[i] = j - first
                rows[i] = pre[j]
                q[i] = post[j]
            st = _place_block(rows, q, slot, m, wpar, dpar, keys, max_rounds, cur, base, off,
                              out, w, d, st)  # fmt: skip
        status[t, 0], status[t, 1], status[t, 2] = st
        status[t, 3] = unsorted
    cursor[pre_offset : pre_offset + n_pre] = starts[T - 1]


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def place_per_post(
    k,
    a,
    degrees,
    n_eff,
    exclude_self,
    pre_offset,
    n_pre,
    off,
    base,
    wpar,
    dpar,
    keys,
    max_rounds,
    cursor,
    out,
    T,
    status,
):  # pragma: no cover - compiled
    """:func:`place_drawn` for partners drawn per (post, slot) (``wiring.PerPostDraws``):
    the partners are drawn twice (row counts of T chunks of posts, then while placing)
    instead of being read from arrays. ``status[t, 3]`` stays 0."""
    n = np.uint64(n_eff)
    P = degrees.shape[0]
    part = count_per_post(k, a, degrees, n_pre, n_eff, exclude_self, T)
    starts = _chunk_starts(cursor[pre_offset : pre_offset + n_pre], part)
    for t in prange(T):
        cur = starts[t]
        rows = np.empty(_BLOCK, np.int64)
        q = np.empty(_BLOCK, np.int64)
        slot = np.empty(_BLOCK, np.uint64)
        w, d = np.empty(_BLOCK), np.empty(_BLOCK)
        st = (np.int64(0), np.int64(0), np.inf)
        m = np.int64(0)
        for j in range(P * t // T, P * (t + 1) // T):
            post = a + j
            h = _mix(np.uint64(post) * _G1 + k)
            for s in range(degrees[j]):
                rows[m] = _pre_of(h, s, n, exclude_self, post)
                q[m] = post
                slot[m] = s
                m += 1
                if m == _BLOCK:
                    st = _place_block(rows, q, slot, m, wpar, dpar, keys, max_rounds, cur,
                                      base, off, out, w, d, st)  # fmt: skip
                    m = np.int64(0)
        if m:
            st = _place_block(rows, q, slot, m, wpar, dpar, keys, max_rounds, cur, base, off,
                              out, w, d, st)  # fmt: skip
        status[t, 0], status[t, 1], status[t, 2] = st
    cursor[pre_offset : pre_offset + n_pre] = starts[T - 1]


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def bernoulli_pres(k, a, n_pre, p, log1mp, exclude_self, counts, starts, pre_out, post_out, T):
    """Bernoulli pres of posts a, a + 1, ... (``_rng_cpu._walk`` along the pres; a pre equal
    to the post dropped with ``exclude_self``): their numbers into ``counts`` (when ``pre_out``
    is empty), else the pres and posts from ``starts[j]`` on (T chunks of posts in parallel)."""
    P = counts.shape[0]
    fill = pre_out.shape[0] > 0
    for t in prange(T):
        skips = np.empty(32)
        js = np.empty(32, np.int64)
        for j in range(P * t // T, P * (t + 1) // T):
            post = a + j
            h = _mix(np.uint64(post) * _G1 + k)
            base = starts[j] if fill else 0
            c = 0
            pos, n, left = -1.0, 0, 0
            while pos < n_pre:
                m, pos, n, left = _walk(h, 0, n_pre, 0, p, log1mp, pos, n, left, skips, js)
                for x in range(m):
                    if exclude_self and js[x] == post:
                        continue
                    if fill:
                        pre_out[base + c] = js[x]
                        post_out[base + c] = post
                    c += 1
            if not fill:
                counts[j] = c


@njit(cache=True, nogil=True, parallel=True)
def pf_box_pairs(sx, sy, sz, order, post_pos, frames, reach, box, counts, starts, out):
    """Pres inside each post's box (cerebellum._pf_candidates). The pres sorted by x: positions
    ``(sx, sy, sz)``, ids ``order``; candidates lie within ``reach`` of the post in x; the box,
    in the post's frame (rows along, across, normal), is |along| <= box[0], |across| <=
    box[1], box[2] <= normal <= box[3]. Their numbers into ``counts`` (``out`` empty), else
    the pres, ascending, from ``starts[j]`` on."""
    fill = out.shape[0] > 0
    b0, b1, b2, b3 = box[0], box[1], box[2], box[3]
    for j in prange(post_pos.shape[0]):
        px, py, pz = post_pos[j, 0], post_pos[j, 1], post_pos[j, 2]
        f00, f01, f02 = frames[j, 0, 0], frames[j, 0, 1], frames[j, 0, 2]
        f10, f11, f12 = frames[j, 1, 0], frames[j, 1, 1], frames[j, 1, 2]
        f20, f21, f22 = frames[j, 2, 0], frames[j, 2, 1], frames[j, 2, 2]
        a = np.searchsorted(sx, px - reach)
        b = np.searchsorted(sx, px + reach, side="right")
        c = 0
        if fill:
            base = starts[j]
            for q in range(a, b):
                d0, d1, d2 = sx[q] - px, sy[q] - py, sz[q] - pz
                along = d0 * f00 + d1 * f01 + d2 * f02
                across = d0 * f10 + d1 * f11 + d2 * f12
                normal = d0 * f20 + d1 * f21 + d2 * f22
                if (abs(along) <= b0) & (abs(across) <= b1) & (normal >= b2) & (normal <= b3):
                    out[base + c] = order[q]
                    c += 1
            out[base : base + c].sort()
        else:  # (no branch in the loop: vectorised)
            for q in range(a, b):
                d0, d1, d2 = sx[q] - px, sy[q] - py, sz[q] - pz
                along = d0 * f00 + d1 * f01 + d2 * f02
                across = d0 * f10 + d1 * f11 + d2 * f12
                normal = d0 * f20 + d1 * f21 + d2 * f22
                c += (abs(along) <= b0) & (abs(across) <= b1) & (normal >= b2) & (normal <= b3)
            counts[j] = c
