"""The compiled CPU loop against the torch reference path: the same spikes, exactly."""

import dataclasses

import numba
import numpy as np
import pytest
import torch

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection, TsodyksMarkram
from zentai.celltypes import LIF, LIFAHP, AdEx, Izhikevich2003, Izhikevich2007, LIFCond
from zentai.celltypes.models import Receptor
from zentai.connectome import Bernoulli, FixedIndegree, Normal
from zentai.errors import SpecError
from zentai.record import PopulationRate, Spikes, StateMonitor
from zentai.sim import cpu_kernels
from zentai.stim import DC, PoissonInput, SpikeTrain

pytestmark = pytest.mark.skipif(not cpu_kernels.HAVE_NUMBA, reason="numba not installed")


def _mixed_spec(recorders=None):
    """Three LIF groups (2, 1 and 3 current receptors), random wiring with multapses and
    per-synapse delays, Poisson input in a time window, DC and a second Poisson stimulus on the
    same slots."""
    three = (
        Receptor(name="exc", tau=0.5),
        Receptor(name="inh", tau=2.0),
        Receptor(name="slow", tau=8.0),
    )
    pops = (
        Population(name="E", size=120, model=LIF(t_ref=2.0)),
        Population(name="F", size=40, model=LIF(receptors=(Receptor(name="exc", tau=1.0),))),
        Population(name="G", size=30, model=LIF(receptors=three, tau_m=20.0, t_ref=0.5)),
    )
    projs = []
    for pre in ("E", "F", "G"):
        for post, rec in (("E", None), ("F", "exc"), ("G", "slow")):
            w = 60.0 if pre != "F" else -120.0
            if post == "F":
                w = abs(w)
            if post == "G":
                w *= 0.15
                rec = "inh" if pre == "F" else rec
            projs.append(
                Projection(
                    pre=pre,
                    post=post,
                    rule=FixedIndegree(12, allow_autapses=True, allow_multapses=True),
                    weight=Normal(w, 0.2 * abs(w)),
                    delay=Normal(1.5, 0.7, low=0.1),
                    receptor=rec,
                )
            )
    stims = (
        PoissonInput(target="E", n_sources=1200, rate=9.0, weight=87.8),
        PoissonInput(target="E", n_sources=50, rate=4.0, weight=-40.0, start=30.0, stop=120.0),
        PoissonInput(target="F", n_sources=300, rate=8.0, weight=60.0),
        PoissonInput(target="G", n_sources=300, rate=8.0, weight=9.0, receptor="slow"),
        DC(target="F", amplitude=150.0, start=50.0, stop=90.0),
        DC(target="G", amplitude=60.0),
    )
    return NetworkSpec(
        populations=pops,
        projections=tuple(projs),
        stimuli=stims,
        recorders=recorders or (Spikes(),),
    )


def _spikes(res):
    return res.spike_member, res.spike_neuron, res.spike_time_ms


