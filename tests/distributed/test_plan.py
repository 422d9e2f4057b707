"""Issue 10: the planner's counts, memory model and smallest rank count."""

from __future__ import annotations

import pytest

from zentai.build.microcircuit import microcircuit
from zentai.build.network import estimate_synapses
from zentai.distributed.launch import spawn
from zentai.distributed.plan import parse_bytes, plan, whole_brain
from zentai.errors import SpecError
from zentai.testing.distributed_jobs import sheet_spec


def test_memory_sizes_parse_and_bad_ones_are_named():
    assert parse_bytes("80GB") == 80 * 2**30
    assert parse_bytes("1.5 TiB") == int(1.5 * 2**40)
    assert parse_bytes("512MB") == 512 * 2**20
    assert parse_bytes(1000) == 1000
    for bad in ("lots", "-3GB", "GB", 0):
        with pytest.raises(SpecError, match="memory size"):
            parse_bytes(bad)


def test_ranks_share_the_whole_network_and_memory_falls_with_ranks():
    spec = microcircuit(0.5)
    total = estimate_synapses(spec)
    peaks = []
    for R in (1, 2, 4, 8):
        p = plan(spec, R)
        assert sum(r.neurons for r in p.per_rank) == spec.n_neurons
        assert sum(r.synapses for r in p.per_rank) == pytest.approx(total, rel=1e-6)
        peaks.append(p.max_peak)
        # every rank receives every rank's buffer: traffic grows with R
        assert p.bytes_per_step >= R * 8
    assert peaks == sorted(peaks, reverse=True)


def test_the_smallest_rank_count_fits_and_one_fewer_does_not():
    spec = microcircuit(0.5)
    p = plan(spec, 1, device_memory=plan(spec, 1).max_peak)  # one rank no longer fits
    R = p.smallest_ranks
    assert R is not None and R > 1
    assert plan(spec, R).max_peak <= 0.9 * p.device_memory
    assert plan(spec, R - 1).max_peak > 0.9 * p.device_memory
    # nothing fits a budget below the per-process baseline
    assert plan(spec, 1, device_memory="100MB").smallest_ranks is None
    assert plan(sheet_spec(), 1).per_rank[0].neurons == sheet_spec().n_neurons


def test_whole_brain_census_at_full_density():
    wb = whole_brain()
    assert wb.n_neurons == pytest.approx(67.9e6)
    assert 1e11 <= wb.n_synapses <= 3e11
    p = plan(wb, 32, device="cuda", device_memory="80GB")
    R = p.smallest_ranks
    assert plan(wb, R, device="cuda").max_device <= 0.9 * 80 * 2**30
    assert plan(wb, R - 1, device="cuda").max_device > 0.9 * 80 * 2**30
    text = str(p)
    assert "Herculano-Houzel" in text and f"per rank (90 % usable): {R}" in text
    # half the density: a quarter of the synapses (in-degree and neurons both scale)
    assert whole_brain(0.5).n_synapses == pytest.approx(wb.n_synapses / 4)
    with pytest.raises(SpecError, match="fraction must be in"):
        whole_brain(0)


def _measure(comm, scale):
    from zentai.distributed import DistributedSimulator
    from zentai.distributed.plan import peak_rss

    d = DistributedSimulator(microcircuit(scale, record=True), comm, network_seed=1, seed=1)
    d.run(10.0, progress=False)
    return peak_rss()


@pytest.mark.slow
def test_predicted_peak_memory_within_20_percent_of_the_measured():
    scale, R = 0.25, 2
    measured = spawn(_measure, R, scale)
    predicted = plan(microcircuit(scale, record=True), R).per_rank
    for p, m in zip(predicted, measured, strict=True):
        assert 0.8 <= p.peak_bytes / m <= 1.2, (p.peak_bytes, m)
