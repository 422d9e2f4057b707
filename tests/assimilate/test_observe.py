"""Observation operators: analytic responses, fixed points, cutting invariance."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from zentai.assimilate import observe
from zentai.errors import SpecError


def test_calcium_step_response_is_the_analytic_double_exponential():
    """A rate step nu at t=0: dF/F(t) = A nu [1 - (td e^{-t/td} - tr e^{-t/tr}) / (td - tr)]
    (exact at the end of every bin, the filters being integrated exactly)."""
    op = observe.Calcium(1.0, tau_rise_ms=50.0, tau_decay_ms=400.0, amplitude=0.02)
    nu = 7.0
    out = op(np.full((2, 3, 3000), nu))
    t = np.arange(1, 3001) * 1e-3
    tr, td = 0.05, 0.4
    expect = 0.02 * nu * (1 - (td * np.exp(-t / td) - tr * np.exp(-t / tr)) / (td - tr))
    np.testing.assert_allclose(out[1, 2], expect, rtol=1e-10, atol=1e-14)
    assert abs(out[0, 0, -1] - 0.02 * nu) < 1e-4  # steady state A nu


def test_calcium_does_not_depend_on_how_the_series_is_cut():
    r = np.random.default_rng(0).gamma(2.0, 3.0, size=(1, 2, 700))
    whole = observe.Calcium(1.0)(r)
    op = observe.Calcium(1.0)
    parts = np.concatenate([op(r[:, :, :250]), op(r[:, :, 250:])], axis=2)
    np.testing.assert_allclose(parts, whole, rtol=1e-12)
    st = op.state_dict()
    op2 = observe.Calcium(1.0)
    op2.load_state_dict(st)
    np.testing.assert_array_equal(op2(r[:, :, :5]), op(r[:, :, :5]))


def test_balloon_rests_at_zero_and_reaches_its_analytic_fixed_point():
    bw = observe.BalloonWindkessel()
    assert np.all(bw(np.zeros((1, 1, 2000))) == 0.0)
    rates = np.array([2.0, 5.0, 10.0])  # Hz
    bw = observe.BalloonWindkessel()
    y = bw(np.broadcast_to(rates[None, :, None], (1, 3, 40_000)).copy(), dt_ms=1.0)
    fixed = bw.steady_state(rates * 1e-3)
    np.testing.assert_allclose(y[0, :, -1], fixed[4], rtol=1e-6)
    np.testing.assert_allclose(bw._state[1, 0], fixed[1], rtol=1e-8)  # f = 1 + eps u tau_f
    assert np.all(np.diff(fixed[4]) > 0) and fixed[4][0] > 0  # more activity, more BOLD


def test_balloon_euler_follows_the_ode_solution():
    """A 200 ms burst at 20 Hz: the 1 ms Euler steps stay within 1 % of the peak of an
    accurate solution of the same equations."""
    bw = observe.BalloonWindkessel()
    T = 15_000
    u = np.zeros(T)
    u[1000:1200] = 20.0
    y = bw(u[None, None, :], dt_ms=1.0)[0, 0]

    def rhs(t, x):
        s, f, v, q = x
        ui = 20e-3 if 1.0 <= t < 1.2 else 0.0
        return [
            bw.epsilon * ui - s / bw.tau_s - (f - 1) / bw.tau_f,
            s,
            (f - v ** (1 / bw.alpha)) / bw.tau_0,
            (f * (1 - (1 - bw.e0) ** (1 / f)) / bw.e0 - q * v ** (1 / bw.alpha - 1)) / bw.tau_0,
        ]

    t = np.arange(1, T + 1) * 1e-3
    sol = solve_ivp(rhs, (0, t[-1]), [0, 1, 1, 1], t_eval=t, rtol=1e-10, atol=1e-12,
                    max_step=1e-3)  # fmt: skip
    ref = bw._y(sol.y[2], sol.y[3])
    peak = np.abs(ref).max()
    assert peak > 1e-3
    assert np.max(np.abs(y - ref)) < 0.01 * peak


def test_window_rate_and_bad_shapes():
    r = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_allclose(observe.window_rate(r), r.mean(axis=2))
    with pytest.raises(SpecError, match=r"\(members, channels, time\); got \(3, 4\)"):
        observe.window_rate(r[0])
    with pytest.raises(SpecError, match="NaN"):
        observe.window_rate(np.full((1, 1, 3), np.nan))
    with pytest.raises(SpecError, match="tau_rise_ms < tau_decay_ms"):
        observe.Calcium(1.0, tau_rise_ms=500.0, tau_decay_ms=400.0)
    with pytest.raises(SpecError, match="multiple of 1 ms"):
        observe.BalloonWindkessel()(r, dt_ms=0.5)


def test_grouped_rates_split_the_recorded_population_rate():
    """One group = the engine's PopulationRate recorder bin for bin; groups of a split pool
    back to it by their sizes."""
    import zentai as zt
    from zentai.build import NetworkSpec, Population
    from zentai.celltypes import LIF
    from zentai.record import PopulationRate, Spikes
    from zentai.stim import PoissonInput

    spec = NetworkSpec(
        populations=(Population(name="E", size=60, model=LIF()),),
        stimuli=(PoissonInput(target="E", n_sources=1000, rate=12.0, weight=87.8),),
        recorders=(Spikes(), PopulationRate(bin=5.0)),
    )
    res = zt.sim.Simulator(zt.build.network(spec), n_ensembles=2, seed=1).run(200.0)
    whole = observe.population_rates(res, ["E"])
    one, names = observe.grouped_rates(res, "E", np.zeros(60), t_start=0.0, t_stop=200.0,
                                       bin_ms=5.0)  # fmt: skip
    assert whole.sum() > 0 and names.tolist() == [0.0]
    np.testing.assert_allclose(one, whole, rtol=1e-12)
    labels = np.array(["a"] * 10 + ["b"] * 50)
    split, names = observe.grouped_rates(res, "E", labels, t_start=0.0, t_stop=200.0,
                                         bin_ms=5.0)  # fmt: skip
    assert names.tolist() == ["a", "b"]
    np.testing.assert_allclose((10 * split[:, 0] + 50 * split[:, 1]) / 60, whole[:, 0])
    with pytest.raises(SpecError, match=r"one entry per neuron of 'E' \(60\)"):
        observe.grouped_rates(res, "E", labels[:5], t_start=0.0, t_stop=200.0)
