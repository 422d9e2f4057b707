"""Compiled CPU loop (numba) for networks of LIF neurons (current receptors) and of Izhikevich
(2007 and 2003), LIFAHP, AdEx and LIFCond neurons (current or conductance receptors, Mg2+
block): every neuron model of :mod:`zentai.celltypes`.

The torch step (:meth:`zentai.sim.Simulator._step`) is about 30 small tensor operations, each
of which costs 5-20 µs of dispatch on a CPU however few neurons it touches; at the scale-0.1
microcircuit that alone is ~300 µs per 0.1 ms step, where Brian2's generated C++ takes ~50 µs.
:func:`run_lif` runs many whole steps in one call instead: Poisson input, the ``iaf_psc_exp``
update (Rotter & Diesmann 1999 propagators, computed by :class:`LIFDynamics`) or the
Izhikevich (2007) update (as :class:`Izhikevich2007Dynamics`; 2003 as
:class:`Izhikevich2003Dynamics`), the LIFAHP, AdEx and LIFCond updates (as
:class:`LIFAHPDynamics`, :class:`AdExDynamics`, :class:`LIFCondDynamics`), threshold, reset,
refractoriness and spike delivery.

Delivery. Writing each synaptic event straight into the (D, B x S) ring buffer touches a
random cell of a ~40 MB table (full-scale microcircuit), one cache miss per event. Instead an
event is appended, as (cell, weight), to the *bin* of its arrival row (sequential writes); at
the start of step t the bin of row t is added into that row (random, but within one row of
B x S values, which stays in cache). Bins are emptied into the ring buffer at the end of each
call, so between calls the ring buffer holds every event in flight, as on the torch path.

It does exactly the reference's arithmetic in the reference's order, so it reproduces the
torch path spike for spike (tested in float32 and float64): the same SplitMix64 draws
(:mod:`zentai.rng`), the same Poisson CDF tables, the same propagators, and the additions into
one ring-buffer cell in the same order — events in order of emission step, then member, then
neuron, then CSR position (a bin is filled in that order and emptied after what the ring
buffer already held), then the Poisson count. The LIFAHP, AdEx and LIFCond updates call
``exp``, which torch computes with its own vector code (SLEEF) and AdEx sums its receptors in
an einsum: their
states may differ from the reference's in the last bits (an AdEx upstroke amplifies that to
~1e-4 mV in float64 before the reset), the spikes in the tests and in the motor-loop scenario
(193,545 spikes, float32) do not.

Procedural projections (:mod:`zentai.build.procedural`) are drawn again at every spike, as
the reference draws them, and binned before the stored synapses (the reference's order too):
targets by geometric skipping from batches of 32 skips, then the delays and weights of up to 32
targets at once (loops the compiler vectorises, with :mod:`zentai._rng_cpu`'s log and cos;
these differ from torch's in the last float64 bits, which a float32 weight shows only at rare
rounding ties).

Compile time. numba compiles each kernel for every signature it is called with (float32 and
float64 states; serial and threaded) and caches the result next to the source. The model
updates (``_lif``, ``_izhikevich``, ``_adex``, ...), ``_adex_rates`` and ``_values`` are
compiled as functions of their own rather than inlined into their callers' IR (which numba
types and optimises as one ever larger function: ``inline="always"`` stays on small helpers),
and the calls into ``_bin_events`` and ``_procedural_events`` pass int64 values, never a
literal 0 or a ``prange`` index (uint64), each of which made one more signature. A cold
compile of the scan-opto network's build and four kernels (float32 and float64, 1 and 2
threads) took 429 s on a 2-core VM before, 199 s after; the steps' speed and results are
unchanged (per-group update times equal; spikes and states bit for bit; session 19).

Threads: ``n_threads`` > 1 splits the input slots (each thread scans every spiking row but
bins only events for its own slots, adds its own bins and Poisson entries, so no two threads
touch a cell and the order within a cell is kept) and the neurons (membrane update), with one
parallel region per phase and step.
"""

from __future__ import annotations

import itertools
import types

import numpy as np

from zentai.build.procedural import REDRAW_ROUNDS

try:  # numba is a dependency, but the engine must still work (reference path) without it
    import numba
    from numba import njit, prange

    from zentai._rng_cpu import _G1, _G2, _INV53, _S11, _exp, _normal, _walk
    from zentai._rng_cpu import _mix as _mix64

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None
    prange = range
    HAVE_NUMBA = False

__all__ = [
    "HAVE_NUMBA",
    "deliver_events",
    "poisson_row",
    "poisson_segments",
    "procedural_degrees",
    "rows_sorted",
    "run_lif",
]


def _jit(**kw):
    def wrap(f):
        if not HAVE_NUMBA:
            return f
        return njit(cache=True, nogil=True, **kw)(f)

    return wrap


def poisson_segments(tab, slot, cdf_rows, bounds, p_count_tail=1e-3):
    """Split Poisson entries into runs of one CDF row, within each thread's entry range.

    ``tab`` (P, M): the CDF row of every entry, for one row shared by all members (P = 1) or
    per member (P = B); a run has one row in every member.
    Returns (start, stop, row (P, runs), n_vector (P, runs), contiguous) and the run bounds per
    thread. ``n_vector`` is the number of CDF values compared for every entry of the run (the
    smallest J with P(count >= J) <= ``p_count_tail``); the few entries whose count reaches it
    are finished one by one. ``contiguous``: the run's slots are consecutive.
    """
    tab = np.asarray(tab).reshape(-1, np.shape(tab)[-1])
    change = np.ones(tab.shape[1], dtype=bool)
    change[1:] = np.any(tab[:, 1:] != tab[:, :-1], axis=0)
    starts, stops, seg_bounds = [], [], [0]
    for k in range(len(bounds) - 1):
        a, e = int(bounds[k]), int(bounds[k + 1])
        cuts = [a] + [int(c) for c in np.flatnonzero(change[a + 1 : e]) + a + 1] + [e]
        for x, y in itertools.pairwise(cuts):
            if x < y:
                starts.append(x)
                stops.append(y)
        seg_bounds.append(len(starts))
    i64 = lambda x: np.asarray(x, dtype=np.int64)  # noqa: E731
    starts, stops = i64(starts), i64(stops)
    rows = np.ascontiguousarray(tab[:, starts], dtype=np.int64)  # C order: one compiled signature
    # n_vector per CDF row
    cdf = cdf_rows - np.arange(cdf_rows.shape[0])[:, None]
    j_row = np.minimum((cdf < 1.0 - p_count_tail).sum(axis=1) + 1, cdf_rows.shape[1])
    nvec = j_row[rows].astype(np.int64)
    contig = np.array(
        [bool(np.all(np.diff(slot[a:z]) == 1)) for a, z in zip(starts, stops)], dtype=np.bool_
    )
    return (starts, stops, rows, nvec, contig), i64(seg_bounds)


