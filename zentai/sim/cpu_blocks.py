"""Compiled CPU loop for ensembles: members in blocks (of up to 32, :func:`lanes`), each block
run for many steps while its state stays in cache, every neuron's update vectorised over the
members.

Why. :func:`zentai.sim.cpu_kernels.run_lif` steps all B members together, one member after
another within a step. At B = 100 members of a 10,000-neuron network, a step touches ~50 MB of
state, ring buffer and Poisson keys, so it runs at the memory's speed: a member cost about what
a single run costs (benchmarks/RESULTS.md, "Ensembles"). Members never interact, so nothing
forces them to advance together: here each block of members runs the whole call (a few MB),
blocks in parallel over threads.

Layout. A block has G lanes (16 or 32: whole vector registers; lanes past its members are
padding that never fires). It keeps, for each neuron i, ``W`` = 4 rows of G values (one per
lane, so a neuron's update is one vector operation over its members, with its parameters
loaded once): v, refractory count (as a float: integer values, exact) and two synaptic
currents; and apart, the inputs of the step, receptor r of neuron i at
``xin[(i MAX_RECEPTORS + r) G + lane]`` (the cells that synaptic events hit at random: 2
rows, not 6, to keep in cache). A step's spike flags go to a list, a row of G per neuron that
fired.

Events. The block's synapse table is the engine's with each presynaptic row sorted by delay
(stable, so synapses of one delay keep their order): a row is a few runs of one delay. A spike
of lane b puts (run, b) into the bin of each run's arrival step, one entry per run rather
than one per synapse; at arrival the run's synapses are added to the inputs (the table rows
prefetched a few entries ahead). The engine's ring buffer (D, B, S) is read in a call's first
D steps after other loops ran (events already in flight then); between calls the block keeps
its events in flight in its bins, and the engine adds them to the ring buffer
(:func:`flush_bins`) before anything else reads or writes it, so the torch step, checkpoints
and the other loops see the same thing.

Exactness. Each member does the reference's arithmetic in the reference's order (the Poisson
count of :func:`cpu_kernels._poisson`, the ``iaf_psc_exp`` update of ``_membrane``, the events
of one cell added in order of emission step, presynaptic neuron and CSR position -- the runs
keep it: events of one spike to one cell in one step have one delay --, after what the ring
buffer already held, then the Poisson count), so the spikes equal the torch path's and the
member-major loop's (tested). The Poisson keys are made at the start of a call,
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
    from llvmlite import ir as _ir
    from numba import njit
    from numba.core import cgutils as _cg
    from numba.core import types as _ty
    from numba.extending import intrinsic

    from zentai._rng_cpu import _G1, _G2, _INV53, _S11
    from zentai._rng_cpu import _mix as _mix64
    from zentai.sim.cpu_kernels import _grown, _named

    HAVE_NUMBA = True

    @intrinsic
    def _prefetch(typingctx, arr, idx):
        """Ask the CPU to fetch ``arr[idx]`` into cache (LLVM's prefetch: a read, kept in all
        levels); a hint, no fault where the address is not valid."""

        def codegen(context, builder, sig, args):
            ary = context.make_array(sig.args[0])(context, builder, args[0])
            ptr = _cg.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])
            i32, i8p = _ir.IntType(32), _ir.PointerType(_ir.IntType(8))
            fnty = _ir.FunctionType(_ir.VoidType(), [i8p, i32, i32, i32])
            fn = _cg.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return _ty.void(arr, idx), codegen

except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False

__all__ = [
    "MAX_RECEPTORS",
    "W",
    "block_lanes",
    "delay_table",
    "flush_bins",
    "integer_thresholds",
    "lanes",
    "run_blocks",
]

# members per block: from 16 to 32; the engine picks the count that shares the members evenly
# between threads (:func:`lanes`), and the block has 16 or 32 lanes (:func:`block_lanes`)
LANES_MIN, LANES_MAX = 16, 32
# rows of a neuron: v, refractory count, two currents; row r of neuron i at (i W + r) G. With G
# a compile-time constant (each G is its own specialisation) the compiler sees that rows
# cannot overlap, and vectorises the loops over lanes.
MAX_RECEPTORS = 2
W = 4
_REF, _Y0, _Y1 = range(1, 4)
# table rows (entries of a bin) fetched ahead when the events of a step are added
_PREFETCH = 16


def lanes(n_members: int, n_threads: int) -> int:
    """Members per block: the smallest even share ``ceil(B / (T k))`` (k = 1, 2, ...) of at most
    LANES_MAX, at least LANES_MIN. E.g. B = 100 on 2 threads: 25 (4 blocks, 2 per thread)
    rather than 16 (7 blocks: one thread runs 4)."""
    k = 1
    while -(-n_members // (n_threads * k)) > LANES_MAX:
        k += 1
    return max(LANES_MIN, -(-n_members // (n_threads * k)))


def block_lanes(members: int) -> int:
    """Lanes of a block of ``members`` members: 16 or 32, whole vector registers. 25 members in
    32 lanes cost less than in 25 (a 25-lane update leaves a 9-lane tail the compiler does
    not vectorise: 322 vs 279 µs per step at scale 0.13, engine.md)."""
    return 16 if members <= 16 else 32


def delay_table(indptr, dsteps, target, weight, cell_of) -> tuple:
    """The synapse table as the blocks read it: each presynaptic row sorted by delay, stably
    (synapses of one delay keep their order), and cut into runs of one delay.

    Returns (tcell, w, run_ptr, run_a, run_d): per synapse in the new order its target's input
    cell (``cell_of[target]``, in ``cell_of``'s dtype) and weight; the runs of row i
    ``run_ptr[i]:run_ptr[i + 1]``, run u's synapses ``run_a[u]:run_a[u + 1]`` and its delay
    ``run_d[u]``. A counting sort per row: no temporaries of the table's size (a full-scale
    microcircuit has 3 x 10^8 synapses).
    """
    return _delay_table(
        np.asarray(indptr, dtype=np.int64),
        dsteps,
        target,
        weight,
        cell_of,
        int(dsteps.max(initial=0)) + 1,
    )


if HAVE_NUMBA:

    @njit(cache=True, nogil=True)
    def _delay_table(indptr, dsteps, target, weight, cell_of, D):  # pragma: no cover - compiled
        N = indptr.shape[0] - 1
        cnt = np.zeros(D, np.int64)
        off = np.zeros(D, np.int64)
        seen = np.empty(D, np.int64)
        run_ptr = np.zeros(N + 1, np.int64)
        for i in range(N):  # runs per row: its distinct delays
            k = 0
            for s in range(indptr[i], indptr[i + 1]):
                d = dsteps[s]
                k += cnt[d] == 0
                cnt[d] = 1
            for s in range(indptr[i], indptr[i + 1]):
                cnt[dsteps[s]] = 0
            run_ptr[i + 1] = run_ptr[i] + k
        run_a = np.empty(run_ptr[N] + 1, np.int64)
        run_d = np.empty(run_ptr[N], np.int64)
        tcell = np.empty(target.shape[0], cell_of.dtype)
        w = np.empty(target.shape[0], weight.dtype)
        for i in range(N):
            a, z = indptr[i], indptr[i + 1]
            k = 0
            for s in range(a, z):
                d = dsteps[s]
                if cnt[d] == 0:
                    seen[k] = d
                    k += 1
                cnt[d] += 1
            for x in range(1, k):  # the row's delays in increasing order (a few dozen)
                d = seen[x]
                y = x - 1
                while y >= 0 and seen[y] > d:
                    seen[y + 1] = seen[y]
                    y -= 1
                seen[y + 1] = d
            pos = a
            for x in range(k):
                d = seen[x]
                u = run_ptr[i] + x
                run_a[u] = pos
                run_d[u] = d
                off[d] = pos
                pos += cnt[d]
                cnt[d] = 0
            for s in range(a, z):
                p = off[dsteps[s]]
                tcell[p] = cell_of[target[s]]
                w[p] = weight[s]
                off[dsteps[s]] = p + 1
        run_a[run_ptr[N]] = indptr[N]
        return tcell, w, run_ptr, run_a, run_d


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
_U = np.uint64


def _kernels(G: int):
    """The block loop for ``G`` lanes. G is a constant of the compiled code (a closure
    variable), so the loops over lanes have a fixed length and the rows fixed offsets, which
    the compiler needs to vectorise them (a lane count passed as an argument, even as a numba
    literal, gave ~25 % slower code); each G is compiled, and cached, once under its own name.
    """
    WG, X1 = W * G, G  # state values per neuron; receptor 1's input cells after receptor 0's
    REF, Y0, Y1 = _REF * G, _Y0 * G, _Y1 * G
    UREF, UY0, UY1, UX1, UG, UG2 = (_U(x) for x in (REF, Y0, Y1, X1, G, 2 * G))

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

    def _poisson(xin, tg, pois, thl, hk, mb):
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
        s_a, s_z, s_row, s_thr, p_x0, cdf, p_cell, p_w, cval = pois
        c0, c1, c2, c3 = cval[0], cval[1], cval[2], cval[3]
        # two loops: thresholds as scalars where all lanes share them (per-lane thresholds in
        # every case measured 5 % slower at B = 100); the same for the update's c0 and gains
        shared = s_row.shape[0] == 1
        for q in range(s_a.shape[0]):
            t0, t1, t2, t3 = s_thr[0, q, 0], s_thr[0, q, 1], s_thr[0, q, 2], s_thr[0, q, 3]
            tl = thl[q * 4 * G : q * 4 * G + 4 * G]
            for m in range(s_a[q], s_z[q]):
                w = p_w[m]
                o, oh = _U(p_cell[m]), _U(m * G)  # (unsigned offsets, as in _update)
                big = False
                if shared:
                    for b in range(G):
                        j = _U(b)
                        u = _mix64(hk[oh + j] + tg) >> _S11
                        val = c0
                        val = c1 if u >= t0 else val
                        val = c2 if u >= t1 else val
                        val = c3 if u >= t2 else val
                        past = u >= t3
                        big |= past
                        val = c0 if past else val
                        xin[o + j] += val * w
                else:
                    for b in range(G):
                        j = _U(b)
                        u = _mix64(hk[oh + j] + tg) >> _S11
                        val = c0
                        val = c1 if u >= tl[b] else val
                        val = c2 if u >= tl[G + b] else val
                        val = c3 if u >= tl[2 * G + b] else val
                        past = u >= tl[3 * G + b]
                        big |= past
                        val = c0 if past else val
                        xin[o + j] += val * w
                if big:
                    oc = p_cell[m]
                    cell, h = xin[oc : oc + G], hk[m * G : m * G + G]
                    _finish_counts(cell, h, tg, cdf, s_row, q, p_x0, m, mb, cval, w)

    def _update(st, xin, nrn, par, pl, cval, spk, flags):
        """iaf_psc_exp step of every neuron and lane (as ``cpu_kernels._membrane`` and the
        synaptic update of ``cpu_kernels._update``); clears the inputs; lists the neurons with a
        spike in any lane in ``spk``, their lanes' spike flags in rows of ``flags`` (row q:
        neuron ``spk[q]``), and returns their number.

        A group with one receptor runs the same loop with a zero second current and coefficient:
        its terms add +-0, which changes no sum. Where members differ in their constant current
        or input gains (``c0``, ``gain`` with a row per member), ``pl`` holds them per neuron
        and lane (rows: current, gain 0, gain 1).
        """
        g_start, g_size, g_R = nrn
        e_l, p22, c0, p21, decay, gain, v_th, v_reset, ref_f = par
        shared = c0.shape[0] == 1 and gain.shape[1] == 1
        zero, one = cval[0], cval[1]  # (in the state's type: a literal 1 would be a float64)
        ns = 0
        for g in range(g_start.shape[0]):
            R = g_R[g]
            d0 = decay[g, 0]
            d1 = decay[g, 1] if R > 1 else d0
            for i in range(g_start[g], g_start[g] + g_size[g]):
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
                anyf = False
                # unsigned offsets: indices the compiler knows to be >= 0 without slices (a
                # slice is a new array object: reference counting calls per neuron)
                o, ox, of = _U(i * WG), _U(i * 2 * G), _U(ns * G)
                if shared:
                    for b in range(G):
                        j = _U(b)
                        vv = st[o + j]
                        rf = st[o + UREF + j]
                        s0 = st[o + UY0 + j]
                        s1 = st[o + UY1 + j]
                        vn = (vv - e) * p + c
                        vn = vn + s0 * a0
                        vn = vn + s1 * a1
                        vv = vn + e if rf <= 0 else vv
                        rf = max(rf - one, zero)
                        f = vv >= t
                        vv = vr if f else vv
                        rf = rs if f else rf
                        anyf |= f
                        flags[of + j] = f
                        st[o + j] = vv
                        st[o + UREF + j] = rf
                        st[o + UY0 + j] = s0 * d0 + xin[ox + j] * q0
                        st[o + UY1 + j] = s1 * d1 + xin[ox + UX1 + j] * q1
                        xin[ox + j] = zero
                        xin[ox + UX1 + j] = zero
                else:
                    op = _U(i * 3 * G)
                    for b in range(G):
                        j = _U(b)
                        vv = st[o + j]
                        rf = st[o + UREF + j]
                        s0 = st[o + UY0 + j]
                        s1 = st[o + UY1 + j]
                        vn = (vv - e) * p + pl[op + j]
                        vn = vn + s0 * a0
                        vn = vn + s1 * a1
                        vv = vn + e if rf <= 0 else vv
                        rf = max(rf - one, zero)
                        f = vv >= t
                        vv = vr if f else vv
                        rf = rs if f else rf
                        anyf |= f
                        flags[of + j] = f
                        st[o + j] = vv
                        st[o + UREF + j] = rf
                        st[o + UY0 + j] = s0 * d0 + xin[ox + j] * pl[op + UG + j]
                        st[o + UY1 + j] = s1 * d1 + xin[ox + UX1 + j] * pl[op + UG2 + j]
                        xin[ox + j] = zero
                        xin[ox + UX1 + j] = zero
                if anyf:
                    spk[ns] = i
                    ns += 1
        return ns

    def _add_events(xin, sb, n, tcell, weight, run_a):
        """Add the events of bin entries ``sb[:n]`` (run u of lane b as u G + b) to the
        inputs, the table rows of the entry ``_PREFETCH`` ahead (and the run bounds of the one
        twice as far) fetched meanwhile (they are scattered over the whole table)."""
        for q in range(n):
            if q + _PREFETCH < n:
                up = sb[q + _PREFETCH] // G
                for a in range(run_a[up], run_a[up + 1] + 15, 16):  # its cache lines
                    _prefetch(tcell, a)
                    _prefetch(weight, a)
                if q + 2 * _PREFETCH < n:
                    _prefetch(run_a, sb[q + 2 * _PREFETCH] // G)
            u = sb[q] // G
            b = sb[q] - u * G
            for s in range(run_a[u], run_a[u + 1]):
                xin[tcell[s] + b] += weight[s]

    def _block(k, M, t0, end, net, nrn, par, pois, keys, state, ex, out, sb, bin_n, scan, cap_max):
        """Run block ``k`` (members [k M, k M + M) ∩ [0, B)) from step ``t0`` towards ``end``.

        ``net``: D, S, B, the ring buffer (D, B, S), the delay-sorted synapse table
        (:func:`delay_table`'s tcell, w, run_ptr, run_a, run_d), each input slot's cell and
        each input cell's slot.
        ``nrn``: the groups' starts, sizes, receptor counts and synaptic-state offsets.
        ``par``: the LIF parameters (``c0`` and ``gain`` with one row per member or one for
        all). ``pois``: the Poisson entries' runs of one rate (starts, stops), the runs' CDF
        rows and integer thresholds, the entries' uniform offsets, the CDF table, the entries'
        input cells and weights, the count values. ``keys``: the entries' streams and the
        members' keys. ``state``: the engine's v, refractory counts and the groups' synaptic
        currents (read at the start, written at the end); ``ex``: the SpikeTrain events
        entering at ``t0`` (slot index m S + s, weight); ``out``: the spike output (member,
        neuron, step). ``sb``, ``bin_n``: the block's bins (entries and their numbers per
        arrival row), as the last call left them; ``scan``: how many of the next steps still
        read their ring-buffer row (D after other loops ran, then fewer). ``cap_max``: the
        most entries a bin row may hold (the bins grow to it); when a spike's runs do not fit,
        the bins are emptied into the ring buffer (:func:`_flush`: the order of the additions
        is kept), which the next D steps then read again. (A spike puts at most one entry in
        a row: its runs have distinct delays.)

        Stops early, at a step's start, when its spike output could overflow.
        Returns (steps done, spikes written, the bins: ``sb`` or a larger copy, the ring-buffer
        rows still to read).
        """
        D, S, B, buf, tcell, weight, run_ptr, run_a, run_d, cell_of, slot_of = net
        g_start, g_size, g_R, g_soff = nrn
        c0, gain = par[2], par[5]
        s_thr = pois[3]
        stream, mkeys = keys
        v, refr, syn = state
        ex_c, ex_w = ex
        out_b, out_i, out_t = out
        cap = out_b.shape[0]
        N = v.shape[1]
        b0 = k * M
        gb = min(M, B - b0)
        dt_ = v.dtype
        # --- the members' state into the block (padding lanes never fire)
        st = np.zeros(N * WG, dt_)
        xin = np.zeros(N * 2 * G, dt_)
        kb = np.zeros(G, np.uint64)
        for b in range(G):
            if b < gb:
                kb[b] = mkeys[b0 + b]
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
        # where members differ: each lane's member row (padding lanes take the last member's
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
        spk = np.empty(N, np.int64)
        flags = np.empty(N * G, np.bool_)
        nrn3 = (g_start, g_size, g_R)
        n_out = 0
        done = 0
        for step in range(end - t0):
            if n_out + gb * N > cap:
                break
            t = t0 + step
            tD = t % D
            if scan > 0:  # events in flight when other loops ran (or emptied bins): D steps
                scan -= 1
                for b in range(gb):
                    src = buf[tD, b0 + b]
                    for s in range(S):
                        x = src[s]
                        if x != 0:  # (the input cells are 0 here; most of the buffer is too)
                            xin[cell_of[s] + b] = x
                            src[s] = 0
            _add_events(xin, sb[tD], bin_n[tD], tcell, weight, run_a)
            bin_n[tD] = 0
            _poisson(xin, np.uint64(t) * _G2, pois, thl, hk, mb)
            if step == 0:  # SpikeTrain events entering at t0, after the Poisson input
                for q in range(ex_c.shape[0]):
                    m = ex_c[q] // S
                    if b0 <= m < b0 + gb:
                        xin[cell_of[ex_c[q] % S] + m - b0] += ex_w[q]
            ns = _update(st, xin, nrn3, par, pl, pois[-1], spk, flags)
            # spikes: output, and (run, lane) entries into the bins of the runs' arrival steps
            # (lane by lane: the output in member order; a lane's entries stay in neuron order)
            fill = bin_n.max()  # >= every row's entries (a spike adds at most one per row)
            for b in range(gb):
                for q in range(ns):
                    if not flags[q * G + b]:
                        continue
                    if fill >= sb.shape[1]:
                        fill = bin_n.max()
                        if fill >= sb.shape[1] and sb.shape[1] < cap_max:
                            sb = _grown(sb, fill + 1, cap_max)
                        if fill >= sb.shape[1]:
                            _flush(buf, sb, bin_n, b0, G, tcell, weight, run_a, slot_of)
                            fill = 0
                            scan = D
                    fill += 1
                    i = spk[q]
                    out_b[n_out] = b0 + b
                    out_i[n_out] = i
                    out_t[n_out] = t
                    n_out += 1
                    for u in range(run_ptr[i], run_ptr[i + 1]):
                        r = tD + run_d[u]
                        if r >= D:
                            r -= D
                        sb[r, bin_n[r]] = u * G + b
                        bin_n[r] += 1
            done += 1
        # --- the state back to the engine's arrays (the events in flight stay in the bins)
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
        return done, n_out, sb, scan

    jit = lambda f, **kw: njit(cache=True, nogil=True, **kw)(_named(f, f"{f.__name__}_g{G}"))  # noqa: E731
    _finish_counts = jit(_finish_counts, inline="never")
    _poisson = jit(_poisson)
    _update = jit(_update)
    _add_events = jit(_add_events)
    return jit(_block)


_BLOCK_KERNELS: dict = {}


def _block_kernel(G: int):
    if G not in _BLOCK_KERNELS:
        _BLOCK_KERNELS[G] = _kernels(G)
    return _BLOCK_KERNELS[G]


def run_blocks(
    n_threads: int,
    G: int,
    M: int,
    t0: np.ndarray,
    end: int,
    bins: list,
    bin_n: np.ndarray,
    scan: np.ndarray,
    cap_max: int,
    net: tuple,
    nrn: tuple,
    par: tuple,
    pois: tuple,
    keys: tuple,
    state: tuple,
    ex: tuple,
    out: tuple,
) -> tuple:
    """Advance every block k of ``M`` members in ``G`` lanes from step ``t0[k]`` towards
    ``end`` (see :func:`_block` for the argument tuples; ``out``'s arrays of shape (blocks,
    capacity)) on ``n_threads`` threads, which take the blocks in turn (the loop releases the
    GIL). Block k's bins: ``bins[k]`` (D, capacity <= ``cap_max``), replaced when they grow,
    ``bin_n[k]``; ``scan[k]``: ring-buffer rows it has still to read, updated. Returns per
    block (steps done, spikes written)."""
    block = _block_kernel(G)

    def one(k: int) -> tuple[int, int]:
        if t0[k] >= end:
            return 0, 0
        out_k = tuple(x[k] for x in out)
        done, n, bins[k], scan[k] = block(
            k, M, t0[k], end, net, nrn, par, pois, keys, state, ex, out_k, bins[k], bin_n[k],
            scan[k], cap_max,
        )  # fmt: skip
        return done, n

    ks = range(t0.shape[0])
    if n_threads <= 1 or len(ks) == 1:
        return tuple(one(k) for k in ks)
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        return tuple(pool.map(one, ks))


def flush_bins(buf, bins, bin_n, M, G, tcell, weight, run_a, slot_of) -> None:
    """Add the events waiting in every block's bins to the ring buffer ``buf`` (D, B, S) and
    empty the bins (before anything else reads or writes the buffer; block k holds members
    [k M, k M + M))."""
    for k, sb in enumerate(bins):
        _flush(buf, sb, bin_n[k], k * M, G, tcell, weight, run_a, slot_of)


if HAVE_NUMBA:

    @njit(cache=True, nogil=True)
    def _flush(buf, sb, bin_n, b0, G, tcell, weight, run_a, slot_of):  # pragma: no cover
        for r in range(bin_n.shape[0]):
            for q in range(bin_n[r]):
                u = sb[r, q] // G
                b = sb[r, q] - u * G
                for s in range(run_a[u], run_a[u + 1]):
                    c = tcell[s] + b
                    buf[r, b0 + c % G, slot_of[c // G]] += weight[s]
            bin_n[r] = 0
