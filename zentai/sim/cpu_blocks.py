"""Compiled CPU loop for ensembles: members in blocks of G (16-32, :func:`lanes`), each block
run for many steps while its state stays in cache, every neuron's update vectorised over the
members.

Why. :func:`zentai.sim.cpu_kernels.run_lif` steps all B members together, one member after
another within a step. At B = 100 members of a 10,000-neuron network, a step touches ~50 MB of
state, ring buffer and Poisson keys, so it runs at the memory's speed: a member cost about what
a single run costs (benchmarks/RESULTS.md, "Ensembles"). Members never interact, so nothing
forces them to advance together: here each block of G members runs the whole call (a few MB,
cache-resident), blocks in parallel over threads.

Layout. A block keeps, for each neuron i, ``W`` rows of G values (one per member, so a neuron's
update is one vector operation over its members, with its parameters loaded once): v,
refractory count (as a float: integer values, exact), two synaptic currents and their inputs
of the step (the spike flags of a step go to a separate list, one row of G per neuron that
fired). Delayed events wait in per-arrival-step bins (cell, weight), as in
:mod:`cpu_kernels`; the engine's ring buffer (D, B, S) is read at the start of a call (events
already in flight) and receives the bins' events at its end, so between calls the state is
exactly the engine's, and the torch step, checkpoints and the other loops see the same thing.

Exactness. Each member does the reference's arithmetic in the reference's order (the Poisson
count of :func:`cpu_kernels._poisson`, the ``iaf_psc_exp`` update of ``_membrane``, the events
of one cell added in order of emission step, presynaptic neuron and CSR position, after what
the ring buffer already held, then the Poisson count), so the spikes equal the torch path's
and the member-major loop's (tested). The Poisson keys are made at the start of a call,
``mix64(stream * G1 + member key)``, as :func:`zentai.rng.stream_key` forms them.

Scope: LIF groups with up to two current receptors; members may differ in Poisson rates,
input gains and constant current, and share every other parameter (the engine uses
:mod:`cpu_kernels` otherwise). Design notes and measurements:
docs/design/engine.md, "Member blocks for ensembles".
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    from numba import njit

    from zentai._rng_cpu import _G1, _G2, _INV53, _S11
    from zentai._rng_cpu import _mix as _mix64
    from zentai.sim.cpu_kernels import _grow as _grow_bins
    from zentai.sim.cpu_kernels import _named

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False

__all__ = ["INPUT_ROW", "MAX_RECEPTORS", "W", "integer_thresholds", "lanes", "run_blocks"]

# members per block: from 16 (one AVX-512 register of float32, two AVX2 ones) to 32; the
# engine picks the count that shares the members evenly between threads (:func:`lanes`)
LANES_MIN, LANES_MAX = 16, 32
# rows of a neuron: v, refractory count, two currents, their inputs this step; a block holds
# W x G values per neuron, row r of neuron i at (i W + r) G. With G a compile-time
# constant (each G is its own specialisation) the compiler sees that rows cannot overlap, and
# vectorises the loops over lanes.
MAX_RECEPTORS = 2
W = 6
_REF, _Y0, _Y1, _X0, _X1 = range(1, 6)
INPUT_ROW = _X0  # receptor r's input of neuron i: cell (i W + INPUT_ROW + r) G + lane


def lanes(n_members: int, n_threads: int) -> int:
    """Members per block: the smallest even share ``ceil(B / (T k))`` (k = 1, 2, ...) of at most
    LANES_MAX, at least LANES_MIN. E.g. B = 100 on 2 threads: 25 (4 blocks, 2 per thread)
    rather than 16 (7 blocks: one thread runs 4, and a block costs its lanes, full or not)."""
    k = 1
    while -(-n_members // (n_threads * k)) > LANES_MAX:
        k += 1
    return max(LANES_MIN, -(-n_members // (n_threads * k)))


def integer_thresholds(cdf: np.ndarray, rows: np.ndarray, n: int = 4) -> np.ndarray:
    """For the first ``n`` values v of each CDF row (values + row index k, see
    ``cpu_kernels.poisson_segments``): the smallest 53-bit integer u with
    ``u 2^-53 + k >= v`` in float64, as the loop computes the uniform (2^53 where none is).
    ``rows``: row indices, any shape; the result has that shape + (n,).

    ``u >= threshold`` then decides exactly what the float comparison decides: the map
    u -> u 2^-53 + k is non-decreasing, so the set of u that reach v is [threshold, 2^53).
    Found by bisection, all rows and values at once.
    """
    rows = np.asarray(rows, dtype=np.int64)
    v = cdf[rows][..., :n]
    k = rows.astype(np.float64)[..., None]
    lo = np.zeros(v.shape, np.int64)
    hi = np.full(v.shape, 1 << 53, np.int64)  # the first u in [lo, hi] with f(u) >= v
    while (open_ := lo < hi).any():
        mid = (lo + hi) // 2
        reach = mid.astype(np.float64) * _INV53_F + k >= v
        hi = np.where(open_ & reach, mid, hi)
        lo = np.where(open_ & ~reach, mid + 1, lo)
    return lo.astype(np.uint64)


_INV53_F = 1.0 / (1 << 53)


def _kernels(G: int):
    """The block loop for ``G`` lanes. G is a constant of the compiled code (a closure
    variable), so the loops over lanes have a fixed length and the rows fixed offsets, which
    the compiler needs to vectorise them (a lane count passed as an argument, even as a numba
    literal, gave ~25 % slower code); each G is compiled, and cached, once under its own name.
    """

    def _finish_counts(cell, hk, tg, cdf, s_row, q, p_x0, m, mb, cval, w):
        """Lanes whose uniform passed the first four CDF values: count the rest, add count x w.
        (Member rows of the tables: lane b's member is ``mb[b]`` where they differ.)"""
        L = cdf.shape[1]
        for b in range(G):
            p = mb[b] if s_row.shape[0] > 1 else 0
            r = cdf[s_row[p, q]]
            x = np.float64(_mix64(hk[b] + tg) >> _S11) * _INV53 + p_x0[p, m]
            if x >= r[3]:
                c = 4
                while c < L and r[c] <= x:
                    c += 1
                cell[b] += cval[c] * w

    def _poisson(st, tg, s_a, s_z, s_row, s_thr, thl, hk, p_x0, cdf, p_cell, p_w, cval, mb):
        """Add step ``tg / G2``'s Poisson counts x weights to the input cells of every lane.

        The count is the number of CDF values (+ row index) at or below the uniform (+ row
        index), as the reference's ``bucketize``. The first four are compared in every lane as
        integers: the uniform's 53 bits u against ``s_thr``, the smallest u whose uniform
        (+ row index, rounded as the reference rounds it) reaches each value (see
        :func:`integer_thresholds`); the rows are sorted, so the last value passed is the
        count. The rare lanes past the fourth are finished by :func:`_finish_counts` with the
        floats themselves (they add 0 here: x + 0 = x). ``hk``: the (entry, lane) stream keys.
        Where members' rates differ (``s_row``, ``s_thr``, ``p_x0`` have a row per member),
        ``thl`` holds each run's thresholds per lane.
        """
        c0, c1, c2, c3 = cval[0], cval[1], cval[2], cval[3]
        # two loops: thresholds as scalars where all lanes share them (per-lane thresholds in
        # every case measured 5 % slower at B = 100); the same for the update's c0 and gains
        shared = s_row.shape[0] == 1
        for q in range(s_a.shape[0]):
            t0, t1, t2, t3 = s_thr[0, q, 0], s_thr[0, q, 1], s_thr[0, q, 2], s_thr[0, q, 3]
            tl = thl[q * 4 * G : q * 4 * G + 4 * G]
            for m in range(s_a[q], s_z[q]):
                w = p_w[m]
                o = p_cell[m]
                cell = st[o : o + G]
                h = hk[m * G : m * G + G]
                big = 0
                if shared:
                    for b in range(G):
                        u = _mix64(h[b] + tg) >> _S11
                        val = c0
                        val = c1 if u >= t0 else val
                        val = c2 if u >= t1 else val
                        val = c3 if u >= t2 else val
                        past = u >= t3
                        big += past
                        val = c0 if past else val
                        cell[b] += val * w
                else:
                    for b in range(G):
                        u = _mix64(h[b] + tg) >> _S11
                        val = c0
                        val = c1 if u >= tl[b] else val
                        val = c2 if u >= tl[G + b] else val
                        val = c3 if u >= tl[2 * G + b] else val
                        past = u >= tl[3 * G + b]
                        big += past
                        val = c0 if past else val
                        cell[b] += val * w
                if big:
                    _finish_counts(cell, h, tg, cdf, s_row, q, p_x0, m, mb, cval, w)

    def _update(
        st,
        g_start,
        g_size,
        g_R,
        e_l,
        p22,
        c0,
        p21,
        decay,
        gain,
        v_th,
        v_reset,
        ref_f,
        zero,
        spk,
        flags,
        pl,
    ):
        """iaf_psc_exp step of every neuron and lane (as ``cpu_kernels._membrane`` and the
        synaptic update of ``cpu_kernels._update``); clears the inputs; lists the neurons with a
        spike in any lane in ``spk``, their lanes' spike flags in rows of ``flags`` (row q:
        neuron ``spk[q]``), and returns their number.

        A group with one receptor runs the same loop with a zero second current and coefficient:
        its terms add +-0, which changes no sum. Where members differ in their constant current
        or input gains (``c0``, ``gain`` with a row per member), ``pl`` holds them per neuron
        and lane (rows: current, gain 0, gain 1).
        """
        shared = c0.shape[0] == 1 and gain.shape[1] == 1
        WG = W * G
        REF, Y0, Y1, X0, X1 = _REF * G, _Y0 * G, _Y1 * G, _X0 * G, _X1 * G
        ns = 0
        for g in range(g_start.shape[0]):
            R = g_R[g]
            d0 = decay[g, 0]
            d1 = decay[g, 1] if R > 1 else d0
            for i in range(g_start[g], g_start[g] + g_size[g]):
                o = i * WG
                e = e_l[i]
                p = p22[i]
                c = c0[0, i]
                t = v_th[i]
                vr = v_reset[i]
                rs = ref_f[i]
                a0 = p21[0, i]
                a1 = p21[1, i] if R > 1 else zero
                q0 = gain[0, 0, i]
                q1 = gain[1, 0, i] if R > 1 else zero
                anyf = 0
                nb = st[o : o + WG]  # (a slice: its indices are provably >= 0)
                fl = flags[ns * G : ns * G + G]  # (kept only if a lane fires)
                if shared:
                    for b in range(G):
                        vv = nb[b]
                        rf = nb[REF + b]
                        s0 = nb[Y0 + b]
                        s1 = nb[Y1 + b]
                        vn = (vv - e) * p + c
                        vn = vn + s0 * a0
                        vn = vn + s1 * a1
                        vv = vn + e if rf <= 0 else vv
                        rf = max(rf - 1, zero)
                        f = vv >= t
                        vv = vr if f else vv
                        rf = rs if f else rf
                        anyf += f
                        fl[b] = f
                        nb[b] = vv
                        nb[REF + b] = rf
                        nb[Y0 + b] = s0 * d0 + nb[X0 + b] * q0
                        nb[Y1 + b] = s1 * d1 + nb[X1 + b] * q1
                        nb[X0 + b] = zero
                        nb[X1 + b] = zero
                else:
                    pc = pl[i * 3 * G : i * 3 * G + 3 * G]
                    for b in range(G):
                        vv = nb[b]
                        rf = nb[REF + b]
                        s0 = nb[Y0 + b]
                        s1 = nb[Y1 + b]
                        vn = (vv - e) * p + pc[b]
                        vn = vn + s0 * a0
                        vn = vn + s1 * a1
                        vv = vn + e if rf <= 0 else vv
                        rf = max(rf - 1, zero)
                        f = vv >= t
                        vv = vr if f else vv
                        rf = rs if f else rf
                        anyf += f
                        fl[b] = f
                        nb[b] = vv
                        nb[REF + b] = rf
                        nb[Y0 + b] = s0 * d0 + nb[X0 + b] * pc[G + b]
                        nb[Y1 + b] = s1 * d1 + nb[X1 + b] * pc[2 * G + b]
                        nb[X0 + b] = zero
                        nb[X1 + b] = zero
                if anyf:
                    spk[ns] = i
                    ns += 1
        return ns

    def _block(
        k,
        t0,
        end,
        D,
        S,
        N,
        B,
        buf,
        indptr,
        tcell,
        weight,
        dsteps,
        cell_of,
        slot_of,
        g_start,
        g_size,
        g_R,
        g_soff,
        e_l,
        p22,
        c0,
        p21,
        decay,
        gain,
        v_th,
        v_reset,
        ref_f,
        s_a,
        s_z,
        s_row,
        s_thr,
        stream,
        keys,
        p_x0,
        cdf,
        p_cell,
        p_w,
        cval,
        v,
        refr,
        syn,
        ex_c,
        ex_w,
        out_b,
        out_i,
        out_t,
        cap,
        bin_cap,
    ):
        """Run block ``k`` (members [k G, k G + G) ∩ [0, B)) from step ``t0`` towards ``end``.

        Stops early, at a step's start, when its spike output (capacity ``cap``) could overflow.
        Returns (steps done, spikes written).
        """
        WG = W * G
        REF, Y0 = _REF * G, _Y0 * G
        b0 = k * G
        gb = min(G, B - b0)
        dt_ = v.dtype
        # --- the members' state into the block (lanes past the last member never fire)
        st = np.zeros(N * WG, dt_)
        kb = np.zeros(G, np.uint64)
        for b in range(G):
            if b < gb:
                kb[b] = keys[b0 + b]
            for i in range(N):
                o = i * WG + b
                if b < gb:
                    st[o] = v[b0 + b, i]
                    st[o + REF] = refr[b0 + b, i]
                else:
                    st[o] = -1e30
                    st[o + REF] = 1e9
        hk = np.empty(stream.shape[0] * G, np.uint64)  # rng.stream_key of every (entry, lane)
        for m in range(stream.shape[0]):
            for b in range(G):
                hk[m * G + b] = _mix64(stream[m] * _G1 + kb[b])
        # where members differ: each lane's member row (lanes past the last member take its
        # rows), Poisson thresholds per run and lane, current and gains per neuron and lane
        mb = np.empty(G, np.int64)
        for b in range(G):
            mb[b] = min(b0 + b, B - 1)
        thl = np.zeros(s_thr.shape[1] * 4 * G if s_thr.shape[0] > 1 else 0, np.uint64)
        if s_thr.shape[0] > 1:
            for q in range(s_thr.shape[1]):
                for j in range(4):
                    for b in range(G):
                        thl[(q * 4 + j) * G + b] = s_thr[mb[b], q, j]
        pl = np.zeros(N * 3 * G if c0.shape[0] > 1 or gain.shape[1] > 1 else 0, dt_)
        if pl.shape[0]:
            for i in range(N):
                for b in range(G):
                    pc = mb[b] if c0.shape[0] > 1 else 0
                    pq = mb[b] if gain.shape[1] > 1 else 0
                    pl[i * 3 * G + b] = c0[pc, i]
                    for r in range(gain.shape[0]):
                        pl[i * 3 * G + (1 + r) * G + b] = gain[r, pq, i]
        for g in range(g_start.shape[0]):
            n = g_size[g]
            for r in range(g_R[g]):
                for b in range(gb):
                    src = g_soff[g] + r * B * n + (b0 + b) * n
                    for j in range(n):
                        st[(g_start[g] + j) * WG + Y0 + r * G + b] = syn[src + j]
        bin_c = np.empty((D, bin_cap), tcell.dtype)  # (sized as the last call's bins)
        bin_w = np.empty((D, bin_cap), dt_)
        bin_n = np.zeros(D, np.int64)
        spk = np.empty(N, np.int64)
        flags = np.empty(N * G, np.bool_)
        n_out = 0
        done = 0
        for step in range(end - t0):
            if n_out + gb * N > cap:
                break
            t = t0 + step
            tD = t % D
            if step < D:  # events in flight when the call began; later rows only come from bins
                for b in range(gb):
                    src = buf[tD, b0 + b]
                    for s in range(S):
                        x = src[s]
                        if x != 0:  # (the input cells are 0 here; most of the buffer is too)
                            st[cell_of[s] + b] = x
                            src[s] = 0
            cs, ws = bin_c[tD], bin_w[tD]
            for q in range(bin_n[tD]):
                st[cs[q]] += ws[q]
            bin_n[tD] = 0
            _poisson(
                st,
                np.uint64(t) * _G2,
                s_a,
                s_z,
                s_row,
                s_thr,
                thl,
                hk,
                p_x0,
                cdf,
                p_cell,
                p_w,
                cval,
                mb,
            )
            if step == 0:  # SpikeTrain events entering at t0, after the Poisson input
                for q in range(ex_c.shape[0]):
                    m = ex_c[q] // S
                    if b0 <= m < b0 + gb:
                        st[cell_of[ex_c[q] % S] + m - b0] += ex_w[q]
            ns = _update(
                st,
                g_start,
                g_size,
                g_R,
                e_l,
                p22,
                c0,
                p21,
                decay,
                gain,
                v_th,
                v_reset,
                ref_f,
                cval[0],
                spk,
                flags,
                pl,
            )
            # spikes: output, and their events into the bins of their arrival steps
            events = 0
            for q in range(ns):
                i = spk[q]
                fl = flags[q * G : q * G + G]
                nf = 0
                for b in range(gb):
                    nf += fl[b]
                events += nf * (indptr[i + 1] - indptr[i])
            if bin_n.max() + events > bin_c.shape[1]:
                # (the member-major loop's: its bins have a leading thread axis)
                c3, w3 = _grow_bins(
                    bin_c.reshape(1, D, bin_c.shape[1]),
                    bin_w.reshape(1, D, bin_w.shape[1]),
                    bin_n.max() + events,
                )
                bin_c, bin_w = c3[0], w3[0]
            for q in range(ns):
                i = spk[q]
                fl = flags[q * G : q * G + G]
                s0, s1 = indptr[i], indptr[i + 1]
                for b in range(gb):
                    if not fl[b]:
                        continue
                    out_b[n_out] = b0 + b
                    out_i[n_out] = i
                    out_t[n_out] = t
                    n_out += 1
                    for s in range(s0, s1):
                        r = tD + dsteps[s]
                        if r >= D:
                            r -= D
                        nn = bin_n[r]
                        bin_c[r, nn] = tcell[s] + b
                        bin_w[r, nn] = weight[s]
                        bin_n[r] = nn + 1
            done += 1
        # --- the state back to the engine's arrays; events in flight into its ring buffer
        for b in range(gb):
            for i in range(N):
                v[b0 + b, i] = st[i * WG + b]
                refr[b0 + b, i] = np.int32(st[i * WG + REF + b])
        for g in range(g_start.shape[0]):
            n = g_size[g]
            for r in range(g_R[g]):
                for b in range(gb):
                    dst = g_soff[g] + r * B * n + (b0 + b) * n
                    for j in range(n):
                        syn[dst + j] = st[(g_start[g] + j) * WG + Y0 + r * G + b]
        for r in range(D):
            cs, ws = bin_c[r], bin_w[r]
            for q in range(bin_n[r]):
                c = cs[q]
                buf[r, b0 + c % G, slot_of[c // G]] += ws[q]
        return done, n_out, bin_c.shape[1]

    jit = lambda f, **kw: njit(cache=True, nogil=True, **kw)(_named(f, f"{f.__name__}_g{G}"))  # noqa: E731
    _finish_counts = jit(_finish_counts, inline="never")
    _poisson = jit(_poisson)
    _update = jit(_update)
    return jit(_block)


_BLOCK_KERNELS: dict = {}


def _block_kernel(G: int):
    if G not in _BLOCK_KERNELS:
        _BLOCK_KERNELS[G] = _kernels(G)
    return _BLOCK_KERNELS[G]


def run_blocks(
    n_threads: int, G: int, t0: np.ndarray, end: int, bin_caps: np.ndarray, *args
) -> tuple:
    """Advance every block k from step ``t0[k]`` towards ``end`` (see :func:`_block`; ``args``
    as its arguments after ``end``, with ``out_*`` of shape (blocks, capacity)) on
    ``n_threads`` threads, which take the blocks in turn (the loop releases the GIL).
    ``bin_caps[k]``: the size block k's bins start from, updated to the size they reached
    (bins that grow are copied). Returns per block (steps done, spikes written)."""
    *head, out_b, out_i, out_t = args
    cap = out_b.shape[1]
    block = _block_kernel(G)

    def one(k: int) -> tuple[int, int]:
        if t0[k] >= end:
            return 0, 0
        done, n, bin_caps[k] = block(
            k, t0[k], end, *head, out_b[k], out_i[k], out_t[k], cap, bin_caps[k]
        )
        return done, n

    ks = range(t0.shape[0])
    if n_threads <= 1 or len(ks) == 1:
        return tuple(one(k) for k in ks)
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        return tuple(pool.map(one, ks))
