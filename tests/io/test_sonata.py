"""Networks as SONATA: the round trip is exact (tables, layout, hash, spikes), the files carry
what other SONATA readers expect."""

import csv
import json
import os

import h5py
import numpy as np
import pytest
import torch

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection, TsodyksMarkram
from zentai.celltypes import LIF, Izhikevich2007
from zentai.connectome import FixedIndegree, Normal
from zentai.errors import DataError, SpecError
from zentai.io.sonata import read_sonata, write_sonata
from zentai.record import Spikes
from zentai.stim import PoissonInput


def _mixed():
    # two model classes (two groups), positions, labels, per-synapse weights and delays
    rng = np.random.default_rng(1)
    pops = (
        Population(name="E", size=50, model=LIF(), positions=rng.uniform(0, 500, (50, 3)),
                   labels={"region": "MOp", "layer": "L5"}),
        Population(name="FS", size=20, model=Izhikevich2007.preset("FS")),
    )  # fmt: skip
    projs = (
        Projection(pre="E", post="E", rule=FixedIndegree(8), weight=Normal(80.0, 20.0),
                   delay=Normal(1.5, 0.5, low=0.1)),
        Projection(pre="E", post="FS", rule=FixedIndegree(5), weight=2.0, delay=1.0),
        Projection(pre="FS", post="E", rule=FixedIndegree(4), weight=-150.0, delay=0.8),
    )  # fmt: skip
    stims = (PoissonInput(target="E", n_sources=2000, rate=8.0, weight=87.8),)
    return NetworkSpec(populations=pops, projections=projs, stimuli=stims, recorders=(Spikes(),))


@pytest.mark.parametrize("which", ["microcircuit", "mixed"])
def test_sonata_round_trip_is_exact(tmp_path, which):
    spec = zt.build.microcircuit(0.02) if which == "microcircuit" else _mixed()
    net = zt.build.network(spec, seed=3)
    write_sonata(net, tmp_path)
    back = read_sonata(tmp_path)
    for name in ("indptr", "target", "weight", "delay_ms"):
        assert torch.equal(getattr(net, name), getattr(back, name)), name
    assert back.pop_slices == net.pop_slices and back.hash() == net.hash()
    a = zt.sim.run(net, 60.0, seed=5)
    b = zt.sim.run(back, 60.0, seed=5)
    assert a.spike_neuron.size > 10
    assert np.array_equal(a.spike_neuron, b.spike_neuron)
    assert np.array_equal(a.spike_time_ms, b.spike_time_ms)


def test_sonata_files_follow_the_format(tmp_path):
    net = zt.build.network(_mixed(), seed=3)
    cfg = json.loads(write_sonata(net, tmp_path).read_text())
    assert cfg["networks"]["nodes"][0]["nodes_file"] == "$NETWORK_DIR/nodes.h5"
    with open(tmp_path / "network" / "node_types.csv") as f:
        rows = list(csv.DictReader(f, delimiter=" "))
    assert [r["model_template"] for r in rows] == ["nest:iaf_psc_exp", "zentai:Izhikevich2007"]
    nest = json.loads((tmp_path / "components" / rows[0]["dynamics_params"]).read_text())
    assert nest["tau_syn_ex"] == LIF().receptors[0].tau and nest["C_m"] == LIF().c_m
    with h5py.File(tmp_path / "network" / "nodes.h5") as f:
        g = f["nodes/zentai"]
        assert g["node_type_id"][:].tolist() == [0] * 50 + [1] * 20
        np.testing.assert_array_equal(g["0/x"][:50], net.spec.populations[0].positions[:, 0])
        assert np.isnan(g["0/x"][60])
    with h5py.File(tmp_path / "network" / "edges.h5") as f:
        g = f["edges/zentai_zentai"]
        src, tgt = g["source_node_id"][:], g["target_node_id"][:]
        assert g["source_node_id"].attrs["node_population"] == "zentai"
        # E -> FS synapses land on FS nodes (50..69) with receptor 0 and weight 2
        sel = (src < 50) & (tgt >= 50)
        assert sel.sum() == 20 * 5 and np.all(g["0/syn_weight"][:][sel] == 2.0)
        assert np.all(g["0/receptor"][:][sel] == 0)


def test_sonata_refuses_what_it_cannot_write_or_read(tmp_path):
    stp = NetworkSpec(
        populations=(Population(name="A", size=5, model=LIF()),),
        projections=(
            Projection(pre="A", post="A", rule=FixedIndegree(2), stp=TsodyksMarkram(0.5, 100.0)),
        ),
    )
    with pytest.raises(SpecError, match="static stored synapses only"):
        write_sonata(zt.build.network(stp), tmp_path / "x")
    with pytest.raises(SpecError, match="expects a built Network"):
        write_sonata(stp, tmp_path / "x")
    with pytest.raises(DataError, match="does not exist"):
        read_sonata(tmp_path / "absent")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "circuit_config.json").write_text(json.dumps({"networks": {}}))
    with pytest.raises(DataError, match="no zentai section"):
        read_sonata(tmp_path / "other")


@pytest.mark.skipif(
    not os.environ.get("ZENTAI_PEER_PYTHON"),
    reason="needs ZENTAI_PEER_PYTHON: a python with nest-simulator and h5py",
)
def test_nest_runs_the_exported_microcircuit_at_zentai_rates(tmp_path):
    # the same synapses in both simulators (read by NEST from the SONATA files); the Poisson
    # inputs and initial potentials are separate draws, so the rates agree statistically
    from zentai.io.sonata_nest import nest_rates

    spec = zt.build.microcircuit(0.05)
    net = zt.build.network(spec, seed=1)
    write_sonata(net, tmp_path)
    nest = nest_rates(tmp_path, spec, python=os.environ["ZENTAI_PEER_PYTHON"], t_ms=2000.0)
    ours = zt.sim.run(net, 2000.0, seed=1).rates_hz(t_start=200.0)
    for pop, r in ours.items():
        assert nest[pop] == pytest.approx(r, rel=0.2, abs=0.3), (pop, r, nest[pop])
