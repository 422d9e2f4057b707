"""Result <-> HDF5: exact round trips, the file layout, atomic writes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import xarray as xr

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection
from zentai.celltypes import LIF
from zentai.connectome import FixedIndegree, Normal
from zentai.errors import DataError
from zentai.io import hdf5
from zentai.record import PopulationRate, Spikes, StateMonitor
from zentai.record.result import Result
from zentai.stim import PoissonInput


@pytest.fixture(scope="module")
def result() -> Result:
    # two members, a population name with "/", spikes of a subset, rates and sampled states
    spec = NetworkSpec(
        populations=(
            Population(name="L2/3E", size=40, model=LIF(), initial={"v": Normal(-58.0, 5.0)}),
            Population(name="L2/3I", size=10, model=LIF()),
        ),
        projections=(
            Projection(pre="L2/3E", post="L2/3I", rule=FixedIndegree(5), weight=80.0),
            Projection(pre="L2/3I", post="L2/3E", rule=FixedIndegree(2), weight=-300.0),
        ),
        stimuli=(
            PoissonInput(target="L2/3E", rate=8.0, weight=90.0, n_sources=2000),
            PoissonInput(target="L2/3I", rate=8.0, weight=90.0, n_sources=1500),
        ),
        recorders=(
            Spikes(populations=("L2/3E",)),
            PopulationRate(bin=2.0),
            StateMonitor(population="L2/3E", variables=("v",), neurons=(1, 7), interval=0.5),
        ),
    )
    sim = zt.sim.Simulator(zt.build.network(spec, seed=1), dt=0.1, seed=3, n_ensembles=2)
    res = sim.run(60.0, progress=False)
    assert res.n_spikes > 50 and set(res.spike_member.tolist()) == {0, 1}
    return res


def assert_results_identical(a: Result, b: Result) -> None:
    for name in ("spike_member", "spike_neuron", "spike_time_ms"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y)
    assert (a.dt_ms, a.t_stop_ms, a.n_ensembles) == (b.dt_ms, b.t_stop_ms, b.n_ensembles)
    assert a.populations == b.populations
    assert a.recorded_populations == b.recorded_populations
    assert a.meta == b.meta
    if a.rate_counts is None:
        assert b.rate_counts is None
    else:
        assert a.rate_counts.dtype == b.rate_counts.dtype
        np.testing.assert_array_equal(a.rate_counts, b.rate_counts)
        assert (a.rate_bin_ms, a.rate_populations) == (b.rate_bin_ms, b.rate_populations)
        xr.testing.assert_identical(a.population_rate, b.population_rate)
    assert a.states.keys() == b.states.keys()
    for k in a.states:
        xr.testing.assert_identical(a.states[k], b.states[k])


def test_round_trip_is_exact(tmp_path, result):
    path = tmp_path / "r.h5"
    hdf5.write_result(result, path)
    back = hdf5.read_result(path)
    assert_results_identical(result, back)
    assert back.rates_hz(10.0) == result.rates_hz(10.0)
    assert "L2/3E.v" in back.states


def test_layout_matches_the_documented_groups(tmp_path, result):
    path = tmp_path / "r.h5"
    summary = {"n_neurons": 50, "rates_hz": {"L2/3E": 1.5}}
    spec = NetworkSpec(populations=(Population(name="E", size=2, model=LIF()),))
    hdf5.write_result(result, path, spec=spec, summary=summary)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == hdf5.FORMAT
        names = [s.decode() for s in f["spikes/population_names"][()]]
        assert names == ["L2/3E", "L2/3I"]
        # the per-spike population index agrees with the neuron ids and population table
        pop = f["spikes/population"][()]
        neuron = f["spikes/neuron"][()]
        start, stop = f["populations/start"][()], f["populations/stop"][()]
        assert np.all((neuron >= start[pop]) & (neuron < stop[pop]))
        rate = f["population_rate"]
        assert rate.attrs["units"] == "Hz" and rate.attrs["bin_ms"] == 2.0
        assert rate["data"].shape == (2, 2, 30)  # (member, population, time): 60 ms / 2 ms
        np.testing.assert_allclose(rate["time"][:3], [1.0, 3.0, 5.0])
        assert list(f["states"]) == ["L2%2F3E.v"]
    assert hdf5.read_summary(path) == summary
    assert hdf5.read_spec(path).population("E").size == 2


def test_empty_result_round_trips(tmp_path):
    res = Result(dt_ms=0.1, t_stop_ms=5.0, n_ensembles=1, populations={"E": (0, 3), "I": (3, 4)})
    path = tmp_path / "empty.h5"
    hdf5.write_result(res, path)
    back = hdf5.read_result(path)
    assert_results_identical(res, back)
    assert back.n_spikes == 0 and back.rate_counts is None


def test_interrupted_write_leaves_old_file_and_no_temporary(tmp_path, result, monkeypatch):
    path = tmp_path / "r.h5"
    hdf5.write_result(result, path)
    before = path.read_bytes()

    def fail(f, *args):
        f.attrs["format"] = "half"
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C in the middle of the write

    monkeypatch.setattr(hdf5, "_write", fail)
    with pytest.raises(KeyboardInterrupt):
        hdf5.write_result(result, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]


def test_read_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        hdf5.read_result(tmp_path / "nope.h5")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(DataError, match="is not a zentai result file"):
        hdf5.read_result(other)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(DataError, match="is not a readable HDF5 file"):
        hdf5.read_result(text)
