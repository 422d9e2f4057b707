"""The fused Triton step against the torch reference path.

On a machine without a GPU the kernels run in Triton's CPU interpreter (TRITON_INTERPRET=1,
set here before the kernels are first imported), which executes the same kernel code one
program after another: the spikes must equal the reference's exactly in float64. On a GPU the
same tests run on CUDA (float64: spike-for-spike; float32: the atomic adds sum inputs in no
fixed order, so the GPU tests compare rates).
"""

import os

import numpy as np
import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection, TsodyksMarkram
from zentai.celltypes import LIF, LIFAHP, AdEx, Izhikevich2003, LIFCond
from zentai.connectome import FixedIndegree, Normal
from zentai.errors import SpecError
from zentai.record import PopulationRate, Spikes, StateMonitor
from zentai.sim import gpu_kernels
from zentai.stim import DC, PoissonInput, SpikeTrain

from .test_compiled import (
    GRANULE_RECEPTORS,
    MIXED_RECEPTORS,
    _assert_same,
    _conductance_spec,
    _izhikevich_spec,
    _mixed_spec,
)

pytestmark = pytest.mark.skipif(
    not gpu_kernels.HAVE_TRITON or not (torch.cuda.is_available() or gpu_kernels.interpreting()),
    reason="needs Triton (a GPU, or its interpreter)",
)
DEV = "cuda" if torch.cuda.is_available() else "cpu"


# the H100's default (programmatic launch) in the fast suite; the other launch modes in the
# slow one (the interpreter takes 30-50 s a run; the procedural test below runs the
# two-kernel step in the fast suite, whose default it is with procedural projections)
LAUNCH_MODES = pytest.mark.parametrize(
    "tune",
    [
        pytest.param({"pdl": False}, id="two-kernels", marks=pytest.mark.slow),
        pytest.param({"pdl": True, "pipeline": False}, id="programmatic-launch"),
        pytest.param({"pdl": True, "pipeline": True}, id="pipelined", marks=pytest.mark.slow),
    ],
)


@LAUNCH_MODES
def test_triton_equals_torch_on_a_mixed_network(tune, monkeypatch):
    # three LIF groups with 2, 1 and 3 receptors, multapses, per-synapse delays, Poisson
    # input in a window, DC switched on and off, two members, spikes and population rates
    for k, v in tune.items():
        monkeypatch.setitem(gpu_kernels.TUNE, k, v)
    rec = (Spikes(), PopulationRate(bin=0.1, populations=("G", "E")))
    net = zt.build.network(_mixed_spec(rec), seed=3)
    kw = {"dtype": "float64", "seed": 5, "n_ensembles": 2, "device": DEV}
    ref = zt.sim.Simulator(net, backend="torch", **kw)
    fast = zt.sim.Simulator(net, backend="triton", **kw)
    assert fast.backend == "triton"
    a, b = ref.run(60.0), fast.run(60.0)
    assert a.spike_neuron.size > 300
    for p in ("E", "G"):  # F fires once its DC is on (50-90 ms)
        lo, hi = a.populations[p]
        assert ((a.spike_neuron >= lo) & (a.spike_neuron < hi)).sum() > 10, p
    _assert_same(a, b)
    assert np.array_equal(a.rate_counts, b.rate_counts) and a.rate_counts.sum() > 0
    for p in ("E", "F", "G"):
        assert torch.equal(ref.get_state(p, "v"), fast.get_state(p, "v"))
    assert torch.equal(torch.cat([s["syn"].flatten() for s in ref.states]), fast._csyn)


