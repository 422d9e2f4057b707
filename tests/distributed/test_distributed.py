"""Issue 10: one network over R processes gives the single-process network and spikes.

The R = 2 and R = 4 runs are real torch.distributed (gloo) process groups on this machine
(over-subscribed on 2 cores), started by :func:`zentai.distributed.launch.spawn`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import zentai as zt
from zentai.distributed import (
    DistributedSimulator,
    SingleComm,
    fingerprint,
    merge_results,
    partition,
)
from zentai.distributed.launch import spawn
from zentai.errors import SpecError
from zentai.testing import distributed_jobs as jobs


def _same_spikes(a: zt.record.Result, b: zt.record.Result) -> None:
    ka = np.lexsort((a.spike_neuron, a.spike_member, a.spike_time_ms))
    kb = np.lexsort((b.spike_neuron, b.spike_member, b.spike_time_ms))
    assert a.n_spikes == b.n_spikes > 0
    np.testing.assert_array_equal(a.spike_neuron[ka], b.spike_neuron[kb])
    np.testing.assert_array_equal(a.spike_member[ka], b.spike_member[kb])
    np.testing.assert_array_equal(a.spike_time_ms[ka], b.spike_time_ms[kb])


# ------------------------------------------------------------------ partition
def test_spatial_partition_covers_every_neuron_once_in_slabs():
    spec = jobs.sheet_spec()
    for R in (1, 2, 3, 4):
        p = partition(spec, R)
        assert p.kind == "spatial" and p.n_tiles == 12
        for pop in spec.populations:
            rs = [p.ranges[r][pop.name] for r in range(R)]
            assert rs[0][0] == 0 and rs[-1][1] == pop.size
            assert all(rs[r][1] == rs[r + 1][0] for r in range(R - 1))
            # a rank's neurons are whole 100 µm slabs along AP: no slab is split
            slab = np.floor(pop.positions[:, 0] / 100.0)
            for r in range(R - 1):
                a, b = rs[r]
                if a < b < pop.size:
                    assert slab[b - 1] < slab[b]
        assert sum(p.neurons) == spec.n_neurons
        assert p.imbalance < 1.35


def test_index_partition_balances_point_populations():
    spec = jobs.microcircuit_spec(0.02)
    p = partition(spec, 4)
    assert p.kind == "index" and p.n_tiles == 256
    assert max(p.neurons) - min(p.neurons) <= 0.02 * spec.n_neurons
    assert p.imbalance < 1.02


def test_more_ranks_than_tiles_is_refused():
    with pytest.raises(SpecError, match=r"13 ranks but the network has only 12 spatial tiles"):
        partition(jobs.sheet_spec(), 13)
    with pytest.raises(SpecError, match="number of ranks must be an integer >= 1; got 0"):
        partition(jobs.sheet_spec(), 0)


# ------------------------------------------------------------------ build
@pytest.mark.parametrize("which", ["sheet", "microcircuit"])
def test_parts_hold_exactly_the_whole_networks_synapses(which):
    spec = jobs.sheet_spec() if which == "sheet" else jobs.microcircuit_spec(0.02)
    full = zt.build.network(spec, seed=4)
    fp = fingerprint(full)
    # the whole network's synapses as (pre, post gid, weight, delay), in row order
    post_of_slot = []
    for g in full.groups:
        post_of_slot.append(torch.arange(g.start, g.stop).repeat(len(g.receptors)))
    post_of_slot = torch.cat(post_of_slot)
    pre_full = torch.repeat_interleave(torch.arange(full.n_neurons), full.indptr.diff())
    post_full = post_of_slot[full.target.long()]
    for R in (2, 3):
        part = partition(spec, R)
        total, fps = 0, 0
        for r in range(R):
            net = zt.build.network(spec, seed=4, part=part.ranges[r])
            from zentai.distributed.engine import _global_ids

            gids = _global_ids(net, dict(full.pop_slices))
            fps += fingerprint(net, gids)
            total += net.n_synapses
            slot_post = []
            for g in net.groups:
                slot_post.append(torch.arange(g.start, g.stop).repeat(len(g.receptors)))
            post = gids[torch.cat(slot_post)[net.target.long()]]
            pre = torch.repeat_interleave(torch.arange(full.n_neurons), net.indptr.diff())
            mine = torch.isin(post_full, gids)
            # the same synapses, in the same order within every row
            assert torch.equal(pre, pre_full[mine])
            assert torch.equal(post, post_full[mine])
            assert torch.equal(net.weight, full.weight[mine])
            assert torch.equal(net.delay_ms, full.delay_ms[mine])
        assert total == full.n_synapses
        assert fps % 2**64 == fp


# ------------------------------------------------------------------ one process
@pytest.mark.parametrize("backend", ["torch", "compiled"])
def test_one_rank_gives_the_simulators_spikes(backend):
    kw = {"network_seed": 2, "seed": 3, "backend": backend, "n_ensembles": 2}
    ref, net = jobs.single("sheet", kw, 150.0)
    d = DistributedSimulator(jobs.sheet_spec(), SingleComm(), **kw)
    assert d.d_min == 10 and d.interval == 5 and d.overlap
    assert d.fingerprint == fingerprint(net)
    d.run(60.0, progress=False)
    d.step(13)  # exchanges stay on the interval grid across calls of any length
    res = d.run(150.0 - 61.3, progress=False)
    _same_spikes(ref, res)
    np.testing.assert_array_equal(ref.rate_counts, merge_results([res]).rate_counts)


def test_interval_above_the_smallest_delay_is_refused():
    with pytest.raises(
        SpecError, match=r"interval 1\.1 ms exceeds the network's smallest delay 1 ms"
    ):
        DistributedSimulator(jobs.sheet_spec(), SingleComm(), interval_ms=1.1)
    with pytest.raises(SpecError, match=r"multiple of dt = 0\.1 ms; got 0\.05"):
        DistributedSimulator(jobs.sheet_spec(), SingleComm(), interval_ms=0.05)


# ------------------------------------------------------------------ R processes
CASES = [
    ("sheet", {"network_seed": 2, "seed": 3, "n_ensembles": 2}),
    ("sheet", {"network_seed": 2, "seed": 3, "overlap": False, "dtype": "float64"}),
    ("microcircuit", {"network_seed": 1, "seed": 5}),
]


@pytest.fixture(scope="module")
def single_runs():
    return [jobs.single(which, kw, 100.0) for which, kw in CASES]


@pytest.mark.parametrize("R", [2, 4])
def test_R_processes_give_identical_spikes(R, single_runs):
    out = spawn(jobs.simulate_all, R, CASES, 100.0)
    for (res, stats, fp), (ref, net) in zip(out[0], single_runs, strict=True):
        assert stats["ranks"] == R and stats["comm"] == "torch.distributed/gloo"
        assert fp == fingerprint(net)
        _same_spikes(ref, res)
        np.testing.assert_array_equal(ref.rate_counts, res.rate_counts)
    # every rank received the same spikes: the all-gathered volume is the same on each
    assert len({o[0][1]["spikes_exchanged_per_step"] for o in out}) == 1


def test_ranks_that_disagree_stop_before_the_build():
    with pytest.raises(
        SpecError, match=r"ranks disagree on the network .*ranks \[0\].*ranks \[1\]"
    ):
        spawn(jobs.seed_by_rank, 2)
