"""Results as NWB: the units table holds exactly the recorded spikes with their labels and
positions, rates are TimeSeries, and pynwb's validator finds nothing to object to."""

import dataclasses

import numpy as np
import pytest
from pynwb import NWBHDF5IO, validate

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection
from zentai.celltypes import LIF
from zentai.connectome import FixedIndegree
from zentai.errors import DataError, SpecError
from zentai.io.nwb import read_nwb_spikes, write_nwb
from zentai.record import PopulationRate, Spikes
from zentai.stim import PoissonInput


def _spec():
    rng = np.random.default_rng(0)
    pops = (
        Population(
            name="MOp.L5.E",
            size=30,
            model=LIF(),
            positions=rng.uniform(0, 1000, (30, 3)),
            labels={"region": "MOp", "layer": "L5", "cell_class": "E", "cell_type": "PT"},
        ),
        Population(name="inh", size=10, model=LIF()),
    )
    return NetworkSpec(
        populations=pops,
        projections=(
            Projection(pre="MOp.L5.E", post="inh", rule=FixedIndegree(5), weight=50.0),
            Projection(pre="inh", post="MOp.L5.E", rule=FixedIndegree(3), weight=-100.0),
        ),
        stimuli=tuple(
            PoissonInput(target=t, n_sources=1500, rate=10.0, weight=87.8)
            for t in ("MOp.L5.E", "inh")
        ),
        recorders=(Spikes(), PopulationRate(bin=2.0)),
    )


def test_nwb_round_trip_labels_rates_and_validation(tmp_path):
    spec = _spec()
    res = zt.sim.Simulator(zt.build.network(spec, seed=1), seed=2, n_ensembles=2).run(200.0)
    assert res.spike_neuron.size > 100
    path = tmp_path / "run.nwb"
    write_nwb(res, path, spec=spec)
    assert validate(path=str(path)) == []
    back = read_nwb_spikes(path)
    assert len(back) == 2 * 40  # every neuron of every member, silent ones too
    for m in range(2):
        t, idx = res.spikes("MOp.L5.E", member=m)
        for k in range(30):
            np.testing.assert_allclose(back[("MOp.L5.E", k, m)], t[idx == k], rtol=0, atol=1e-9)
    assert sum(v.size for v in back.values()) == res.spike_neuron.size
    with NWBHDF5IO(str(path), "r") as io:
        f = io.read()
        units = f.units.to_dataframe()
        row = units[(units.population == "MOp.L5.E") & (units.neuron == 7)].iloc[0]
        assert (row.region, row.layer, row.cell_type) == ("MOp", "L5", "PT")
        np.testing.assert_allclose([row.x, row.y, row.z], spec.populations[0].positions[7])
        assert np.isnan(units[units.population == "inh"].iloc[0].x)
        ts = f.processing["zentai"]["population_rate inh"]
        counts = res.rate_counts[:, :, res.rate_populations.index("inh")]  # per 0.1 ms step
        bin_ms = spec.recorders[1].bin
        assert ts.rate == pytest.approx(1e3 / bin_ms)
        assert ts.data.shape == (round(200.0 / bin_ms), 2)  # one row per bin, members as columns
        assert ts.starting_time == 0.0
        # the time average of the series is the mean rate of the 10 neurons over 200 ms
        np.testing.assert_allclose(ts.data[:].mean(0), counts.sum(0) / (10 * 0.2), rtol=1e-12)
        # the spec is stored as TOML in the notes and reads back
        stored = zt.io.toml.loads(f.notes)
        assert [p.name for p in stored.populations] == ["MOp.L5.E", "inh"]


def test_nwb_refuses_bad_input(tmp_path):
    spec = dataclasses.replace(_spec(), recorders=(Spikes(),))
    res = zt.sim.Simulator(zt.build.network(spec), seed=1).run(5.0)
    with pytest.raises(SpecError, match=r"must end in \.nwb"):
        write_nwb(res, tmp_path / "x.h5")
    with pytest.raises(SpecError, match="expects a Result"):
        write_nwb({"spikes": []}, tmp_path / "x.nwb")
    with pytest.raises(DataError, match="does not exist"):
        write_nwb(res, tmp_path / "no" / "x.nwb")
    with pytest.raises(DataError, match="does not exist"):
        read_nwb_spikes(tmp_path / "absent.nwb")


def test_nwb_stores_synthetic_recordings_as_time_series(tmp_path):
    from zentai.record.synthetic import calcium_imaging, fiber_photometry

    spec = _spec()
    res = zt.sim.Simulator(zt.build.network(spec, seed=1), seed=2).run(400.0)
    ca = calcium_imaging(res, "MOp.L5.E", spec=spec, frame_rate=30.0, photons=None)
    fp = fiber_photometry(
        res,
        spec,
        ("MOp.L5.E",),
        tip_um=spec.populations[0].positions.mean(0) - [0, 300, 0],
        frame_rate=100.0,
    )
    path = tmp_path / "rec.nwb"
    write_nwb(res, path, spec=spec, signals={"calcium": ca, "photometry": fp})
    assert validate(path=str(path)) == []
    with NWBHDF5IO(str(path), "r") as io:
        mod = io.read().processing["zentai_signals"]
        c = mod["signal calcium"]
        np.testing.assert_array_equal(c.data[:], ca.transpose("time", "cell").values)
        assert c.rate == pytest.approx(30.0) and c.starting_time == 0.0
        p = mod["signal photometry"]
        np.testing.assert_array_equal(p.data[:], fp.values)
        assert p.rate == pytest.approx(100.0)
    with pytest.raises(
        SpecError, match=r"signals\['bad'\] must be an xarray.DataArray with a 'time'"
    ):
        write_nwb(res, tmp_path / "bad.nwb", signals={"bad": np.zeros(3)})