@LAUNCH_MODES
def test_triton_member_inputs_monitors_trains_and_checkpoint(tune, tmp_path, monkeypatch):
    for k, v in tune.items():
        monkeypatch.setitem(gpu_kernels.TUNE, k, v)
    # a monitor of every step cuts the run into chunks of one step; every 0.5 ms, into
    # chunks of 5, which the pipelined launch runs (a chunk's first step fired alone, its
    # last step's input taken alone)
    every = 0.5 if tune.get("pipeline") else None
    rec = (
        Spikes(populations=("E", "G")),
        StateMonitor(population="F", neurons=(0, 3), interval=every),
    )
    base = _mixed_spec(rec)
    trains = (SpikeTrain(target="F", times=(2.0, 9.3), weight=400.0, delay=0.1),)
    spec = NetworkSpec(
        populations=base.populations,
        projections=base.projections,
        stimuli=base.stimuli + trains,
        recorders=rec,
    )
    net = zt.build.network(spec, seed=3)
    sims = [
        zt.sim.Simulator(net, backend=be, seed=9, n_ensembles=3, dtype="float64", device=DEV)
        for be in ("torch", "triton")
    ]
    for sim in sims:
        sim.set_param("E", "v_th", torch.tensor([[-50.0], [-52.0], [-48.0]]))
        sim.set_input_gain("G", "slow", [1.0, 1.5, 0.5])
        sim.set_poisson_rate([9.0, 12.0, 6.0], population="E")
        sim.run(12.0)
        sim.inject_current("G", [0.0, 100.0, -100.0])
        sim.set_state("F", "v", -55.0)
        sim.run(8.0, checkpoint=tmp_path / f"{sim.backend}.pt")
    a, b = sims[0].result(), sims[1].result()
    _assert_same(a, b)
    assert {0, 1} <= set(np.unique(b.spike_member).tolist())
    assert np.array_equal(a.states["F.v"].values, b.states["F.v"].values)
    # resumed from the checkpoint, the Triton run goes on as the uninterrupted one
    resumed = zt.sim.Simulator.restore(tmp_path / "triton.pt", net, device=DEV, backend="triton")
    assert resumed.backend == "triton"
    later_a = sims[0].run(6.0)
    later_b = resumed.run(6.0)
    _assert_same(later_a, later_b)


def test_triton_refuses_what_it_does_not_implement(monkeypatch):
    stp = NetworkSpec(
        populations=(Population(name="A", size=3, model=LIF()),),
        projections=(Projection(pre="A", post="A", rule=FixedIndegree(2), weight=1.0,
                                stp=TsodyksMarkram(U=0.5, tau_rec=200.0)),),
    )  # fmt: skip
    with pytest.raises(SpecError, match="static synapses only"):
        zt.sim.Simulator(zt.build.network(stp), backend="triton", device=DEV)
    monkeypatch.setattr(gpu_kernels, "interpreting", lambda: False)
    lif = NetworkSpec(populations=(Population(name="A", size=3, model=LIF()),))
    with pytest.raises(SpecError, match="runs on CUDA devices"):
        zt.sim.Simulator(zt.build.network(lif), backend="triton", device="cpu")
    # on the CPU "auto" never picks it
    assert zt.sim.Simulator(zt.build.network(lif), device="cpu").backend == "compiled"


_COMPILE = """
import inspect, json, sys
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from zentai.sim import gpu_kernels as gk

for name, (types, kw, modes) in json.load(open(sys.argv[1])).items():
    fn = getattr(gk, name)
    params = list(inspect.signature(fn.fn).parameters)
    for mode in modes:
        sig = dict(zip(params, types))
        consts = {}
        for p in params[len(types):]:
            sig[p] = "constexpr"
            consts[(params.index(p),)] = {**kw, **mode}[p]
        opts = {"num_warps": 4, "enable_fp_fusion": False, "launch_pdl": mode["PDL"]}
        c = triton.compile(ASTSource(fn=fn, signature=sig, constexprs=consts),
                           target=GPUTarget("cuda", 90, 32), options=opts)
        tag = ",".join(f"{k}={v}" for k, v in mode.items())
        print(name, tag, len(c.asm["cubin"]), "griddepcontrol" in c.asm["ptx"])
"""


