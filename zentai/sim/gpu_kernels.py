"""Fused GPU step (Triton) of networks of every catalogue model: the ``"triton"`` backend of the
Simulator. LIF neurons take current receptors; Izhikevich (2007, 2003), LIFCond, LIFAHP and
AdEx neurons current, conductance and Mg2+-blocked conductance receptors (as the compiled CPU
loop; Tsodyks-Markram synapses take the torch path).

One step is two kernels. Each reads its step as base + j: ``base`` is a device cell the host
sets before a sequence of launches, ``j`` the launch's place in it, so a captured CUDA graph
of n steps replays at any step and the host never waits on the device:

1. :func:`lif_step` — one program per (block of neurons, member): moves the ``iaf_psc_exp``
   membrane exactly as the compiled CPU loop does (:mod:`zentai.sim.cpu_kernels`; or, for
   neurons of kind > 0, the Izhikevich update, 2007 with its variants or 2003, also as that
   loop does; the conductance models, LIFCond, LIFAHP and AdEx, as its ``_lif_cond``,
   ``_lif_ahp`` and ``_adex``), applies threshold, reset and refractoriness, and appends each
   spike with its synapse-table row to the step's spike list (one of three, by t mod 3; and,
   when recorded, to the spike record and the population counts); then reads the ring-buffer
   row of step t, adds the Poisson input drawn in the kernel (the reference's counter-based
   hash and CDF tables, so the counts equal the torch path's), moves the synaptic state
   (currents or conductances) and clears the row.
2. :func:`deliver` — a fixed grid of programs walks the spike list: each spike's row is cut
   into ``split`` parts, each part adds its weights into the buffer rows of their delays with
   atomic adds. Every program then empties the count of the list of step t + 2 (read by
   nobody during this kernel).

With programmatic dependent launch (``TUNE["pdl"]``, Hopper and later) each kernel starts while
the one before it runs: the update of step t + 1 does everything but reading its buffer row
(the spike list included: the three lists keep it apart from the one being delivered) before
it waits for the delivery of step t to end.

Pipelined launch (``TUNE["pipeline"]``, with programmatic launch). The spikes of step t + 1
need the synaptic state after step t, which needs the buffer row of step t, filled by the
deliveries up to step t - 1: the delivery of step t is not among them. So the update kernel
of step t takes step t's input and then fires step t + 1 (``PHASE`` BODY), and the delivery of
step t, which delivers the spikes the update before listed, starts as soon as the update has
passed its wait and runs beside it; it waits for that update only before it ends, so that
the next update, which waits for this delivery, finds both done. A chunk begins with an
update that fires its first step only (HEAD) and ends with one that takes the last step's
input only (TAIL). The step's critical path loses the delivery (when the update takes
longer); what runs concurrently touches different cells: the delivery of step t adds into
rows t + 1, ... and reads list t % 3, the update reads and clears row t and fills list
(t + 1) % 3, and the count of list (t + 2) % 3 is cleared by the update of step t, after
the delivery of step t - 1, which read it, has ended.

Procedural projections (:mod:`zentai.build.procedural`) add a third kernel per step,
:func:`deliver_procedural`, which regenerates the spiking neurons' synapses lane by lane
(one lane per spike and segment of the postsynaptic population) by the same draws as the torch
reference path (no programmatic launch then).

A part of a distributed network (:mod:`zentai.distributed`) runs the same kernels with an empty
synapse table: they record every spike of the part, which the exchange gathers from all ranks
and delivers into the ring buffer between chunks.

A persistent kernel (one launch per chunk, grid barriers between the phases) was tried in
sessions 5-6 and removed in session 15: 25-29 µs per step on an H100 against 18-19 for two
kernels in graphs, 12-13 with programmatic launch (benchmarks/RESULTS.md).

The order in which atomic adds reach one buffer cell is not fixed, so in float32 a run can
differ from the reference (and from itself) in the last bit of a summed input, and after a few
hundred ms in individual spikes; in float64 short runs are spike-for-spike equal (the tests
compare both ways). The kernels also run under ``TRITON_INTERPRET=1`` on CPU tensors, which is
how the tests check them on machines without a GPU.

Arithmetic follows the reference: no fused multiply-adds (``enable_fp_fusion=False``), the
same expression order, parameters tabulated by :meth:`Simulator._compiled_params`.
"""

from __future__ import annotations

import os

try:  # Triton ships with CUDA builds of torch; the CPU wheel lacks it
    import triton
    import triton.language as tl
    from triton.language.extra import libdevice

    HAVE_TRITON = True
    try:  # programmatic dependent launch (Hopper and later; Triton >= 3.3)
        from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

        HAVE_PDL = True
    except ImportError:  # pragma: no cover - depends on the installation
        HAVE_PDL = False
except ImportError:  # pragma: no cover - depends on the installation
    HAVE_TRITON = HAVE_PDL = False

# Launch parameters; none changes a result (in float64; in float32 only the order in which
# atomic adds meet). benchmarks/gpu_step.py times alternatives.
TUNE = {
    "block": 128,  # neurons per program of lif_step
    "warps": 4,  # warps per program of lif_step
    "syn_per_part": 512,  # synapses per delivery work item (a spike's row is cut in parts)
    "deliver_block": 256,  # synapses per vector of the delivery loop
    "deliver_programs_per_sm": 4,
    "graph_steps": 100,  # steps captured in one CUDA graph, replayed as often as needed
    # programmatic dependent launch (compute capability >= 9, e.g. H100): each kernel launches
    # while the one before it runs, and the neuron update draws its Poisson input before it
    # waits for the delivery. H100, full-scale microcircuit: 15.9 -> 12.4 us per step, and
    # 11.7 with 2 delivery programs per SM (benchmarks/RESULTS.md, 2026-11-28)
    "pdl": True,
    "pdl_deliver_programs_per_sm": 2,
    # pipelined launch (needs "pdl"; see the module docstring): each update takes step t's
    # input and fires step t + 1, so the delivery of step t runs beside the update of step t.
    # Not yet timed on a GPU (session 16 had none): off until benchmarks/gpu_step.py shows
    # it faster
    "pipeline": False,
    # register cap of lif_step (0: the compiler's choice). The AdEx update needs ~140 registers
    # on sm_90 (LIF alone 48, with LIFCond / LIFAHP 62), so a network with AdEx neurons runs
    # every block at a third of the occupancy; a cap of 80 trades that for spills in the AdEx
    # blocks. Untimed (benchmarks/brain_step.py --triton-tune maxnreg=80)
    "maxnreg": 0,
}
# what lif_step does (its PHASE): a whole step (fire, then take the input), or, pipelined,
# fire only (the first step of a chunk), take step t's input and fire step t + 1, take the
# input only (the last step of a chunk)
STEP, HEAD, BODY, TAIL = 0, 1, 2, 3


