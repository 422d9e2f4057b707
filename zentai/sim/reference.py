"""Float64 reference integrators for single neurons, written straight from the equations.

Two kinds of reference, used by the tests of :mod:`zentai.sim.models`:

* ``*_reference``: plain per-neuron Python/NumPy loops that apply the *same discretisation* as
  the engine (documented in each engine module) but are written independently from the
  tensor code. The engine in float64 must reproduce them to rounding error.
* ``lifcond_ode`` and ``adex_ode``: accurate solutions of the continuous equations with
  :func:`scipy.integrate.solve_ivp` (DOP853, tight tolerances, threshold events). They check
  the discretisation itself.

Conventions shared by all functions (the engine's, see :mod:`zentai.sim.models.base`): step
``s`` covers ``[s dt, (s + 1) dt]``; ``i_stim_pa[s]`` is the external current during step ``s``;
``arriving[s, r]`` is the weight reaching receptor ``r`` in step ``s``, added to the synaptic
trace at the *end* of step ``s`` (so it first acts in step ``s + 1``); ``v[s]`` is the membrane
potential at the end of step ``s`` (after any reset) and a spike detected in step ``s`` has the
time ``(s + 1) dt``. Units: ms, mV, pA, nS, pF (Izhikevich 2003: dimensionless currents).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.integrate import solve_ivp

from zentai.celltypes.models import (
    LIF,
    LIFAHP,
    AdEx,
    Izhikevich2003,
    Izhikevich2007,
    LIFCond,
    Receptor,
)

__all__ = [
    "VSTrace",
    "VTrace",
    "VUTrace",
    "VWTrace",
    "adex_ode",
    "adex_reference",
    "izhikevich2003_reference",
    "izhikevich2007_reference",
    "lif_reference",
    "lifahp_reference",
    "lifcond_ode",
    "lifcond_reference",
]


class VTrace(NamedTuple):
    """Membrane potential ``v`` (T,) mV at the end of each step, and spike times (ms)."""

    v: np.ndarray
    spike_times_ms: np.ndarray


class VUTrace(NamedTuple):
    """Izhikevich ``v`` (T,) and recovery variable ``u`` (T,), and spike times (ms)."""

    v: np.ndarray
    u: np.ndarray
    spike_times_ms: np.ndarray


class VWTrace(NamedTuple):
    """AdEx ``v`` (T,) mV and adaptation current ``w`` (T,) pA, and spike times (ms)."""

    v: np.ndarray
    w: np.ndarray
    spike_times_ms: np.ndarray


def _inputs(
    receptors: tuple[Receptor, ...], i_stim: np.ndarray, arriving: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    i_stim = np.asarray(i_stim, dtype=np.float64).reshape(-1)
    n_rec = len(receptors)
    if arriving is None:
        arriving = np.zeros((len(i_stim), n_rec))
    arriving = np.asarray(arriving, dtype=np.float64)
    if arriving.shape != (len(i_stim), n_rec):
        raise ValueError(
            f"arriving must have shape (T, n_receptors) = {(len(i_stim), n_rec)}; "
            f"got {arriving.shape}."
        )
    return i_stim, arriving


def _jahr_stevens(v: float, mg: float) -> float:
    """NMDA Mg²⁺ block, Jahr & Stevens (1990): 1 / (1 + [Mg]/3.57 mM exp(-0.062 v/mV))."""
    return 1.0 / (1.0 + mg / 3.57 * math.exp(-0.062 * v))


def _synaptic_current(
    receptors: tuple[Receptor, ...], traces: list[float], v: float, mg: float
) -> float:
    """Sum over receptors: the current itself, or g B(v) (e_rev - v) for conductances."""
    total = 0.0
    for rec, x in zip(receptors, traces):
        if rec.e_rev is None:
            total += x
        else:
            total += _blocked(rec, x, v, mg) * (rec.e_rev - v)
    return total


def _blocked(rec: Receptor, g: float, v: float, mg: float) -> float:
    """g B(v): the conductance times the Mg block at ``v`` where the receptor has one."""
    return g * (_jahr_stevens(v, mg) if rec.mg_block else 1.0)


def _conductance(
    receptors: tuple[Receptor, ...], traces: list[float], v: float, mg: float
) -> float:
    """Sum of the conductances g B(v) (the receptors with a reversal potential)."""
    return sum(
        _blocked(rec, x, v, mg) for rec, x in zip(receptors, traces) if rec.e_rev is not None
    )


def _decay_and_add(
    receptors: tuple[Receptor, ...], traces: list[float], weights: np.ndarray, dt: float
) -> list[float]:
    return [x * math.exp(-dt / rec.tau) + float(w) for rec, x, w in zip(receptors, traces, weights)]


def _fraction_before_crossing(gap_start: float, overshoot_end: float) -> float:
    """Share of a step spent below threshold, linear in ``v - v_spike``; 0 if it began above."""
    if gap_start <= 0.0:
        return 0.0
    return gap_start / (gap_start + overshoot_end)


# --------------------------------------------------------------------------- discrete loops
def lif_reference(
    model: LIF,
    i_stim_pa: np.ndarray,
    dt: float,
    *,
    arriving: np.ndarray | None = None,
    v0: float | None = None,
) -> VTrace:
    """Current-based LIF with exponential PSCs, exact integration (Rotter & Diesmann 1999).

    Between steps, with ``y = V - e_l``, PSC ``I_r`` decaying with ``tau_r`` and constant
    ``I0 = i_e + I_stim``: ``y(h) = y e^{-h/tau_m} + I0 tau_m/c_m (1 - e^{-h/tau_m})
    + Σ_r I_r tau_m tau_r / (c_m (tau_m - tau_r)) (e^{-h/tau_m} - e^{-h/tau_r})``.
    """
    m = model
    i_stim, arriving = _inputs(m.receptors, i_stim_pa, arriving)
    n_ref = round(m.t_ref / dt)
    v = m.e_l if v0 is None else float(v0)
    traces = [0.0] * len(m.receptors)
    refractory = 0
    v_out = np.empty(len(i_stim))
    spikes = []
    em = math.exp(-dt / m.tau_m)
    for s in range(len(i_stim)):
        if refractory > 0:
            refractory -= 1
        else:
            y = (v - m.e_l) * em + (m.i_e + i_stim[s]) * m.tau_m / m.c_m * (1.0 - em)
            for rec, x in zip(m.receptors, traces):
                es = math.exp(-dt / rec.tau)
                y += x * m.tau_m * rec.tau / (m.c_m * (m.tau_m - rec.tau)) * (em - es)
            v = y + m.e_l
        traces = _decay_and_add(m.receptors, traces, arriving[s], dt)
        if v >= m.v_th:
            spikes.append((s + 1) * dt)
            v = m.v_reset
            refractory = n_ref
        v_out[s] = v
    return VTrace(v_out, np.array(spikes))


def lifcond_reference(
    model: LIFCond,
    i_stim_pa: np.ndarray,
    dt: float,
    *,
    arriving: np.ndarray | None = None,
    v0: float | None = None,
) -> VTrace:
    """Conductance LIF, exponential Euler with step-mean conductances (as the engine).

    Within a step every trace ``x_r`` is replaced by its mean ``x_r tau_r/h (1 - e^{-h/tau_r})``,
    the Mg²⁺ block is taken at the start-of-step V, and the linear equation
    ``c_m dV/dt = -G (V - V_inf)`` is solved exactly over the step.
    """
    m = model
    i_stim, arriving = _inputs(m.receptors, i_stim_pa, arriving)
    n_ref = round(m.t_ref / dt)
    v = m.e_l if v0 is None else float(v0)
    traces = [0.0] * len(m.receptors)
    refractory = 0
    v_out = np.empty(len(i_stim))
    spikes = []
    for s in range(len(i_stim)):
        if refractory > 0:
            refractory -= 1
        else:
            conductance = m.g_l
            drive = m.g_l * m.e_l + m.i_e + i_stim[s]
            for rec, x in zip(m.receptors, traces):
                mean = x * rec.tau / dt * (1.0 - math.exp(-dt / rec.tau))
                if rec.e_rev is None:
                    drive += mean
                else:
                    if rec.mg_block:
                        mean *= _jahr_stevens(v, m.mg)
                    conductance += mean
                    drive += mean * rec.e_rev
            v_inf = drive / conductance
            v = v_inf + (v - v_inf) * math.exp(-dt * conductance / m.c_m)
        traces = _decay_and_add(m.receptors, traces, arriving[s], dt)
        if v >= m.v_th:
            spikes.append((s + 1) * dt)
            v = m.v_reset
            refractory = n_ref
        v_out[s] = v
    return VTrace(v_out, np.array(spikes))


def izhikevich2003_reference(
    model: Izhikevich2003,
    i_stim: np.ndarray,
    dt: float,
    *,
    arriving: np.ndarray | None = None,
    v0: float | None = None,
    u0: float | None = None,
) -> VUTrace:
    """Izhikevich (2003), forward Euler from start-of-step values (NEST ``izhikevich``).

    In a step that ends in a spike, ``u`` advances only over the part of the step before the
    crossing (linear interpolation of ``v``), as the engine does.
    ``dv/dt = 0.04 v² + 5 v + 140 - u + I``, ``du/dt = a (b v - u)``; if ``v >= v_peak``:
    ``v <- c``, ``u <- u + d``. Starts at rest: the lower root of
    ``0.04 v² + (5 - b) v + 140 = 0`` (with ``u = b v``), or ``v = c`` when there is none.
    """
    m = model
    i_stim, arriving = _inputs(m.receptors, i_stim, arriving)
    if v0 is None:
        disc = (5.0 - m.b) ** 2 - 4.0 * 0.04 * 140.0
        v0 = (-(5.0 - m.b) - math.sqrt(disc)) / 0.08 if disc >= 0 else m.c
    v = float(v0)
    u = m.b * v if u0 is None else float(u0)
    traces = [0.0] * len(m.receptors)
    v_out, u_out = np.empty(len(i_stim)), np.empty(len(i_stim))
    spikes = []
    for s in range(len(i_stim)):
        current = _synaptic_current(m.receptors, traces, v, 1.0) + m.i_e + i_stim[s]
        dv = 0.04 * v * v + 5.0 * v + 140.0 - u + current
        du = m.a * (m.b * v - u)
        v_end = v + dt * dv / (1.0 + dt * _conductance(m.receptors, traces, v, 1.0))
        traces = _decay_and_add(m.receptors, traces, arriving[s], dt)
        if v_end >= m.v_peak:
            spikes.append((s + 1) * dt)
            fraction = _fraction_before_crossing(m.v_peak - v, v_end - m.v_peak)
            v = m.c
            u = u + fraction * dt * du + m.d
        else:
            v, u = v_end, u + dt * du
        v_out[s], u_out[s] = v, u
    return VUTrace(v_out, u_out, np.array(spikes))


def izhikevich2007_reference(
    model: Izhikevich2007,
    i_stim_pa: np.ndarray,
    dt: float,
    *,
    arriving: np.ndarray | None = None,
    v0: float | None = None,
    u0: float | None = None,
) -> VUTrace:
    """Izhikevich (2007), forward Euler from start-of-step values, with the variant rules;
    conductance receptors linearly implicit (``v += dt dv / (1 + dt g / c_m)``), as the engine.

    In a step that ends in a spike, ``u`` advances only over the part of the step before the
    crossing of ``v - v_spike(u)`` (linear interpolation), as the engine does.

    ``c_m dv/dt = k (v - v_r)(v - v_t) - u + I``, ``du/dt = a (U(v) - u)``. Variant rules
    (MODEL_SPEC §4.2, ModelDB 39948 ``izhi2007b.mod``): FS ``U = b (v - v_b)³`` for
    ``v >= v_b`` else 0, reset only ``v <- c``; LTS spike at ``v >= v_peak - 0.1 u``, reset
    ``v <- c + 0.04 u``, ``u <- min(u + d, u_max)``; TC spike at ``v >= v_peak + 0.1 u``, reset
    ``v <- c - 0.1 u``, ``u <- u + d``; TC and RTN use ``b_hyper`` when ``v <= -65`` mV.
    Starts at ``v = v_r``, ``u = 0``.
    """
    m = model
    variant = m.variant.value
    i_stim, arriving = _inputs(m.receptors, i_stim_pa, arriving)

    def threshold(u: float) -> float:
        if variant == "lts":
            return m.v_peak - 0.1 * u
        if variant == "tc":
            return m.v_peak + 0.1 * u
        return m.v_peak

    v = m.v_r if v0 is None else float(v0)
    u = 0.0 if u0 is None else float(u0)
    traces = [0.0] * len(m.receptors)
    v_out, u_out = np.empty(len(i_stim)), np.empty(len(i_stim))
    spikes = []
    for s in range(len(i_stim)):
        current = _synaptic_current(m.receptors, traces, v, 1.0) + m.i_e + i_stim[s]
        dv = (m.k * (v - m.v_r) * (v - m.v_t) - u + current) / m.c_m
        if variant == "fs":
            nullcline = m.b * (v - m.v_b) ** 3 if v >= m.v_b else 0.0
        elif variant in ("tc", "rtn"):
            b = m.b_hyper if v <= -65.0 else m.b
            nullcline = b * (v - m.v_r)
        else:
            nullcline = m.b * (v - m.v_r)
        du = m.a * (nullcline - u)
        g_over_c = _conductance(m.receptors, traces, v, 1.0) / m.c_m
        v_end, u_end = v + dt * dv / (1.0 + dt * g_over_c), u + dt * du
        traces = _decay_and_add(m.receptors, traces, arriving[s], dt)
        if v_end >= threshold(u_end):
            spikes.append((s + 1) * dt)
            fraction = _fraction_before_crossing(threshold(u) - v, v_end - threshold(u_end))
            u = u + fraction * dt * du
            if variant == "fs":
                v = m.c
            elif variant == "lts":
                v = m.c + 0.04 * u
                u = min(u + m.d, m.u_max)
            elif variant == "tc":
                v = m.c - 0.1 * u
                u = u + m.d
            else:
                v = m.c
                u = u + m.d
        else:
            v, u = v_end, u_end
        v_out[s], u_out[s] = v, u
    return VUTrace(v_out, u_out, np.array(spikes))


def adex_reference(
    model: AdEx,
    i_stim_pa: np.ndarray,
    dt: float,
    *,
    n_substeps: int,
    exp_arg_max: float = 20.0,
    arriving: np.ndarray | None = None,
    v0: float | None = None,
    w0: float | None = None,
) -> VWTrace:
    """AdEx with ``n_substeps`` Heun sub-steps per step, as the engine.

    In each sub-step of length ``h``: ``k1 = f(V, w, t)``, predictor ``V* = min(V + h k1_V,
    v_peak)``, ``k2 = f(V*, w + h k1_w, t + h)``, ``V <- min(V + h (k1_V + k2_V)/2, v_peak)``,
    ``w <- w + h (k1_w + k2_w)/2``. The exponent is capped at
    ``min((v_peak - v_th)/delta_t, exp_arg_max)``; synaptic traces decay exactly within the
    step; during refractoriness dV/dt = 0. A spike is ``V >= v_peak`` at the end of the step.
    """
    m = model
    i_stim, arriving = _inputs(m.receptors, i_stim_pa, arriving)
    n_ref = round(m.t_ref / dt)
    h = dt / n_substeps
    arg_max = min((m.v_peak - m.v_th) / m.delta_t, exp_arg_max)
    v = m.e_l if v0 is None else float(v0)
    w = 0.0 if w0 is None else float(w0)
    traces = [0.0] * len(m.receptors)
    refractory = 0
    v_out, w_out = np.empty(len(i_stim)), np.empty(len(i_stim))
    spikes = []

    def rates(v: float, w: float, t_in_step: float, i_ext: float, free: bool):
        now = [x * math.exp(-t_in_step / r.tau) for r, x in zip(m.receptors, traces)]
        i_syn = _synaptic_current(m.receptors, now, v, 1.0)
        arg = min((v - m.v_th) / m.delta_t, arg_max)
        i_mem = -m.g_l * (v - m.e_l) + m.g_l * m.delta_t * math.exp(arg) - w + i_syn + i_ext
        dv = i_mem / m.c_m if free else 0.0
        return dv, (m.a * (v - m.e_l) - w) / m.tau_w

    for s in range(len(i_stim)):
        free = refractory == 0
        i_ext = m.i_e + i_stim[s]
        for j in range(n_substeps):
            k1v, k1w = rates(v, w, j * h, i_ext, free)
            v_pred = min(v + h * k1v, m.v_peak)
            k2v, k2w = rates(v_pred, w + h * k1w, (j + 1) * h, i_ext, free)
            v = min(v + 0.5 * h * (k1v + k2v), m.v_peak)
            w = w + 0.5 * h * (k1w + k2w)
        refractory = max(refractory - 1, 0)
        traces = _decay_and_add(m.receptors, traces, arriving[s], dt)
        if v >= m.v_peak:
            spikes.append((s + 1) * dt)
            v = m.v_reset
            w = w + m.b
            refractory = n_ref
        v_out[s], w_out[s] = v, w
    return VWTrace(v_out, w_out, np.array(spikes))


# --------------------------------------------------------------------------- ODE solutions
_EPS_MS = 1e-9


def _ode_spiking(
    *,
    rhs: Callable[[np.ndarray, np.ndarray, float, bool], np.ndarray],
    y0: np.ndarray,
    traces0: np.ndarray,
    refractory_ms: float,
    max_spikes: int | None,
    receptors: tuple[Receptor, ...],
    i_stim: np.ndarray,
    arriving: np.ndarray,
    dt: float,
    v_spike: float,
    t_ref: float,
    reset: Callable[[np.ndarray], np.ndarray],
    on_grid: bool,
    hold_after_crossing: bool,
    rtol: float,
    atol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integrate a spiking ODE piecewise between input changes, spikes and refractory ends.

    ``rhs(y, traces, i_ext, held)``: time derivative of ``y`` (``y[0] = V``) given the synaptic
    traces at that instant; ``held`` means V is clamped (dV/dt must be 0). Traces decay exactly
    and jump by ``arriving[s]`` at ``(s + 1) dt``. A spike is the upward crossing of ``v_spike``
    (event location to solver precision). ``on_grid=False``: spike, reset and refractoriness
    at the crossing time, the ideal continuous-time model. ``on_grid=True``: the spike is
    emitted at the first grid time ``(s + 1) dt`` at or after the crossing (if V is still at or
    above ``v_spike`` there), where the reset happens and ``round(t_ref/dt)`` refractory steps
    start, as in a time-driven simulator; between the crossing and that grid time the
    equations continue (``hold_after_crossing=False``) or V is held at ``v_spike`` while the
    other variables evolve (``hold_after_crossing=True``, for AdEx whose V would diverge).
    ``y0`` and ``traces0`` are the state at time 0, V is held for the first ``refractory_ms``,
    and integration stops after ``max_spikes`` spikes (later samples are NaN).
    Returns samples of ``y`` at the end of every step (after resets) and the spike times.
    """
    n_steps = len(i_stim)
    taus = np.array([r.tau for r in receptors])
    t_end = n_steps * dt
    # grid indices j (time j dt) where the inputs change: jumps or a new stimulus value
    breaks = {j + 1 for j in range(n_steps) if np.any(arriving[j] != 0.0)}
    breaks |= {j for j in range(1, n_steps) if i_stim[j] != i_stim[j - 1]}
    breaks.add(n_steps)
    break_times = sorted(j * dt for j in breaks)

    samples = np.full((n_steps, len(y0)), np.nan)
    spikes: list[float] = []
    y = np.array(y0, dtype=np.float64)
    traces = np.array(traces0, dtype=np.float64)
    t_traces = 0.0  # the time at which `traces` holds the trace values
    t = 0.0
    held_until = refractory_ms if refractory_ms > 0 else -math.inf
    next_jump = 1  # next grid index whose arrivals are still to be added
    n_ref = round(t_ref / dt)

    def fill(sol: Callable[[np.ndarray], np.ndarray], t0: float, t1: float) -> None:
        # samples at grid times in (t0, t1); the one at t1 is written after any reset
        first = math.floor(t0 / dt + _EPS_MS) + 1
        last = math.ceil(t1 / dt - _EPS_MS) - 1
        if last >= first:
            times = np.arange(first, last + 1) * dt
            samples[first - 1 : last] = sol(times).T

    def advance(t0: float, t1: float, y0_: np.ndarray, held: bool, events: bool):
        tr0 = traces * np.exp(-(t0 - t_traces) / taus)
        i_ext = i_stim[min(math.floor(t0 / dt + _EPS_MS), n_steps - 1)]

        def f(t: float, yy: np.ndarray) -> np.ndarray:
            return rhs(yy, tr0 * np.exp(-(t - t0) / taus), i_ext, held)

        def crossing(t: float, yy: np.ndarray) -> float:
            return yy[0] - v_spike

        crossing.terminal = True
        crossing.direction = 1.0
        sol = solve_ivp(
            f,
            (t0, t1),
            y0_,
            method="DOP853",
            rtol=rtol,
            atol=atol,
            dense_output=True,
            events=crossing if events else None,
        )
        if events and sol.t_events[0].size:
            t_hit = float(sol.t_events[0][0])
            return t_hit, sol.y_events[0][0], sol.sol, True
        return t1, sol.y[:, -1], sol.sol, False

    def arrive(t_new: float) -> None:
        nonlocal traces, t_traces, next_jump
        traces = traces * np.exp(-(t_new - t_traces) / taus)
        t_traces = t_new
        while next_jump <= n_steps and next_jump * dt <= t_new + _EPS_MS:
            traces = traces + arriving[next_jump - 1]
            next_jump += 1

    while t < t_end - _EPS_MS and (max_spikes is None or len(spikes) < max_spikes):
        t_next = next(bt for bt in break_times if bt > t + _EPS_MS)
        held = t < held_until - _EPS_MS
        if held:
            t_next = min(t_next, held_until)
        t1, y1, sol, hit = advance(t, t_next, y, held, events=not held)
        fill(sol, t, t1)
        if not hit:
            arrive(t1)
            t, y = t1, y1
            if abs(t / dt - round(t / dt)) < _EPS_MS and round(t / dt) >= 1:
                samples[round(t / dt) - 1] = y
            continue
        if not on_grid:
            arrive(t1)
            t, y = t1, reset(y1)
            spikes.append(t)
            held_until = t + t_ref
            if abs(t / dt - round(t / dt)) < _EPS_MS and round(t / dt) >= 1:
                samples[round(t / dt) - 1] = y
            continue
        # on the grid: carry on to the end of the current step, then test and reset
        j = math.ceil(t1 / dt - _EPS_MS)
        t_grid = j * dt
        if t_grid > t1 + _EPS_MS:
            if hold_after_crossing:
                y1 = np.array(y1)
                y1[0] = v_spike
            t_g, y_g, sol2, _ = advance(t1, t_grid, y1, hold_after_crossing, events=False)
            fill(sol2, t1, t_g)
        else:
            y_g = y1
        arrive(t_grid)
        t, y = t_grid, np.array(y_g)
        if y[0] >= v_spike - _EPS_MS:
            spikes.append(t)
            y = reset(y)
            held_until = t + n_ref * dt
        samples[j - 1] = y
    return samples, np.array(spikes)


