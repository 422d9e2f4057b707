"""LIFAHP (conductance LIF with AHP, no reset) against its reference loop and its equations.

Where expected numbers come from:
* ``zentai.sim.reference.lifahp_reference``: a float64 NumPy loop written from the documented
  discretisation (``zentai/sim/models/lif_ahp.py``) independently of the tensor code.
* Qualitative behaviour and parameters: Yamazaki & Nagao (2012) as in numericalbrainorg/snsbook
  ``code/part2/ec`` (MODEL_SPEC §2.2): no reset, the AHP conductance (peak ``g_ahp``, decay
  ``tau_ahp``) repolarises the cell.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zentai.celltypes import Receptor
from zentai.celltypes.models import LIFAHP, model_class
from zentai.errors import SpecError
from zentai.sim import reference as ref
from zentai.sim.models import dynamics_for

DT = 0.1  # ms
F64, F32 = torch.float64, torch.float32

GRC = LIFAHP()  # granule cell (snsbook gr.h)
PC = LIFAHP(
    c_m=106.0,
    g_l=1.0 / 0.431,
    e_l=-68.0,
    v_th=-55.0,
    g_ahp=100.0,
    e_ahp=-70.0,
    tau_ahp=2.5,
    receptors=(Receptor(name="ampa", tau=8.3, e_rev=0.0),),
)  # Purkinje cell (snsbook pc.h)


def params_of(model) -> dict:
    return {k: getattr(model, k) for k in model.param_names()}


def simulate(model, i_stim, *, dtype=F64, arriving=None, params=None, shape=(1, 1), v0=None):
    """Engine run; returns {"v", "s_ahp", "spiked": (T, B, n), "syn": (T, R, B, n)} arrays."""
    n_ens, n = shape
    dyn = dynamics_for(type(model))(
        params_of(model) if params is None else params, model.receptors, DT, dtype, "cpu"
    )
    state = dyn.initial_state(n_ens, n)
    if v0 is not None:
        state["v"].fill_(v0)
    i_stim = torch.as_tensor(np.asarray(i_stim), dtype=dtype)
    n_steps, n_rec = i_stim.shape[0], len(model.receptors)
    if i_stim.dim() == 1:
        i_stim = i_stim.reshape(n_steps, 1, 1)
    i_stim = i_stim.expand(n_steps, n_ens, n)
    if arriving is None:
        arriving = torch.zeros((n_steps, n_rec, n_ens, n), dtype=dtype)
    else:
        arriving = torch.as_tensor(np.asarray(arriving), dtype=dtype)
        if arriving.dim() == 2:
            arriving = arriving.reshape(n_steps, n_rec, 1, 1).expand(n_steps, n_rec, n_ens, n)
    out = {k: np.empty((n_steps, n_ens, n)) for k in ("v", "s_ahp")}
    out["spiked"] = np.empty((n_steps, n_ens, n), dtype=bool)
    out["syn"] = np.empty((n_steps, n_rec, n_ens, n))
    for s in range(n_steps):
        out["spiked"][s] = dyn.step(state, arriving[s].contiguous(), i_stim[s]).numpy()
        out["v"][s], out["s_ahp"][s] = state["v"].numpy(), state["s_ahp"].numpy()
        out["syn"][s] = state["syn"].numpy()
    return out


def times(spiked: np.ndarray, b: int = 0, i: int = 0) -> np.ndarray:
    return (np.flatnonzero(spiked[:, b, i]) + 1) * DT


def poisson_arrivals(n_steps, rates_hz, weights, seed):
    rng = np.random.default_rng(seed)
    lam = np.asarray(rates_hz) * DT * 1e-3
    return rng.poisson(lam, size=(n_steps, len(lam))) * np.asarray(weights, dtype=float)


def test_lifahp_is_registered():
    assert model_class("LIFAHP") is LIFAHP


# ------------------------------------------------------------------ reference loop
CASES = {
    # model, DC (pA), per-receptor Poisson rates (Hz) and weights (nS)
    "grc_dc": (GRC, 15.0, [0.0] * 4, [0.0] * 4),
    "grc_syn": (GRC, 4.0, [400.0, 400.0, 100.0, 100.0], [0.5, 0.05, 0.3, 0.1]),
    "grc_tref": (LIFAHP(t_ref=3.0), 30.0, [300.0, 0.0, 0.0, 0.0], [0.4, 0.0, 0.0, 0.0]),
    "pc_syn": (PC, 60.0, [3000.0], [1.0]),
    "nmda_block": (
        LIFAHP(receptors=(Receptor(name="nmda", tau=52.0, e_rev=0.0, mg_block=True),)),
        10.0,
        [300.0],
        [0.1],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_lifahp_float64_reproduces_reference_loop(case):
    model, dc, rates, weights = CASES[case]
    n_steps = 5000  # 500 ms
    arriving = poisson_arrivals(n_steps, rates, weights, seed=1)
    i_stim = np.full(n_steps, dc)
    expected = ref.lifahp_reference(model, i_stim, DT, arriving=arriving)
    actual = simulate(model, i_stim, arriving=arriving)
    assert len(expected.spike_times_ms) > 5
    np.testing.assert_array_equal(times(actual["spiked"]), expected.spike_times_ms)
    np.testing.assert_allclose(actual["v"][:, 0, 0], expected.v, rtol=0, atol=1e-9)
    np.testing.assert_allclose(actual["s_ahp"][:, 0, 0], expected.s_ahp, rtol=0, atol=1e-12)


def test_lifahp_float32_spike_times_close_to_float64():
    n_steps = 5000
    i_stim = np.full(n_steps, 60.0)
    a = times(simulate(PC, i_stim)["spiked"])
    b = times(simulate(PC, i_stim, dtype=F32)["spiked"])
    assert len(a) == len(b) > 5
    np.testing.assert_allclose(a, b, atol=0.2)


# ------------------------------------------------------------------ DC behaviour
def test_lifahp_dc_step_tonic_firing_repolarised_by_ahp_without_reset():
    # 15 pA into the granule cell from t = 20 ms: tonic firing; V is never reset. The AHP pulls
    # V back: above v_th at the spike step (no reset), below v_th soon after, never below e_ahp.
    n_steps, start = 3000, 200
    i_stim = np.zeros(n_steps)
    i_stim[start:] = 15.0
    run = simulate(GRC, i_stim)
    v, s_ahp, spk = run["v"][:, 0, 0], run["s_ahp"][:, 0, 0], run["spiked"][:, 0, 0]
    idx = np.flatnonzero(spk)
    assert len(idx) >= 5
    assert np.all(idx > start)
    assert np.all(v[idx] > GRC.v_th)  # no reset on the spike step
    assert np.all(v[idx - 1] <= GRC.v_th)  # upward crossing
    assert np.all(s_ahp[idx] == 1.0)  # AHP gate at its peak: conductance g_ahp
    assert np.all(v[idx + 1] > GRC.e_ahp)
    assert np.all(v[idx + 1] < v[idx])  # repolarising from the next step on
    assert v.min() > GRC.e_ahp
    isi = np.diff(idx[1:]) * DT  # tonic: equal ISIs after the first
    assert np.ptp(isi) <= DT + 1e-9
    expected = ref.lifahp_reference(GRC, i_stim, DT)
    np.testing.assert_allclose(np.diff(times(run["spiked"])), np.diff(expected.spike_times_ms))


@pytest.mark.parametrize(
    ("model", "amps"),
    [(GRC, [11.0, 15.0, 20.0, 30.0, 45.0]), (PC, [40.0, 80.0, 160.0, 320.0, 640.0])],
    ids=["GrC", "PC"],
)
def test_lifahp_f_i_curve_is_monotone(model, amps):
    # f-I from just above rheobase (GrC: g_l (v_th - e_l) = 9.9 pA; PC: 30.2 pA) up to where the
    # AHP can still bring V below v_th after each spike
    n_steps = 5000  # 500 ms
    ens = len(amps)
    i_stim = np.tile(np.asarray(amps)[None, :, None], (n_steps, 1, 1))
    run = simulate(model, i_stim, shape=(ens, 1))
    counts = run["spiked"][:, :, 0].sum(axis=0)
    assert counts[0] >= 1
    assert np.all(np.diff(counts) > 0)


def test_ahp_gate_peaks_at_one_and_decays_with_tau_ahp():
    # A short pulse makes a single spike; afterwards s_ahp = exp(-k dt / tau_ahp).
    n_steps = 400
    i_stim = np.zeros(n_steps)
    i_stim[:60] = 60.0
    run = simulate(GRC, i_stim)
    s, v = run["s_ahp"][:, 0, 0], run["v"][:, 0, 0]
    last_above = np.flatnonzero(v > GRC.v_th)[-1]
    assert s[last_above] == 1.0
    k = np.arange(n_steps - last_above)
    np.testing.assert_allclose(s[last_above:], np.exp(-k * DT / GRC.tau_ahp), rtol=1e-12)


def test_start_above_threshold_is_not_a_spike():
    # a spike is an upward crossing; a cell that starts above v_th only gets the AHP
    run = simulate(GRC, np.zeros(50), v0=-30.0)
    assert not run["spiked"].any()
    assert run["s_ahp"][0, 0, 0] == 1.0
    assert run["v"][-1, 0, 0] < GRC.v_th


def test_refractory_period_suppresses_spikes_but_does_not_clamp_v():
    cell = LIFAHP(t_ref=8.0)
    i_stim = np.full(3000, 40.0)
    free = simulate(LIFAHP(), i_stim)
    held = simulate(cell, i_stim)
    isi = np.diff(times(held["spiked"]))
    assert len(isi) > 3
    assert isi.min() >= cell.t_ref + DT - 1e-9
    assert np.diff(times(free["spiked"])).min() < cell.t_ref
    # up to the first spike both runs are identical; V keeps moving during t_ref
    first = np.flatnonzero(held["spiked"][:, 0, 0])[0]
    steps = round(cell.t_ref / DT)
    assert np.ptp(held["v"][first + 1 : first + steps, 0, 0]) > 1.0


# ------------------------------------------------------------------ receptor semantics
@pytest.mark.parametrize("port", [0, 1, 2, 3])
def test_weight_arrives_at_end_of_step_and_moves_v_next_step(port):
    w, s, n_steps = 0.5, 5, 40
    arriving = np.zeros((n_steps, 4))
    arriving[s, port] = w
    quiet = simulate(GRC, np.zeros(n_steps), v0=-50.0)
    hit = simulate(GRC, np.zeros(n_steps), arriving=arriving, v0=-50.0)
    syn = hit["syn"][:, port, 0, 0]
    tau, e_rev = GRC.receptors[port].tau, GRC.receptors[port].e_rev
    assert np.all(syn[:s] == 0.0)
    assert syn[s] == w  # the conductance jumps by the weight (nS)
    k = np.arange(n_steps - s)
    np.testing.assert_allclose(syn[s:], w * np.exp(-k * DT / tau), rtol=1e-12)
    np.testing.assert_array_equal(hit["v"][: s + 1], quiet["v"][: s + 1])
    moved = hit["v"][s + 1, 0, 0] - quiet["v"][s + 1, 0, 0]
    assert np.sign(moved) == np.sign(e_rev - quiet["v"][s, 0, 0])  # toward e_rev


def test_single_event_matches_closed_form_first_step():
    # With V at rest and only receptor r open, one step moves V by the exact solution of
    # c dV/dt = -(g_l + ḡ) (V - V_inf), ḡ = w tau/h (1 - exp(-h/tau)) (documented scheme).
    w = 1.0
    arriving = np.zeros((3, 4))
    arriving[0, 0] = w
    run = simulate(GRC, np.zeros(3), arriving=arriving)
    tau = GRC.receptors[0].tau
    g = w * tau / DT * -math.expm1(-DT / tau)
    g_tot = GRC.g_l + g
    v_inf = (GRC.g_l * GRC.e_l + g * 0.0) / g_tot
    expected = v_inf + (GRC.e_l - v_inf) * math.exp(-DT * g_tot / GRC.c_m)
    assert run["v"][1, 0, 0] == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------------ ensembles, parameters
@pytest.mark.parametrize("dtype", [F32, F64])
def test_ensemble_members_with_own_parameters_equal_separate_runs(dtype):
    n_ens, n, n_steps = 3, 2, 2000
    per_member = {"g_ahp": [0.5, 1.0, 2.0], "tau_ahp": [3.0, 5.0, 8.0], "t_ref": [0.0, 1.0, 2.0]}
    base = params_of(GRC)
    params = dict(base)
    for k, vals in per_member.items():
        params[k] = torch.tensor(vals, dtype=dtype)[:, None].expand(n_ens, n).clone()
    rng = np.random.default_rng(3)
    i_stim = 20.0 * (1.0 + 0.2 * rng.standard_normal((n_steps, n_ens, n)))
    together = simulate(GRC, i_stim, dtype=dtype, params=params, shape=(n_ens, n))
    assert np.all(together["spiked"].any(axis=0))
    for b in range(n_ens):
        member = dict(base)
        for k in per_member:
            member[k] = params[k][b : b + 1].clone()
        alone = simulate(GRC, i_stim[:, b : b + 1], dtype=dtype, params=member, shape=(1, n))
        np.testing.assert_array_equal(together["spiked"][:, b], alone["spiked"][:, 0])
        tol = 1e-12 if dtype == F64 else 1e-4
        np.testing.assert_allclose(together["v"][:, b], alone["v"][:, 0], atol=tol)


def test_float_and_tensor_parameters_agree():
    as_float = params_of(PC)
    as_tensor = {k: torch.full((1, 2), float(v), dtype=F64) for k, v in as_float.items()}
    i_stim = np.full(2000, 100.0)
    a = simulate(PC, i_stim, params=as_float, shape=(1, 2))
    b = simulate(PC, i_stim, params=as_tensor, shape=(1, 2))
    assert a["spiked"].sum() > 0
    np.testing.assert_array_equal(a["spiked"], b["spiked"])
    np.testing.assert_allclose(a["v"], b["v"], rtol=0, atol=1e-9)


# ------------------------------------------------------------------ validation
def test_e_ahp_must_be_below_threshold():
    with pytest.raises(SpecError, match=r"LIFAHP.e_ahp must be below v_th \(-35.0 mV\)"):
        LIFAHP(e_ahp=-30.0)


def test_current_receptors_are_rejected():
    with pytest.raises(SpecError, match="receptor 'ex' has e_rev=None"):
        LIFAHP(receptors=(Receptor(name="ex", tau=2.0),))


def test_tau_ahp_must_be_positive():
    with pytest.raises(SpecError, match=r"LIFAHP\.tau_ahp must be positive"):
        LIFAHP(tau_ahp=0.0)
