"""Round trips of NetworkSpec through TOML, and the error messages of the reader."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
import torch

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection
from zentai.build.microcircuit import microcircuit
from zentai.celltypes import LIF, AdEx, Izhikevich2003, Izhikevich2007, LIFCond, Receptor
from zentai.connectome import (
    Bernoulli,
    Constant,
    DistanceGaussian,
    Explicit,
    FixedIndegree,
    FixedTotalNumber,
    Normal,
    OneToOne,
    Uniform,
)
from zentai.errors import DataError, SpecError
from zentai.io import toml as ztoml
from zentai.record import PopulationRate, Spikes, StateMonitor
from zentai.stim import DC, PoissonInput, SpikeTrain

TENSORS = ("indptr", "target", "weight", "delay_ms")


def every_kind_spec() -> NetworkSpec:
    """A small spec using every neuron model, rule, distribution, stimulus and recorder kind."""
    rng = np.random.default_rng(0)  # fixed numbers for per-neuron params and positions
    n = 12
    pops = (
        Population(
            name="E",
            size=n,
            model=LIF(tau_m=12.5, i_e=100.0),
            params={"v_th": -50.0 + rng.random(n), "tau_m": np.linspace(10.0, 20.0, n)},
            initial={"v": Normal(-60.0, 3.0, low=-70.0, high=-51.0)},
            positions=rng.random((n, 3)) * 200.0,
            labels={"region": "MOp", "cell_class": "E"},
        ),
        Population(
            name="I",
            size=n,
            model=LIF(receptors=(Receptor(name="ex", tau=1.0), Receptor(name="in", tau=3.0))),
            initial={"v": Uniform(-65.0, -55.0)},
            positions=rng.random((n, 3)) * 200.0,
            labels={"cell_class": "I"},
        ),
        Population(
            name="C",
            size=n,
            model=LIFCond(g_l=20.0, mg=1.2),
            initial={"v": Constant(-66.0)},
        ),
        Population(name="Z3", size=n, model=Izhikevich2003.preset("FS")),
        Population(
            name="Z7",
            size=n,
            model=Izhikevich2007.preset("TC"),
            initial={"v": -61.0, "u": Normal(0.0, 1.0)},
        ),
        Population(name="A", size=n, model=AdEx(a=2.0, b=60.0, t_ref=0.5)),
    )
    projs = (
        Projection(pre="E", post="I", rule=FixedIndegree(3), weight=Normal(50.0, 5.0, low=0.0)),
        Projection(
            pre="I",
            post="E",
            rule=FixedTotalNumber(40, allow_autapses=False),
            weight=Uniform(-80.0, -40.0),
            delay=Normal(0.8, 0.4, low=0.1),
            receptor="in",
        ),
        Projection(pre="E", post="E", rule=Bernoulli(0.3, allow_autapses=False), weight=20.0),
        Projection(pre="E", post="C", rule=OneToOne(), weight=2.0, receptor="nmda", delay=2.0),
        Projection(
            pre="E",
            post="I",
            rule=DistanceGaussian(0.9, sigma=150.0, dims=(0, 1)),
            weight=10.0,
            name="E->I:dist",
        ),
        Projection(
            pre="Z3",
            post="A",
            rule=Explicit(pre_idx=np.array([0, 1, 2, 11]), post_idx=np.array([5, 5, 6, 0])),
            weight=Constant(1.5),
            delay=Uniform(0.5, 2.5),
        ),
    )
    stimuli = (
        DC(target="E", amplitude=200.0, start=5.0, stop=40.0, neurons=(0, 2, 4)),
        PoissonInput(target="I", rate=900.0, weight=60.0, n_sources=3, receptor="ex", stop=30.0),
        PoissonInput(target="C", rate=500.0, weight=3.0, receptor="ampa"),
        SpikeTrain(target="Z7", times=(1.0, 2.5, 7.0), weight=50.0, delay=0.5),
        DC(target="Z3", amplitude=10.0),
        DC(target="A", amplitude=700.0),
    )
    recorders = (
        Spikes(populations=("E", "I", "A")),
        PopulationRate(bin=2.0),
        StateMonitor(population="Z7", variables=("v", "u"), neurons=(0, 3), interval=0.5),
        StateMonitor(population="C"),
    )
    return NetworkSpec(
        populations=pops,
        projections=projs,
        stimuli=stimuli,
        recorders=recorders,
        name="every kind",
        meta={"seed_note": "fixed", "n": 3, "scale": 0.5, "flags": [True, False], "sub": {"a": 1}},
    )


def assert_same_network(spec_a: NetworkSpec, spec_b: NetworkSpec, seed: int) -> None:
    net_a = zt.build.network(spec_a, seed=seed)
    net_b = zt.build.network(spec_b, seed=seed)
    assert net_a.n_synapses > 0
    for name in TENSORS:
        a, b = getattr(net_a, name), getattr(net_b, name)
        assert a.dtype == b.dtype
        assert torch.equal(a, b), name
    assert net_a.pop_slices == net_b.pop_slices


@pytest.mark.parametrize("make", [lambda: microcircuit(0.05), every_kind_spec], ids=["mc", "all"])
def test_dump_load_dump_gives_identical_text_and_network(tmp_path, make):
    spec = make()
    path = tmp_path / "spec.toml"
    ztoml.dump(spec, path)
    text1 = path.read_text()
    spec2 = ztoml.load(path)
    ztoml.dump(spec2, tmp_path / "again.toml")
    assert (tmp_path / "again.toml").read_text() == text1
    assert spec2.name == spec.name
    assert dict(spec2.meta) == dict(spec.meta)
    assert [p.model for p in spec2.populations] == [p.model for p in spec.populations]
    assert spec2.stimuli == spec.stimuli
    assert spec2.recorders == spec.recorders
    assert_same_network(spec, spec2, seed=11)


def test_every_field_survives(tmp_path):
    spec = every_kind_spec()
    spec2 = ztoml.loads(ztoml.dumps(spec))
    for a, b in zip(spec.populations, spec2.populations, strict=True):
        assert a.name == b.name and a.size == b.size and a.model == b.model
        assert a.labels == b.labels
        assert a.params.keys() == b.params.keys()
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])
        if a.positions is None:
            assert b.positions is None
        else:
            np.testing.assert_array_equal(a.positions, b.positions)
        assert {k: v.to_dict() for k, v in a.initial.items()} == {
            k: v.to_dict() for k, v in b.initial.items()
        }
    z7 = spec2.population("Z7").model
    assert z7.variant.value == "tc"
    assert spec2.population("C").model.receptors[1].mg_block is True
    explicit = spec2.projections[5].rule
    np.testing.assert_array_equal(explicit.pre_idx, [0, 1, 2, 11])
    assert explicit.pre_idx.dtype == np.int64
    assert spec2.projections[4].rule.dims == (0, 1)
    for a, b in zip(spec.projections, spec2.projections, strict=True):
        assert (a.name, a.pre, a.post, a.receptor) == (b.name, b.pre, b.post, b.receptor)
        assert a.weight == b.weight and a.delay == b.delay


def test_reloaded_spec_simulates_identically():
    # stimuli, initial distributions and recorders are not in the wiring tensors: run both
    spec = every_kind_spec()
    spec2 = ztoml.loads(ztoml.dumps(spec))
    results = []
    for s in (spec, spec2):
        sim = zt.sim.Simulator(zt.build.network(s, seed=2), dt=0.1, seed=5)
        results.append(sim.run(40.0, progress=False))
    a, b = results
    assert a.n_spikes > 0
    np.testing.assert_array_equal(a.spike_neuron, b.spike_neuron)
    np.testing.assert_array_equal(a.spike_time_ms, b.spike_time_ms)
    np.testing.assert_array_equal(a.rate_counts, b.rate_counts)
    assert a.states.keys() == b.states.keys()
    for k in a.states:
        np.testing.assert_array_equal(a.states[k].values, b.states[k].values)


def test_quantity_strings_are_read_in_canonical_units():
    text = """
    [[populations]]
    name = "E"
    size = 4
    model = { kind = "LIF", tau_m = "0.02 s", v_th = "-48 mV" }
    [[projections]]
    pre = "E"
    post = "E"
    weight = "0.1 nA"
    receptor = "ex"
    delay = "1.5 ms"
    rule = { kind = "fixed_indegree", k = 2 }
    [[stimuli]]
    kind = "DC"
    target = "E"
    amplitude = "300 pA"
    start = "0.1 s"
    """
    spec = ztoml.loads(text)
    model = spec.population("E").model
    assert (model.tau_m, model.v_th) == (20.0, -48.0)
    assert spec.stimuli[0].amplitude == 300.0 and spec.stimuli[0].start == 100.0
    net = zt.build.network(spec, seed=0)
    # 0.1 nA into a current receptor is 100 pA
    assert torch.all(net.weight == 100.0)
    assert torch.all(net.delay_ms == 1.5)


def test_run_table_round_trips(tmp_path):
    spec = microcircuit(0.02)
    path = tmp_path / "s.toml"
    ztoml.dump(spec, path, run={"duration": "2 s", "dt": 0.1, "seed": 3})
    assert ztoml.load_run(path) == {"duration": "2 s", "dt": 0.1, "seed": 3}
    assert ztoml.load(path).n_neurons == spec.n_neurons


def test_written_file_is_plain_toml(tmp_path):
    path = tmp_path / "s.toml"
    ztoml.dump(every_kind_spec(), path)
    data = tomllib.loads(path.read_text())
    assert data["zentai_spec"] == ztoml.FORMAT_VERSION
    kinds = [p["model"]["kind"] for p in data["populations"]]
    assert kinds == ["LIF", "LIF", "LIFCond", "Izhikevich2003", "Izhikevich2007", "AdEx"]
    assert [s["kind"] for s in data["stimuli"]][:4] == [
        "DC",
        "PoissonInput",
        "PoissonInput",
        "SpikeTrain",
    ]
    assert "stop" not in data["stimuli"][4]  # None is written as a missing key


# ------------------------------------------------------------------------------ errors
def _base() -> dict:
    return {
        "populations": [{"name": "E", "size": 3, "model": {"kind": "LIF"}}],
        "projections": [
            {"pre": "E", "post": "E", "weight": 1.0, "rule": {"kind": "fixed_indegree", "k": 1}}
        ],
        "stimuli": [{"kind": "DC", "target": "E", "amplitude": 1.0}],
        "recorders": [{"kind": "Spikes"}],
    }


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(populaton=[]), r"unknown key 'populaton'; closest: 'populations'"),
        (
            lambda d: d["populations"][0].update(szie=3),
            r"populations\[0\] \('E'\) \(Population\): unknown key 'szie'; closest: 'size'",
        ),
        (
            lambda d: d["populations"][0]["model"].update(tau=1.0),
            r"\(LIF\): unknown key 'tau'; closest: 'tau_m'",
        ),
        (
            lambda d: d["populations"][0]["model"].update(kind="LIFcond"),
            r"Unknown neuron model 'LIFcond'; closest: 'LIFCond'",
        ),
        (
            lambda d: d["projections"][0]["rule"].update(kind="fixed_in_degree"),
            r"unknown connection rule kind 'fixed_in_degree'; closest: 'fixed_indegree'",
        ),
        (
            lambda d: d["projections"][0]["rule"].update(kk=1),
            r"projections\[0\]\.rule: unknown key 'kk'; closest: 'k'",
        ),
        (
            lambda d: d["projections"][0].update(weight={"kind": "gauss", "mu": 1.0}),
            r"unknown distribution kind 'gauss'",
        ),
        (
            lambda d: d["projections"][0].update(weight={"kind": "normal", "mean": 1.0}),
            r"\(Normal\): unknown key 'mean'; closest: .*'mu'",
        ),
        (
            lambda d: d["stimuli"][0].update(kind="Poisson"),
            r"unknown stimulus kind 'Poisson'; closest: 'PoissonInput'",
        ),
        (
            lambda d: d["stimuli"][0].update(amplitdue=2.0),
            r"stimuli\[0\] \(DC\): unknown key 'amplitdue'; closest: 'amplitude'",
        ),
        (
            lambda d: d["recorders"][0].update(kind="Spike"),
            r"unknown recorder kind 'Spike'; closest: 'Spikes'",
        ),
        (
            lambda d: d["stimuli"][0].pop("target"),
            r"stimuli\[0\] \(DC\) is missing the key 'target'",
        ),
        (
            lambda d: d["populations"][0]["model"].update(v_reset=-40.0),
            r"populations\[0\] \('E'\)\.model: LIF\.v_reset \(-40\.0 mV\) must be below v_th",
        ),
        (
            lambda d: d.update(run={"duraton": 1}),
            r"run: unknown key 'duraton'; closest: 'duration'",
        ),
        (lambda d: d.update(zentai_spec=2), r"zentai_spec must be 1"),
    ],
)
def test_reader_errors_name_the_key_and_closest(edit, match):
    d = _base()
    ztoml.spec_from_dict(d)  # the base is valid
    edit(d)
    with pytest.raises(SpecError, match=match):
        ztoml.spec_from_dict(d)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        ztoml.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[populations]\nname = 1\n")
    with pytest.raises(SpecError, match=r"bad\.toml' is not valid TOML"):
        ztoml.load(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text('[[populations]]\nname = "E"\nsize = 2\nmodel = { kind = "Lif" }\n')
    with pytest.raises(SpecError, match=r"typo\.toml'.*Unknown neuron model 'Lif'; closest: 'LIF'"):
        ztoml.load(typo)


def test_unwritable_meta_is_a_spec_error():
    spec = NetworkSpec(
        populations=(Population(name="E", size=1, model=LIF()),), meta={"x": object()}
    )
    with pytest.raises(SpecError, match=r"NetworkSpec\.meta\.x cannot be written to TOML"):
        ztoml.dumps(spec)
