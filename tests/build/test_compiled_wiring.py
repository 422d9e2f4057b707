"""The compiled (numba) wiring and synapse-table code builds the tensor code's network."""

import math
import pickle

import numpy as np
import pytest
import torch

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection, csr, wiring
from zentai.celltypes import LIF
from zentai.connectome import Bernoulli, FixedIndegree, FixedTotalNumber, Normal, Uniform


def _spec():
    pops = (
        Population(name="A", size=3000, model=LIF()),
        Population(name="B", size=2000, model=LIF()),
    )
    projs = (
        Projection(
            pre="A",
            post="A",
            rule=FixedIndegree(40, allow_autapses=False, allow_multapses=True),
            weight=Normal(50, 20, low=0, high=80),  # redraws on both sides
            delay=Normal(1.5, 1.0, low=0.1),
        ),
        Projection(
            pre="A",
            post="B",
            rule=FixedTotalNumber(100_000, allow_autapses=False),
            weight=Normal(-30, 10, high=-5),
            delay=1.0,
        ),
        Projection(
            pre="B",
            post="B",
            rule=FixedTotalNumber(2_400_000),  # large enough for the 2-thread scatter
            weight=Normal(20, 40),
            delay=Normal(2, 1, low=0.5, high=2.5),
        ),
        Projection(  # partners from arrays (the others: drawn again while placing)
            pre="B",
            post="A",
            rule=Bernoulli(0.35),  # 2.1e6 synapses: two chunks, cut inside a post's run
            weight=Uniform(-20, -10),
            delay=Normal(1, 0.5, low=0.2),
        ),
    )
    return NetworkSpec(populations=pops, projections=projs)


def test_compiled_build_equals_tensor_build(monkeypatch):
    if wiring._compiled() is None or not csr.HAVE_NUMBA:
        pytest.skip("numba not installed")
    fast = zt.build.network(_spec(), seed=2)
    monkeypatch.setattr(wiring, "_compiled", lambda: None)
    monkeypatch.setattr(csr, "HAVE_NUMBA", False)
    ref = zt.build.network(_spec(), seed=2)
    n_bernoulli = fast.projections[3].n_synapses
    assert fast.n_synapses == 3000 * 40 + 100_000 + 2_400_000 + n_bernoulli
    assert abs(n_bernoulli - 0.35 * 6e6) < 5 * (6e6 * 0.35 * 0.65) ** 0.5
    assert torch.equal(fast.indptr, ref.indptr) and torch.equal(fast.target, ref.target)
    # weights and delays: the compiled draws' log/cos differ from torch's in the last bits of
    # some float64 normals, which float32 storage rounds away but for rare ties
    for x, y in ((fast.weight, ref.weight), (fast.delay_ms, ref.delay_ms)):
        assert torch.allclose(x, y, rtol=2**-23, atol=1e-6)
        assert float((x == y).double().mean()) > 1 - 1e-5
    # no autapses where excluded; the bounds held
    pre = torch.repeat_interleave(torch.arange(5000), fast.indptr.diff())
    aa = (pre < 3000) & (fast.target < 3000)
    assert not bool((pre[aa] == fast.target[aa]).any())
    assert float(fast.delay_ms.min()) >= 0.1


def test_fused_normals_match_the_tensor_normals():
    # the build's vectorised Box-Muller (own log and cos polynomials) against rng.normal's
    # torch transcendentals, over 2e6 draws including the extreme uniforms
    from zentai import _rng_cpu, rng

    k = rng.key(5, "fused normals")
    s = torch.arange(2_000_000, dtype=torch.int64) % 7919
    c = torch.arange(2_000_000, dtype=torch.int64) // 7919
    ref = rng.normal(k, s, c).numpy()
    out = np.empty(s.numel())
    _rng_cpu.normal_fast(
        np.uint64(k & (2**64 - 1)), s.numpy().view(np.uint64), c.numpy().view(np.uint64), out
    )
    # a few float64 ulp apart: |z| < 8.6, and torch's cos(2 pi u) carries the rounding of
    # 2 pi u (up to 8.9e-16) times the radius
    assert np.abs(out - ref).max() <= 8e-15
    # log and cos alone, at the ends of their ranges: u1 = 0 gives r = 0, 1 - 2**-53 the
    # largest radius sqrt(2 * 53 ln 2); cos(2 pi u) at u = 0, 1/8, 1/4, 1/2, 3/4
    u = np.array([0.0, 2.0**-53, 0.125, 0.25, 0.5, 0.75, 1 - 2.0**-53])
    logs, coss = np.empty(u.size), np.empty(u.size)
    _rng_cpu.unit_funcs(u, logs, coss)
    np.testing.assert_allclose(logs, np.log1p(-u), rtol=4.5e-16, atol=0)
    np.testing.assert_allclose(coss, np.cos(2 * np.pi * u), rtol=0, atol=1e-15)
    assert logs[-1] == -53 * math.log(2) and coss[0] == 1.0 and coss[4] == -1.0