def interpreting() -> bool:
    """Whether Triton runs kernels in its CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


if HAVE_TRITON and interpreting():
    # The interpreter runs kernels one after another, so the previous kernel has always
    # finished: the grid-dependency instructions (which it lacks) are no-ops there, and the
    # tests run the programmatic-launch code path (its order of reads and writes) on CPU.
    HAVE_PDL = True

    def gdc_wait():
        return None

    def gdc_launch_dependents():
        return None


if HAVE_TRITON:

    def _device(fn):
        """``triton.jit`` for a device function (one the kernels call). In the interpreter every
        call of a jitted device function patches ``triton.language`` anew (``inspect`` over its
        modules; ~40 calls a step, a third of an interpreted test's time), though the kernel
        calling it, in this module with the same ``tl``, has patched it already: there the
        function's rewritten Python is called directly. Compiled, it is ``triton.jit``."""
        jf = triton.jit(fn)
        rewrite = getattr(jf, "rewrite", None)  # triton.runtime.interpreter.InterpretedFunction
        if not interpreting() or rewrite is None:
            return jf
        return lambda *args, **kwargs: rewrite()(*args, **kwargs)

    # the rows of the compiled loop's model table and the columns of its receptor table
    # (cpu_kernels.MODEL_ROWS, _KIND ...), as the kernels' compile-time constants
    from zentai.sim import cpu_kernels as _ck

    def _consts(names: str) -> tuple:
        return tuple(tl.constexpr(getattr(_ck, n)) for n in names.split())

    _K, _VR, _VT, _CM, _HA, _B, _VB, _BH, _C, _DE, _VP, _PU, _RU, _UM, _IE, _IS = _consts(
        "_K _VR _VT _CM _HA _B _VB _BH _C _DE _VP _PU _RU _UM _IE _IS"
    )
    _GL, _AHPM, _GAHP, _EAHP, _GLEL, _NHCM, _AHPD, _MGC = _consts(
        "_GL _AHPM _GAHP _EAHP _GLEL _NHCM _AHPD _MGC"
    )
    _DLT, _EAM, _SSC, _ADR, _A, _TW, _HS, _HHS = _consts("_DLT _EAM _SSC _ADR _A _TW _HS _HHS")
    _KIND, _EREV, _SMEAN, _JCOL = _consts("_KIND _EREV _SMEAN _JCOL")

    @_device
    def _mix64(x):
        # SplitMix64 finaliser on uint64 (zentai.rng.mix64)
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB
        return x ^ (x >> 31)

    @_device
    def _poisson_add(
        x,
        t,
        b,
        q,
        slot,
        rm,
        pe_h_ptr,
        pe_tab_ptr,
        pe_w_ptr,
        prows_ptr,
        rs_tab,
        qs_tab,
        qs_h,
        S,
        L,
        JV: tl.constexpr,
    ):
        """x plus the Poisson input of entry q of each lane's slot at step t (count x weight)."""
        # entry q of the slot (the caller adds a slot's entries in the reference's order)
        k = tl.load(pe_tab_ptr + q * qs_tab + b * rs_tab + slot, mask=rm, other=-1)
        pm = rm & (k >= 0)
        k = tl.where(pm, k, 0)
        h = tl.load(pe_h_ptr + q * qs_h + b * S + slot, mask=pm, other=0)
        w = tl.load(pe_w_ptr + q * S + slot, mask=pm, other=0.0)
        bits = _mix64(h.to(tl.uint64, bitcast=True) + t.to(tl.uint64) * 0xD1B54A32D192ED03)
        xu = (bits >> 11).to(tl.float64) * (1.0 / 9007199254740992.0) + k.to(tl.float64)
        # count = CDF values <= the uniform (the reference's bucketize): the first
        # JV of the row compared at once, then one more while a lane still counts
        jj = tl.arange(0, JV)
        thr = tl.load(
            prows_ptr + k[:, None] * L + jj[None, :],
            mask=pm[:, None] & (jj[None, :] < L),
            other=3.0e300,
        )
        c = tl.sum((thr <= xu[:, None]).to(tl.int32), axis=1)
        go = pm & (c == JV)
        j = tl.zeros_like(k) + JV
        while tl.max(go.to(tl.int32), axis=0) > 0:
            thr1 = tl.load(prows_ptr + k * L + j, mask=go & (j < L), other=3.0e300)
            go = go & (thr1 <= xu)
            c += go.to(tl.int32)
            j += 1
        x = tl.where(pm, x + c.to(w.dtype) * w, x)
        return x

    @_device
    def _div(a, b):
        # IEEE-rounded division (float32 "/" compiles to an approximate one; float64's is)
        if a.dtype == tl.float32:
            return tl.math.div_rn(a, b)
        else:
            return a / b

    if interpreting():  # (libdevice has no interpreter version; numpy's exp there)

        @_device
        def _exp(x):
            return tl.exp(x)

    else:

        @_device
        def _exp(x):
            # CUDA's correctly rounded-to-2-ulp exp, as torch's on the GPU (tl.exp in float32
            # is the approximate ex2-based one)
            return libdevice.exp(x)

    @_device
    def _izhikevich(v, bi, b, i, mi, kd, u_ptr, mtab_ptr, rs_m, rr_m, cst_ptr, syn_ptr, synb,
                    ng, nrec, B, gid, rcp_ptr, RC, RMAX: tl.constexpr):  # fmt: skip
        """Izhikevich (2007) step of the lanes ``mi``: forward Euler (conductance receptors
        linearly implicit in their conductance, as cpu_kernels._izhikevich), spike at
        ``v_peak + peak_u u``, u advanced to the crossing in a spiking step, reset
        ``v <- c + reset_u u``, ``u <- min(u + d_eff, u_max)``, with the rows k,
        v_r, v_t, c_m, h a, b, v_b, b_hyper, c, d_eff, v_peak, peak_u, reset_u, u_max, i_e,
        i_stim of the model table (cpu_kernels.MODEL_ROWS); ``cst`` the compiled
        loop's constants (h, 1e-30, -65 mV, 0, 1, -0.062, 0.04, 5, 140) in the state's type.
        Divisions are IEEE-rounded, as torch's."""
        u = tl.load(u_ptr + bi, mask=mi, other=0.0, cache_modifier=".cg")
        row = mtab_ptr + b * rs_m + i
        k = tl.load(row + _K * rr_m, mask=mi, other=0.0)
        vr = tl.load(row + _VR * rr_m, mask=mi, other=0.0)
        vt = tl.load(row + _VT * rr_m, mask=mi, other=0.0)
        cm = tl.load(row + _CM * rr_m, mask=mi, other=1.0)
        ha = tl.load(row + _HA * rr_m, mask=mi, other=0.0)
        bb = tl.load(row + _B * rr_m, mask=mi, other=0.0)
        vb = tl.load(row + _VB * rr_m, mask=mi, other=0.0)
        bh = tl.load(row + _BH * rr_m, mask=mi, other=0.0)
        c = tl.load(row + _C * rr_m, mask=mi, other=0.0)
        de = tl.load(row + _DE * rr_m, mask=mi, other=0.0)
        vpk = tl.load(row + _VP * rr_m, mask=mi, other=0.0)
        pu = tl.load(row + _PU * rr_m, mask=mi, other=0.0)
        ru = tl.load(row + _RU * rr_m, mask=mi, other=0.0)
        um = tl.load(row + _UM * rr_m, mask=mi, other=0.0)
        ie = tl.load(row + _IE * rr_m, mask=mi, other=0.0)
        ist = tl.load(row + _IS * rr_m, mask=mi, other=0.0)
        h = tl.load(cst_ptr)
        tiny = tl.load(cst_ptr + 1)
        b_switch = tl.load(cst_ptr + 2)
        # the synaptic current at v in receptor order (a conductance's g B(v) (e_rev - v)) and
        # the summed conductance g B(v), as cpu_kernels._input_currents
        isyn = tl.zeros_like(v)
        g = tl.zeros_like(v)
        mgc = tl.load(row + _MGC * rr_m, mask=mi, other=0.0)
        for r in tl.static_range(RMAX):
            rm = mi & (r < nrec)
            s = tl.load(syn_ptr + synb + (r * B + b) * ng, mask=rm, other=0.0, cache_modifier=".cg")
            rc = rcp_ptr + (gid * RMAX + r) * RC
            kind = tl.load(rc + _KIND, mask=rm, other=0.0)
            x = tl.where(kind > 1, _mg_unblocked(s, v, mgc, cst_ptr), s)
            cond = rm & (kind > 0)
            e_rev = tl.load(rc + _EREV, mask=cond, other=0.0)
            isyn = tl.where(cond, isyn + x * (e_rev - v), tl.where(rm, isyn + s, isyn))
            g = tl.where(cond, g + x, g)
        itot = isyn + ie
        itot = itot + ist
        dv = _div(k * (v - vr) * (v - vt) - u + itot, cm)
        # Izhikevich (2003), kind 4: its own dv/dt; the rest is the generic 2007 update with
        # v_r = 0, peak_u = reset_u = 0, u_max = inf and c_m = 1, which computes the same values
        dv03 = (tl.load(cst_ptr + 6) * v + tl.load(cst_ptr + 7)) * v + tl.load(cst_ptr + 8) - u
        dv = tl.where(kd == 4, dv03 + itot, dv)
        # the conductances' -g v at the end of the step: dv / (1 + h g / c_m), which is dv
        # exactly without conductance receptors (g = 0)
        dv = _div(dv, tl.load(cst_ptr + 4) + _div(h * g, cm))
        x = tl.maximum(v - vb, 0.0)
        nullc = tl.where(
            kd == 2, bb * x * x * x, tl.where((kd == 3) & (v <= b_switch), bh, bb) * (v - vr)
        )
        hdu = ha * (nullc - u)
        vnew = v + h * dv
        ueul = u + hdu
        vsp = vpk + pu * ueul
        fired = (vnew >= vsp) & mi
        gap = tl.maximum((vpk + pu * u) - v, 0.0)
        theta = tl.minimum(_div(gap, tl.maximum(gap + (vnew - vsp), tiny)), 1.0)
        usp = u + theta * hdu
        v_out = tl.where(fired, c + ru * usp, vnew)
        u_out = tl.where(fired, tl.minimum(usp + de, um), ueul)
        return v_out, u_out, fired

    @_device
    def _any(mask):
        # whether any lane of the block is set (so that a block without neurons of a model
        # skips that model's update)
        return tl.max(mask.to(tl.int32), axis=0) > 0

    @_device
    def _mg_unblocked(x, v, mgc, cst_ptr):
        # x B(v), the Mg2+ block 1 / (1 + [Mg]/3.57 exp(-0.062 v)) (cpu_kernels._mg_unblocked)
        one = tl.load(cst_ptr + 4)
        return x * _div(one, one + mgc * _exp(tl.load(cst_ptr + 5) * v))

    @_device
    def _exp_euler(v, u, mc, kd, b, i, syn_ptr, synb, ng, nrec, B, gid, mtab_ptr, rs_m,
                   rr_m, cst_ptr, rcp_ptr, RC, e_l, RMAX: tl.constexpr):  # fmt: skip
        """LIFCond (kind 5) and LIFAHP (kind 6) membrane of the lanes ``mc``: exponential Euler
        towards the steady state of the step, each receptor taken at its mean over the step
        (conductances Mg2+-blocked at v where set), as cpu_kernels._lif_cond and _lif_ahp
        (the torch steps' order); ``u`` is LIFAHP's AHP gate. Returns the new V (threshold,
        reset and the gate's update are the caller's)."""
        row = mtab_ptr + b * rs_m + i
        gl = tl.load(row + _GL * rr_m, mask=mc, other=1.0)
        ie = tl.load(row + _IE * rr_m, mask=mc, other=0.0)
        ist = tl.load(row + _IS * rr_m, mask=mc, other=0.0)
        # LIFAHP: the AHP conductance over the step joins the leak
        gah = u * tl.load(row + _AHPM * rr_m, mask=mc, other=0.0)
        gah = gah * tl.load(row + _GAHP * rr_m, mask=mc, other=0.0)
        ahp = kd == 6
        gt = tl.where(ahp, gah + gl, gl)
        dr = tl.where(
            ahp,
            gah * tl.load(row + _EAHP * rr_m, mask=mc, other=0.0)
            + tl.load(row + _GLEL * rr_m, mask=mc, other=0.0),
            gl * e_l,
        )
        dr = dr + ie
        dr = dr + ist
        mgc = tl.load(row + _MGC * rr_m, mask=mc, other=0.0)
        for r in tl.static_range(RMAX):
            rm = mc & (r < nrec)
            s = tl.load(syn_ptr + synb + (r * B + b) * ng, mask=rm, other=0.0, cache_modifier=".cg")
            rc = rcp_ptr + (gid * RMAX + r) * RC
            kind = tl.load(rc + _KIND, mask=rm, other=0.0)
            e_rev = tl.load(rc + _EREV, mask=rm, other=0.0)
            x = s * tl.load(rc + _SMEAN, mask=rm, other=0.0)
            x = tl.where(kind > 1, _mg_unblocked(x, v, mgc, cst_ptr), x)
            gt = tl.where(rm & (kind > 0), gt + x, gt)
            dr = tl.where(rm, tl.where(kind > 0, dr + x * e_rev, dr + x), dr)
        vinf = _div(dr, gt)
        return vinf + (v - vinf) * _exp(tl.load(row + _NHCM * rr_m, mask=mc, other=0.0) * gt)

    @_device
    def _adex_rates(v, w, q, fc, b, i, ma, syn_ptr, synb, ng, nrec, B, gid, row, rr_m, cst_ptr,
                    rcp_ptr, RC, e_l, vth, RMAX: tl.constexpr):  # fmt: skip
        """dV/dt and dw/dt of the AdEx lanes ``ma`` at (v, w) and sub-step boundary q, as
        cpu_kernels._adex_rates (the linear receptor terms summed in receptor order)."""
        J = (RC - _JCOL) // 3
        gt = tl.zeros_like(v)
        dr = tl.zeros_like(v)
        for r in tl.static_range(RMAX):
            rm = ma & (r < nrec)
            s = tl.load(syn_ptr + synb + (r * B + b) * ng, mask=rm, other=0.0, cache_modifier=".cg")
            rc = rcp_ptr + (gid * RMAX + r) * RC + _JCOL + q
            cg = tl.load(rc, mask=rm, other=0.0)
            ci = tl.load(rc + J, mask=rm, other=0.0)
            if r == 0:
                gt = tl.where(rm, s * cg, gt)
                dr = tl.where(rm, s * ci, dr)
            else:
                gt = tl.where(rm, gt + s * cg, gt)
                dr = tl.where(rm, dr + s * ci, dr)
        g = gt + tl.load(row + _GL * rr_m, mask=ma, other=0.0)
        d = dr + tl.load(row + _ADR * rr_m, mask=ma, other=0.0)
        arg = _div(v - vth, tl.load(row + _DLT * rr_m, mask=ma, other=1.0))
        arg = tl.minimum(arg, tl.load(row + _EAM * rr_m, mask=ma, other=0.0))
        kv = tl.load(row + _SSC * rr_m, mask=ma, other=0.0) * _exp(arg) + d
        kv = kv - g * v
        kv = kv - w
        mgc = tl.load(row + _MGC * rr_m, mask=ma, other=0.0)
        for r in tl.static_range(RMAX):
            rm = ma & (r < nrec)
            rc = rcp_ptr + (gid * RMAX + r) * RC
            blk = rm & (tl.load(rc + _KIND, mask=rm, other=0.0) > 1)
            s = tl.load(syn_ptr + synb + (r * B + b) * ng, mask=blk, other=0.0,
                        cache_modifier=".cg")  # fmt: skip
            x = _mg_unblocked(s * tl.load(rc + _JCOL + 2 * J + q, mask=blk, other=0.0), v, mgc,
                              cst_ptr)  # fmt: skip
            kv = tl.where(blk, kv + x * (tl.load(rc + _EREV, mask=blk, other=0.0) - v), kv)
        kv = kv * fc
        ca = tl.load(row + _A * rr_m, mask=ma, other=0.0)
        kw = _div(ca * (v - e_l) - w, tl.load(row + _TW * rr_m, mask=ma, other=1.0))
        return kv, kw

    @_device
    def _adex(v, w, refr, ma, b, i, syn_ptr, synb, ng, nrec, B, gid, mtab_ptr, rs_m, rr_m,
              cst_ptr, rcp_ptr, RC, nsub, e_l, vth, RMAX: tl.constexpr):  # fmt: skip
        """AdEx (kind 7) membrane and adaptation of the lanes ``ma`` over one step: ``nsub``
        Heun sub-steps with V clamped at v_peak, dV/dt = 0 while refractory, as
        cpu_kernels._adex (threshold and reset are the caller's)."""
        row = mtab_ptr + b * rs_m + i
        one = tl.load(cst_ptr + 4)
        fc = _div(tl.where(refr <= 0, one, tl.zeros_like(one)),
                  tl.load(row + _CM * rr_m, mask=ma, other=1.0))  # fmt: skip
        hs = tl.load(row + _HS * rr_m, mask=ma, other=0.0)
        hh = tl.load(row + _HHS * rr_m, mask=ma, other=0.0)
        vpk = tl.load(row + _VP * rr_m, mask=ma, other=0.0)
        for q in range(nsub):
            k1v, k1w = _adex_rates(v, w, q, fc, b, i, ma, syn_ptr, synb, ng, nrec, B, gid, row,
                                   rr_m, cst_ptr, rcp_ptr, RC, e_l, vth, RMAX)  # fmt: skip
            vp = tl.minimum(v + hs * k1v, vpk)
            wp = w + hs * k1w
            k2v, k2w = _adex_rates(vp, wp, q + 1, fc, b, i, ma, syn_ptr, synb, ng, nrec, B, gid,
                                   row, rr_m, cst_ptr, rcp_ptr, RC, e_l, vth, RMAX)  # fmt: skip
            v = tl.minimum(v + hh * (k1v + k2v), vpk)
            w = w + hh * (k1w + k2w)
        return v, w, vpk

    @_device
    def _fire(
        tf,
        b,
        i,
        m,
        v_ptr,
        refr_ptr,
        syn_ptr,
        synb,
        ng,
        nrec,
        e_l_ptr,
        p22_ptr,
        c0_ptr,
        vth_ptr,
        vres_ptr,
        ref_ptr,
        p21_ptr,
        rs_e_l,
        rs_p22,
        rs_c0,
        rs_vth,
        rs_vres,
        rs_ref,
        rs_p21,
        rr_p21,
        indptr_ptr,
        cnt_ptr,
        spk_ptr,
        spk_lo_ptr,
        spk_hi_ptr,
        recf_ptr,
        rec_n_ptr,
        rec_t_ptr,
        rec_i_ptr,
        rec_cap,
        pop_ptr,
        rate_ptr,
        tstart_ptr,
        u_ptr,
        kind_ptr,
        mtab_ptr,
        rs_m,
        rr_m,
        cst_ptr,
        rcp_ptr,
        RC,
        nsub,
        gid_ptr,
        NP,
        N,
        B,
        RMAX: tl.constexpr,
        REC_SPIKES: tl.constexpr,
        REC_RATE: tl.constexpr,
        HAS_IZH: tl.constexpr,
        HAS_COND: tl.constexpr,
        HAS_ADEX: tl.constexpr,
        BLOCK: tl.constexpr,
    ):
        """Membrane of step tf (moved with the synaptic state after step tf - 1), threshold,
        reset, refractoriness; each spike appended with its synapse-table row to the spike
        list of step tf (list tf % 3) and, when recorded, to the records. The state is read
        from L2 (``.cg``): under the pipelined launch the kernel that wrote it last may have
        ended after this one began."""
        bi = b * N + i
        v = tl.load(v_ptr + bi, mask=m, other=0.0, cache_modifier=".cg")
        refr = tl.load(refr_ptr + bi, mask=m, other=0, cache_modifier=".cg")
        e_l = tl.load(e_l_ptr + b * rs_e_l + i, mask=m, other=0.0)
        p22 = tl.load(p22_ptr + b * rs_p22 + i, mask=m, other=0.0)
        c0 = tl.load(c0_ptr + b * rs_c0 + i, mask=m, other=0.0)
        vn = (v - e_l) * p22 + c0
        for r in tl.static_range(RMAX):
            rm = m & (r < nrec)
            s = tl.load(syn_ptr + synb + (r * B + b) * ng, mask=rm, other=0.0, cache_modifier=".cg")
            q = tl.load(p21_ptr + r * rr_p21 + b * rs_p21 + i, mask=rm, other=0.0)
            vn = tl.where(rm, vn + s * q, vn)
        v0 = v
        r0 = refr
        vsub = vn + e_l
        if HAS_IZH or HAS_COND or HAS_ADEX:
            kd = tl.load(kind_ptr + i, mask=m, other=0)  # each neuron's model (see below)
            gid = tl.load(gid_ptr + i, mask=m, other=0)  # and group (its receptors' table)
        if HAS_COND:
            # LIFCond (kind 5) and LIFAHP (kind 6): exponential Euler. LIFCond then goes on
            # as LIF (V held while refractory, threshold, reset)
            mc = m & ((kd == 5) | (kd == 6))
            gate = tl.zeros_like(v0)
            vc = v0
            if _any(mc):  # (a block of other neurons skips it)
                gate = tl.load(u_ptr + bi, mask=mc, other=0.0, cache_modifier=".cg")
                vc = _exp_euler(v0, gate, mc, kd, b, i, syn_ptr, synb, ng, nrec, B, gid,
                                mtab_ptr, rs_m, rr_m, cst_ptr, rcp_ptr, RC, e_l, RMAX)  # fmt: skip
            vsub = tl.where(mc, vc, vsub)
        v = tl.where(refr <= 0, vsub, v)
        rdec = tl.maximum(refr - 1, 0)  # the refractory count after a step without a spike
        refr = rdec
        vth = tl.load(vth_ptr + b * rs_vth + i, mask=m, other=0.0)
        fired = (v >= vth) & m
        vres = tl.load(vres_ptr + b * rs_vres + i, mask=m, other=0.0)
        refs = tl.load(ref_ptr + b * rs_ref + i, mask=m, other=0)
        v = tl.where(fired, vres, v)
        refr = tl.where(fired, refs, refr)
        if HAS_COND:
            # LIFAHP: no reset; a spike where V crossed v_th upwards outside the refractory
            # period; the AHP gate decays, and is 1 wherever V is above v_th
            ma = m & (kd == 6)
            fa = ma & (v0 <= vth) & (vc > vth) & (r0 <= 0)
            v = tl.where(ma, vc, v)
            fired = tl.where(ma, fa, fired)
            refr = tl.where(ma, tl.where(fa, refs, rdec), refr)
            ahpd = tl.load(mtab_ptr + b * rs_m + i + _AHPD * rr_m, mask=ma, other=0.0)
            gate = tl.where(vc > vth, tl.load(cst_ptr + 4), gate * ahpd)
            tl.store(u_ptr + bi, gate, mask=ma)
        if HAS_ADEX:
            # AdEx (kind 7): Heun sub-steps, then a spike where V reached v_peak: reset,
            # refractory steps, w + b
            ma = m & (kd == 7)
            if _any(ma):
                w = tl.load(u_ptr + bi, mask=ma, other=0.0, cache_modifier=".cg")
                va, w, vpk = _adex(v0, w, r0, ma, b, i, syn_ptr, synb, ng, nrec, B, gid,
                                   mtab_ptr, rs_m, rr_m, cst_ptr, rcp_ptr, RC, nsub, e_l, vth,
                                   RMAX)  # fmt: skip
                fa = ma & (va >= vpk)
                v = tl.where(ma, tl.where(fa, vres, va), v)
                refr = tl.where(ma, tl.where(fa, refs, rdec), refr)
                bw = tl.load(mtab_ptr + b * rs_m + i + _B * rr_m, mask=fa, other=0.0)
                tl.store(u_ptr + bi, tl.where(fa, w + bw, w), mask=ma)
                fired = tl.where(ma, fa, fired)
        if HAS_IZH:
            # Izhikevich neurons (2007: kind 1 generic, 2 FS, 3 TC / RTN; 2003: kind 4) in
            # place of the LIF update, as cpu_kernels._izhikevich and _izhikevich2003 (the
            # torch step's operations in their order)
            mi = m & (kd > 0) & (kd < 5)
            if _any(mi):
                vi, ui, fi = _izhikevich(v0, bi, b, i, mi, kd, u_ptr, mtab_ptr, rs_m, rr_m,
                                         cst_ptr, syn_ptr, synb, ng, nrec, B, gid, rcp_ptr, RC,
                                         RMAX)  # fmt: skip
                v = tl.where(mi, vi, v)
                fired = tl.where(mi, fi, fired)
                tl.store(u_ptr + bi, ui, mask=mi)
        tl.store(v_ptr + bi, v, mask=m)
        tl.store(refr_ptr + bi, refr, mask=m)
        # the spike list of step tf: each spike with its row of the synapse table, so the
        # delivery reads no row pointers
        one = tl.full([BLOCK], 1, tl.int32)
        lst = (tf % 3) * B * N
        pos = lst + tl.atomic_add(cnt_ptr + (tf % 3) + 0 * i, one, mask=fired)
        tl.store(spk_ptr + pos, bi, mask=fired)
        tl.store(spk_lo_ptr + pos, tl.load(indptr_ptr + i, mask=fired, other=0), mask=fired)
        tl.store(spk_hi_ptr + pos, tl.load(indptr_ptr + i + 1, mask=fired, other=0), mask=fired)
        if REC_SPIKES:
            keep = fired & (tl.load(recf_ptr + i, mask=m, other=0) != 0)
            q = tl.atomic_add(rec_n_ptr + 0 * i, one, mask=keep)
            ok = keep & (q < rec_cap)
            tl.store(rec_t_ptr + q, tl.zeros_like(q) + tf.to(tl.int32), mask=ok)
            tl.store(rec_i_ptr + q, bi, mask=ok)
        if REC_RATE:
            pop = tl.load(pop_ptr + i, mask=m, other=0)
            cell = ((tf - tl.load(tstart_ptr)) * B + b) * NP + pop
            tl.atomic_add(rate_ptr + cell, one, mask=fired)

    @triton.jit(do_not_specialize=["j"])
    def lif_step(
        base_ptr,
        j,
        v_ptr,
        refr_ptr,
        syn_ptr,
        buf_ptr,
        slot0_ptr,
        ng_ptr,
        synb_ptr,
        gid_ptr,
        nrec_ptr,
        e_l_ptr,
        p22_ptr,
        c0_ptr,
        vth_ptr,
        vres_ptr,
        ref_ptr,
        p21_ptr,
        gain_ptr,
        decay_ptr,
        rs_e_l,
        rs_p22,
        rs_c0,
        rs_vth,
        rs_vres,
        rs_ref,
        rs_p21,
        rs_gain,
        rr_p21,
        rr_gain,
        pe_h_ptr,
        pe_tab_ptr,
        pe_w_ptr,
        prows_ptr,
        rs_tab,
        qs_tab,
        qs_h,
        indptr_ptr,
        cnt_ptr,
        spk_ptr,
        spk_lo_ptr,
        spk_hi_ptr,
        recf_ptr,
        rec_n_ptr,
        rec_t_ptr,
        rec_i_ptr,
        rec_cap,
        pop_ptr,
        rate_ptr,
        tstart_ptr,
        u_ptr,
        kind_ptr,
        mtab_ptr,
        rs_m,
        rr_m,
        cst_ptr,
        rcp_ptr,
        RC,
        nsub,
        NP,
        N,
        S,
        B,
        D,
        RMAX: tl.constexpr,
        L,
        JV: tl.constexpr,
        MAXE: tl.constexpr,
        HAS_POISSON: tl.constexpr,
        HAS_GAIN: tl.constexpr,
        REC_SPIKES: tl.constexpr,
        REC_RATE: tl.constexpr,
        HAS_IZH: tl.constexpr,
        HAS_COND: tl.constexpr,
        HAS_ADEX: tl.constexpr,
        BLOCK: tl.constexpr,
        PDL: tl.constexpr = False,
        PHASE: tl.constexpr = 0,
    ):
        """Step t = base + j of neurons [blk * BLOCK, (blk + 1) * BLOCK) of member b (program
        ids), or the part of it that ``PHASE`` names (STEP, HEAD, BODY, TAIL: see the module
        docstring)."""
        if PDL and PHASE == 0:  # let the delivery of this step launch
            gdc_launch_dependents()
        t = tl.load(base_ptr) + j
        b = tl.program_id(1).to(tl.int64)
        i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        m = i < N
        slot0 = tl.load(slot0_ptr + i, mask=m, other=0)
        ng = tl.load(ng_ptr + i, mask=m, other=0)
        synb = tl.load(synb_ptr + i, mask=m, other=0)
        nrec = tl.load(nrec_ptr + i, mask=m, other=0)
        if PHASE <= 1:  # STEP, HEAD: the membrane and spikes of step t first
            _fire(t, b, i, m, v_ptr, refr_ptr, syn_ptr, synb, ng, nrec, e_l_ptr, p22_ptr,
                  c0_ptr, vth_ptr, vres_ptr, ref_ptr, p21_ptr, rs_e_l, rs_p22, rs_c0, rs_vth,
                  rs_vres, rs_ref, rs_p21, rr_p21, indptr_ptr, cnt_ptr, spk_ptr, spk_lo_ptr,
                  spk_hi_ptr, recf_ptr, rec_n_ptr, rec_t_ptr, rec_i_ptr, rec_cap, pop_ptr,
                  rate_ptr, tstart_ptr, u_ptr, kind_ptr, mtab_ptr, rs_m, rr_m, cst_ptr,
                  rcp_ptr, RC, nsub, gid_ptr, NP, N, B, RMAX, REC_SPIKES, REC_RATE, HAS_IZH,
                  HAS_COND, HAS_ADEX, BLOCK)  # fmt: skip
        if PHASE != 1:  # all but HEAD: the synaptic state decays and takes step t's input
            bufb = buf_ptr + (t % D) * B * S + b * S
            gid = tl.load(gid_ptr + i, mask=m, other=0)
            p0 = tl.zeros([BLOCK], syn_ptr.dtype.element_ty)
            p1 = tl.zeros_like(p0)
            p2 = tl.zeros_like(p0)
            p3 = tl.zeros_like(p0)
            if PDL:
                # programmatic dependent launch: the delivery before this kernel may still
                # be running. Nothing above read what it writes; the Poisson terms (the bulk
                # of the work) are drawn now, the buffer rows are read after the wait. The
                # terms of a slot are summed first, then added to the buffer value: the
                # reference's order where a slot has one Poisson entry (MAXE == 1)
                tl.static_assert(RMAX <= 4, "PDL step: at most 4 receptors")
                if HAS_POISSON:
                    for r in tl.static_range(RMAX):
                        rm = m & (r < nrec)
                        slot = slot0 + r * ng
                        pr = tl.zeros_like(p0)
                        for q in tl.static_range(MAXE):
                            pr = _poisson_add(pr, t, b, q, slot, rm, pe_h_ptr, pe_tab_ptr,
                                              pe_w_ptr, prows_ptr, rs_tab, qs_tab, qs_h, S, L,
                                              JV)  # fmt: skip
                        if r == 0:
                            p0 = pr
                        if r == 1:
                            p1 = pr
                        if r == 2:
                            p2 = pr
                        if r == 3:
                            p3 = pr
                gdc_wait()
                if PHASE >= 2:  # BODY, TAIL: let the delivery of step t launch
                    gdc_launch_dependents()
            for r in tl.static_range(RMAX):
                rm = m & (r < nrec)
                slot = slot0 + r * ng
                x = tl.load(bufb + slot, mask=rm, other=0.0, cache_modifier=".cg")
                if HAS_POISSON:
                    if PDL:
                        if r == 0:
                            x = x + p0
                        if r == 1:
                            x = x + p1
                        if r == 2:
                            x = x + p2
                        if r == 3:
                            x = x + p3
                    else:
                        for q in tl.static_range(MAXE):
                            x = _poisson_add(x, t, b, q, slot, rm, pe_h_ptr, pe_tab_ptr,
                                             pe_w_ptr, prows_ptr, rs_tab, qs_tab, qs_h, S, L,
                                             JV)  # fmt: skip
                if HAS_GAIN:
                    g = tl.load(gain_ptr + r * rr_gain + b * rs_gain + i, mask=rm, other=1.0)
                    x = x * g
                d = tl.load(decay_ptr + gid * RMAX + r, mask=rm, other=0.0)
                sp = syn_ptr + synb + (r * B + b) * ng
                s = tl.load(sp, mask=rm, other=0.0, cache_modifier=".cg")
                tl.store(sp, s * d + x, mask=rm)
                tl.store(bufb + slot, tl.zeros_like(x), mask=rm)
        if PHASE >= 2 and (tl.program_id(0) == 0) & (tl.program_id(1) == 0):
            # pipelined: the count of list (t + 2) % 3 is emptied here (its delivery, of step
            # t - 1, has ended; the next update fills it after its own wait)
            tl.store(cnt_ptr + (t + 2) % 3, 0)
        if PHASE == 2:  # BODY: the membrane and spikes of step t + 1, with the state just set
            _fire(t + 1, b, i, m, v_ptr, refr_ptr, syn_ptr, synb, ng, nrec, e_l_ptr, p22_ptr,
                  c0_ptr, vth_ptr, vres_ptr, ref_ptr, p21_ptr, rs_e_l, rs_p22, rs_c0, rs_vth,
                  rs_vres, rs_ref, rs_p21, rr_p21, indptr_ptr, cnt_ptr, spk_ptr, spk_lo_ptr,
                  spk_hi_ptr, recf_ptr, rec_n_ptr, rec_t_ptr, rec_i_ptr, rec_cap, pop_ptr,
                  rate_ptr, tstart_ptr, u_ptr, kind_ptr, mtab_ptr, rs_m, rr_m, cst_ptr,
                  rcp_ptr, RC, nsub, gid_ptr, NP, N, B, RMAX, REC_SPIKES, REC_RATE, HAS_IZH,
                  HAS_COND, HAS_ADEX, BLOCK)  # fmt: skip

    @triton.jit(do_not_specialize=["j"])
    def deliver(
        base_ptr,
        j,
        cnt_ptr,
        spk_ptr,
        spk_lo_ptr,
        spk_hi_ptr,
        target_ptr,
        weight_ptr,
        dsteps_ptr,
        buf_ptr,
        N,
        S,
        B,
        D,
        SPLIT: tl.constexpr,
        DBLOCK: tl.constexpr,
        PDL: tl.constexpr = False,
        PIPE: tl.constexpr = False,
    ):
        """Add the weights of the spikes of step t = base + j (each spike's row cut into SPLIT
        parts, the parts shared out over the grid) into the buffer rows of their delays."""
        t = tl.load(base_ptr) + j
        if PDL:
            if PIPE:
                # pipelined: the spikes of step t were listed by the update before the one
                # running now (ended before that one could start), so this kernel lets the
                # next update launch at once and delivers while the running one works
                gdc_launch_dependents()
            else:
                # wait for this step's neuron update (and, through it, everything before),
                # then let the next update launch: it draws its Poisson input while this
                # delivery runs
                gdc_wait()
                gdc_launch_dependents()
        pid = tl.program_id(0)
        G = tl.num_programs(0)
        lst = (t % 3) * B * N
        n_spk = tl.load(cnt_ptr + (t % 3), cache_modifier=".cg")
        # the entry of this program's first part, read beside the count (not after it);
        # each pass reads the next one ahead (entries past the count are never used)
        k = tl.minimum(pid // SPLIT, B * N - 1)
        src = tl.load(spk_ptr + lst + k, cache_modifier=".cg")
        a0 = tl.load(spk_lo_ptr + lst + k, cache_modifier=".cg")
        a1 = tl.load(spk_hi_ptr + lst + k, cache_modifier=".cg")
        for w in range(pid, n_spk * SPLIT, G):
            kn = tl.minimum((w + G) // SPLIT, B * N - 1)
            src_n = tl.load(spk_ptr + lst + kn, cache_modifier=".cg")
            a0_n = tl.load(spk_lo_ptr + lst + kn, cache_modifier=".cg")
            a1_n = tl.load(spk_hi_ptr + lst + kn, cache_modifier=".cg")
            part = w % SPLIT
            size = (a1 - a0 + SPLIT - 1) // SPLIT
            lo = a0 + part * size
            hi = tl.minimum(lo + size, a1)
            base = buf_ptr + (src // N) * S
            for jj in range(lo, hi, DBLOCK):
                o = jj + tl.arange(0, DBLOCK)
                mm = o < hi
                tg = tl.load(target_ptr + o, mask=mm, other=0).to(tl.int64)
                d = tl.load(dsteps_ptr + o, mask=mm, other=0).to(tl.int64)
                wt = tl.load(weight_ptr + o, mask=mm, other=0.0)
                tl.atomic_add(base + ((d + t) % D) * B * S + tg, wt, mask=mm, sem="relaxed")
            src, a0, a1 = src_n, a0_n, a1_n
        if PIPE:
            # end only after the update of step t (the next update waits for this kernel,
            # and so for that update too)
            if PDL:
                gdc_wait()
        else:
            # the count of list (t + 2) % 3: read by the delivery of step t - 1 (ended before
            # this one began), next filled by the update of step t + 2 (starts after this ends)
            tl.store(cnt_ptr + ((t + 2) % 3), 0)

    @_device
    def _uniform64(h, counter):
        # top 53 bits of mix64(h + counter * G2) as a float64 in [0, 1) (zentai.rng)
        bits = _mix64(h + counter.to(tl.uint64) * 0xD1B54A32D192ED03)
        return (bits >> 11).to(tl.float64) * (1.0 / 9007199254740992.0)

    @_device
    def _redraw(h, j, mu, sigma, lo, hi, act, R: tl.constexpr):
        # Normal(mu, sigma) of synapse j, first of R rounds inside [lo, hi], else the last
        # round's value clipped (zentai.build.procedural); mu where sigma == 0
        out = mu
        v = mu
        todo = act & (sigma > 0)
        r = 0
        go = tl.max(todo.to(tl.int32), axis=0) > 0
        while go:
            c = 2 * (j * R + r)
            u1 = _uniform64(h, c)
            u2 = _uniform64(h, c + 1)
            z = tl.sqrt(-2.0 * tl.log(1.0 - u1)) * tl.cos(6.283185307179586 * u2)
            v = mu + sigma * z
            ok = todo & (v >= lo) & (v <= hi)
            out = tl.where(ok, v, out)
            todo = todo & (ok == 0)
            r += 1
            go = (tl.max(todo.to(tl.int32), axis=0) > 0) & (r < R)
        return tl.where(todo, tl.minimum(tl.maximum(v, lo), hi), out)

    @triton.jit(do_not_specialize=["j"])
    def deliver_procedural(
        base_ptr,
        j,
        cnt_ptr,
        spk_ptr,
        pi_ptr,
        pf_ptr,
        segoff_ptr,
        buf_ptr,
        n_seg_total,
        N,
        S,
        B,
        D,
        NPROJ: tl.constexpr,
        R: tl.constexpr,
        PBLOCK: tl.constexpr,
    ):
        """Regenerate and deliver the procedural synapses of step t's spikes: one lane per
        (spike, segment of a projection's posts), geometric skipping inside the segment."""
        t = tl.load(base_ptr) + j
        lst = (t % 3) * B * N  # step t's spike list (see lif_step)
        n_spk = tl.load(cnt_ptr + (t % 3), cache_modifier=".cg")
        n_items = n_spk.to(tl.int64) * n_seg_total
        for w0 in range(tl.program_id(0) * PBLOCK, n_items, tl.num_programs(0) * PBLOCK):
            item = w0 + tl.arange(0, PBLOCK).to(tl.int64)
            live = item < n_items
            k = tl.where(live, item // n_seg_total, 0)
            gs = item % n_seg_total
            q = tl.zeros_like(gs)
            for r in tl.static_range(1, NPROJ):
                q += (gs >= tl.load(segoff_ptr + r)).to(tl.int64)
            s = gs - tl.load(segoff_ptr + q)
            src = tl.load(spk_ptr + lst + k, mask=live, other=0, cache_modifier=".cg")
            b = src // N
            i = src - b * N
            pre0 = tl.load(pi_ptr + q * 8 + 0)
            pre1 = tl.load(pi_ptr + q * 8 + 1)
            n_post = tl.load(pi_ptr + q * 8 + 2)
            slot = tl.load(pi_ptr + q * 8 + 3)
            seg_len = tl.load(pi_ptr + q * 8 + 4)
            kc = tl.load(pi_ptr + q * 8 + 5).to(tl.uint64, bitcast=True)
            kw = tl.load(pi_ptr + q * 8 + 6).to(tl.uint64, bitcast=True)
            kd = tl.load(pi_ptr + q * 8 + 7).to(tl.uint64, bitcast=True)
            p = tl.load(pf_ptr + q * 11 + 0)
            log1mp = tl.load(pf_ptr + q * 11 + 1)
            wmu = tl.load(pf_ptr + q * 11 + 2)
            wsd = tl.load(pf_ptr + q * 11 + 3)
            wlo = tl.load(pf_ptr + q * 11 + 4)
            whi = tl.load(pf_ptr + q * 11 + 5)
            dmu = tl.load(pf_ptr + q * 11 + 6)
            dsd = tl.load(pf_ptr + q * 11 + 7)
            dlo = tl.load(pf_ptr + q * 11 + 8)
            dhi = tl.load(pf_ptr + q * 11 + 9)
            dt = tl.load(pf_ptr + q * 11 + 10)
            iu = i.to(tl.uint64)
            hc = _mix64(iu * 0x9E3779B97F4A7C15 + kc)  # rng.stream_key(key, i)
            hw = _mix64(iu * 0x9E3779B97F4A7C15 + kw)
            hd = _mix64(iu * 0x9E3779B97F4A7C15 + kd)
            act = live & (i >= pre0) & (i < pre1) & (p > 0)
            pos = s * seg_len - 1
            end = tl.minimum((s + 1) * seg_len, n_post)
            n = 0
            go = tl.max(act.to(tl.int32), axis=0) > 0
            while go:
                u = _uniform64(hc, s * 1048576 + n)
                skip = tl.floor(tl.log(1.0 - u) / log1mp)
                skip = tl.where(act, skip, 0.0).to(tl.int64)
                pos = tl.where(act, pos + 1 + skip, pos)
                act = act & (pos < end)
                jp = tl.where(act, pos, 0)
                wt = _redraw(hw, jp, wmu, wsd, wlo, whi, act, R)
                dd = _redraw(hd, jp, dmu, dsd, dlo, dhi, act, R)
                x = dd / dt  # steps: round half to even (torch.round), at least 1
                f = tl.floor(x)
                fr = x - f
                odd = (f - 2.0 * tl.floor(f * 0.5)) > 0
                st = tl.where(fr > 0.5, f + 1.0, tl.where(fr < 0.5, f, tl.where(odd, f + 1.0, f)))
                st = tl.maximum(st, 1.0).to(tl.int64)
                cell = ((st + t) % D) * B * S + b * S + slot + jp
                tl.atomic_add(
                    buf_ptr + cell, wt.to(buf_ptr.dtype.element_ty), mask=act, sem="relaxed"
                )
                n += 1
                go = tl.max(act.to(tl.int32), axis=0) > 0