def test_triton_kernels_compile_for_hopper(tmp_path):
    # the interpreter runs the kernels' Python; this compiles them as on an H100 (PTX, then
    # ptxas for sm_90), with and without programmatic launch, on any machine: what a GPU
    # session would otherwise find out first (with Triton's own ptxas; no GPU needed)
    import json
    import subprocess
    import sys
    from pathlib import Path

    import triton

    if not (Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "ptxas").exists():
        pytest.skip("this Triton has no NVIDIA backend")
    net = zt.build.network(_mixed_spec((Spikes(),)), seed=3)
    sim = zt.sim.Simulator(net, backend="triton", dtype="float32", seed=5, device=DEV)
    sim.run(0.5)
    names = {torch.float32: "fp32", torch.float64: "fp64", torch.int64: "i64",
             torch.int32: "i32", torch.int16: "i16", torch.int8: "i8"}  # fmt: skip

    def kind(x):
        if isinstance(x, torch.Tensor):
            return "*" + names[x.dtype]
        return "i64" if abs(int(x)) >= 2**31 else "i32"

    H, BODY, TAIL = gpu_kernels.HEAD, gpu_kernels.BODY, gpu_kernels.TAIL
    step = [{"PDL": False, "PHASE": 0}, {"PDL": True, "PHASE": 0}]
    pipe = [{"PDL": False, "PHASE": H}, {"PDL": True, "PHASE": BODY}, {"PDL": True, "PHASE": TAIL}]
    izh = [
        {"PDL": False, "PHASE": 0, "HAS_IZH": True},
        {"PDL": True, "PHASE": BODY, "HAS_IZH": True},
    ]
    every = {"HAS_IZH": True, "HAS_COND": True, "HAS_ADEX": True}
    cond = [{"PDL": False, "PHASE": 0, **every}, {"PDL": True, "PHASE": BODY, **every}]
    kernels = {
        "lif_step": (
            [kind(x) for x in (sim._tbase, 0, *sim._targs_u)],
            {**sim._tkw_u, "BLOCK": 128},
            step + pipe + izh + cond,
        ),
        "deliver": (
            [kind(x) for x in (sim._tbase, 0, *sim._targs_d)],
            sim._tkw_d,
            [{"PDL": p, "PIPE": q} for p, q in ((False, False), (True, False), (True, True))],
        ),
    }
    (tmp_path / "sigs.json").write_text(json.dumps(kernels))
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run(
        [sys.executable, "-c", _COMPILE, str(tmp_path / "sigs.json")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line.split() for line in out.stdout.splitlines()]
    flags = "HAS_IZH=True,HAS_COND=True,HAS_ADEX=True"
    # each (kernel, PDL, PHASE or PIPE) compiled; grid-dependency instructions exactly
    # where programmatic launch is on
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("lif_step", "PDL=False,PHASE=0", "False"),
        ("lif_step", "PDL=True,PHASE=0", "True"),
        ("lif_step", f"PDL=False,PHASE={H}", "False"),
        ("lif_step", f"PDL=True,PHASE={BODY}", "True"),
        ("lif_step", f"PDL=True,PHASE={TAIL}", "True"),
        ("lif_step", "PDL=False,PHASE=0,HAS_IZH=True", "False"),
        ("lif_step", f"PDL=True,PHASE={BODY},HAS_IZH=True", "True"),
        ("lif_step", "PDL=False,PHASE=0," + flags, "False"),
        ("lif_step", f"PDL=True,PHASE={BODY}," + flags, "True"),
        ("deliver", "PDL=False,PIPE=False", "False"),
        ("deliver", "PDL=True,PIPE=False", "True"),
        ("deliver", "PDL=True,PIPE=True", "True"),
    ]
    assert all(int(r[2]) > 1000 for r in rows)  # machine code came out


@pytest.mark.gpu
def test_triton_float32_rates_match_the_reference_on_the_gpu():
    # full kernels on the device, float32: rates of the scale-0.1 microcircuit within 5 %
    # (or 0.15 Hz) of the torch path's, over 0.5 s after 0.1 s
    net = zt.build.network(zt.build.microcircuit(0.1), seed=1)
    rates = []
    for be in ("torch", "triton"):
        sim = zt.sim.Simulator(net, backend=be, seed=2, device="cuda")
        sim.run(100.0)
        res = sim.run(500.0)
        late = res.spike_time_ms >= 100.0
        n = np.bincount(res.spike_neuron[late], minlength=net.n_neurons)
        rates.append({p: n[a:b].mean() / 0.5 for p, (a, b) in res.populations.items()})
    for p in rates[0]:
        assert abs(rates[0][p] - rates[1][p]) <= max(0.05 * rates[0][p], 0.15), p


