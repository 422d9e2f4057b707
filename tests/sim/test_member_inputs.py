"""Per-member Poisson rates and input gains (the ensemble parameters data assimilation changes
between cycles): each member behaves as a network built with its own value, and the compiled
loop, the torch step and the all-tensor reference agree."""

import dataclasses

import numpy as np
import pytest

import zentai as zt
from zentai.errors import SpecError
from zentai.sim import cpu_kernels
from zentai.stim import PoissonInput

from .test_compiled import _assert_same, _mixed_spec

BACKENDS = ["torch", "auto"] + (["compiled"] if cpu_kernels.HAVE_NUMBA else [])


def _with_rate(spec, target, rate):
    stims = tuple(
        dataclasses.replace(s, rate=rate)
        if isinstance(s, PoissonInput) and s.target == target
        else s
        for s in spec.stimuli
    )
    return dataclasses.replace(spec, stimuli=stims)


def _member(res, b):
    m = res.spike_member == b
    return res.spike_neuron[m], res.spike_time_ms[m]


@pytest.mark.parametrize("backend", BACKENDS)
def test_member_rate_equals_network_built_with_that_rate(backend):
    spec = _mixed_spec()
    net = zt.build.network(spec, seed=3)
    rates = [9.0, 6.5, 12.0]
    sim = zt.sim.Simulator(net, n_ensembles=3, member_seeds=[5, 6, 7], backend=backend)
    sim.set_poisson_rate(rates, population="E")
    res = sim.run(150.0, progress=False)
    counts = []
    for b, (r, s) in enumerate(zip(rates, [5, 6, 7])):
        one = zt.build.network(_with_rate(spec, "E", r), seed=3)
        ref = zt.sim.Simulator(one, member_seeds=[s], backend="torch").run(150.0, progress=False)
        for x, y in zip(_member(res, b), _member(ref, 0)):
            assert np.array_equal(x, y)
        counts.append(_member(res, b)[0].size)
    # more input, more spikes (the rates differ enough for this to hold for any seed)
    assert counts[1] < counts[0] < counts[2]


def test_rate_change_mid_run_is_the_same_on_every_backend():
    net = zt.build.network(_mixed_spec(), seed=1)
    out = []
    for backend in BACKENDS:
        sim = zt.sim.Simulator(net, n_ensembles=2, seed=4, backend=backend)
        sim.run(40.0, progress=False)
        sim.set_poisson_rate([3.0, 15.0])
        sim.run(40.0, progress=False)
        sim.set_poisson_rate(8.0, population="F")
        out.append(sim.run(40.0, progress=False))
    for r in out[1:]:
        _assert_same(out[0], r)


@pytest.mark.parametrize("backend", BACKENDS)
def test_input_gain_per_member_matches_on_every_backend_and_scales_input(backend):
    net = zt.build.network(_mixed_spec(), seed=2)
    sim = zt.sim.Simulator(net, n_ensembles=3, seed=9, member_seeds=[1, 1, 1], backend=backend)
    sim.set_input_gain("E", "ex", [1.0, 0.5, 1.5])
    res = sim.run(120.0, progress=False)
    ref = zt.sim.Simulator(net, n_ensembles=3, seed=9, member_seeds=[1, 1, 1], backend="torch")
    ref.set_input_gain("E", "ex", [1.0, 0.5, 1.5])
    _assert_same(res, ref.run(120.0, progress=False))
    plain = zt.sim.Simulator(net, member_seeds=[1], backend=backend).run(120.0, progress=False)
    for x, y in zip(_member(res, 0), _member(plain, 0)):  # gain 1 leaves the spikes unchanged
        assert np.array_equal(x, y)
    n_e = [np.sum(_member(res, b)[0] < 120) for b in range(3)]
    assert n_e[1] < n_e[0] < n_e[2]


def test_input_gain_equals_scaled_weights_in_float64():
    """Gain g on a receptor = every weight reaching it times g (a linear synaptic trace), to
    rounding: the membrane traces of the two agree to 1e-9 mV."""
    from zentai.build import NetworkSpec, Population
    from zentai.celltypes import LIF
    from zentai.record import StateMonitor
    from zentai.stim import SpikeTrain

    def spec(w):
        return NetworkSpec(
            populations=(Population(name="E", size=4, model=LIF(v_th=1e9)),),
            stimuli=(
                PoissonInput(target="E", n_sources=500, rate=10.0, weight=w),
                SpikeTrain(target="E", times=(5.0, 7.5, 30.0), weight=3 * w),
            ),
            recorders=(StateMonitor(population="E", variables=("v",)),),
        )

    a = zt.sim.Simulator(zt.build.network(spec(20.0)), dtype="float64", seed=2)
    a.set_input_gain("E", "ex", 1.7)
    b = zt.sim.Simulator(zt.build.network(spec(20.0 * 1.7)), dtype="float64", seed=2)
    va = a.run(60.0, progress=False).states["E.v"].values
    vb = b.run(60.0, progress=False).states["E.v"].values
    assert np.ptp(va) > 1.0
    np.testing.assert_allclose(va, vb, atol=1e-9, rtol=0)


def test_checkpoint_keeps_member_rates_and_gains(tmp_path):
    net = zt.build.network(_mixed_spec(), seed=1)

    def start():
        sim = zt.sim.Simulator(net, n_ensembles=2, seed=4)
        sim.set_poisson_rate([5.0, 11.0], population="E")
        sim.set_input_gain("G", "slow", [0.3, 2.0])
        return sim

    whole = start()
    whole.run(60.0, progress=False)
    full = whole.run(60.0, progress=False)
    half = start()
    half.run(60.0, progress=False)
    half.save(tmp_path / "ck.pt")
    rest = zt.sim.Simulator.restore(tmp_path / "ck.pt", net).run(60.0, progress=False)
    _assert_same(full, rest)


def test_bad_member_values_are_refused():
    net = zt.build.network(_mixed_spec(), seed=1)
    sim = zt.sim.Simulator(net, n_ensembles=2)
    with pytest.raises(SpecError, match="2 values"):
        sim.set_poisson_rate([1.0, 2.0, 3.0])
    with pytest.raises(SpecError, match=">= 0 Hz"):
        sim.set_poisson_rate(-1.0)
    with pytest.raises(SpecError, match="no PoissonInput targets 'Q'"):
        sim.set_poisson_rate(1.0, population="Q")
    with pytest.raises(SpecError, match="no receptor 'nmda'"):
        sim.set_input_gain("E", "nmda", 1.0)
    with pytest.raises(SpecError, match="finite"):
        sim.set_input_gain("E", "ex", [np.nan, 1.0])


def test_get_param_returns_what_the_engine_uses_and_set_param_round_trips():
    """get_param gives the engine's value (constant DC folded into i_e by the builder shows
    there); writing it back changes nothing."""
    from zentai.stim import DC

    spec = _mixed_spec()
    spec = dataclasses.replace(spec, stimuli=(*spec.stimuli, DC(target="E", amplitude=75.0)))
    net = zt.build.network(spec, seed=2)
    a = zt.sim.Simulator(net, n_ensembles=2, seed=1, backend="torch")
    ie = a.get_param("E", "i_e")
    assert ie.shape == (1, 120)
    a.set_param("E", "i_e", ie.numpy())
    b = zt.sim.Simulator(net, n_ensembles=2, seed=1, backend="torch")
    _assert_same(a.run(80.0, progress=False), b.run(80.0, progress=False))
    with pytest.raises(SpecError, match="no parameter 'i_x'"):
        a.get_param("E", "i_x")
