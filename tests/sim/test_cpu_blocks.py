"""Member blocks (zentai.sim.cpu_blocks) against the torch reference path: the same spikes."""

import dataclasses

import numpy as np
import pytest
import torch

import zentai as zt
from zentai.celltypes import LIF
from zentai.celltypes.models import Receptor
from zentai.record import Spikes, StateMonitor
from zentai.sim import cpu_blocks, cpu_kernels
from zentai.stim import DC, SpikeTrain

from .test_compiled import _assert_same, _mixed_spec

pytestmark = pytest.mark.skipif(not cpu_kernels.HAVE_NUMBA, reason="numba not installed")


def _spec(recorders=None, trains=()):
    """The mixed network of test_compiled with its three-receptor group cut to two (the
    blocks take up to two): groups of 2, 1 and 2 receptors."""
    base = _mixed_spec(recorders)
    two = (Receptor(name="inh", tau=2.0), Receptor(name="slow", tau=8.0))
    pops = tuple(
        dataclasses.replace(p, model=LIF(receptors=two, tau_m=20.0, t_ref=0.5))
        if p.name == "G"
        else p
        for p in base.populations
    )
    return dataclasses.replace(base, populations=pops, stimuli=base.stimuli + tuple(trains))


def _pair(spec, **kw):
    """The torch reference and the compiled backend on the network of ``spec`` (seed 3)."""
    net = zt.build.network(spec, seed=3)
    return tuple(zt.sim.Simulator(net, backend=be, **kw) for be in ("torch", "compiled"))


def _assert_same_states(ref, fast):
    for sa, sb in zip(ref.states, fast.states):  # every group's v, currents, refractory count
        for var in ("v", "syn", "refr"):
            assert torch.equal(sa[var], sb[var]), var


@pytest.fixture
def block_calls(monkeypatch):
    """Counts the calls of the block loop (so a test knows that it ran)."""
    calls = []
    run = cpu_blocks.run_blocks

    def counted(*args):
        calls.append(args[1])  # lanes per block
        return run(*args)

    monkeypatch.setattr(cpu_blocks, "run_blocks", counted)
    return calls


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_blocks_equal_torch(dtype, threads, block_calls):
    # one block of 16 members (1 thread), or 20 members in a full block of 16 and one of 4 (2
    # threads); windowed Poisson input, a DC step (equal in every member) and spike trains;
    # several calls, so events in flight cross the calls
    trains = (
        SpikeTrain(target="F", times=(5.0, 5.0, 20.3, 61.0), weight=400.0, delay=0.1),
        SpikeTrain(target="E", times=(10.0,), weight=-300.0, delay=1.0, neurons=(1, 2, 2)),
    )
    B = 16 if threads == 1 else 20
    ref, fast = _pair(_spec(trains=trains), dtype=dtype, seed=5, n_ensembles=B, num_threads=threads)
    assert fast._cblk is not None and fast._cblk["G"] == 16
    for ms in (3.0, 47.0, 100.0):  # the first call is shorter than D: member-major loop
        ref.run(ms, progress=False)
        fast.run(ms, progress=False)
    assert len(block_calls) >= 2
    a, b = ref.result(), fast.result()
    assert a.spike_neuron.size > 5000 and set(np.unique(a.spike_member)) == set(range(B))
    _assert_same(a, b)
    _assert_same_states(ref, fast)
    # the events still in flight are in the engine's ring buffer, as the reference has them
    assert torch.equal(ref.buf, fast.buf)


@pytest.mark.parametrize("threads", [1, 2])
def test_blocks_take_per_member_rates_gains_and_currents(threads, block_calls):
    # what data assimilation varies between members: Poisson rates, input gains, injected
    # currents (one row per member in the blocks; lanes past the last member take its rows)
    net = zt.build.network(_spec(), seed=3)
    B = 16 if threads == 1 else 20
    sims = [
        zt.sim.Simulator(net, backend=be, seed=9, n_ensembles=B, num_threads=threads)
        for be in ("torch", "compiled")
    ]
    for sim in sims:
        sim.run(15.0, progress=False)
        sim.set_poisson_rate(np.linspace(6.0, 12.0, B), "E")
        sim.set_input_gain("G", "slow", np.linspace(0.5, 2.0, B))
        sim.inject_current("F", np.linspace(-50.0, 150.0, B))
        sim.run(60.0, progress=False)
    assert len(block_calls) >= 2
    a, b = sims[0].result(), sims[1].result()
    _assert_same(a, b)
    rates = np.bincount(a.spike_member, minlength=B)
    assert rates[-1] > 1.2 * rates[0]  # the members do differ
    _assert_same_states(*sims)


def test_blocks_that_fill_their_spike_output_resume_where_they_stopped(block_calls):
    # a block stops at a step's start when its spike output could overflow; the engine records
    # what it has and runs the blocks that stopped on from their own step (here many times)
    ref, fast = _pair(_spec(), seed=2, n_ensembles=20, num_threads=2)
    G, N = fast._cblk["G"], fast.net.n_neurons
    cap = G * N + 200  # room for one full step and ~200 spikes more
    fast._cblk["out"] = tuple(np.zeros((2, cap), np.int64) for _ in range(3))
    a, b = ref.run(80.0, progress=False), fast.run(80.0, progress=False)
    assert a.spike_neuron.size > 20 * 200
    assert len(block_calls) > 10  # the rounds
    _assert_same(a, b)