def test_triton_regenerates_procedural_synapses_as_the_torch_path():
    # a tiny E/I network whose recurrent synapses are all procedural but I->I (stored):
    # float64 spikes equal to the torch path's, two members
    from zentai.connectome import Bernoulli, Normal

    def proj(pre, post, w, d, procedural=True):
        return Projection(
            pre=pre, post=post, rule=Bernoulli(0.2), weight=w, delay=d, procedural=procedural
        )

    spec = NetworkSpec(
        populations=(
            Population(name="E", size=40, model=LIF()),
            Population(name="I", size=10, model=LIF()),
        ),
        projections=(
            proj("E", "E", Normal(20.0, 8.0, low=0.0), Normal(1.5, 0.75, low=0.1, high=5.0)),
            proj("E", "I", 30.0, 1.5),
            proj("I", "E", Normal(-80.0, 20.0, high=0.0), 0.8),
            proj("I", "I", -50.0, 0.8, procedural=False),
        ),
        stimuli=(
            PoissonInput(target="E", n_sources=2000, rate=8.0, weight=87.8),
            PoissonInput(target="I", n_sources=1900, rate=8.0, weight=87.8),
        ),
        recorders=(Spikes(),),
    )
    net = zt.build.network(spec, seed=1)
    assert len(net.procedural) == 3
    kw = {"dtype": "float64", "seed": 2, "n_ensembles": 2, "device": DEV}
    a = zt.sim.Simulator(net, backend="torch", **kw).run(8.0)
    b = zt.sim.Simulator(net, backend="triton", **kw).run(8.0)
    assert a.spike_neuron.size > 30
    _assert_same(a, b)


@pytest.mark.slow  # (the fast suite runs the Izhikevich kernel in the conductance test below)
@LAUNCH_MODES
def test_triton_izhikevich_equals_torch(tune, monkeypatch):
    # Izhikevich (2007) neurons of five variants in one group (per-neuron variant codes:
    # generic, FS cubic nullcline, LTS u cap, TC / RTN switch below -65 mV) beside LIF
    # neurons and Izhikevich (2003) RS and FS cells, a DC window, two members: float64 spikes
    # and states equal to the torch path
    for k, v in tune.items():
        monkeypatch.setitem(gpu_kernels.TUNE, k, v)
    base = _izhikevich_spec(("RS", "FS", "LTS", "TC", "RTN"))
    old = (Population(name="R3", size=40, model=Izhikevich2003.preset("RS")),
           Population(name="F3", size=20, model=Izhikevich2003.preset("FS")))  # fmt: skip
    wiring = tuple(
        Projection(pre=pre, post=post, rule=FixedIndegree(6), weight=w, delay=1.0)
        for pre, post, w in (("R3", "F3", 1.0), ("F3", "R3", -2.0), ("R3", "R3", 0.5),
                             ("RS", "R3", 0.02), ("R3", "L", 30.0))
    )  # fmt: skip
    drive = tuple(
        PoissonInput(target=p, n_sources=100, rate=20.0, weight=1.5) for p in ("R3", "F3")
    )
    spec = NetworkSpec(
        populations=base.populations + old,
        projections=base.projections + wiring,
        stimuli=base.stimuli + drive + (DC(target="R3", amplitude=3.0, start=10.0, stop=30.0),),
        recorders=(Spikes(),),
    )
    net = zt.build.network(spec, seed=2)
    kw = {"dtype": "float64", "seed": 1, "n_ensembles": 2, "device": DEV}
    ref = zt.sim.Simulator(net, backend="torch", **kw)
    fast = zt.sim.Simulator(net, backend="triton", **kw)
    assert fast.backend == "triton"
    a, b = ref.run(45.0), fast.run(45.0)
    for name in ("RS", "FS", "LTS", "TC", "RTN", "L", "R3", "F3"):
        lo, hi = a.populations[name]
        assert ((a.spike_neuron >= lo) & (a.spike_neuron < hi)).sum() > 5, name
    _assert_same(a, b)
    for p in ("RS", "L", "R3"):
        for var in ("v",) if p == "L" else ("v", "u"):
            assert torch.equal(ref.get_state(p, var), fast.get_state(p, var)), (p, var)


@pytest.mark.gpu
def test_triton_izhikevich_float32_rates_match_the_reference_on_the_gpu():
    # the Izhikevich kernel on the device in float32 (IEEE divisions; atomic adds in no fixed
    # order): each population's rate within 5 % (or 0.5 Hz) of the torch path's over 0.4 s
    variants = ("RS", "FS", "LTS", "TC", "RTN")
    base = _izhikevich_spec(variants)
    spec = NetworkSpec(
        populations=base.populations, projections=base.projections, stimuli=base.stimuli,
        recorders=(Spikes(),),
    )  # fmt: skip
    _same_rates_on_the_gpu(zt.build.network(spec, seed=2), 400.0, seed=1, hz=0.5)


