"""Tsodyks–Markram short-term plasticity: the engine against the model's own recursion."""

import math

import numpy as np
import pytest
import torch

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection, TsodyksMarkram
from zentai.build.basal_ganglia import tm_efficacy
from zentai.celltypes import LIF
from zentai.connectome import FixedIndegree, OneToOne
from zentai.errors import SpecError
from zentai.record import Spikes, StateMonitor
from zentai.stim import DC, SpikeTrain

W = 300.0  # pA, the first spike's weight
DELAY = 1.0
QUIET = {"v_th": 1e6}  # a postsynaptic neuron that never fires: its v is a linear read-out


def _efficacies(times_ms, m: TsodyksMarkram):
    """u x / U at each spike, by the recursion of the TsodyksMarkram docstring."""
    u, x, last, out = 0.0, 1.0, -math.inf, []
    for t in times_ms:
        h = t - last
        x = 1.0 + (x - x * u - 1.0) * math.exp(-h / m.tau_rec)
        u = m.U + u * (1.0 - m.U) * (math.exp(-h / m.tau_fac) if m.tau_fac > 0 else 0.0)
        last = t
        out.append(u * x / m.U)
    return np.array(out), u, x


def _driven(m: TsodyksMarkram, dc: float):
    # P fires regularly under a DC; Q receives P through the plastic synapse
    pops = (
        Population(name="P", size=2, model=LIF(t_ref=2.0)),
        Population(name="Q", size=2, model=LIF(**QUIET)),
    )
    proj = Projection(
        pre="P", post="Q", rule=OneToOne(), weight=W, delay=DELAY, receptor="ex", stp=m
    )
    return NetworkSpec(
        populations=pops,
        projections=(proj,),
        stimuli=(DC(target="P", amplitude=dc),),
        recorders=(Spikes(populations=("P",)), StateMonitor(population="Q")),
    )


@pytest.mark.parametrize(
    ("m", "dc"),
    [
        (TsodyksMarkram(U=0.5, tau_rec=200.0), 900.0),  # depressing, ~60 Hz
        (TsodyksMarkram(U=0.05, tau_rec=100.0, tau_fac=500.0), 600.0),  # facilitating
        (TsodyksMarkram(U=0.0192, tau_rec=559.0, tau_fac=623.0), 420.0),  # bgmodel D1 -> SNr
    ],
    ids=["depressing", "facilitating", "D1-SNr"],
)
def test_stp_transmits_u_x_over_U_of_the_recursion(m, dc):
    net = zt.build.network(_driven(m, dc), seed=1)
    sim = zt.sim.Simulator(net, dtype="float64", seed=1)
    assert sim.backend == "torch"  # the compiled loop implements static synapses only
    res = sim.run(300.0)
    t_pre = res.times_ms(0, "P")
    assert t_pre.size > 8
    eff, u_end, x_end = _efficacies(t_pre, m)
    assert eff[0] == pytest.approx(1.0)  # the projection's weight is the first spike's
    # the engine's state after the last spike is the recursion's
    assert float(sim._stp[0]["u"][0, 0]) == pytest.approx(u_end, rel=1e-12)
    assert float(sim._stp[0]["x"][0, 0]) == pytest.approx(x_end, rel=1e-12)
    # Q's membrane equals that of a neuron fed the same spikes as trains of weight W * eff
    trains = tuple(
        SpikeTrain(target="Q", times=(float(t),), weight=W * e, delay=DELAY, receptor="ex")
        for t, e in zip(t_pre, eff)
    )
    ref_spec = NetworkSpec(
        populations=(Population(name="Q", size=1, model=LIF(**QUIET)),),
        stimuli=trains,
        recorders=(StateMonitor(population="Q"),),
    )
    ref = zt.sim.Simulator(zt.build.network(ref_spec), dtype="float64").run(300.0)
    v, v_ref = res.states["Q.v"].values[0, 0], ref.states["Q.v"].values[0, 0]
    assert np.abs(v - v.min()).max() > 0.2  # the input moved the membrane (mV)
    np.testing.assert_allclose(v, v_ref, rtol=0, atol=1e-9)