def test_blocks_fall_back_where_members_differ(block_calls):
    # a per-member threshold: the blocks share one row of it, so the member-major loop runs
    net = zt.build.network(_spec(), seed=3)
    sims = [
        zt.sim.Simulator(net, backend=be, seed=9, n_ensembles=8) for be in ("torch", "compiled")
    ]
    for sim in sims:
        sim.run(20.0, progress=False)
        sim.set_param("E", "v_th", torch.linspace(-52.0, -48.0, 8)[:, None])
        sim.run(30.0, progress=False)
    n_before = len(block_calls)
    assert n_before >= 1  # the first 20 ms ran in blocks
    for sim in sims:
        sim.run(30.0, progress=False)
    assert len(block_calls) == n_before
    _assert_same(sims[0].result(), sims[1].result())


def test_blocks_resume_from_a_checkpoint_and_feed_monitors(tmp_path, block_calls):
    rec = (Spikes(), StateMonitor(population="F", neurons=(0, 3), interval=20.0))
    net = zt.build.network(_spec(rec), seed=3)
    kw = {"seed": 4, "n_ensembles": 16}
    whole = zt.sim.Simulator(net, backend="compiled", **kw).run(120.0, progress=False)
    ref = zt.sim.Simulator(net, backend="torch", **kw).run(120.0, progress=False)
    sim = zt.sim.Simulator(net, backend="compiled", **kw)
    sim.run(70.0, checkpoint=tmp_path / "c.pt", progress=False)
    resumed = zt.sim.Simulator.restore(tmp_path / "c.pt", net).run(50.0, progress=False)
    assert block_calls
    _assert_same(ref, whole)
    _assert_same(ref, resumed)
    assert np.array_equal(ref.states["F.v"].values, whole.states["F.v"].values)


def test_microcircuit_ensemble_in_blocks_equals_torch(block_calls):
    # the benchmark's case (Potjans-Diesmann, Poisson background), smaller
    net = zt.build.network(zt.build.microcircuit(0.03), seed=1)
    ens = zt.sim.Simulator(net, seed=2, n_ensembles=16).run(30.0, progress=False)
    assert block_calls
    ref = zt.sim.Simulator(net, backend="torch", seed=2, n_ensembles=16).run(30.0, progress=False)
    assert ens.spike_neuron.size > 200
    _assert_same(ref, ens)


def test_events_in_flight_stay_in_the_blocks_between_short_calls(block_calls):
    # calls shorter than the longest delay: the blocks keep their events in flight in their
    # bins from call to call; a call too short for blocks (member-major loop) or a look at the
    # ring buffer first adds them to the buffer, and the blocks read it again after
    ref, fast = _pair(_spec(), seed=8, n_ensembles=16, num_threads=1)
    D = fast.D
    for k, ms in enumerate([0.9, 2.0, 0.5, 1.3, 0.9, 6.0, 0.9, 2.0] * 4):
        ref.run(ms, progress=False)
        fast.run(ms, progress=False)
        if k % 5 == 4:
            assert torch.equal(ref.buf, fast.buf)
    assert len(block_calls) > 20 and round(0.9 / fast.dt) < D
    a, b = ref.result(), fast.result()
    assert a.spike_neuron.size > 1000
    _assert_same(a, b)
    assert torch.equal(ref.buf, fast.buf)
    _assert_same_states(ref, fast)


def test_a_padded_32_lane_block_equals_torch(block_calls):
    # 17 members on one thread: one block of 32 lanes, 15 of them padding that never fires
    ref, fast = _pair(_spec(), seed=6, n_ensembles=17, num_threads=1)
    assert (fast._cblk["M"], fast._cblk["G"]) == (17, 32)
    a, b = ref.run(60.0, progress=False), fast.run(60.0, progress=False)
    assert block_calls and a.spike_neuron.size > 2000
    _assert_same(a, b)
    assert torch.equal(ref.buf, fast.buf)


@pytest.mark.parametrize("threads", [1, 2])
def test_block_bins_beyond_their_limit_keep_the_reference_spikes(threads, monkeypatch, block_calls):
    # bins limited to one entry per arrival row: from the second spike of a step on, every
    # spike empties the block's bins into the ring buffer first, which the block then reads
    # again (a synchronous burst of a large ensemble would otherwise grow the bins to D x all
    # the runs of the step's spikes)
    from zentai.sim import engine

    monkeypatch.setattr(engine, "BIN_LIMIT_BYTES", 0)
    spec = _spec()
    burst = tuple(DC(target=p, amplitude=5e4, start=40.0, stop=40.1) for p in ("E", "F", "G"))
    spec = dataclasses.replace(spec, stimuli=spec.stimuli + burst)
    B = 16 if threads == 1 else 20
    ref, fast = _pair(spec, seed=5, n_ensembles=B, num_threads=threads)
    assert fast._cblk["cap_max"] == 1
    for ms in (3.0, 30.0, 40.0):  # the first call: member-major loop; then blocks
        a, b = ref.run(ms, progress=False), fast.run(ms, progress=False)
    assert len(block_calls) >= 2
    burst_spikes = (a.spike_time_ms > 40.0) & (a.spike_time_ms < 40.25)
    assert burst_spikes.sum() > B * 50
    _assert_same(a, b)
    _assert_same_states(ref, fast)
    assert torch.equal(ref.buf, fast.buf)
    assert all(sb.shape[1] == 1 for sb in fast._cblk["bins"])