@pytest.mark.parametrize("compiled", [True, False])
def test_build_errors_on_both_paths(monkeypatch, compiled):
    if not compiled:
        monkeypatch.setattr(wiring, "_compiled", lambda: None)
        monkeypatch.setattr(csr, "HAVE_NUMBA", False)
    elif wiring._compiled() is None:
        pytest.skip("numba not installed")
    pops = (Population(name="A", size=200, model=LIF()),)

    def build(weight, delay):
        proj = Projection(pre="A", post="A", rule=FixedIndegree(20), weight=weight, delay=delay)
        return zt.build.network(NetworkSpec(populations=pops, projections=(proj,)), seed=1)

    # ~1e-23 of the mass inside the bounds: still outside after the redraw rounds
    with pytest.raises(zt.errors.SpecError, match="after at most 1000 redraw rounds"):
        build(Normal(0.0, 1.0, low=10.0, high=11.0), 1.0)
    with pytest.raises(zt.errors.SpecError, match="keep a fraction 0 "):
        build(5.0, Normal(1.0, 0.0, low=2.0))
    with pytest.raises(zt.errors.SpecError, match="delays must be positive"):
        build(5.0, Normal(0.3, 1.0))
    net = build(Normal(5.0, 2.0, low=4.0, high=6.0), Normal(1.5, 0.5, low=1.0))
    assert float(net.weight.min()) >= 4.0 and float(net.weight.max()) <= 6.0
    assert float(net.delay_ms.min()) >= 1.0


def test_draw_into_rows_refuses_unsorted_posts():
    if wiring._compiled() is None:
        pytest.skip("numba not installed")
    n = 10
    pre = torch.zeros(n, dtype=torch.int32)
    post = torch.arange(n, dtype=torch.int32).flip(0)
    cursor = torch.zeros(1, dtype=torch.int64)
    tables = torch.empty(n, dtype=torch.int32), torch.empty(n), torch.empty(n)
    with pytest.raises(zt.errors.SpecError, match="sorted"):
        wiring.draw_into_rows(
            (pre, post), (0, 1), 0, 0, Normal(1, 1), Normal(2, 0.1), 7, cursor, *tables
        )


def test_compiled_slots_refuses_unsorted_posts():
    post = torch.arange(10_000).flip(0)
    with pytest.raises(zt.errors.SpecError, match="sorted"):
        wiring.slots(post)


@pytest.mark.gpu
def test_cuda_build_equals_cpu_build():
    # partners and row order exactly; weights and delays to float32 rounding (the device's
    # log/cos may differ from the CPU's in the last bit of a float64 draw)
    cpu = zt.build.network(_spec(), seed=2)
    gpu = zt.build.network(_spec(), seed=2, device="cuda")
    assert gpu.target.device.type == "cpu"
    assert torch.equal(gpu.indptr, cpu.indptr) and torch.equal(gpu.target, cpu.target)
    assert torch.allclose(gpu.weight, cpu.weight, rtol=1e-6, atol=1e-6)
    assert torch.allclose(gpu.delay_ms, cpu.delay_ms, rtol=1e-6, atol=1e-6)


def _driven_spec():
    from zentai.record import Spikes
    from zentai.stim import PoissonInput

    base = _spec()
    drive = tuple(PoissonInput(target=p, n_sources=2000, rate=8.0, weight=87.8) for p in ("A", "B"))
    return NetworkSpec(
        populations=base.populations,
        projections=base.projections,
        stimuli=drive,
        recorders=(Spikes(),),
    )


@pytest.mark.gpu
def test_cuda_build_keeps_its_tables_for_a_cuda_simulator():
    # a GPU build's tables stay on the GPU and a Simulator there takes them in place; the
    # spikes equal those of the same tables after a round trip through host memory
    gpu = zt.build.network(_driven_spec(), seed=2, device="cuda")
    assert gpu.device.type == "cuda"
    kw = {"device": "cuda", "seed": 1, "dtype": "float64", "backend": "triton"}
    sim = zt.sim.Simulator(gpu, **kw)
    assert gpu.device.type == "cuda"  # the Simulator did not read them through the host
    on_gpu = gpu.tables_on("cuda", ("target", "indptr"))
    assert sim.target.data_ptr() == on_gpu["target"].data_ptr()
    assert sim.indptr.data_ptr() == on_gpu["indptr"].data_ptr()
    a = sim.run(20.0)
    copy = pickle.loads(pickle.dumps(gpu))
    assert copy.device.type == "cpu" and gpu.device.type == "cuda"
    host = zt.build.network(_driven_spec(), seed=2, device="cuda")
    assert host.target.device.type == "cpu" and host.device.type == "cpu"  # reading moves them
    assert torch.equal(host.indptr, gpu.indptr) and torch.equal(copy.target, host.target)
    b = zt.sim.Simulator(host, **kw).run(20.0)
    assert a.spike_neuron.size > 100
    assert np.array_equal(a.spike_neuron, b.spike_neuron)
    assert np.array_equal(a.spike_time_ms, b.spike_time_ms)
