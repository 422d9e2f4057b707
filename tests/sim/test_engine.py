"""Engine bookkeeping: delays, determinism, checkpoints, ensembles, inputs, errors."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

import zentai as zt
from zentai import units as u
from zentai.build import NetworkSpec, Population, Projection
from zentai.celltypes import LIF
from zentai.connectome import FixedIndegree, Normal, OneToOne
from zentai.errors import DeviceError, SimulationError, SpecError, UnitError
from zentai.record import Spikes, StateMonitor
from zentai.stim import DC, PoissonInput, SpikeTrain


def _pair(delay, weight=100.0, dc=600.0):
    """Neuron 'pre' driven by DC; 'post' listens through one synapse with ``delay``."""
    return NetworkSpec(
        populations=(
            Population(name="pre", size=1, model=LIF()),
            Population(name="post", size=1, model=LIF()),
        ),
        projections=(
            Projection(pre="pre", post="post", rule=OneToOne(), weight=weight, delay=delay),
        ),
        stimuli=(DC(target="pre", amplitude=dc),),
        recorders=(Spikes(populations=("pre",)), StateMonitor(population="post")),
    )


@pytest.mark.parametrize("delay", [0.1, 1.0, 2.3, 7.5])
def test_spike_arrives_exactly_after_its_delay(delay):
    # A spike stamped t_s with delay d adds its PSC at t_s + d (end of that step), so the post
    # membrane (sampled at the end of every step) is at rest at t_s + d and above it one step later.
    net = zt.build.network(_pair(delay))
    res = zt.sim.run(net, 30.0, dt=0.1, dtype="float64")
    t_s = res.times_ms(0, "pre")[0]
    v = res.states["post.v"].sel(neuron=0).isel(member=0)
    times = v["time"].values
    k = int(np.argmin(np.abs(times - (t_s + delay))))
    assert times[k] == pytest.approx(t_s + delay)
    assert v.values[: k + 1] == pytest.approx(-65.0, abs=1e-12)
    assert v.values[k + 1] > -65.0 + 1e-6


def test_same_seed_same_spikes_other_seed_other_spikes():
    spec = zt.build.microcircuit(0.02)
    net = zt.build.network(spec, seed=3)
    a = zt.sim.run(net, 200.0, seed=5)
    b = zt.sim.run(zt.build.network(spec, seed=3), 200.0, seed=5)
    c = zt.sim.run(net, 200.0, seed=6)
    assert a.n_spikes > 100
    assert np.array_equal(a.spike_neuron, b.spike_neuron)
    assert np.array_equal(a.spike_time_ms, b.spike_time_ms)
    assert not (a.n_spikes == c.n_spikes and np.array_equal(a.spike_neuron, c.spike_neuron))


def test_checkpoint_resume_gives_the_spikes_of_an_uninterrupted_run(tmp_path):
    spec = zt.build.microcircuit(0.02)
    net = zt.build.network(spec, seed=1)
    full = zt.sim.Simulator(net, seed=2).run(300.0)
    first = zt.sim.Simulator(net, seed=2)
    first.run(100.0)
    while first.buf.abs().sum() == 0:  # cut while spikes are in flight
        first.run(0.1)
    cut = first.t_ms
    first.save(tmp_path / "ck.pt")
    resumed = zt.sim.Simulator.restore(tmp_path / "ck.pt", zt.build.network(spec, seed=1))
    rest = resumed.run(round(300.0 - cut, 6))
    assert rest.n_spikes == full.n_spikes
    assert np.array_equal(rest.spike_neuron, full.spike_neuron)
    assert np.array_equal(rest.spike_time_ms, full.spike_time_ms)
    assert np.array_equal(rest.rate_counts, full.rate_counts)


def test_checkpoint_refuses_another_network(tmp_path):
    spec = zt.build.microcircuit(0.02)
    sim = zt.sim.Simulator(zt.build.network(spec, seed=1))
    sim.run(1.0)
    sim.save(tmp_path / "ck.pt")
    with pytest.raises(SpecError, match="another network"):
        zt.sim.Simulator.restore(tmp_path / "ck.pt", zt.build.network(spec, seed=2))


def test_ensemble_members_identical_seeds_identical_spikes():
    spec = zt.build.microcircuit(0.02)
    net = zt.build.network(spec, seed=1)
    res = zt.sim.Simulator(net, n_ensembles=3, member_seeds=[7, 7, 8]).run(200.0)
    t0, n0 = res.spikes(member=0)
    t1, n1 = res.spikes(member=1)
    t2, n2 = res.spikes(member=2)
    assert len(t0) > 100
    assert np.array_equal(t0, t1) and np.array_equal(n0, n1)
    assert not (len(t0) == len(t2) and np.array_equal(n0, n2))


def test_ensemble_member_equals_single_run():
    # member b of a default ensemble uses the stream key(seed, "member", b); a single run is
    # member 0 of the same seed
    spec = zt.build.microcircuit(0.02)
    net = zt.build.network(spec, seed=1)
    ens = zt.sim.Simulator(net, n_ensembles=2, seed=4).run(150.0)
    one = zt.sim.Simulator(net, n_ensembles=1, seed=4).run(150.0)
    t_e, n_e = ens.spikes(member=0)
    t_1, n_1 = one.spikes(member=0)
    assert np.array_equal(t_e, t_1) and np.array_equal(n_e, n_1)


def test_per_member_parameters_change_only_their_member():
    spec = NetworkSpec(
        populations=(Population(name="E", size=5, model=LIF()),),
        stimuli=(DC(target="E", amplitude=500.0),),
        recorders=(Spikes(),),
    )
    sim = zt.sim.Simulator(zt.build.network(spec), n_ensembles=2, dtype="float64")
    sim.set_param("E", "t_ref", torch.tensor([[2.0], [5.0]], dtype=torch.float64))
    res = sim.run(100.0)
    isi0 = np.diff(res.times_ms(0, "E", member=0))
    isi1 = np.diff(res.times_ms(0, "E", member=1))
    t_first = -10.0 * math.log(1.0 - 250.0 * 15.0 / (10.0 * 500.0))
    assert isi0 == pytest.approx(2.0 + t_first, abs=0.1)
    assert isi1 == pytest.approx(5.0 + t_first, abs=0.1)


def test_dc_window_and_injected_current():
    # DC on [20, 40) ms only: the first spike comes 13.86 ms after onset (closed form), none
    # after the window ends except those already started.
    spec = NetworkSpec(
        populations=(Population(name="E", size=1, model=LIF(t_ref=0.0)),),
        stimuli=(DC(target="E", amplitude=500.0, start=20.0, stop=40.0),),
        recorders=(Spikes(),),
    )
    sim = zt.sim.Simulator(zt.build.network(spec), dtype="float64")
    res = sim.run(100.0)
    times = res.times_ms(0, "E")
    t_first = -10.0 * math.log(1.0 - 250.0 * 15.0 / (10.0 * 500.0))
    assert times[0] == pytest.approx(20.0 + t_first, abs=0.1)
    assert times.max() < 40.0 + 0.1
    sim.inject_current("E", 500.0)
    res = sim.run(20.0)
    later = res.times_ms(0, "E")
    assert later[-1] == pytest.approx(100.0 + t_first, abs=0.1)


def test_poisson_input_counts_are_poisson():
    # per-step input counts of a PoissonInput of n_sources x rate are Poisson(n rate dt):
    # chi-square of the count histogram, and mean = variance
    spec = NetworkSpec(
        populations=(Population(name="E", size=2000, model=LIF()),),
        stimuli=(PoissonInput(target="E", rate=8.0, n_sources=1000, weight=1.0, receptor="ex"),),
    )
    sim = zt.sim.Simulator(zt.build.network(spec), seed=11, dtype="float64")
    lam = 1000 * 8.0 * 0.1e-3
    counts = []
    for _ in range(20):
        row = torch.zeros((1, sim.S), dtype=torch.float64)
        sim._update_poisson_weights()
        sim._poisson_step(row)
        counts.append(row[0, :2000].numpy().copy())  # receptor "ex" slots
        sim.t_step += 1
    counts = np.concatenate(counts).astype(int)
    k = np.arange(6)
    expected = stats.poisson.pmf(k, lam) * counts.size
    observed = np.array([(counts == i).sum() for i in k[:-1]] + [(counts >= 5).sum()])
    expected[-1] = stats.poisson.sf(4, lam) * counts.size
    assert stats.chisquare(observed, expected).pvalue > 0.01
    assert counts.mean() == pytest.approx(lam, rel=0.02)
    assert counts.var() == pytest.approx(lam, rel=0.05)


def test_spike_train_input_arrives_after_delay():
    spec = NetworkSpec(
        populations=(Population(name="E", size=1, model=LIF()),),
        stimuli=(SpikeTrain(target="E", times=(5.0,), weight=500.0, delay=1.0),),
        recorders=(StateMonitor(population="E"),),
    )
    res = zt.sim.run(zt.build.network(spec), 10.0, dtype="float64")
    v = res.states["E.v"].isel(member=0, neuron=0)
    assert float(v.sel(time=6.0, method="nearest")) == pytest.approx(-65.0, abs=1e-12)
    assert float(v.sel(time=6.1, method="nearest")) > -65.0 + 1e-3


def test_float32_and_float64_agree_on_a_noise_free_network():
    spec = NetworkSpec(
        populations=(Population(name="E", size=50, model=LIF(), initial={"v": Normal(-60, 3)}),),
        projections=(
            Projection(
                pre="E",
                post="E",
                rule=FixedIndegree(5),
                weight=30.0,
                delay=Normal(1.5, 0.5, low=0.1),
            ),
        ),
        stimuli=(DC(target="E", amplitude=400.0),),
        recorders=(Spikes(),),
    )
    net = zt.build.network(spec, seed=2)
    a = zt.sim.run(net, 100.0, dtype="float32", seed=1)
    b = zt.sim.run(net, 100.0, dtype="float64", seed=1)
    ra, rb = a.rates_hz()["E"], b.rates_hz()["E"]
    assert ra == pytest.approx(rb, rel=0.02)
    # spike times of the first spikes agree to the grid
    assert a.times_ms(0, "E")[0] == pytest.approx(b.times_ms(0, "E")[0], abs=0.1)


# ---------------------------------------------------------------------------- bad input
def test_errors_for_bad_run_arguments():
    net = zt.build.network(_pair(1.0))
    sim = zt.sim.Simulator(net)
    with pytest.raises(SpecError, match="non-negative time"):
        sim.run(-5.0)
    with pytest.raises(SpecError, match="non-negative time"):
        sim.run(float("nan"))
    with pytest.raises(SpecError, match="multiple of dt"):
        sim.run(1.05)
    with pytest.raises(UnitError, match="must be a time"):
        sim.run(5 * u.mV)
    with pytest.raises(SpecError, match="dt must be a positive time"):
        zt.sim.Simulator(net, dt=0.0)


def test_delay_shorter_than_dt_or_off_grid_is_refused():
    with pytest.raises(SpecError, match="at least the time step"):
        zt.sim.Simulator(zt.build.network(_pair(0.05)), dt=0.1)
    with pytest.raises(SpecError, match=r"multiple of the time step.*nearest: 1\.2"):
        zt.sim.Simulator(zt.build.network(_pair(1.25)), dt=0.1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_refused():
    with pytest.raises(DeviceError, match="no CUDA device"):
        zt.sim.Simulator(zt.build.network(_pair(1.0)), device="cuda")
    with pytest.raises(DeviceError, match="device must be"):
        zt.sim.Simulator(zt.build.network(_pair(1.0)), device="tpu")


def test_unknown_population_and_bad_parameters():
    with pytest.raises(SpecError, match="closest: 'pre'"):
        _pair(1.0).add(DC(target="pr", amplitude=1.0))
    with pytest.raises(SpecError, match=r"LIF\.c_m must be positive; got -250\.0 pF"):
        LIF(c_m=-250.0)
    with pytest.raises(UnitError, match=r"LIF\.tau_m must be a time"):
        LIF(tau_m=10 * u.pA)
    sim = zt.sim.Simulator(zt.build.network(_pair(1.0)))
    with pytest.raises(SpecError, match="closest: 'post'"):
        sim.get_state("pots", "v")


def test_nan_state_stops_with_population_and_time():
    spec = NetworkSpec(
        populations=(
            Population(name="ok", size=3, model=LIF()),
            Population(name="bad", size=3, model=LIF()),
        ),
        recorders=(Spikes(),),
    )
    sim = zt.sim.Simulator(zt.build.network(spec), nan_check_ms=5.0)
    sim.run(10.0)
    sim.set_param("bad", "i_e", float("nan"))
    with pytest.raises(SimulationError, match=r"'bad' became NaN between t = 10 ms and t = 15 ms"):
        sim.run(20.0)
    # results up to the last good check are kept
    assert sim.result().t_stop_ms == pytest.approx(15.0)


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["torch", "triton"])
def test_cpu_and_cuda_agree(backend):
    spec = zt.build.microcircuit(0.02)
    net = zt.build.network(spec, seed=1)
    a = zt.sim.run(net, 200.0, device="cpu", dtype="float64", seed=3)
    b = zt.sim.run(net, 200.0, device="cuda", dtype="float64", seed=3, backend=backend)
    # same counter-based random numbers on both devices: float64 trajectories agree spike
    # for spike except where rounding flips a threshold crossing; compare the rates
    for pop, r in a.rates_hz().items():
        assert b.rates_hz()[pop] == pytest.approx(r, rel=0.05, abs=0.3)


def test_memory_estimate_refuses_what_cannot_fit():
    from zentai.connectome import FixedTotalNumber
    from zentai.errors import MemoryBudgetError

    huge = NetworkSpec(
        populations=(Population(name="E", size=1000, model=LIF()),),
        projections=(Projection(pre="E", post="E", rule=FixedTotalNumber(10**12)),),
    )
    with pytest.raises(MemoryBudgetError, match=r"needs about .* GiB to build"):
        zt.build.network(huge)
    net = zt.build.network(_pair(1.0))
    with pytest.raises(MemoryBudgetError, match="fewer ensemble members"):
        zt.sim.Simulator(net, n_ensembles=10**11)


def test_periodic_checkpoints_resume_exactly(tmp_path):
    # a long run saving every 50 ms; "interrupt" it by restoring the last periodic checkpoint
    # written before the end and finishing from there: same spikes and rates as one run
    spec = zt.build.microcircuit(0.02)
    net = zt.build.network(spec, seed=1)
    full = zt.sim.Simulator(net, seed=2).run(200.0)
    ck = tmp_path / "run.ck"
    seen = []
    sim = zt.sim.Simulator(net, seed=2)
    original_save = sim.save

    def spy(path):
        original_save(path)
        seen.append(sim.t_ms)
        (tmp_path / f"copy_{len(seen)}.ck").write_bytes(ck.read_bytes())

    sim.save = spy
    sim.run(200.0, checkpoint=ck, checkpoint_every=50.0)
    assert seen == pytest.approx([50.0, 100.0, 150.0, 200.0])
    mid = zt.sim.Simulator.restore(tmp_path / "copy_2.ck", net)  # saved at 100 ms
    assert mid.t_ms == pytest.approx(100.0)
    rest = mid.run(100.0)
    assert np.array_equal(rest.spike_time_ms, full.spike_time_ms)
    assert np.array_equal(rest.spike_neuron, full.spike_neuron)
    assert np.array_equal(rest.rate_counts, full.rate_counts)
    with pytest.raises(SpecError, match="needs checkpoint="):
        zt.sim.Simulator(net).run(10.0, checkpoint_every=5.0)