@_jit()
def _poisson(row, S, B, t, q0, q1, seg, p_h, p_x0, cdf, p_slot, p_w, cval, xs, cnt):
    """Add the Poisson counts of step ``t`` of runs [q0, q1) to ``row`` (B x S values).

    ``cdf`` holds one row of values per rate: its CDF + row index, padded with values above
    any uniform + row index. An entry's count is the number of values of its row that are
    <= its uniform + row index (the reference's ``bucketize``). The hashes, uniforms and the
    first ``n_vector`` comparisons are loops over a run that the compiler vectorises (one CDF
    value against every entry); ``cval[c]`` is the count c in the state's float type, so count
    x weight is computed in that type, as the reference does.
    """
    tg = np.uint64(t) * _G2
    L = cdf.shape[1]
    s_a, s_z, s_row, s_j, s_contig = seg
    for b in range(B):
        rowb = b * S
        pb = b if s_row.shape[0] > 1 else 0  # per-member rates, or one row for all
        for q in range(q0, q1):
            a, z = s_a[q], s_z[q]
            r = cdf[s_row[pb, q]]
            J = s_j[pb, q]
            hb, x0, xsl, cs = p_h[b, a:z], p_x0[pb, a:z], xs[a:z], cnt[a:z]
            sl, w = p_slot[a:z], p_w[a:z]
            for m in range(z - a):
                xsl[m] = np.float64(_mix64(hb[m] + tg) >> _S11) * _INV53 + x0[m]
                cs[m] = 0
            for j in range(J):
                thr = r[j]
                for m in range(z - a):
                    cs[m] += xsl[m] >= thr
            for m in range(z - a):
                if cs[m] == J:  # rare: finish the count
                    c = J
                    while c < L and r[c] <= xsl[m]:
                        c += 1
                    cs[m] = c
            if s_contig[q]:
                out = row[rowb + sl[0] : rowb + sl[0] + (z - a)]
                for m in range(z - a):
                    out[m] += cval[cs[m]] * w[m]
            else:
                for m in range(z - a):
                    row[rowb + sl[m]] += cval[cs[m]] * w[m]


@_jit()
def poisson_row(row, S, B, t, seg, p_h, p_x0, cdf, p_slot, p_w, cval, xs, cnt):
    """Add step ``t``'s Poisson input of every run to ``row`` (B x S values), as the
    reference's ``_poisson_step`` does; used by the torch step on the CPU."""
    _poisson(
        row, S, B, t, np.int64(0), seg[0].shape[0], seg, p_h, p_x0, cdf, p_slot, p_w, cval, xs, cnt
    )


@_jit()
def _bin_events(
    k,
    t,
    D,
    S,
    spk_b,
    spk_i,
    m0,
    m1,
    indptr,
    target,
    weight,
    dsteps,
    lo,
    hi,
    sorted_rows,
    bin_c,
    bin_w,
    bin_n,
):
    """Append the events of spikes [m0, m1) of this step for slots in [lo, hi) to thread k's
    bins.

    With ``sorted_rows`` (every CSR row ordered by target, as the wiring makes them when the
    projections are listed by postsynaptic population) the thread's part of a row is found by
    binary search; else every synapse is tested.
    """
    tD = t % D
    for q in range(m0, m1):
        off = spk_b[q] * S
        i = spk_i[q]
        s0, s1 = indptr[i], indptr[i + 1]
        if sorted_rows:
            a, z = s0, s1
            while a < z:  # first synapse with target >= lo
                mid = (a + z) >> 1
                if target[mid] < lo:
                    a = mid + 1
                else:
                    z = mid
            s0 = a
        for s in range(s0, s1):
            tg = target[s]
            if tg >= hi:
                if sorted_rows:
                    break
                continue
            if tg < lo:
                continue
            r = tD + dsteps[s]
            if r >= D:
                r -= D
            n = bin_n[k, r]
            bin_c[k, r, n] = off + tg
            bin_w[k, r, n] = weight[s]
            bin_n[k, r] = n + 1


#: procedural synapses are found, and their values drawn, in batches of this many (loops the
#: compiler vectorises)
PROC_BATCH = 32


@_jit(error_model="numpy")
def _values(h, js, c, mu, sigma, lo, hi, out):
    """``out[:c]``: the values of procedural synapses ``js[:c]`` (:mod:`zentai.build.procedural`):
    the first of REDRAW_ROUNDS Normal(mu, sigma) rounds inside [lo, hi], else the last one
    clipped; ``mu`` when sigma is 0. Round 0 for all at once, the rare others one by one."""
    if sigma == 0.0:
        out[:c] = mu
        return
    for x in range(c):
        out[x] = mu + sigma * _normal(h, np.uint64(js[x] * REDRAW_ROUNDS))
    for x in range(c):
        v = out[x]
        r = 1
        while not (v >= lo and v <= hi) and r < REDRAW_ROUNDS:
            v = mu + sigma * _normal(h, np.uint64(js[x] * REDRAW_ROUNDS + r))
            r += 1
        out[x] = v if v >= lo and v <= hi else min(max(v, lo), hi)


