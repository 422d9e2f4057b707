"""Compiled CPU loop (numba) for networks of current-based LIF neurons.

The torch step (:meth:`zentai.sim.Simulator._step`) is about 30 small tensor operations, each
of which costs 5-20 µs of dispatch on a CPU however few neurons it touches; at the scale-0.1
microcircuit that alone is ~300 µs per 0.1 ms step, where Brian2's generated C++ takes ~50 µs.
:func:`run_lif` runs many whole steps in one call instead: Poisson input, the ``iaf_psc_exp``
update (Rotter & Diesmann 1999 propagators, computed by :class:`LIFDynamics`), threshold,
reset, refractoriness and spike delivery through the delay ring buffer.

It does exactly the reference's arithmetic in the reference's order — the same SplitMix64
draws (:mod:`zentai.rng`), the same Poisson CDF tables, the same propagators, additions into a
ring-buffer cell in the same order (spikes by member, then neuron, then CSR position; Poisson
input last) — so it reproduces the torch path spike for spike (tested in float32 and float64).

Threads: ``n_threads`` > 1 splits the input slots (Poisson input and delivery: each thread
scans every spiking row but writes only its own slots, so no two threads touch a cell and the
order of additions into a cell is unchanged) and the neurons (membrane update) between threads,
with one parallel region per phase and step.
"""

from __future__ import annotations

import numpy as np

try:  # numba is a dependency, but the engine must still work (reference path) without it
    import numba
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None
    prange = range
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "run_lif"]

# SplitMix64 constants (as zentai.rng)
_G2 = np.uint64(0xD1B54A32D192ED03)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / (1 << 53)


def _jit(**kw):
    def wrap(f):
        if not HAVE_NUMBA:
            return f
        return njit(cache=True, nogil=True, **kw)(f)

    return wrap


@_jit(inline="always")
def _mix64(x):
    x = (x ^ (x >> _S30)) * _C1
    x = (x ^ (x >> _S27)) * _C2
    return x ^ (x >> _S31)


@_jit()
def _poisson(bufflat, base, S, B, t, p_h, p_x0, p_start, p_cdf, p_slot, p_w, cval, e0, e1, xs, idx):
    """Add the Poisson counts of step ``t`` of entries [e0, e1) to ring-buffer row ``base``.

    Two passes: the hashes and uniforms (a loop the compiler vectorises), then the counts of
    the few entries (about λ of them) whose uniform passes the first CDF value, collected
    without branches. ``cval[c]`` is the count c in the state's float type, so count x weight
    is computed in that type, as the reference does.
    """
    tg = np.uint64(t) * _G2
    L = p_cdf.shape[0]
    # 1-D slices indexed from 0: no negative-index checks, so the hash loop vectorises
    x0, st, sl, w = p_x0[e0:e1], p_start[e0:e1], p_slot[e0:e1], p_w[e0:e1]
    xsl = xs[e0:e1]
    for b in range(B):
        hb = p_h[b, e0:e1]
        rowb = base + b * S
        for m in range(xsl.shape[0]):
            xsl[m] = np.float64(_mix64(hb[m] + tg) >> _S11) * _INV53 + x0[m]
        n = 0
        for m in range(xsl.shape[0]):
            idx[n] = m
            n += p_cdf[st[m]] <= xsl[m]
        for q in range(n):
            m = idx[q]
            x = xsl[m]
            k = st[m]
            c = 1
            while k + c < L and p_cdf[k + c] <= x:
                c += 1
            bufflat[rowb + sl[m]] += cval[c] * w[m]


@_jit()
def _deliver(bufflat, t, D, BS, S, spk_b, spk_i, n_spk, indptr, target, weight, dsteps, lo, hi):
    tD = t % D
    for q in range(n_spk):
        b = spk_b[q]
        i = spk_i[q]
        off = b * S
        for s in range(indptr[i], indptr[i + 1]):
            tg = target[s]
            if tg < lo or tg >= hi:
                continue
            r = tD + dsteps[s]
            if r >= D:
                r -= D
            bufflat[r * BS + off + tg] += weight[s]


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


