"""Procedural connectivity: the regenerated rows are a fixed Bernoulli graph with the declared
weight and delay distributions, stored nowhere, and the same on every path."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection, TsodyksMarkram
from zentai.build.procedural import row, segment_length
from zentai.celltypes import LIF
from zentai.connectome import Bernoulli, FixedIndegree, Normal, Uniform
from zentai.errors import SpecError
from zentai.record import Spikes
from zentai.stim import PoissonInput

W_E = Normal(20.0, 8.0, low=0.0)
D_E = Normal(1.5, 0.75, low=0.1, high=5.0)


def _ei(n_e: int, n_i: int, p: float, procedural: bool, rate: float = 8.0) -> NetworkSpec:
    pops = (
        Population(name="E", size=n_e, model=LIF()),
        Population(name="I", size=n_i, model=LIF()),
    )

    def proj(pre, post, w, d):
        return Projection(
            pre=pre, post=post, rule=Bernoulli(p), weight=w, delay=d, procedural=procedural
        )

    projs = (
        proj("E", "E", W_E, D_E),
        proj("E", "I", 30.0, 1.5),
        proj("I", "E", Normal(-80.0, 20.0, high=0.0), 0.8),
        proj("I", "I", -50.0, 0.8),
    )
    stims = (
        PoissonInput(target="E", n_sources=2000, rate=rate, weight=87.8),
        PoissonInput(target="I", n_sources=1900, rate=rate, weight=87.8),
    )
    return NetworkSpec(populations=pops, projections=projs, stimuli=stims, recorders=(Spikes(),))


def test_rows_are_a_fixed_bernoulli_graph_with_the_declared_distributions():
    net = zt.build.network(_ei(3000, 700, 0.05, True), seed=4)
    assert net.n_synapses == 0 and len(net.procedural) == 4  # nothing stored
    ee = net.procedural[0]
    assert ee.seg == 1024  # ~32 expected targets per segment at p = 0.05
    assert segment_length(0.5) == 256 and segment_length(1e-6) == 1 << 19
    k, j, w, d = row(ee, torch.arange(3000), 0.1)
    # out-degrees Binomial(3000, 0.05): mean and variance within 4 standard errors
    deg = torch.bincount(k, minlength=3000).double().numpy()
    mean, var, n = 3000 * 0.05, 3000 * 0.05 * 0.95, deg.size
    assert abs(deg.mean() - mean) < 4 * math.sqrt(var / n)
    assert abs(deg.var() - var) < 4 * var * math.sqrt(2 / (n - 1))
    # targets uniform over the posts (chi-square over 30 bins)
    counts = np.bincount(j.numpy() // 100, minlength=30)
    assert stats.chisquare(counts).pvalue > 1e-3
    # weights: Normal(20, 8) redrawn into [0, inf): the truncated normal's mean and sd
    tn = stats.truncnorm((0 - 20) / 8, np.inf, loc=20, scale=8)
    se = tn.std() / math.sqrt(w.numel())
    assert w.min() >= 0 and abs(w.mean().item() - tn.mean()) < 4 * se
    assert abs(w.std().item() - tn.std()) < 0.02 * tn.std()
    # delays: steps of Normal(1.5, 0.75) redrawn into [0.1, 5] ms (its truncated mean, within
    # 4 standard errors plus the rounding to 0.1 ms)
    td = stats.truncnorm((0.1 - 1.5) / 0.75, (5.0 - 1.5) / 0.75, loc=1.5, scale=0.75)
    dm = d.double().mean().item() / 10
    assert d.min() >= 1 and d.max() <= 50
    assert abs(dm - td.mean()) < 4 * td.std() / math.sqrt(d.numel()) + 0.005
    # the same neuron's row is the same whatever else fires with it
    k2, j2, w2, d2 = row(ee, torch.tensor([17, 5, 17]), 0.1)
    for slot, neuron in ((0, 17), (1, 5), (2, 17)):
        assert torch.equal(j2[k2 == slot], j[k == neuron])
        assert torch.equal(w2[k2 == slot], w[k == neuron])
        assert torch.equal(d2[k2 == slot], d[k == neuron])


def test_procedural_and_stored_networks_fire_alike():
    # two draws of the same Bernoulli network, one stored, one procedural: rates agree
    rates = []
    for procedural in (False, True):
        net = zt.build.network(_ei(320, 80, 0.1, procedural, rate=6.0), seed=1)
        res = zt.sim.Simulator(net, seed=2).run(300.0)
        rates.append(res.rates_hz(t_start=50.0))
    for pop in ("E", "I"):
        assert rates[1][pop] == pytest.approx(rates[0][pop], rel=0.15), (pop, rates)
        assert rates[0][pop] > 1.0


def test_procedural_spec_is_checked_and_round_trips(tmp_path):
    spec = _ei(30, 10, 0.1, True)
    path = tmp_path / "p.toml"
    zt.io.dump_spec(spec, path)
    assert all(p.procedural for p in zt.io.load_spec(path).projections)
    base = {"pre": "E", "post": "E", "procedural": True}
    with pytest.raises(SpecError, match="rule must be Bernoulli"):
        Projection(rule=FixedIndegree(3), **base)
    with pytest.raises(SpecError, match="needs stored synapses"):
        Projection(rule=Bernoulli(0.1), stp=TsodyksMarkram(0.5, 100.0), **base)
    with pytest.raises(SpecError, match="needs a finite high"):
        Projection(rule=Bernoulli(0.1), delay=Normal(1.5, 0.5, low=0.1), **base)
    with pytest.raises(SpecError, match="Constant or Normal"):
        Projection(rule=Bernoulli(0.1), weight=Uniform(0.0, 1.0), **base)
    net = zt.build.network(spec)
    assert zt.sim.Simulator(net).backend == "compiled"  # regenerates them too