@_jit(error_model="numpy")
def _procedural_events(
    k, t, D, S, spk_b, spk_i, m0, m1, pr_i, pr_f, q0, q1, lo, hi, bin_c, bin_w, bin_n
):
    """Append the events of spikes [m0, m1) of this step through procedural projections
    [q0, q1), for the slots in [lo, hi), to thread k's bins: each synapse drawn again as
    :func:`zentai.build.procedural.row` defines it (projections in order, then spikes, then
    posts), only in the segments that reach the thread's slots."""
    tD = t % D
    skips = np.empty(PROC_BATCH)
    js = np.empty(PROC_BATCH, np.int64)
    wv = np.empty(PROC_BATCH)
    dv = np.empty(PROC_BATCH)
    for q in range(q0, q1):
        pre0, pre1, n_post, slot, seg = pr_i[q, 0], pr_i[q, 1], pr_i[q, 2], pr_i[q, 3], pr_i[q, 4]
        ja = max(lo - slot, 0)
        jb = min(hi - slot, n_post)
        p, log1mp = pr_f[q, 0], pr_f[q, 1]
        if ja >= jb or p <= 0.0:
            continue
        kc, kw, kd = np.uint64(pr_i[q, 5]), np.uint64(pr_i[q, 6]), np.uint64(pr_i[q, 7])
        wmu, wsd, wlo, whi = pr_f[q, 2], pr_f[q, 3], pr_f[q, 4], pr_f[q, 5]
        dmu, dsd, dlo, dhi, dt = pr_f[q, 6], pr_f[q, 7], pr_f[q, 8], pr_f[q, 9], pr_f[q, 10]
        for m in range(m0, m1):
            i = spk_i[m]
            if i < pre0 or i >= pre1:
                continue
            off = spk_b[m] * S + slot
            iu = np.uint64(i) * _G1
            hc, hw, hd = _mix64(iu + kc), _mix64(iu + kw), _mix64(iu + kd)
            for s in range(ja // seg, (jb - 1) // seg + 1):
                end = min((s + 1) * seg, jb)
                pos = np.float64(max(s * seg, ja) - 1 if p >= 1.0 else s * seg - 1)
                n = left = 0
                while pos < end:
                    c, pos, n, left = _walk(
                        hc, s << 20, end, ja, p, log1mp, pos, n, left, skips, js
                    )
                    _values(hd, js, c, dmu, dsd, dlo, dhi, dv)
                    _values(hw, js, c, wmu, wsd, wlo, whi, wv)
                    for x in range(c):
                        r = tD + np.int64(max(np.rint(dv[x] / dt), 1.0))
                        if r >= D:
                            r -= D
                        e = bin_n[k, r]
                        bin_c[k, r, e] = off + js[x]
                        bin_w[k, r, e] = wv[x]
                        bin_n[k, r] = e + 1


@_jit(parallel=True, error_model="numpy")
def procedural_degrees(pr_i, pr_f, n):
    """Number of procedural synapses of each of the ``n`` neurons (its out-degree through all
    procedural projections), found as :func:`_procedural_events` finds them: the compiled loop
    sizes its bins with it as with CSR rows."""
    out = np.zeros(n, np.int64)
    for i in prange(n):
        skips = np.empty(PROC_BATCH)
        js = np.empty(PROC_BATCH, np.int64)
        iu = np.uint64(i) * _G1
        for q in range(pr_i.shape[0]):
            pre0, pre1, n_post, seg = pr_i[q, 0], pr_i[q, 1], pr_i[q, 2], pr_i[q, 4]
            p, log1mp = pr_f[q, 0], pr_f[q, 1]
            if i < pre0 or i >= pre1 or p <= 0.0:
                continue
            hc = _mix64(iu + np.uint64(pr_i[q, 5]))
            for s in range((n_post - 1) // seg + 1):
                end = min((s + 1) * seg, n_post)
                pos = np.float64(s * seg - 1)
                n = left = 0
                while pos < end:
                    c, pos, n, left = _walk(hc, s << 20, end, 0, p, log1mp, pos, n, left, skips, js)
                    out[i] += c
    return out


@_jit()
def deliver_events(buf, D, BS, S, t, b, i, indptr, target, weight, dsteps):
    """Add every synaptic event of the spikes (step ``t[k]``, member ``b[k]``, presynaptic row
    ``i[k]``), in the given order and each row's order, into the ring buffer ``buf`` viewed as
    (D * B * S,): cell ((t + d) % D) * B * S + b * S + target. One addition after another, as
    the tensor path's ``index_add_``, so each cell sums the same numbers in the same order."""
    for k in range(t.shape[0]):
        base = b[k] * S
        tk = t[k]
        for s in range(indptr[i[k]], indptr[i[k] + 1]):
            buf[((tk + dsteps[s]) % D) * BS + base + target[s]] += weight[s]


@_jit(parallel=True)
def rows_sorted(indptr, target):
    """True when every CSR row lists its targets in non-decreasing order."""
    n = indptr.shape[0] - 1
    bad = 0
    for i in prange(n):
        for s in range(indptr[i] + 1, indptr[i + 1]):
            if target[s] < target[s - 1]:
                bad += 1
                break
    return bad == 0


@_jit()
def _empty_bin(row, k, r, bin_c, bin_w, bin_n):
    """Add bin (k, r) into ``row`` in the order it was filled, and empty it."""
    c, w = bin_c[k, r], bin_w[k, r]
    for n in range(bin_n[k, r]):
        row[c[n]] += w[n]
    bin_n[k, r] = 0


@_jit()
def _grown(a, need, most):
    """A copy of ``a`` whose last axis (a bin's capacity) is doubled until it holds ``need``,
    but not beyond ``most`` (>= ``need``)."""
    cap = a.shape[-1]
    while cap < need:
        cap *= 2
    cap = min(cap, most)
    out = np.empty((*a.shape[:-1], cap), a.dtype)
    out[..., : a.shape[-1]] = a
    return out


@_jit(inline="always")
def _row(table, b):
    """Row ``b`` of a (B, N) table, or its only row when all members share it."""
    return table[b if table.shape[0] > 1 else 0]


@_jit(inline="always")
def _membrane(vg, rg, sg, elg, p22g, c0g, thg, vrg, refg, x0, q0, x1, q1):
    """iaf_psc_exp membrane step, threshold and reset for one slice of neurons (R <= 2).

    Every argument is a 1-D slice of equal length, indexed from 0, so the compiler emits no
    negative-index checks; with R < 2 the unused receptor arrays are zero.
    """
    for i in range(vg.shape[0]):
        vv = vg[i]
        el = elg[i]
        vn = (vv - el) * p22g[i] + c0g[i]
        vn = vn + x0[i] * q0[i]
        vn = vn + x1[i] * q1[i]
        rf = rg[i]
        if rf <= 0:
            vv = vn + el
        rf = max(rf - 1, 0)
        fired = vv >= thg[i]
        if fired:
            vv = vrg[i]
            rf = refg[i]
        sg[i] = fired
        vg[i] = vv
        rg[i] = rf


# rows of the model parameter table ``mtab`` (K, P, N): each model reads its own (a name
# shared by two models, such as c_m, means the same parameter in both). Izhikevich (2003)
# reads ha, b, c, d_eff (its d), v_peak, i_e, i_stim; LIFCond g_l, i_e, i_stim, neg_h_cm, mg_c;
# both Izhikevich models mg_c too (NMDA receptors)
MODEL_ROWS = (
    "k", "v_r", "v_t", "c_m", "ha", "b", "v_b", "b_hyper", "c", "d_eff", "v_peak", "peak_u",
    "reset_u", "u_max", "i_e", "i_stim",  # Izhikevich (2007)
    "g_l", "ahp_mean", "g_ahp", "e_ahp", "gl_el", "neg_h_cm", "ahp_decay", "mg_c",  # LIFAHP
    "delta_t", "exp_arg_max", "spike_scale", "adex_drive", "a", "tau_w", "hs", "half_hs",
    "n_sub",  # AdEx (with c_m, b, v_peak, g_l, mg_c)
)  # fmt: skip
_K, _VR, _VT, _CM, _HA, _B, _VB, _BH, _C, _DE, _VP, _PU, _RU, _UM, _IE, _IS = range(16)
_GL, _AHPM, _GAHP, _EAHP, _GLEL, _NHCM, _AHPD, _MGC = range(16, 24)
_DLT, _EAM, _SSC, _ADR, _A, _TW, _HS, _HHS, _NSUB = range(24, 33)
# what one neuron's update costs per step, roughly, in ns on the 2-core VM (a + b R for R
# receptors, per sub-step for AdEx), by g_model: used only to give threads equal shares of the
# update (an even split by count gave one thread 76 % of the scan-opto network's update).
# Measured per group of the scan-opto network (session 18): Izhikevich (2007) 10 ns with 3
# receptors, 16 with 5 (one Mg2+-blocked); LIFAHP 9 with 4; AdEx (4 sub-steps) 105-130
UPDATE_COST_NS = ((2.0, 0.5), (4.0, 2.5), (5.0, 1.0), (12.0, 4.0), (4.0, 2.5), (6.0, 2.0))


# columns of the receptor table ``rcp`` (G, R, C): kind (0 current, 1 conductance, 2
# conductance with the Mg2+ block), reversal potential, mean of the decay over a step
# (LIFAHP); then, for the AdEx sub-step boundaries j = 0..J-1, the coefficients of the
# receptor's linear conductance, its linear current and its blocked conductance
_KIND, _EREV, _SMEAN, _JCOL = range(4)


@_jit(inline="always")
def _input_currents(isyn, gs, vg, syn, so, rs, R, a, tab, pb, rcg, consts):
    """The synaptic current at ``vg`` of neurons [a, a + n) into ``isyn`` and the summed
    conductance of their conductance receptors into ``gs``, as the Izhikevich steps form them
    (``Dynamics.synaptic_current``, ``synaptic_conductance``), receptor by receptor in
    receptor order: a current receptor's value; a conductance's ``g B(v) (e_rev - v)`` (the
    Mg2+ block where set) and ``g B(v)``. Loops the compiler vectorises."""
    n = isyn.shape[0]
    for i in range(n):
        isyn[i] = consts[3]
        gs[i] = consts[3]
    for r in range(R):
        kind, e_rev, o = rcg[r, _KIND], rcg[r, _EREV], so + r * rs + a
        if kind > 1:
            for i in range(n):
                x = _mg_unblocked(syn[o + i], tab, pb, a + i, vg[i], consts)
                isyn[i] = isyn[i] + x * (e_rev - vg[i])
                gs[i] = gs[i] + x
        elif kind > 0:
            for i in range(n):
                x = syn[o + i]
                isyn[i] = isyn[i] + x * (e_rev - vg[i])
                gs[i] = gs[i] + x
        else:
            for i in range(n):
                isyn[i] = isyn[i] + syn[o + i]


@_jit(inline="always")
def _has_conductance(rcg, R):
    """Whether a group has conductance receptors (its Izhikevich step is then linearly
    implicit in their conductance: ``_implicit_in_g``)."""
    return (rcg[:R, _KIND] > 0).any()


@_jit()
def _izhikevich(vg, ug, sg, syn, so, rs, R, a, z, tab, pb, code, rcg, consts):
    """Izhikevich (2007) step for neurons [a, z) of one group and member.

    The torch update's operations in its order (:class:`Izhikevich2007Dynamics`): forward Euler
    with the synaptic current of step t (conductance receptors linearly implicit in their
    conductance), spike at ``v_peak + peak_u u``, ``u`` advanced only to the crossing in a
    spiking step, reset ``v <- c + reset_u u``, ``u <- min(u + d_eff, u_max)``.
    ``consts`` = (h, 1e-30, -65, 0, 1, -0.062) in the state's float type.

    Loops without branches over the neurons (the input receptor by receptor, then the
    membrane with each neuron's nullcline and both outcomes of the threshold computed and one
    selected), which the compiler vectorises: 2-3x faster than neuron by neuron with five
    conductance receptors (scan-opto network, 2-core VM). Selecting changes no value.
    """
    h, tiny, b_switch, zero, one = consts[0], consts[1], consts[2], consts[3], consts[4]
    n = z - a
    t = np.empty((2, n), vg.dtype)
    isyn, gs = t[0], t[1]
    _input_currents(isyn, gs, vg, syn, so, rs, R, a, tab, pb, rcg, consts)
    implicit = _has_conductance(rcg, R)
    k, vr, vt, cm = tab[_K, pb, a:z], tab[_VR, pb, a:z], tab[_VT, pb, a:z], tab[_CM, pb, a:z]
    ie, ist, ha, bb = tab[_IE, pb, a:z], tab[_IS, pb, a:z], tab[_HA, pb, a:z], tab[_B, pb, a:z]
    vb, bh, cc, ru = tab[_VB, pb, a:z], tab[_BH, pb, a:z], tab[_C, pb, a:z], tab[_RU, pb, a:z]
    vpk, pu, de, um = tab[_VP, pb, a:z], tab[_PU, pb, a:z], tab[_DE, pb, a:z], tab[_UM, pb, a:z]
    cd = code[a:z]
    for i in range(n):
        vv = vg[i]
        uu = ug[i]
        itot = isyn[i] + ie[i]
        itot = itot + ist[i]
        dv = (k[i] * (vv - vr[i]) * (vv - vt[i]) - uu + itot) / cm[i]
        dvi = dv / (one + h * gs[i] / cm[i])
        dv = dvi if implicit else dv
        x = max(vv - vb[i], zero)
        cubic = bb[i] * x * x * x  # FS: cubic above v_b
        hyper = bh[i] * (vv - vr[i])  # TC / RTN below -65 mV
        lin = bb[i] * (vv - vr[i])
        nullc = cubic if cd[i] == 1 else (hyper if cd[i] == 2 and vv <= b_switch else lin)
        hdu = ha[i] * (nullc - uu)
        vnew = vv + h * dv
        ueul = uu + hdu
        vsp = vpk[i] + pu[i] * ueul
        fired = vnew >= vsp
        gap = max((vpk[i] + pu[i] * uu) - vv, zero)
        theta = min(gap / max(gap + (vnew - vsp), tiny), one)
        usp = uu + theta * hdu
        sg[i] = fired
        vg[i] = cc[i] + ru[i] * usp if fired else vnew
        ug[i] = min(usp + de[i], um[i]) if fired else ueul


@_jit(inline="always")
def _mg_unblocked(x, tab, pb, j, v, consts):
    """``x B(v)`` with the Mg2+ block ``1 / (1 + [Mg]/3.57 exp(-0.062 v))`` (mg_block)."""
    one = consts[4]
    return x * (one / (one + tab[_MGC, pb, j] * _exp(consts[5] * v)))


@_jit(inline="always")
def _step_mean_inputs(gt, dr, vg, syn, so, rs, R, a, tab, pb, rcg, consts):
    """Add each receptor's mean over the step to the conductance ``gt`` and the drive ``dr``
    of neurons [a, a + n), in receptor order, as :meth:`Dynamics.add_step_mean_inputs`:
    conductances (Mg2+-blocked at ``vg`` where set) to both, currents to the drive."""
    n = gt.shape[0]
    for r in range(R):
        kind, e_rev, sm, o = rcg[r, _KIND], rcg[r, _EREV], rcg[r, _SMEAN], so + r * rs + a
        if kind > 1:
            for i in range(n):
                x = _mg_unblocked(syn[o + i] * sm, tab, pb, a + i, vg[i], consts)
                gt[i] = gt[i] + x
                dr[i] = dr[i] + x * e_rev
        elif kind > 0:
            for i in range(n):
                x = syn[o + i] * sm
                gt[i] = gt[i] + x
                dr[i] = dr[i] + x * e_rev
        else:
            for i in range(n):
                dr[i] = dr[i] + syn[o + i] * sm


@_jit()
def _lif_cond(vg, rg, sg, syn, so, rs, R, a, z, tab, pb, rcg, elg, vthg, vresg, refs, consts):
    """LIFCond step for neurons [a, z) of one group and member: the torch update's operations
    in its order (:class:`LIFCondDynamics`): exponential Euler towards the step's steady state
    with each receptor's mean over the step, V held while refractory, then threshold, reset
    and the refractory count (:meth:`Dynamics.threshold_and_reset`). Loops the compiler
    vectorises (exp from :func:`zentai._rng_cpu._exp`)."""
    n = z - a
    gt = np.empty(n, vg.dtype)
    dr = np.empty(n, vg.dtype)
    gl, ie, ist, nhcm = tab[_GL, pb, a:z], tab[_IE, pb, a:z], tab[_IS, pb, a:z], tab[_NHCM, pb, a:z]
    el, vth, vres, refn = elg[a:z], vthg[a:z], vresg[a:z], refs[a:z]
    for i in range(n):
        gt[i] = gl[i]
        dr[i] = gl[i] * el[i] + ie[i] + ist[i]
    _step_mean_inputs(gt, dr, vg, syn, so, rs, R, a, tab, pb, rcg, consts)
    for i in range(n):
        vv = vg[i]
        rf = rg[i]
        vinf = dr[i] / gt[i]
        vn = vinf + (vv - vinf) * _exp(nhcm[i] * gt[i])
        vv = vn if rf <= 0 else vv
        rf = max(rf - 1, 0)
        fired = vv >= vth[i]
        vg[i] = vres[i] if fired else vv
        rg[i] = refn[i] if fired else rf
        sg[i] = fired


@_jit()
def _izhikevich2003(vg, ug, sg, syn, so, rs, R, a, z, tab, pb, rcg, consts):
    """Izhikevich (2003) step for neurons [a, z) of one group and member: the torch update's
    operations in its order (:class:`Izhikevich2003Dynamics`), forward Euler (conductance
    receptors linearly implicit, c_m = 1), spike at ``v_peak``, u advanced to the crossing,
    ``v <- c``, ``u <- u + d``. ``consts`` [6:9] = 0.04, 5, 140 in the state's float type.
    Branch-free loops as :func:`_izhikevich`."""
    h, tiny, zero, one = consts[0], consts[1], consts[3], consts[4]
    c04, c5, c140 = consts[6], consts[7], consts[8]
    n = z - a
    t = np.empty((2, n), vg.dtype)
    isyn, gs = t[0], t[1]
    _input_currents(isyn, gs, vg, syn, so, rs, R, a, tab, pb, rcg, consts)
    implicit = _has_conductance(rcg, R)
    ie, ist, ha, bb = tab[_IE, pb, a:z], tab[_IS, pb, a:z], tab[_HA, pb, a:z], tab[_B, pb, a:z]
    vpk, cc, de = tab[_VP, pb, a:z], tab[_C, pb, a:z], tab[_DE, pb, a:z]
    for i in range(n):
        vv = vg[i]
        uu = ug[i]
        itot = isyn[i] + ie[i]
        itot = itot + ist[i]
        dv = (c04 * vv + c5) * vv + c140 - uu + itot
        dvi = dv / (one + h * gs[i] / one)
        dv = dvi if implicit else dv
        hdu = ha[i] * (bb[i] * vv - uu)
        vnew = vv + h * dv
        fired = vnew >= vpk[i]
        gap = max(vpk[i] - vv, zero)
        theta = min(gap / max(gap + (vnew - vpk[i]), tiny), one)
        sg[i] = fired
        vg[i] = cc[i] if fired else vnew
        ug[i] = uu + theta * hdu + de[i] if fired else uu + hdu


@_jit()
def _lif_ahp(vg, ug, rg, sg, syn, so, rs, R, a, z, tab, pb, rcg, vth, refs, consts):
    """LIFAHP (conductance LIF with an AHP gate, no reset) step for neurons [a, z) of one group
    and member: the torch update's operations in its order (:class:`LIFAHPDynamics`),
    exponential Euler with each receptor's mean over the step; ``ug`` is the AHP gate.

    Loops over the neurons without branches or calls (receptor by receptor, exp from
    :func:`zentai._rng_cpu._exp`), which the compiler vectorises."""
    one = consts[4]
    n = z - a
    gt = np.empty(n, vg.dtype)
    dr = np.empty(n, vg.dtype)
    # the parameter rows of these neurons (1-D slices: simpler indexing in the loops)
    ahpm, gahp, gl, eahp = (
        tab[_AHPM, pb, a:z],
        tab[_GAHP, pb, a:z],
        tab[_GL, pb, a:z],
        tab[_EAHP, pb, a:z],
    )
    glel, ie, ist, nhcm = (
        tab[_GLEL, pb, a:z],
        tab[_IE, pb, a:z],
        tab[_IS, pb, a:z],
        tab[_NHCM, pb, a:z],
    )
    ahpd, vthn, refn = tab[_AHPD, pb, a:z], vth[a:z], refs[a:z]
    for i in range(n):
        gah = ug[i] * ahpm[i] * gahp[i]
        gt[i] = gah + gl[i]
        dr[i] = gah * eahp[i] + glel[i] + ie[i] + ist[i]
    _step_mean_inputs(gt, dr, vg, syn, so, rs, R, a, tab, pb, rcg, consts)
    for i in range(n):
        vv = vg[i]
        vinf = dr[i] / gt[i]
        vn = vinf + (vv - vinf) * _exp(nhcm[i] * gt[i])
        th = vthn[i]
        rf = rg[i]
        fired = (vv <= th) & (vn > th) & (rf <= 0)
        rf = max(rf - 1, 0)
        s = ug[i] * ahpd[i]
        ug[i] = one if vn > th else s
        rg[i] = refn[i] if fired else rf
        sg[i] = fired
        vg[i] = vn


@_jit()
def _adex_rates(v, w, q, kv, kw, gt, dr, syn, so, rs, R, a, tab, pb, rcg, elg, vthg, consts, fc):
    """dV/dt and dw/dt (into ``kv``, ``kw``) of the AdEx neurons [a, a + n) at the states
    ``v``, ``w`` (arrays of n) and sub-step boundary ``q``, as
    :meth:`AdExDynamics._derivatives` (the linear receptor terms summed in receptor order, as
    its einsum); ``gt``, ``dr``: scratch. Loops the compiler vectorises."""
    n = v.shape[0]
    J = (rcg.shape[1] - _JCOL) // 3
    for i in range(n):
        gt[i] = syn[so + a + i] * rcg[0, _JCOL + q] if R > 0 else consts[3]
        dr[i] = syn[so + a + i] * rcg[0, _JCOL + J + q] if R > 0 else consts[3]
    for r in range(1, R):
        o, cg, ci = so + r * rs + a, rcg[r, _JCOL + q], rcg[r, _JCOL + J + q]
        for i in range(n):
            gt[i] = gt[i] + syn[o + i] * cg
            dr[i] = dr[i] + syn[o + i] * ci
    z = a + n
    gl, adr, dlt, eam = (
        tab[_GL, pb, a:z],
        tab[_ADR, pb, a:z],
        tab[_DLT, pb, a:z],
        tab[_EAM, pb, a:z],
    )
    ssc, ca, tw, el, th = (
        tab[_SSC, pb, a:z],
        tab[_A, pb, a:z],
        tab[_TW, pb, a:z],
        elg[a:z],
        vthg[a:z],
    )
    for i in range(n):
        g = gt[i] + gl[i]
        d = dr[i] + adr[i]
        arg = min((v[i] - th[i]) / dlt[i], eam[i])
        kv[i] = ssc[i] * _exp(arg) + d - g * v[i] - w[i]
    for r in range(R):
        if rcg[r, _KIND] > 1:
            o, cb, e_rev = so + r * rs + a, rcg[r, _JCOL + 2 * J + q], rcg[r, _EREV]
            for i in range(n):
                x = _mg_unblocked(syn[o + i] * cb, tab, pb, a + i, v[i], consts)
                kv[i] = kv[i] + x * (e_rev - v[i])
    for i in range(n):
        kv[i] = kv[i] * fc[i]
        kw[i] = (ca[i] * (v[i] - el[i]) - w[i]) / tw[i]


@_jit()
def _adex(vg, ug, rg, sg, syn, so, rs, R, a, z, tab, pb, rcg, elg, vthg, vres, refs, consts):
    """AdEx step for neurons [a, z) of one group and member: sub-stepped Heun as
    :class:`AdExDynamics` (V clamped at v_peak; V >= v_peak at the end is a spike: reset,
    w + b, refractory steps with dV/dt = 0); ``ug`` is w. Each stage runs over all the
    neurons before the next (vector loops; neuron by neuron, its chain of dependent exp and
    divisions cost ~300 ns per neuron and step)."""
    zero, one = consts[3], consts[4]
    n = z - a
    t = np.empty((9, n), vg.dtype)
    k1v, k1w, k2v, k2w, vp, wp, fc, gt, dr = t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8]
    for i in range(n):
        fc[i] = (one if rg[i] <= 0 else zero) / tab[_CM, pb, a + i]
    hs, hh, vpk = tab[_HS, pb, a:z], tab[_HHS, pb, a:z], tab[_VP, pb, a:z]
    for q in range(int(tab[_NSUB, pb, a]) if n > 0 else 0):
        _adex_rates(
            vg, ug, q, k1v, k1w, gt, dr, syn, so, rs, R, a, tab, pb, rcg, elg, vthg, consts, fc
        )
        for i in range(n):
            vp[i] = min(vg[i] + hs[i] * k1v[i], vpk[i])
            wp[i] = ug[i] + hs[i] * k1w[i]
        _adex_rates(
            vp, wp, q + 1, k2v, k2w, gt, dr, syn, so, rs, R, a, tab, pb, rcg, elg, vthg, consts,
            fc,
        )  # fmt: skip
        for i in range(n):
            vg[i] = min(vg[i] + hh[i] * (k1v[i] + k2v[i]), vpk[i])
            ug[i] = ug[i] + hh[i] * (k1w[i] + k2w[i])
    for i in range(n):
        j = a + i
        fired = vg[i] >= vpk[i]
        rf = max(rg[i] - 1, 0)
        rg[i] = refs[j] if fired else rf
        vg[i] = vres[j] if fired else vg[i]
        ug[i] = ug[i] + tab[_B, pb, j] if fired else ug[i]
        sg[i] = fired


@_jit()
def _lif(vg, rg, sg, syn, so, rs, R, a, z, b, e_l, p22, c0, p21, v_th, v_reset, ref_steps):
    """iaf_psc_exp membrane, threshold, reset and refractoriness of neurons [a, z) of one LIF
    group and member ``b`` (``_membrane`` for up to two receptors, else a loop over them)."""
    # parameter tables have one row per member, or one row shared by all members
    elg, p22g, c0g = _row(e_l, b)[a:z], _row(p22, b)[a:z], _row(c0, b)[a:z]
    thg, vrg, refg = _row(v_th, b)[a:z], _row(v_reset, b)[a:z], _row(ref_steps, b)[a:z]
    pb = b if p21.shape[1] > 1 else 0
    if R <= 2:
        x0 = syn[so + a : so + z] if R > 0 else c0g
        q0 = p21[0, pb, a:z] if R > 0 else p21[0, pb, a:z] * 0
        x1 = syn[so + rs + a : so + rs + z] if R > 1 else x0
        q1 = p21[1, pb, a:z] if R > 1 else q0 * 0
        _membrane(vg, rg, sg, elg, p22g, c0g, thg, vrg, refg, x0, q0, x1, q1)
        return
    for i in range(z - a):
        vv = vg[i]
        el = elg[i]
        vn = (vv - el) * p22g[i] + c0g[i]
        for r in range(R):
            vn = vn + syn[so + r * rs + a + i] * p21[r, pb, a + i]
        rf = rg[i]
        if rf <= 0:
            vv = vn + el
        rf = max(rf - 1, 0)
        fired = vv >= thg[i]
        if fired:
            vv = vrg[i]
            rf = refg[i]
        sg[i] = fired
        vg[i] = vv
        rg[i] = rf


@_jit()
def _update(
    row,
    S,
    b,
    j0,
    j1,
    g_start,
    g_size,
    g_slot,
    g_R,
    g_soff,
    g_model,
    B,
    v,
    u,
    syn,
    refr,
    e_l,
    p22,
    c0,
    p21,
    decay,
    gain,
    v_th,
    v_reset,
    ref_steps,
    mtab,
    izh_code,
    consts,
    rcp,
    spiked,
):
    """Update neurons [j0, j1) (global ids) of member ``b``; set ``spiked[b, i]``.

    ``g_model[g]``: 0 LIF (``iaf_psc_exp``), 1 Izhikevich (2007), 2 LIFAHP, 3 AdEx, 4
    Izhikevich (2003), 5 LIFCond (their second state variable, u, s_ahp or w, in ``u``;
    parameters in ``mtab``, receptors' constants in ``rcp``).

    Order as the reference: the membrane moves with the synaptic state of step t, then the
    synaptic state decays and takes this step's input, then threshold and reset (which do not
    read the synaptic state, so they run in the first loop).
    """
    rowb = b * S
    for g in range(g_start.shape[0]):
        g0 = g_start[g]
        n = g_size[g]
        a = max(j0, g0)
        z = min(j1, g0 + n)
        if a >= z:
            continue
        R = g_R[g]
        so = g_soff[g] + b * n - g0  # syn index of receptor 0 of global neuron i: so + i
        bo = rowb + g_slot[g] - g0  # buffer index of receptor 0: bo + i
        rs = B * n  # receptor stride in syn
        vg, sg = v[b, a:z], spiked[b, a:z]
        model = g_model[g]
        pb = b if mtab.shape[1] > 1 else 0
        if model == 1:
            _izhikevich(vg, u[b, a:z], sg, syn, so, rs, R, a, z, mtab, pb, izh_code, rcp[g], consts)
        elif model == 2:
            ug, rg = u[b, a:z], refr[b, a:z]
            vth, refs = _row(v_th, b), _row(ref_steps, b)
            _lif_ahp(vg, ug, rg, sg, syn, so, rs, R, a, z, mtab, pb, rcp[g], vth, refs, consts)
        elif model == 3:
            ug, rg = u[b, a:z], refr[b, a:z]
            elg, vthg = _row(e_l, b), _row(v_th, b)
            vres, refs = _row(v_reset, b), _row(ref_steps, b)
            _adex(
                vg, ug, rg, sg, syn, so, rs, R, a, z, mtab, pb, rcp[g], elg, vthg, vres, refs,
                consts,
            )  # fmt: skip
        elif model == 4:
            _izhikevich2003(vg, u[b, a:z], sg, syn, so, rs, R, a, z, mtab, pb, rcp[g], consts)
        elif model == 5:
            rg, elg, vthg = refr[b, a:z], _row(e_l, b), _row(v_th, b)
            vres, refs = _row(v_reset, b), _row(ref_steps, b)
            _lif_cond(
                vg, rg, sg, syn, so, rs, R, a, z, mtab, pb, rcp[g], elg, vthg, vres, refs, consts
            )
        else:
            _lif(
                vg,
                refr[b, a:z],
                sg,
                syn,
                so,
                rs,
                R,
                a,
                z,
                b,
                e_l,
                p22,
                c0,
                p21,
                v_th,
                v_reset,
                ref_steps,
            )
        gb = b if gain.shape[1] > 1 else 0
        for r in range(R):
            d = decay[g, r]
            sr = syn[so + r * rs + a : so + r * rs + z]
            br = row[bo + r * n + a : bo + r * n + z]
            gr = gain[r, gb, a:z]
            for i in range(z - a):
                sr[i] = sr[i] * d + br[i] * gr[i]


def _run(
    t0,
    n_steps,
    D,
    B,
    S,
    buf,
    indptr,
    target,
    weight,
    dsteps,
    g_start,
    g_size,
    g_slot,
    g_R,
    g_soff,
    g_model,
    v,
    u,
    syn,
    refr,
    e_l,
    p22,
    c0,
    p21,
    decay,
    gain,
    v_th,
    v_reset,
    ref_steps,
    mtab,
    izh_code,
    consts,
    rcp,
    seg,
    seg_bounds,
    p_h,
    p_x0,
    p_cdf,
    p_slot,
    p_w,
    cval,
    xs,
    cnt,
    slot_bounds,
    neuron_bounds,
    sorted_rows,
    cap_max,
    pr_i,
    pr_f,
    pr_deg,
    spiked,
    task_n,
    spk_b,
    spk_i,
    bin_c,
    bin_w,
    bin_n,
    out_b,
    out_i,
    out_t,
    cap,
    ex_c,
    ex_w,
):
    """Run up to ``n_steps`` steps from step ``t0``; see the module docstring.

    ``buf`` is the ring buffer viewed as (D, B x S). ``cap_max``: the bins grow to at most
    this many events per row (at least any one spike's); a step with more is binned in
    batches (see the code). ``pr_i``, ``pr_f``: the procedural projections' tables (the Triton
    kernel's; none: 0 rows), ``pr_deg``: each neuron's number of procedural synapses
    (:func:`procedural_degrees`). Stops early when the spike output
    (``out_*``, capacity ``cap``) could overflow. Returns (steps done, spikes written, bins)
    — the bins are reallocated when they must grow. ``ex_c``/``ex_w``: cells and weights added
    at the first step after the Poisson input (SpikeTrain events, as the reference adds them).
    """
    N = v.shape[1]
    T = slot_bounds.shape[0] - 1
    done = 0
    n_out = 0
    for step in range(n_steps):
        if n_out + B * N > cap:
            break
        t = t0 + step
        row = buf[t % D]
        for k in prange(T):
            _empty_bin(row, k, t % D, bin_c, bin_w, bin_n)
            _poisson(
                row,
                S,
                B,
                t,
                seg_bounds[k],
                seg_bounds[k + 1],
                seg,
                p_h,
                p_x0,
                p_cdf,
                p_slot,
                p_w,
                cval,
                xs,
                cnt,
            )
        if step == 0:  # SpikeTrain events entering at t0, after the Poisson input
            for q in range(ex_c.shape[0]):
                row[ex_c[q]] += ex_w[q]
        for k in prange(T * B):
            th = k % T
            b = k // T
            j0, j1 = neuron_bounds[th], neuron_bounds[th + 1]
            _update(
                row,
                S,
                b,
                j0,
                j1,
                g_start,
                g_size,
                g_slot,
                g_R,
                g_soff,
                g_model,
                B,
                v,
                u,
                syn,
                refr,
                e_l,
                p22,
                c0,
                p21,
                decay,
                gain,
                v_th,
                v_reset,
                ref_steps,
                mtab,
                izh_code,
                consts,
                rcp,
                spiked,
            )
            # this task's spikes, in neuron order, at the start of its own stretch
            sb = spiked[b]
            m = b * N + j0
            for i in range(j0, j1):
                if sb[i]:  # (an unconditional store would reach the next task's stretch)
                    spk_i[m] = i
                    m += 1
            task_n[k] = m - (b * N + j0)
        # concatenate the tasks' spikes in (member, neuron) order
        n_spk = 0
        events = 0
        for k in range(T * B):
            b = k // T
            m0 = b * N + neuron_bounds[k % T]
            for q in range(task_n[k]):
                i = spk_i[m0 + q]
                spk_i[n_spk] = i
                spk_b[n_spk] = b
                out_b[n_out + n_spk] = b
                out_i[n_out + n_spk] = i
                out_t[n_out + n_spk] = t
                events += indptr[i + 1] - indptr[i] + pr_deg[i]
                n_spk += 1
        n_out += n_spk
        P = pr_i.shape[0]
        need = bin_n.max() + events
        if need > bin_c.shape[2] and bin_c.shape[2] < cap_max:
            # doubled until they hold min(need, cap_max): up to 2 cap_max (capped at cap_max,
            # more busy steps took the batched path: full-scale microcircuit 40 % slower)
            need = min(need, cap_max)
            bin_c, bin_w = _grown(bin_c, need, 2 * need), _grown(bin_w, need, 2 * need)
        fits = bin_n.max() + events <= bin_c.shape[2]
        for k in prange(T):
            for b in range(B):
                row[b * S + slot_bounds[k] : b * S + slot_bounds[k + 1]] = 0
        # phases: the procedural projections, then the stored synapses (the reference's order);
        # when the step's events do not fit the bins (at most cap_max per row): projection by
        # projection, in batches of spikes that fit, the bins emptied into the ring buffer
        # (after what it holds: the order stays) when not even one spike fits
        n_ph = 2 if fits else P + 1
        for ph in range(n_ph):
            stored = ph == n_ph - 1
            if not stored and P == 0:
                continue
            q0, q1 = (0, P) if fits else (ph, ph + 1)
            m = 0
            while m < n_spk:
                m1 = n_spk
                if not fits:
                    room = bin_c.shape[2] - bin_n.max()
                    m1 = m
                    while m1 < n_spk:
                        i = spk_i[m1]
                        ev = indptr[i + 1] - indptr[i] if stored else pr_deg[i]
                        if ev > room:
                            break
                        room -= ev
                        m1 += 1
                    if m1 == m:
                        for k in prange(T):
                            for r in range(D):
                                _empty_bin(buf[r], k, r, bin_c, bin_w, bin_n)
                        continue
                for k in prange(T):
                    lo, hi = slot_bounds[k], slot_bounds[k + 1]
                    if stored:
                        _bin_events(
                            np.int64(k), t, D, S, spk_b, spk_i, np.int64(m), m1, indptr, target,
                            weight, dsteps, lo, hi, sorted_rows, bin_c, bin_w, bin_n,
                        )  # fmt: skip
                    else:
                        _procedural_events(
                            np.int64(k), t, D, S, spk_b, spk_i, np.int64(m), m1, pr_i, pr_f, q0,
                            q1, lo, hi, bin_c, bin_w, bin_n,
                        )  # fmt: skip
                m = m1
        done += 1
    # leave every event in flight in the ring buffer, after what its row already held
    for k in prange(T):
        for r in range(D):
            _empty_bin(buf[r], k, r, bin_c, bin_w, bin_n)
    return done, n_out, bin_c, bin_w


def _named(f, name: str):
    """A copy of function ``f`` under another name.

    numba names its cache files after the Python function, not after the options it was
    compiled with: jitting ``_run`` twice (serial and parallel) made both dispatchers share one
    cache entry per signature, so the "parallel" kernel could load the serial code (measured:
    2 threads no faster than 1). Each kernel gets its own function, hence its own cache.
    """
    code = f.__code__.replace(co_name=name, co_qualname=name)
    g = types.FunctionType(code, f.__globals__, name, f.__defaults__, f.__closure__)
    g.__qualname__ = name
    g.__doc__ = f.__doc__
    return g


_run_serial = _jit(error_model="numpy")(_named(_run, "_run_serial"))
_run_parallel = _jit(parallel=True, error_model="numpy")(_named(_run, "_run_parallel"))


def run_lif(n_threads: int, *args):
    """Run steps with the serial (``n_threads`` = 1) or the threaded kernel; see :func:`_run`."""
    if n_threads > 1:
        numba.set_num_threads(n_threads)
        return _run_parallel(*args)
    return _run_serial(*args)