def test_delay_table_sorts_each_row_by_delay_stably():
    rng = np.random.default_rng(1)
    indptr = np.array([0, 5, 5, 12, 13])  # an empty row, a row of one synapse
    dsteps = rng.integers(1, 4, 13).astype(np.int16)
    target = rng.integers(0, 6, 13).astype(np.int64)
    weight = rng.normal(size=13).astype(np.float32)
    cell_of = (np.arange(6) * 64).astype(np.int32)
    tcell, w, run_ptr, run_a, run_d = cpu_blocks.delay_table(
        indptr, dsteps, target, weight, cell_of
    )
    row = np.repeat(np.arange(4), np.diff(indptr))
    order = np.lexsort((np.arange(13), dsteps, row))  # by row, delay, table position
    assert tcell.dtype == np.int32 and w.dtype == np.float32
    assert np.array_equal(tcell, cell_of[target[order]])
    assert np.array_equal(w, weight[order])
    for i in range(4):
        runs = range(run_ptr[i], run_ptr[i + 1])
        ds = dsteps[order[indptr[i] : indptr[i + 1]]]
        assert list(run_d[runs.start : runs.stop]) == sorted(set(ds))
        assert run_a[runs.start] == indptr[i] if len(runs) else True
        for u in runs:
            assert np.all(dsteps[order[run_a[u] : run_a[u + 1]]] == run_d[u])
    assert run_ptr[1] == run_ptr[2] and run_a[-1] == 13  # the empty row has no run


@pytest.mark.parametrize(("members", "lanes"), [(8, 16), (16, 16), (17, 32), (25, 32), (32, 32)])
def test_blocks_have_whole_registers_of_lanes(members, lanes):
    assert cpu_blocks.block_lanes(members) == lanes


@pytest.mark.parametrize(
    ("members", "threads", "lanes"),
    [(100, 2, 25), (16, 1, 16), (20, 2, 16), (1000, 2, 32), (64, 2, 32), (8, 4, 16)],
)
def test_lanes_share_members_evenly(members, threads, lanes):
    assert cpu_blocks.lanes(members, threads) == lanes


def test_integer_thresholds_decide_as_the_float_comparison():
    rng = np.random.default_rng(0)
    rows = np.array([0.0, 1.0, 2.0, 5.0])[:, None]
    cdf = np.sort(rng.uniform(0, 1, (4, 8)), axis=1) + rows
    cdf[0, 0] = 0.0  # a value every uniform reaches
    cdf[3, 3] = 7.0  # one none reaches
    thr = cpu_blocks.integer_thresholds(cdf, np.arange(4))
    for q in range(4):
        for j in range(4):
            t = int(thr[q, j])
            us = np.unique(
                np.clip(
                    np.concatenate(
                        [[0, t - 1, t, t + 1, (1 << 53) - 1], rng.integers(0, 1 << 53, 50)]
                    ),
                    0,
                    (1 << 53) - 1,
                )
            )
            x = us.astype(np.float64) * (1.0 / (1 << 53)) + float(q)
            assert np.array_equal(us >= t, x >= cdf[q, j]), (q, j)
    assert thr[0, 0] == 0 and thr[3, 3] == 1 << 53


def test_block_table_memory_is_checked_only_when_blocks_are_made(monkeypatch):
    # the blocks copy the synapse table (target cell, weight, run byte per synapse): with
    # room for the shared tables but not for that copy, the torch backend runs and the
    # compiled one says what is missing
    from zentai.connectome import FixedIndegree
    from zentai.sim import engine

    pop = zt.build.Population(name="E", size=200, model=LIF())
    proj = zt.build.Projection(pre="E", post="E", rule=FixedIndegree(400), weight=1.0, delay=1.0)
    net = zt.build.network(zt.build.NetworkSpec(populations=(pop,), projections=(proj,)))
    extra = net.n_synapses * (4 + 4 + 1)
    sim = zt.sim.Simulator(net, n_ensembles=8, backend="compiled")
    assert sim._cblk is not None
    base = sim.memory_bytes - extra
    avail = int(extra / 0.9) - 1  # just too little for the copy
    monkeypatch.setattr(engine, "available_memory_bytes", lambda device=None: avail)
    assert base <= 0.9 * (avail + net.n_synapses * 12)  # the shared part fits
    assert zt.sim.Simulator(net, n_ensembles=8, backend="torch").memory_bytes == base
    with pytest.raises(zt.errors.MemoryBudgetError, match=r"member blocks of 8 members"):
        zt.sim.Simulator(net, n_ensembles=8, backend="compiled")
