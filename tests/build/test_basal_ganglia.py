"""Basal ganglia (Lindahl & Hellgren Kotaleski 2016): pathways, TM steady state, rates."""

import dataclasses

import numpy as np
import pytest

import zentai as zt
from zentai.build.basal_ganglia import PATHWAYS, basal_ganglia_spec, tm_efficacy
from zentai.errors import SpecError
from zentai.record import Spikes


@pytest.fixture(scope="module")
def net():
    return zt.build.network(basal_ganglia_spec(0.002), seed=1)


def indegrees(net, pre: str, post: str, receptor: str) -> np.ndarray:
    """Number of synapses from ``pre`` onto ``receptor`` of each neuron of ``post``."""
    a, b = net.pop_slices[pre]
    c, d = net.pop_slices[post]
    g = next(g for g in net.groups if g.start <= c < g.stop)
    r = net.spec.population(post).model.receptor_index(receptor)
    lo = g.slot_offset + r * g.size + (c - g.start)
    indptr = net.indptr.numpy()
    tgt = net.target.numpy()[indptr[a] : indptr[b]]
    sel = (tgt >= lo) & (tgt < lo + d - c)
    return np.bincount(tgt[sel] - lo, minlength=d - c)


def test_every_pathway_is_wired_with_its_documented_indegree(net):
    """Each pathway of MODEL_SPEC §3.4 exists, onto its receptor, with exactly its fan-in
    (capped by the presynaptic population size) for every target neuron."""
    for p in PATHWAYS:
        a, b = net.pop_slices[p.pre]
        counts = indegrees(net, p.pre, p.post, p.receptor)
        assert np.all(counts == min(p.indegree, b - a)), (p.pre, p.post, counts[:5])


def test_tm_steady_state_matches_iterating_the_synapse():
    """The closed-form steady state equals the Tsodyks-Markram map iterated to convergence."""
    for U, tf, tr, rate in ((0.29, 53.0, 902.0, 15.0), (0.0192, 623.0, 559.0, 0.1),
                            (0.196, 0.0, 969.0, 30.0), (0.5, 10.0, 100.0, 40.0)):  # fmt: skip
        T = 1000.0 / rate
        u, x = U, 1.0
        for _ in range(20000):
            eff = u * x
            x = 1 - (1 - x + eff) * np.exp(-T / tr)  # recover from x - u x
            u = u * (np.exp(-T / tf) if tf > 0 else 0.0) * (1 - U) + U
        assert tm_efficacy(U, tf, tr, rate) == pytest.approx(eff / U, rel=1e-9)
    assert tm_efficacy(0.3, 50.0, 500.0, 0.0) == 1.0
    with pytest.raises(SpecError, match="tm_efficacy: bad parameters"):
        tm_efficacy(0.0, 1.0, 1.0, 1.0)


def test_spontaneous_rates_lie_in_the_published_ranges():
    """MSN < 2 Hz, FSI 10-25, GPe 20-60, STN 5-20, SNr 20-60 (MODEL_SPEC §3.4 and issue 8)."""
    spec = dataclasses.replace(basal_ganglia_spec(0.002), recorders=(Spikes(),))
    res = zt.sim.Simulator(zt.build.network(spec, seed=3), seed=3).run(800.0)
    r = res.rates_hz(t_start=300.0)
    n = {p: spec.population(p).size for p in r}
    gpe = (r["GPe.TI"] * n["GPe.TI"] + r["GPe.TA"] * n["GPe.TA"]) / (n["GPe.TI"] + n["GPe.TA"])
    assert 0 < r["STR.D1"] < 2 and 0 < r["STR.D2"] < 2, r
    assert 10 <= r["STR.FSI"] <= 25 and 20 <= gpe <= 60, r
    assert 5 <= r["STN"] <= 20 and 20 <= r["SNr"] <= 60, r