def test_stp_steady_state_is_the_static_approximation():
    # at a regular rate the recursion converges to tm_efficacy (used by the BG's static mode)
    m = TsodyksMarkram(U=0.35, tau_rec=800.0)
    eff, _, _ = _efficacies(np.arange(200) * 20.0, m)
    assert eff[-1] == pytest.approx(tm_efficacy(m.U, m.tau_fac, m.tau_rec, 50.0), rel=1e-9)
    m = TsodyksMarkram(U=0.0192, tau_rec=559.0, tau_fac=623.0)
    eff, _, _ = _efficacies(np.arange(400) * 25.0, m)
    assert eff[-1] == pytest.approx(tm_efficacy(m.U, m.tau_fac, m.tau_rec, 40.0), rel=1e-9)


def test_stp_per_member_state_checkpoint_and_toml(tmp_path):
    m = TsodyksMarkram(U=0.5, tau_rec=200.0, tau_fac=20.0)
    spec = _driven(m, 900.0)
    net = zt.build.network(spec, seed=1)
    assert net.stp_class is not None and net.stp_class.tolist() == [1, 1]
    whole = zt.sim.Simulator(net, seed=3, n_ensembles=2).run(120.0)
    sim = zt.sim.Simulator(net, seed=3, n_ensembles=2)
    sim.run(70.0, checkpoint=tmp_path / "c.pt")
    resumed = zt.sim.Simulator.restore(tmp_path / "c.pt", net)
    part = resumed.run(50.0)
    np.testing.assert_array_equal(whole.states["Q.v"].values, part.states["Q.v"].values)
    # a spec with STP round-trips through TOML
    path = tmp_path / "spec.toml"
    zt.io.dump_spec(spec, path)
    back = zt.io.load_spec(path)
    assert back.projections[0].stp == m


def test_stp_rows_mix_static_and_plastic_synapses():
    # P projects to Q twice (static, then plastic): each row holds both kinds, in that order
    m = TsodyksMarkram(U=0.3, tau_rec=100.0)
    pops = (
        Population(name="P", size=20, model=LIF()),
        Population(name="Q", size=30, model=LIF(**QUIET)),
    )
    projs = (
        Projection(pre="P", post="Q", rule=FixedIndegree(3), weight=1.0, name="static"),
        Projection(pre="P", post="Q", rule=FixedIndegree(4), weight=2.0, name="plastic", stp=m),
    )
    net = zt.build.network(NetworkSpec(populations=pops, projections=projs), seed=2)
    cls, w = net.stp_class, net.weight
    assert int((cls == 1).sum()) == 30 * 4 and int((cls == 0).sum()) == 30 * 3
    assert torch.all(w[cls == 1] == 2.0) and torch.all(w[cls == 0] == 1.0)
    assert net.stp == [("plastic", "P", m)]


def test_stp_bad_parameters_are_refused():
    with pytest.raises(SpecError, match=r"U must be in \(0, 1\]"):
        TsodyksMarkram(U=0.0, tau_rec=100.0)
    with pytest.raises(SpecError, match="tau_rec must be > 0"):
        TsodyksMarkram(U=0.5, tau_rec=0.0)
    with pytest.raises(SpecError, match="tau_fac must be >= 0"):
        TsodyksMarkram(U=0.5, tau_rec=10.0, tau_fac=-1.0)
    with pytest.raises(SpecError, match="keys U, tau_rec"):
        Projection(pre="A", post="B", rule=OneToOne(), stp={"U": 0.5})
    net = zt.build.network(_driven(TsodyksMarkram(0.5, 100.0), 900.0))
    with pytest.raises(SpecError, match="static synapses only"):
        zt.sim.Simulator(net, backend="compiled")
