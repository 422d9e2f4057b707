"""The compiled (numba) wiring and synapse-table code builds exactly the tensor code's network."""

import pytest
import torch

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection, csr, wiring
from zentai.celltypes import LIF
from zentai.connectome import FixedIndegree, FixedTotalNumber, Normal


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
    )
    return NetworkSpec(populations=pops, projections=projs)


def test_compiled_build_equals_tensor_build(monkeypatch):
    if wiring._compiled() is None or not csr.HAVE_NUMBA:
        pytest.skip("numba not installed")
    fast = zt.build.network(_spec(), seed=2)
    monkeypatch.setattr(wiring, "_compiled", lambda: None)
    monkeypatch.setattr(csr, "HAVE_NUMBA", False)
    ref = zt.build.network(_spec(), seed=2)
    assert fast.n_synapses == 3000 * 40 + 100_000 + 2_400_000
    for x, y in (
        (fast.indptr, ref.indptr),
        (fast.target, ref.target),
        (fast.weight, ref.weight),
        (fast.delay_ms, ref.delay_ms),
    ):
        assert torch.equal(x, y)
    # no autapses where excluded; the bounds held
    pre = torch.repeat_interleave(torch.arange(5000), fast.indptr.diff())
    aa = (pre < 3000) & (fast.target < 3000)
    assert not bool((pre[aa] == fast.target[aa]).any())
    assert float(fast.delay_ms.min()) >= 0.1


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