def lifcond_ode(
    model: LIFCond,
    i_stim_pa: np.ndarray,
    dt: float,
    *,
    arriving: np.ndarray | None = None,
    on_grid: bool = True,
    v0: float | None = None,
    syn0: np.ndarray | None = None,
    refractory_ms: float = 0.0,
    max_spikes: int | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> VTrace:
    """Accurate solution of the conductance LIF equations (solve_ivp, threshold events).

    ``c_m dV/dt = -g_l (V - e_l) + Σ_r g_r(t) B_r(V) (e_r - V) + Σ_q I_q(t) + i_e + I_stim``
    with exactly decaying traces and the true V-dependent Mg²⁺ block. ``on_grid`` chooses
    where spikes and resets happen (see ``_ode_spiking``): at the first grid time after the
    crossing (``True``, comparable spike by spike with a time-driven engine) or at the
    crossing itself (``False``, the continuous-time model). V samples are the values at the
    end of each step. The run starts from ``v0`` (default ``e_l``) and synaptic traces
    ``syn0`` (R,), with V held for ``refractory_ms``, and stops after ``max_spikes`` spikes.
    """
    m = model
    i_stim, arriving = _inputs(m.receptors, i_stim_pa, arriving)

    def rhs(y: np.ndarray, traces: np.ndarray, i_ext: float, held: bool) -> np.ndarray:
        if held:
            return np.zeros(1)
        v = y[0]
        i_syn = _synaptic_current(m.receptors, list(traces), v, m.mg)
        return np.array([(-m.g_l * (v - m.e_l) + i_syn + m.i_e + i_ext) / m.c_m])

    def reset(y: np.ndarray) -> np.ndarray:
        return np.array([m.v_reset])

    samples, spikes = _ode_spiking(
        rhs=rhs,
        y0=np.array([m.e_l if v0 is None else v0]),
        traces0=np.zeros(len(m.receptors)) if syn0 is None else np.asarray(syn0),
        refractory_ms=refractory_ms,
        max_spikes=max_spikes,
        receptors=m.receptors,
        i_stim=i_stim,
        arriving=arriving,
        dt=dt,
        v_spike=m.v_th,
        t_ref=m.t_ref,
        reset=reset,
        on_grid=on_grid,
        hold_after_crossing=False,
        rtol=rtol,
        atol=atol,
    )
    return VTrace(samples[:, 0], spikes)


def adex_ode(
    model: AdEx,
    i_stim_pa: np.ndarray,
    dt: float,
    *,
    arriving: np.ndarray | None = None,
    on_grid: bool = True,
    v0: float | None = None,
    w0: float = 0.0,
    syn0: np.ndarray | None = None,
    refractory_ms: float = 0.0,
    max_spikes: int | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> VWTrace:
    """Accurate solution of the AdEx equations (Brette & Gerstner 2005) with solve_ivp.

    No clipping of the exponential: the upstroke is followed to ``v_peak`` by the event
    locator. With ``on_grid=True`` V is then held at ``v_peak`` (``w`` evolving) until the end
    of the step, where the reset ``V <- v_reset``, ``w <- w + b`` happens; with ``False`` the
    reset is at the crossing. During refractoriness V is clamped at ``v_reset``. Initial
    state and early stop as in :func:`lifcond_ode` (``v0`` defaults to ``e_l``).
    """
    m = model
    i_stim, arriving = _inputs(m.receptors, i_stim_pa, arriving)

    def rhs(y: np.ndarray, traces: np.ndarray, i_ext: float, held: bool) -> np.ndarray:
        v, w = y
        dw = (m.a * (v - m.e_l) - w) / m.tau_w
        if held:
            return np.array([0.0, dw])
        i_syn = _synaptic_current(m.receptors, list(traces), v, 1.0)
        # the cap only stops overflow in solver trial stages far beyond v_peak (the event
        # ends the integration at v_peak; for the defaults the argument there is 25.2)
        spike_current = m.g_l * m.delta_t * math.exp(min((v - m.v_th) / m.delta_t, 500.0))
        dv = (-m.g_l * (v - m.e_l) + spike_current - w + i_syn + m.i_e + i_ext) / m.c_m
        return np.array([dv, dw])

    def reset(y: np.ndarray) -> np.ndarray:
        return np.array([m.v_reset, y[1] + m.b])

    samples, spikes = _ode_spiking(
        rhs=rhs,
        y0=np.array([m.e_l if v0 is None else v0, w0]),
        traces0=np.zeros(len(m.receptors)) if syn0 is None else np.asarray(syn0),
        refractory_ms=refractory_ms,
        max_spikes=max_spikes,
        receptors=m.receptors,
        i_stim=i_stim,
        arriving=arriving,
        dt=dt,
        v_spike=m.v_peak,
        t_ref=m.t_ref,
        reset=reset,
        on_grid=on_grid,
        hold_after_crossing=True,
        rtol=rtol,
        atol=atol,
    )
    return VWTrace(samples[:, 0], samples[:, 1], spikes)


class VSTrace(NamedTuple):
    """LIFAHP ``v`` (T,) mV and AHP gate ``s_ahp`` (T,), and spike times (ms)."""

    v: np.ndarray
    s_ahp: np.ndarray
    spike_times_ms: np.ndarray


def lifahp_reference(
    model: LIFAHP,
    i_stim_pa: np.ndarray,
    dt: float,
    *,
    arriving: np.ndarray | None = None,
    v0: float | None = None,
) -> VSTrace:
    """Conductance LIF with AHP and no reset (Yamazaki & Nagao 2012), as the engine integrates it.

    Each step solves ``c_m dV/dt = -G (V - V_inf)`` exactly with the step means of the receptor
    traces and of the AHP gate (each ``x tau/h (1 - e^{-h/tau})``). Then the traces decay and
    take the arriving weights, the gate decays by ``e^{-h/tau_ahp}`` and is set to 1 wherever
    ``V > v_th``; a spike is an upward crossing of ``v_th`` within the step outside the
    ``round(t_ref/h)`` steps that follow the previous spike.
    """
    m = model
    i_stim, arriving = _inputs(m.receptors, i_stim_pa, arriving)
    n_ref = round(m.t_ref / dt)
    v = m.e_l if v0 is None else float(v0)
    gate = 0.0
    traces = [0.0] * len(m.receptors)
    refractory = 0
    gate_mean = m.tau_ahp / dt * (1.0 - math.exp(-dt / m.tau_ahp))
    v_out, gate_out = np.empty(len(i_stim)), np.empty(len(i_stim))
    spikes = []
    for s in range(len(i_stim)):
        g_ahp = m.g_ahp * gate * gate_mean
        conductance = m.g_l + g_ahp
        drive = m.g_l * m.e_l + g_ahp * m.e_ahp + m.i_e + i_stim[s]
        for rec, x in zip(m.receptors, traces):
            mean = x * rec.tau / dt * (1.0 - math.exp(-dt / rec.tau))
            if rec.e_rev is None:
                drive += mean
            else:
                if rec.mg_block:
                    mean *= _jahr_stevens(v, 1.0)
                conductance += mean
                drive += mean * rec.e_rev
        v_inf = drive / conductance
        v_new = v_inf + (v - v_inf) * math.exp(-dt * conductance / m.c_m)
        may_fire = refractory == 0
        refractory = max(refractory - 1, 0)
        traces = _decay_and_add(m.receptors, traces, arriving[s], dt)
        gate *= math.exp(-dt / m.tau_ahp)
        if v_new > m.v_th:
            gate = 1.0
            if v <= m.v_th and may_fire:
                spikes.append((s + 1) * dt)
                refractory = n_ref
        v = v_new
        v_out[s], gate_out[s] = v, gate
    return VSTrace(v_out, gate_out, np.array(spikes))