@_jit()
def _update(
    bufflat,
    base,
    S,
    b,
    j0,
    j1,
    g_start,
    g_size,
    g_slot,
    g_R,
    g_soff,
    B,
    v,
    syn,
    refr,
    e_l,
    p22,
    c0,
    p21,
    decay,
    v_th,
    v_reset,
    ref_steps,
    spiked,
):
    """Update neurons [j0, j1) (global ids) of member ``b``; set ``spiked[b, i]``.

    Order as the reference: the membrane moves with the synaptic state of step t, then the
    synaptic state decays and takes this step's input, then threshold and reset (which do not
    read the synaptic state, so they run in the first loop).
    """
    rowb = base + b * S
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
        vg, rg, sg = v[b, a:z], refr[b, a:z], spiked[b, a:z]
        elg, p22g, c0g = e_l[b, a:z], p22[b, a:z], c0[b, a:z]
        thg, vrg, refg = v_th[b, a:z], v_reset[b, a:z], ref_steps[b, a:z]
        if R <= 2:
            x0 = syn[so + a : so + z] if R > 0 else c0g
            q0 = p21[0, b, a:z] if R > 0 else p21[0, b, a:z] * 0
            x1 = syn[so + rs + a : so + rs + z] if R > 1 else x0
            q1 = p21[1, b, a:z] if R > 1 else q0 * 0
            _membrane(vg, rg, sg, elg, p22g, c0g, thg, vrg, refg, x0, q0, x1, q1)
        else:
            for i in range(z - a):
                vv = vg[i]
                el = elg[i]
                vn = (vv - el) * p22g[i] + c0g[i]
                for r in range(R):
                    vn = vn + syn[so + r * rs + a + i] * p21[r, b, a + i]
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
        for r in range(R):
            d = decay[g, r]
            sr = syn[so + r * rs + a : so + r * rs + z]
            br = bufflat[bo + r * n + a : bo + r * n + z]
            for i in range(z - a):
                sr[i] = sr[i] * d + br[i]


def _run(
    t0,
    n_steps,
    D,
    B,
    S,
    bufflat,
    indptr,
    target,
    weight,
    dsteps,
    g_start,
    g_size,
    g_slot,
    g_R,
    g_soff,
    v,
    syn,
    refr,
    e_l,
    p22,
    c0,
    p21,
    decay,
    v_th,
    v_reset,
    ref_steps,
    p_h,
    p_x0,
    p_start,
    p_cdf,
    p_slot,
    p_w,
    cval,
    p_bounds,
    xs,
    idx,
    slot_bounds,
    neuron_bounds,
    spiked,
    spk_b,
    spk_i,
    out_b,
    out_i,
    out_t,
    n_out,
    cap,
):
    BS = B * S
    N = v.shape[1]
    T = slot_bounds.shape[0] - 1
    done = 0
    for step in range(n_steps):
        if n_out + B * N > cap:
            break
        t = t0 + step
        base = (t % D) * BS
        for k in prange(T):
            _poisson(
                bufflat,
                base,
                S,
                B,
                t,
                p_h,
                p_x0,
                p_start,
                p_cdf,
                p_slot,
                p_w,
                cval,
                p_bounds[k],
                p_bounds[k + 1],
                xs,
                idx[k],
            )
        for k in prange(T * B):
            b = k // T
            th = k % T
            _update(
                bufflat,
                base,
                S,
                b,
                neuron_bounds[th],
                neuron_bounds[th + 1],
                g_start,
                g_size,
                g_slot,
                g_R,
                g_soff,
                B,
                v,
                syn,
                refr,
                e_l,
                p22,
                c0,
                p21,
                decay,
                v_th,
                v_reset,
                ref_steps,
                spiked,
            )
        bufflat[base : base + BS] = 0
        n_spk = 0
        for b in range(B):
            sb = spiked[b]
            for i in range(N):
                spk_b[n_spk] = b
                spk_i[n_spk] = i
                n_spk += sb[i]
        for q in range(n_spk):
            out_b[n_out + q] = spk_b[q]
            out_i[n_out + q] = spk_i[q]
            out_t[n_out + q] = t
        n_out += n_spk
        if n_spk:
            for k in prange(T):
                _deliver(
                    bufflat,
                    t,
                    D,
                    BS,
                    S,
                    spk_b,
                    spk_i,
                    n_spk,
                    indptr,
                    target,
                    weight,
                    dsteps,
                    slot_bounds[k],
                    slot_bounds[k + 1],
                )
        done += 1
    return done, n_out


_run_serial = _jit()(_run)
_run_parallel = _jit(parallel=True)(_run)


def run_lif(n_threads: int, *args):
    """Run steps with the serial (``n_threads`` = 1) or the threaded kernel; see module doc."""
    if n_threads > 1:
        numba.set_num_threads(n_threads)
        return _run_parallel(*args)
    return _run_serial(*args)