def _same_rates_on_the_gpu(net, ms, seed, hz):
    """Each population's rate (4 members, float32) on the torch path and the Triton step on
    the GPU: above 1 Hz, and within 5 % (or ``hz``) of each other."""
    rates = []
    for be in ("torch", "triton"):
        res = zt.sim.Simulator(net, backend=be, seed=seed, n_ensembles=4, device="cuda").run(ms)
        n = np.bincount(res.spike_neuron, minlength=net.n_neurons) / 4
        rates.append({p: n[a:b].mean() / (ms / 1e3) for p, (a, b) in res.populations.items()})
    for p in rates[0]:
        assert rates[0][p] > 1.0, p
        assert abs(rates[0][p] - rates[1][p]) <= max(0.05 * rates[0][p], hz), p


def _conductance_mix_spec():
    """LIFAHP, AdEx (two receptor sets) and LIFCond groups beside LIF: conductance receptors
    with and without the Mg2+ block and current receptors in one group, driven so that every
    group fires within the first milliseconds (the interpreter takes ~0.5 s a step)."""
    mixed, grc = MIXED_RECEPTORS, GRANULE_RECEPTORS
    near = lambda mu, sd: {"v": Normal(mu, sd)}  # noqa: E731
    pops = (
        Population(name="G", size=40, model=LIFAHP(receptors=grc, t_ref=1.0),
                   initial=near(-40.0, 4.0)),
        Population(name="A", size=30, model=AdEx(receptors=mixed, t_ref=1.0),
                   initial=near(-52.0, 3.0)),
        Population(name="B", size=20, model=AdEx(), initial=near(-52.0, 3.0)),
        Population(name="C", size=30, model=LIFCond(receptors=mixed), initial=near(-52.0, 2.0)),
        Population(name="L", size=20, model=LIF()),
    )  # fmt: skip
    delay = Normal(1.0, 0.5, low=0.1)
    projs = tuple(
        Projection(pre=a, post=b, rule=FixedIndegree(k), weight=w, delay=delay, receptor=r)
        for a, b, k, w, r in (
            ("G", "A", 10, Normal(1.0, 0.2, low=0.0), "ampa"), ("A", "G", 5, 0.3, "ampa"),
            ("B", "G", 5, 0.1, "gaba"), ("B", "A", 5, 2.0, "gaba"), ("A", "A", 5, 0.5, "nmda"),
            ("A", "B", 5, 1.5, None), ("C", "C", 5, 2.0, "nmda"), ("G", "C", 5, 3.0, "ampa"),
            ("A", "C", 5, 1.0, "gaba"), ("C", "L", 5, 50.0, None),
        )
    )  # fmt: skip
    stims = (
        PoissonInput(target="G", n_sources=4, rate=40.0, weight=1.5),
        PoissonInput(target="G", n_sources=2, rate=20.0, weight=0.5, receptor="nmda"),
        PoissonInput(target="A", n_sources=100, rate=10.0, weight=150.0, receptor="cur"),
        PoissonInput(target="B", n_sources=200, rate=15.0, weight=40.0),
        PoissonInput(target="C", n_sources=20, rate=20.0, weight=3.0, receptor="ampa"),
        PoissonInput(target="L", n_sources=100, rate=20.0, weight=800.0),
        DC(target="A", amplitude=700.0),
        DC(target="C", amplitude=400.0, start=1.0, stop=4.0),
        DC(target="G", amplitude=12.0),
    )
    return NetworkSpec(populations=pops, projections=projs, stimuli=stims, recorders=(Spikes(),))


@LAUNCH_MODES
def test_triton_conductance_models_equal_torch(tune, monkeypatch):
    # the cerebellar and conductance models of the brain scenarios (LIFAHP: no reset, AHP
    # gate; AdEx: Heun sub-steps; LIFCond) in the fused step beside LIF, two members, a DC
    # window and parameters changed mid-run (tables rebuilt): float64 spikes equal to the torch
    # path's; the states agree to exp's last bit (the interpreter's exp is numpy's, torch's is
    # SLEEF; an AdEx upstroke amplifies the difference to ~1e-9 mV)
    for k, v in tune.items():
        monkeypatch.setitem(gpu_kernels.TUNE, k, v)
    net = zt.build.network(_conductance_mix_spec(), seed=1)
    kw = {"dtype": "float64", "seed": 2, "n_ensembles": 2, "device": DEV}
    ref = zt.sim.Simulator(net, backend="torch", **kw)
    fast = zt.sim.Simulator(net, backend="triton", **kw)
    assert fast.backend == "triton"
    for sim in (ref, fast):
        sim.run(3.0, progress=False)
        sim.set_param("B", "b", torch.linspace(40.0, 120.0, 20))
        sim.set_param("G", "v_th", -36.0)
        sim.run(3.0, progress=False)
    a, b = ref.result(), fast.result()
    for p, (lo, hi) in a.populations.items():
        assert ((a.spike_neuron >= lo) & (a.spike_neuron < hi)).sum() >= 10, p
    _assert_same(a, b)
    for p, var in (("G", "v"), ("G", "s_ahp"), ("C", "v"), ("B", "v"), ("B", "w"), ("L", "v")):
        x, y = ref.get_state(p, var), fast.get_state(p, var)
        assert torch.allclose(x, y, rtol=0, atol=1e-10), (p, var)
    for var in ("v", "w"):
        x, y = ref.get_state("A", var), fast.get_state("A", var)
        assert torch.allclose(x, y, rtol=0, atol=1e-6), ("A", var)