def _assert_same(a, b):
    for x, y in zip(_spikes(a), _spikes(b)):
        assert np.array_equal(x, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_equals_torch_on_a_mixed_network(dtype, threads):
    net = zt.build.network(_mixed_spec(), seed=3)
    kw = {"dtype": dtype, "seed": 5, "n_ensembles": 2, "num_threads": threads}
    ref = zt.sim.Simulator(net, backend="torch", **kw)
    fast = zt.sim.Simulator(net, backend="compiled", **kw)
    assert fast.backend == "compiled" and ref.backend == "torch"
    a, b = ref.run(150.0), fast.run(150.0)
    assert a.spike_neuron.size > 500  # the network is active in every population
    for p in ("E", "F", "G"):
        lo, hi = a.populations[p]
        assert ((a.spike_neuron >= lo) & (a.spike_neuron < hi)).sum() > 20, p
    _assert_same(a, b)
    # the states after the run agree too
    for p in ("E", "F", "G"):
        assert torch.equal(ref.get_state(p, "v"), fast.get_state(p, "v"))


@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_equals_torch_on_the_microcircuit(threads):
    # its projections are listed by post population, so every CSR row is ordered by target
    # and two threads split rows by binary search (the mixed network tests the other case)
    net = zt.build.network(zt.build.microcircuit(0.05), seed=1)
    a = zt.sim.Simulator(net, backend="torch", seed=2).run(100.0)
    fast = zt.sim.Simulator(net, backend="compiled", seed=2, num_threads=threads)
    assert fast._cbounds[2] == (threads > 1)
    b = fast.run(100.0)
    assert a.spike_neuron.size > 300
    _assert_same(a, b)


def test_compiled_recorders_rates_and_subsets():
    rec = (Spikes(populations=("F",)), PopulationRate(bin=0.1, populations=("G", "E")))
    net = zt.build.network(_mixed_spec(rec), seed=3)
    a = zt.sim.Simulator(net, backend="torch", seed=1).run(80.0)
    b = zt.sim.Simulator(net, backend="compiled", seed=1).run(80.0)
    _assert_same(a, b)
    assert a.spike_neuron.size > 0
    assert np.array_equal(a.rate_counts, b.rate_counts)
    assert a.rate_counts.sum() > 0


def test_compiled_per_member_parameters_and_injection():
    net = zt.build.network(_mixed_spec(), seed=3)
    sims = [
        zt.sim.Simulator(net, backend=be, seed=9, n_ensembles=3) for be in ("torch", "compiled")
    ]
    for sim in sims:
        sim.set_param("E", "v_th", torch.tensor([[-50.0], [-52.0], [-48.0]]))
        sim.run(40.0)
        sim.inject_current("G", [0.0, 100.0, -100.0])
        sim.set_state("F", "v", -55.0)
        sim.run(40.0)
    _assert_same(sims[0].result(), sims[1].result())


def test_compiled_checkpoint_resumes_exactly(tmp_path):
    net = zt.build.network(_mixed_spec(), seed=3)
    whole = zt.sim.Simulator(net, backend="compiled", seed=4).run(120.0)
    sim = zt.sim.Simulator(net, backend="compiled", seed=4)
    sim.run(70.0, checkpoint=tmp_path / "c.pt")
    resumed = zt.sim.Simulator.restore(tmp_path / "c.pt", net)
    assert resumed.backend == "compiled"
    _assert_same(whole, resumed.run(50.0))


def test_compiled_state_monitors_and_spike_trains():
    rec = (
        Spikes(),
        StateMonitor(population="F", neurons=(0, 3, 7)),
        StateMonitor(population="E", interval=0.5),
    )
    base = _mixed_spec(rec)
    trains = (
        SpikeTrain(target="F", times=(5.0, 5.0, 20.3, 61.0), weight=400.0, delay=0.1),
        SpikeTrain(target="E", times=(10.0,), weight=-300.0, delay=1.0, neurons=(1, 2, 2)),
    )
    spec = NetworkSpec(
        populations=base.populations,
        projections=base.projections,
        stimuli=base.stimuli + trains,
        recorders=rec,
    )
    net = zt.build.network(spec, seed=3)
    a = zt.sim.Simulator(net, backend="torch", seed=1, n_ensembles=2).run(70.0)
    fast = zt.sim.Simulator(net, seed=1, n_ensembles=2)
    assert fast.backend == "compiled"
    b = fast.run(70.0)
    _assert_same(a, b)
    for key in ("F.v", "E.v"):
        assert a.states[key].shape == b.states[key].shape
        assert np.array_equal(a.states[key].values, b.states[key].values)
        assert np.array_equal(a.states[key].time, b.states[key].time)
    assert a.states["F.v"].shape[-1] == 700 and a.states["E.v"].shape[-1] == 140


@pytest.mark.parametrize("threads", [1, 2])
def test_compiled_bins_beyond_their_limit_keep_the_reference_spikes(threads, monkeypatch):
    # bins limited to one spike's events per arrival row: every busy step is binned in
    # batches, the bins emptied into the ring buffer between them (a synchronous burst of a
    # large network would otherwise need bins of D x all its events: MemoryError at the
    # half-scale microcircuit)
    from zentai.sim import engine

    monkeypatch.setattr(engine, "BIN_LIMIT_BYTES", 0)
    spec = _mixed_spec()
    burst = tuple(DC(target=p, amplitude=5e4, start=60.0, stop=60.1) for p in ("E", "F", "G"))
    spec = dataclasses.replace(spec, stimuli=spec.stimuli + burst)
    net = zt.build.network(spec, seed=3)
    kw = {"seed": 5, "n_ensembles": 2, "num_threads": threads}
    fast = zt.sim.Simulator(net, backend="compiled", **kw)
    cap_max = fast._cbounds[3]
    assert cap_max == fast._cmax_events < 200
    a = zt.sim.Simulator(net, backend="torch", **kw).run(100.0)
    b = fast.run(100.0)
    assert ((a.spike_time_ms > 60.0) & (a.spike_time_ms < 60.25)).sum() > 300  # the burst
    _assert_same(a, b)
    assert fast._cbins[0].shape[2] <= cap_max


def _procedural_spec():
    """E/I network (two groups) whose synapses are procedural but I->I: Normal weights and
    delays (redrawn into bounds), one all-pairs projection (p = 1), posts in two segments."""

    def proj(pre, post, rule, w, d, procedural=True):
        return Projection(pre=pre, post=post, rule=rule, weight=w, delay=d, procedural=procedural)

    three = (*LIF().receptors, Receptor(name="slow", tau=8.0))  # (I: a group of its own)
    return NetworkSpec(
        populations=(
            Population(name="E", size=300, model=LIF()),
            Population(name="I", size=80, model=LIF(receptors=three)),
        ),
        projections=(
            proj("E", "E", Bernoulli(0.12), Normal(20.0, 8.0, low=0.0),
                 Normal(1.5, 0.75, low=0.1, high=5.0)),
            proj("E", "I", Bernoulli(1.0), 4.0, Normal(1.0, 0.5, low=0.1, high=2.0)),
            proj("I", "E", Bernoulli(0.3), Normal(-80.0, 20.0, high=0.0), 0.8),
            proj("I", "I", FixedIndegree(10), -50.0, 0.8, procedural=False),
        ),
        stimuli=(
            PoissonInput(target="E", n_sources=2000, rate=8.0, weight=87.8),
            PoissonInput(target="I", n_sources=1900, rate=8.0, weight=87.8),
        ),
        recorders=(Spikes(),),
    )  # fmt: skip


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_regenerates_procedural_synapses_as_the_torch_path(dtype, monkeypatch):
    from zentai.build.procedural import row
    from zentai.sim import engine

    net = zt.build.network(_procedural_spec(), seed=1)
    assert len(net.procedural) == 3
    # out-degrees (which size the loop's bins) as the reference regenerates the rows
    fast = zt.sim.Simulator(net, backend="compiled", dtype=dtype, seed=2, n_ensembles=2)
    deg = np.zeros(net.n_neurons, np.int64)
    for pp in net.procedural:
        k, *_ = row(pp, torch.arange(pp.pre_start, pp.pre_stop), 0.1)
        deg[pp.pre_start : pp.pre_stop] += np.bincount(
            k.numpy(), minlength=pp.pre_stop - pp.pre_start
        )
    assert np.array_equal(fast._cproc[2], deg) and deg[:300].min() >= 80
    ref = zt.sim.Simulator(net, backend="torch", dtype=dtype, seed=2, n_ensembles=2).run(60.0)
    assert ref.spike_neuron.size > 200
    _assert_same(ref, fast.run(60.0))
    # two threads split the input slots (840, 380 of them with Poisson entries) at 211: E's
    # excitatory slots [0, 300) at post 211, inside E->E's one segment (512 posts); the
    # second thread takes both segments (256 posts each) of I->E
    two = zt.sim.Simulator(net, backend="compiled", dtype=dtype, seed=2, n_ensembles=2,
                           num_threads=2)  # fmt: skip
    assert list(two._cbounds[0]) == [0, 211, 840] and net.procedural[0].seg == 512
    _assert_same(ref, two.run(60.0))
    # bins of one spike's events: projection by projection, in batches
    monkeypatch.setattr(engine, "BIN_LIMIT_BYTES", 0)
    small = zt.sim.Simulator(net, backend="compiled", dtype=dtype, seed=2, n_ensembles=2,
                             num_threads=2)  # fmt: skip
    _assert_same(ref, small.run(60.0))
    assert small._cbins[0].shape[2] == small._cmax_events < 1024
    monkeypatch.undo()
    if dtype == "float32":  # enough members for member blocks: the loop above runs instead
        kw = {"seed": 2, "n_ensembles": 8}
        many = zt.sim.Simulator(net, backend="compiled", **kw)
        assert many._cblk is None
        _assert_same(zt.sim.Simulator(net, backend="torch", **kw).run(20.0), many.run(20.0))


def test_compiled_refuses_what_it_does_not_implement():
    # plastic synapses (every neuron model runs compiled, with any receptors)
    cond = Receptor(name="ampa", tau=2.0, e_rev=0.0)
    plastic = NetworkSpec(
        populations=(Population(name="A", size=3, model=Izhikevich2007(receptors=(cond,))),),
        projections=(Projection(pre="A", post="A", rule=FixedIndegree(2), weight=1.0,
                                stp=TsodyksMarkram(U=0.5, tau_rec=200.0)),),
    )  # fmt: skip
    net = zt.build.network(plastic)
    with pytest.raises(SpecError, match=r"static synapses only \(this network has Tsodyks"):
        zt.sim.Simulator(net, backend="compiled")
    assert zt.sim.Simulator(net).backend == "torch"  # "auto" falls back
    with pytest.raises(SpecError, match="backend must be"):
        zt.sim.Simulator(net, backend="fast")


def test_compiled_threads_get_shares_of_equal_cost():
    # a cheap LIF population then as many AdEx neurons (~27x the update's cost each): the
    # update's split falls inside the AdEx population, not at the middle; the slots are split
    # by their Poisson draws (LIF's only); the spikes are those of one thread
    spec = NetworkSpec(
        populations=(Population(name="L", size=300, model=LIF()),
                     Population(name="A", size=300, model=AdEx())),
        projections=(Projection(pre="L", post="A", rule=FixedIndegree(20), weight=1.0,
                                delay=1.0),),
        stimuli=(PoissonInput(target="L", n_sources=2000, rate=8.0, weight=87.8),
                 DC(target="A", amplitude=400.0)),
        recorders=(Spikes(),),
    )  # fmt: skip
    net = zt.build.network(spec, seed=1)
    two = zt.sim.Simulator(net, num_threads=2, seed=1, dtype="float64")
    slots, neurons = two._cbounds[0], two._cbounds[1]
    cost, slot_cost = two._compiled_costs()
    assert cost[300:].min() > 20 * cost[:300].max()
    assert 300 < neurons[1] < 600
    for c, b in ((cost, neurons), (slot_cost, slots)):
        shares = [c[b[k] : b[k + 1]].sum() for k in range(2)]
        assert abs(shares[0] - shares[1]) <= c.max()
    assert slots[1] < 300  # within L's excitatory slots, which hold every draw
    ref = zt.sim.Simulator(net, num_threads=1, seed=1, dtype="float64").run(40.0)
    assert ref.spike_neuron.size > 100
    _assert_same(ref, two.run(40.0))


def test_compiled_uses_all_cores_for_large_networks(monkeypatch):
    import os

    from zentai.sim import engine

    net = zt.build.network(zt.build.microcircuit(0.05), seed=1)
    one = zt.sim.Simulator(net)
    assert one.num_threads == 1
    # estimated work per step: every neuron's LIF update, every slot, every Poisson draw
    cost, slot_cost = one._compiled_costs()
    assert cost.size == net.n_neurons and np.all(cost == cost[0]) and slot_cost.size == one.S
    draws = one._p_slots.numel()
    assert np.isclose(slot_cost.sum(), one.S * engine.SLOT_NS + draws * engine.POISSON_DRAW_NS)
    work = cost.sum() + slot_cost.sum()
    monkeypatch.setattr(engine, "AUTO_THREADS_MIN_WORK_NS", work)  # that much is enough
    cores = min(os.cpu_count() or 1, numba.config.NUMBA_NUM_THREADS)
    assert zt.sim.Simulator(net).num_threads == cores
    assert zt.sim.Simulator(net, n_ensembles=8).num_threads == 1  # member blocks: synapses only
    monkeypatch.setattr(engine, "AUTO_THREADS_MIN_WORK_NS", 1.01 * work)
    assert zt.sim.Simulator(net).num_threads == 1
    monkeypatch.setattr(engine, "AUTO_THREADS_MIN_WORK_NS", 10**12)
    monkeypatch.setattr(engine, "AUTO_THREADS_MIN_SYNAPSES", 0)  # many synapses
    sim = zt.sim.Simulator(net, seed=2)
    assert sim.backend == "compiled"
    assert sim.num_threads == cores
    ref = zt.sim.Simulator(net, backend="torch", seed=2).run(50.0)
    _assert_same(ref, sim.run(50.0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_step_with_compiled_poisson_input_equals_the_reference(dtype):
    # networks the compiled loop does not cover (here: Tsodyks-Markram synapses) step with
    # torch, but take their Poisson input from the compiled kernel unless backend="torch":
    # the spikes must not change
    spec = NetworkSpec(
        populations=(
            Population(name="E", size=200, model=Izhikevich2003()),
            Population(name="I", size=50, model=Izhikevich2003()),
        ),
        projections=(
            Projection(pre="E", post="I", rule=FixedIndegree(20), weight=1.0, delay=1.0),
            Projection(
                pre="I",
                post="E",
                rule=FixedIndegree(10),
                weight=-2.0,
                delay=0.8,
                stp=TsodyksMarkram(U=0.5, tau_rec=200.0),
            ),
        ),
        stimuli=(
            PoissonInput(target="E", n_sources=800, rate=8.0, weight=2.0),
            PoissonInput(target="I", n_sources=300, rate=8.0, weight=3.0, start=20.0),
            PoissonInput(target="E", n_sources=100, rate=20.0, weight=-1.0, stop=60.0),
        ),
        recorders=(Spikes(),),
    )
    net = zt.build.network(spec, seed=4)
    ref = zt.sim.Simulator(net, backend="torch", seed=3, dtype=dtype, n_ensembles=2)
    hyb = zt.sim.Simulator(net, seed=3, dtype=dtype, n_ensembles=2)
    assert ref._fast_poisson is None and hyb.backend == "torch" and hyb._fast_poisson is not None
    a, b = ref.run(100.0), hyb.run(100.0)
    assert a.spike_neuron.size > 200
    _assert_same(a, b)


def _izhikevich_spec(variants):
    """Izhikevich (2007) populations of the given presets (one group, mixed variant codes when
    there are several) with a LIF population, random wiring, Poisson input and a DC window."""
    drive = {"RS": (1500, 60.0), "FS": (600, 50.0), "LTS": (300, 50.0), "TC": (1500, 60.0)}
    drive |= {"RTN": (300, 50.0), "CH": (1500, 60.0), "IB": (1500, 60.0)}
    pops = [Population(name=v, size=60, model=Izhikevich2007.preset(v)) for v in variants]
    pops.append(Population(name="L", size=40, model=LIF()))
    names = [p.name for p in pops]
    projs = []
    for pre in names:
        inhibitory = pre in ("FS", "LTS", "RTN")
        for post in names:
            projs.append(
                Projection(
                    pre=pre,
                    post=post,
                    rule=FixedIndegree(8),
                    weight=Normal(-50, 10, high=0) if inhibitory else Normal(40, 10, low=0),
                    delay=Normal(1.2, 0.4, low=0.1),
                )
            )
    stims = [
        PoissonInput(target=v, n_sources=drive[v][0], rate=8.0, weight=drive[v][1])
        for v in variants
    ]
    stims.append(PoissonInput(target="L", n_sources=2000, rate=8.0, weight=87.8))
    stims.append(DC(target=variants[0], amplitude=30.0, start=20.0, stop=60.0))
    rec = (Spikes(), StateMonitor(population=variants[0], variables=("v", "u")))
    return NetworkSpec(
        populations=tuple(pops), projections=tuple(projs), stimuli=tuple(stims), recorders=rec
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "variants", [("RS", "FS", "LTS", "TC", "RTN"), ("FS",), ("TC",), ("LTS",), ("CH",)]
)
def test_compiled_izhikevich_equals_torch(dtype, variants):
    # one population: a group of one variant (the torch step's uniform code path); several:
    # one group with per-neuron variant codes (its mixed path)
    net = zt.build.network(_izhikevich_spec(variants), seed=2)
    kw = {"seed": 1, "dtype": dtype, "n_ensembles": 2}
    ref = zt.sim.Simulator(net, backend="torch", **kw)
    fast = zt.sim.Simulator(net, **kw)
    assert fast.backend == "compiled"
    a, b = ref.run(120.0), fast.run(120.0)
    for name in variants:
        lo, hi = a.populations[name]
        assert ((a.spike_neuron >= lo) & (a.spike_neuron < hi)).sum() > 20, name
    _assert_same(a, b)
    for var in ("v", "u"):
        key = f"{variants[0]}.{var}"
        assert np.array_equal(a.states[key].values, b.states[key].values)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_loops_exp_is_within_about_one_ulp(dtype):
    # the compiled LIFAHP / AdEx updates use their own exp (vectorisable, unlike libm's);
    # torch's is within ~0.5 ulp too, so the two differ by one ulp at most
    from zentai import _rng_cpu

    rng = np.random.default_rng(0)
    hi = 700.0 if dtype == np.float64 else 87.0
    x = np.concatenate([rng.uniform(-hi, hi, 400_000), rng.uniform(-1.0, 1.0, 100_000)])
    x = np.concatenate([x, [0.0, -0.0, 1.0, -1.0, 1e-30, np.log(2.0), -np.log(2.0) / 2]])
    x = x.astype(dtype)
    out = np.empty_like(x)
    _rng_cpu.exp_array(x, out)
    exact = np.exp(x.astype(np.longdouble))
    ulps = np.abs(out.astype(np.longdouble) - exact) / np.spacing(exact.astype(dtype))
    assert ulps.max() <= (1.2 if dtype == np.float64 else 0.51)
    special = np.array([-800.0, 800.0, np.nan, -np.inf, np.inf], dtype)
    out = np.empty_like(special)
    _rng_cpu.exp_array(special, out)
    assert out[0] == 0.0 and out[1] == np.inf and np.isnan(out[2])
    assert out[3] == 0.0 and out[4] == np.inf


# conductance receptors with and without the Mg2+ block beside a current receptor; and a
# granule cell's set (the conductance-model tests here and in test_triton)
MIXED_RECEPTORS = (
    Receptor(name="ampa", tau=2.0, e_rev=0.0),
    Receptor(name="gaba", tau=6.0, e_rev=-80.0),
    Receptor(name="nmda", tau=40.0, e_rev=0.0, mg_block=True),
    Receptor(name="cur", tau=3.0),
)
GRANULE_RECEPTORS = (
    Receptor(name="ampa", tau=1.2, e_rev=0.0),
    Receptor(name="nmda", tau=52.0, e_rev=0.0, mg_block=True),
    Receptor(name="gaba", tau=7.0, e_rev=-82.0),
)


def _conductance_spec():
    """LIFAHP (no reset, AHP gate) and AdEx groups with conductance receptors, an Mg-blocked
    NMDA receptor in each model and a current receptor beside conductance ones; per-neuron
    thresholds, Poisson input, a DC window, recurrent projections."""
    mixed, grc = MIXED_RECEPTORS, GRANULE_RECEPTORS
    pops = (
        Population(name="G", size=200, model=LIFAHP(receptors=grc, t_ref=1.0)),
        Population(
            name="A",
            size=60,
            model=AdEx(receptors=mixed, t_ref=1.0),
            initial={"v": Normal(-65.0, 3.0)},
        ),
        Population(name="B", size=40, model=AdEx()),
    )
    delay = Normal(1.5, 0.5, low=0.1)
    projs = (
        Projection(pre="G", post="A", rule=FixedIndegree(20), weight=Normal(1.0, 0.2, low=0.0),
                   delay=delay, receptor="ampa"),
        Projection(pre="A", post="G", rule=FixedIndegree(5), weight=0.3, delay=1.0,
                   receptor="ampa"),
        Projection(pre="B", post="G", rule=FixedIndegree(5), weight=0.1, delay=1.0,
                   receptor="gaba"),
        Projection(pre="B", post="A", rule=FixedIndegree(10), weight=2.0, delay=0.8,
                   receptor="gaba"),
        Projection(pre="A", post="A", rule=FixedIndegree(5), weight=0.5, delay=2.0,
                   receptor="nmda"),
        Projection(pre="A", post="B", rule=FixedIndegree(10), weight=1.5, delay=delay),
    )  # fmt: skip
    stims = (
        PoissonInput(target="G", n_sources=4, rate=20.0, weight=1.5),
        PoissonInput(target="G", n_sources=2, rate=10.0, weight=0.5, receptor="nmda"),
        PoissonInput(target="A", n_sources=100, rate=10.0, weight=150.0, receptor="cur"),
        PoissonInput(target="B", n_sources=200, rate=15.0, weight=40.0),
        DC(target="A", amplitude=700.0, start=40.0, stop=80.0),
    )
    monitors = (
        StateMonitor(population="A", variables=("v", "w")),
        StateMonitor(population="G", variables=("v", "s_ahp")),
    )
    return NetworkSpec(
        populations=pops, projections=projs, stimuli=stims, recorders=(Spikes(), *monitors)
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_runs_conductance_models_as_the_torch_path(dtype):
    # the cerebellar models of the brain scenarios (LIFAHP granule / Golgi / Purkinje cells,
    # AdEx interneurons and nuclei) in the compiled loop: the torch step's operations in its
    # order, but torch's exp (SLEEF) and its einsum may round the last bit otherwise, so the
    # states agree closely rather than exactly (an AdEx upstroke amplifies 1e-14 mV to ~1e-4
    # mV in float64, to ~2e-2 mV in float32, before the reset); the spikes agree exactly
    net = zt.build.network(_conductance_spec(), seed=1)
    kw = {"dtype": dtype, "seed": 2, "n_ensembles": 2}
    ref = zt.sim.Simulator(net, backend="torch", **kw)
    fast = zt.sim.Simulator(net, backend="compiled", **kw)
    assert fast.backend == "compiled"
    for sim in (ref, fast):
        sim.run(90.0, progress=False)
        sim.set_param("B", "b", torch.linspace(40.0, 120.0, 40))  # tables rebuilt
        sim.set_param("G", "v_th", -36.0)
        sim.run(60.0, progress=False)
    a, b = ref.result(), fast.result()
    for p, (lo, hi) in a.populations.items():
        assert ((a.spike_neuron >= lo) & (a.spike_neuron < hi)).sum() > 200, p
    _assert_same(a, b)
    v_tol = 1e-3 if dtype == "float64" else 0.1  # mV (measured: 3e-5 to 8e-5, 7e-3 to 2e-2)
    tol = {"A.v": v_tol, "A.w": 1e-3, "G.v": v_tol, "G.s_ahp": 1e-6}
    for key, atol in tol.items():
        x, y = a.states[key].values, b.states[key].values
        assert x.shape == y.shape and np.allclose(x, y, rtol=0, atol=atol), key
    for p, var in (("A", "w"), ("B", "w"), ("G", "s_ahp"), ("B", "v")):
        x, y = ref.get_state(p, var), fast.get_state(p, var)
        assert torch.allclose(x, y, rtol=1e-6, atol=1e-4), (p, var)


def test_compiled_conductance_models_resume_from_a_checkpoint(tmp_path):
    # the AdEx w and the LIFAHP gate live in the loop's second state array: a checkpoint
    # saves them and a restored run continues them exactly
    net = zt.build.network(_conductance_spec(), seed=1)
    whole = zt.sim.Simulator(net, backend="compiled", seed=4)
    a = whole.run(100.0, progress=False)
    sim = zt.sim.Simulator(net, backend="compiled", seed=4)
    sim.run(60.0, checkpoint=tmp_path / "c.pt", progress=False)
    resumed = zt.sim.Simulator.restore(tmp_path / "c.pt", net)
    assert resumed.backend == "compiled"
    b = resumed.run(40.0, progress=False)
    assert a.spike_neuron.size > 500
    _assert_same(a, b)
    for p, var in (("A", "w"), ("B", "w"), ("G", "s_ahp"), ("A", "v")):
        assert torch.equal(whole.get_state(p, var), resumed.get_state(p, var)), (p, var)


def _cond_and_2003_spec():
    """LIFCond neurons (AMPA, GABA, Mg2+-blocked NMDA and a current receptor) and Izhikevich
    (2003) neurons of four presets (one group each) with recurrent wiring, Poisson input, a DC
    window and per-neuron thresholds."""
    cond_rec = MIXED_RECEPTORS
    pops = [
        Population(
            name="C", size=80, model=LIFCond(receptors=cond_rec),
            initial={"v": Normal(-65.0, 3.0)},
        ),
        *(Population(name=k, size=40, model=Izhikevich2003.preset(k))
          for k in ("RS", "FS", "CH", "TC")),
    ]  # fmt: skip
    izh = ("RS", "FS", "CH", "TC")
    projs = [
        Projection(pre="C", post="C", rule=FixedIndegree(10), weight=Normal(2.0, 0.5, low=0.0),
                   delay=Normal(1.5, 0.5, low=0.1), receptor="ampa"),
        Projection(pre="FS", post="C", rule=FixedIndegree(10), weight=3.0, delay=0.8,
                   receptor="gaba"),
        Projection(pre="C", post="C", rule=FixedIndegree(5), weight=0.5, delay=2.0,
                   receptor="nmda"),
    ]  # fmt: skip
    for pre in izh:
        for post in izh:
            w = Normal(-2.0, 0.5, high=0.0) if pre == "FS" else Normal(1.0, 0.3, low=0.0)
            projs.append(Projection(pre=pre, post=post, rule=FixedIndegree(8), weight=w,
                                    delay=Normal(1.2, 0.4, low=0.1)))  # fmt: skip
    stims = (
        PoissonInput(target="C", n_sources=20, rate=20.0, weight=3.0),
        PoissonInput(target="C", n_sources=50, rate=10.0, weight=120.0, receptor="cur"),
        *(PoissonInput(target=k, n_sources=100, rate=20.0, weight=1.5) for k in izh),
        DC(target="C", amplitude=150.0, start=40.0, stop=80.0),
        DC(target="RS", amplitude=2.0, start=30.0, stop=70.0),
    )
    rec = (Spikes(), StateMonitor(population="C", variables=("v",)),
           StateMonitor(population="RS", variables=("v", "u")))  # fmt: skip
    return NetworkSpec(
        populations=tuple(pops), projections=tuple(projs), stimuli=stims, recorders=rec
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_runs_lifcond_and_izhikevich2003_as_the_torch_path(dtype):
    # the last two models of the catalogue in the compiled loop: Izhikevich (2003) state-equal
    # (the torch step's operations in its order, constants in the state's type); LIFCond
    # calls exp, whose last bit torch (SLEEF) may round otherwise, so its voltage agrees
    # closely; every spike agrees
    net = zt.build.network(_cond_and_2003_spec(), seed=1)
    kw = {"dtype": dtype, "seed": 3, "n_ensembles": 2}
    ref = zt.sim.Simulator(net, backend="torch", **kw)
    fast = zt.sim.Simulator(net, **kw)
    assert fast.backend == "compiled"
    for sim in (ref, fast):
        sim.run(60.0, progress=False)
        sim.set_param("C", "v_th", torch.linspace(-52.0, -48.0, 80))  # tables rebuilt
        sim.run(50.0, progress=False)
    a, b = ref.result(), fast.result()
    for p, (lo, hi) in a.populations.items():
        assert ((a.spike_neuron >= lo) & (a.spike_neuron < hi)).sum() > 50, p
    _assert_same(a, b)
    assert np.array_equal(a.states["RS.v"].values, b.states["RS.v"].values)
    assert np.array_equal(a.states["RS.u"].values, b.states["RS.u"].values)
    x, y = a.states["C.v"].values, b.states["C.v"].values
    assert np.allclose(x, y, rtol=0, atol=1e-3 if dtype == "float64" else 0.05)


def _izhikevich_conductance_spec():
    """Izhikevich (2007) neurons of five variants in one group and Izhikevich (2003) RS / FS
    neurons, all with AMPA, GABA, Mg2+-blocked NMDA and current receptors (the basal ganglia's
    striatal and pallidal cells are such), wired among themselves, Poisson input on several
    receptors, a DC window, strong inhibition (the conductance term's implicit step matters)."""
    izh = tuple(
        Population(
            name=v, size=30, model=Izhikevich2007.preset(v, receptors=MIXED_RECEPTORS),
            initial={"v": Normal(-45.0, 8.0)},  # (some fire at once: short interpreter runs)
        )
        for v in ("RS", "FS", "LTS", "TC", "RTN")
    )  # fmt: skip
    old = tuple(
        Population(name=f"{v}3", size=30, model=Izhikevich2003.preset(v, receptors=MIXED_RECEPTORS))
        for v in ("RS", "FS")
    )
    names = [p.name for p in izh + old]
    projs = []
    for pre in names:
        inhibitory = pre in ("FS", "LTS", "RTN", "FS3")
        for post in names:
            projs.append(
                Projection(
                    pre=pre, post=post, rule=FixedIndegree(6),
                    weight=Normal(2.0, 0.5, low=0.0) if inhibitory else Normal(1.0, 0.3, low=0.0),
                    delay=Normal(1.2, 0.4, low=0.1), receptor="gaba" if inhibitory else "ampa",
                )
            )  # fmt: skip
    projs.append(Projection(pre="RS", post="RS", rule=FixedIndegree(5), weight=0.8, delay=2.0,
                            receptor="nmda"))  # fmt: skip
    stims = [
        PoissonInput(target=p, n_sources=200, rate=10.0, weight=1.0, receptor="ampa") for p in names
    ]
    stims += [
        PoissonInput(target="RS", n_sources=20, rate=10.0, weight=0.5, receptor="nmda"),
        PoissonInput(target="TC", n_sources=100, rate=10.0, weight=40.0, receptor="cur"),
        DC(target="LTS", amplitude=150.0, start=5.0, stop=50.0),
    ]
    rec = (Spikes(), StateMonitor(population="RS", variables=("v", "u")))
    return NetworkSpec(
        populations=izh + old, projections=tuple(projs), stimuli=tuple(stims), recorders=rec
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_runs_izhikevich_with_conductance_receptors_as_the_torch_path(dtype):
    # the cortex-basal ganglia models (Izhikevich cells with conductance synapses, linearly
    # implicit in the conductance) in the compiled loop: every spike as the torch path; the
    # states agree to exp's rounding (the Mg2+ block's exp is torch's SLEEF there)
    net = zt.build.network(_izhikevich_conductance_spec(), seed=1)
    kw = {"dtype": dtype, "seed": 3, "n_ensembles": 2}
    ref = zt.sim.Simulator(net, backend="torch", **kw)
    fast = zt.sim.Simulator(net, **kw)
    assert fast.backend == "compiled"
    a, b = ref.run(80.0, progress=False), fast.run(80.0, progress=False)
    for p, (lo, hi) in a.populations.items():
        assert ((a.spike_neuron >= lo) & (a.spike_neuron < hi)).sum() > 20, p
    _assert_same(a, b)
    tol = 1e-6 if dtype == "float64" else 1e-2
    for var in ("RS.v", "RS.u"):
        x, y = a.states[var].values, b.states[var].values
        assert np.allclose(x, y, rtol=0, atol=tol), var