@pytest.mark.gpu
def test_triton_conductance_models_float32_rates_match_the_reference_on_the_gpu():
    # the conductance models on the device in float32 (libdevice exp; atomic adds in no fixed
    # order): each population's rate within 5 % (or 1 Hz) of the torch path's over 150 ms
    _same_rates_on_the_gpu(zt.build.network(_conductance_spec(), seed=1), 150.0, seed=2, hz=1.0)


def test_triton_steps_a_part_of_a_distributed_network():
    # one rank (SingleComm) of a distributed run on the fused step: the kernels record every
    # spike of the part for the exchange, the gathered events enter the ring buffer between
    # chunks; float64 spikes and population counts equal the single process's torch run,
    # across calls that end off the exchange grid
    from zentai.distributed import DistributedSimulator, SingleComm, merge_results
    from zentai.testing import distributed_jobs as jobs

    kw = {"network_seed": 2, "seed": 3, "n_ensembles": 2, "dtype": "float64"}
    ref, _ = jobs.single("sheet", {**kw, "backend": "torch"}, 20.0)
    d = DistributedSimulator(jobs.sheet_spec(), SingleComm(), backend="triton", device=DEV, **kw)
    assert d.sim.backend == "triton" and d.interval == 5 and d.overlap
    d.run(10.0, progress=False)
    d.step(13)
    res = d.run(8.7, progress=False)
    assert ref.spike_neuron.size > 300
    _assert_same(ref, res)
    np.testing.assert_array_equal(ref.rate_counts, merge_results([res]).rate_counts)


@pytest.mark.slow
def test_triton_steps_the_parts_of_two_processes():
    # two torch.distributed (gloo) processes, each stepping its part with the fused step
    # (the interpreter on the CPU): the single process's spikes, float64
    from zentai.distributed.launch import spawn
    from zentai.testing import distributed_jobs as jobs

    kw = {"network_seed": 2, "seed": 3, "n_ensembles": 2, "dtype": "float64"}
    ref, _ = jobs.single("sheet", {**kw, "backend": "torch"}, 20.0)
    out = spawn(jobs.simulate_all, 2, [("sheet", {**kw, "backend": "triton", "device": DEV})], 20.0)
    res, stats, _ = out[0][0]
    assert stats["ranks"] == 2 and ref.spike_neuron.size > 300
    _assert_same(ref, res)


def test_triton_izhikevich_with_conductance_receptors_equals_torch():
    # the cortex-basal ganglia cells (Izhikevich 2007 variants and 2003, AMPA / GABA /
    # Mg2+-blocked NMDA / current receptors, linearly implicit in the conductance) in the fused
    # step, two members: float64 spikes equal to the torch path's, states to exp's last bit
    from .test_compiled import _izhikevich_conductance_spec

    net = zt.build.network(_izhikevich_conductance_spec(), seed=1)
    kw = {"dtype": "float64", "seed": 3, "n_ensembles": 2, "device": DEV}
    ref = zt.sim.Simulator(net, backend="torch", **kw)
    fast = zt.sim.Simulator(net, backend="triton", **kw)
    a, b = ref.run(12.0, progress=False), fast.run(12.0, progress=False)
    for p in a.populations:
        lo, hi = a.populations[p]
        assert ((a.spike_neuron >= lo) & (a.spike_neuron < hi)).sum() >= 2, p
    _assert_same(a, b)
    for p in ("RS", "FS", "TC", "RS3"):
        for var in ("v", "u"):
            x, y = ref.get_state(p, var), fast.get_state(p, var)
            assert torch.allclose(x, y, rtol=0, atol=1e-9), (p, var)
