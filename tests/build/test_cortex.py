"""The atlas-built cortical sheet (first part of issue 4)."""

import numpy as np
import pytest

import zentai as zt
from zentai.build.cortex import cortex_spec


@pytest.fixture(scope="module")
def atlas(real_data):
    return zt.atlas.load("allen_mouse_100um", data_dir=real_data)


def test_neuron_counts_follow_density_volume_fraction(atlas):
    # expected cells = sum over voxels of class density x voxel volume x fraction; stochastic
    # rounding per voxel keeps the total within a few Poisson standard deviations
    spec, layout = cortex_spec(atlas, ("MOp",), fraction=0.02, seed=3)
    dens = zt.atlas.load_densities(atlas.ontology)
    geo = zt.atlas.cortical_geometry(atlas, ("MOp",))
    left = atlas.mask("root", "left")[tuple(geo.index.T)]
    keep = left & (geo.layer > 0)  # L1 holds none of the three classes
    labels = atlas.annotation[tuple(geo.index[keep].T)]
    expected = sum(dens.class_densities(int(s))[0]["excitatory"] for s in labels) * 1e-3 * 0.02
    placed = sum(p.size for p in spec.populations if p.labels["cell_class"] == "E")
    assert abs(placed - expected) < 4 * np.sqrt(expected)
    # every neuron lies inside its voxel, in the left hemisphere
    for name, vox in layout.voxels.items():
        pos = layout.positions[name]
        assert np.all(np.floor(pos / 100.0).astype(int) == vox)
        assert np.all(vox[:, 2] < atlas.midline_index)


def test_same_seed_same_network_and_realised_indegree(atlas):
    spec, _ = cortex_spec(atlas, ("MOp",), fraction=0.01, seed=1)
    a = zt.build.network(spec, seed=4)
    b = zt.build.network(cortex_spec(atlas, ("MOp",), fraction=0.01, seed=1)[0], seed=4)
    assert np.array_equal(a.target.numpy(), b.target.numpy())
    assert np.array_equal(a.weight.numpy(), b.weight.numpy())
    # mean realised in-degree of L2/3 E from L2/3 E equals the calibrated target
    target = next(
        p.rule.mean_indegree
        for p in spec.projections
        if p.pre == "Isocortex.L2/3.E" and p.post == "Isocortex.L2/3.E"
    )
    info = next(i for i in a.projections if i.name == "Isocortex.L2/3.E->Isocortex.L2/3.E:ex")
    n_post = spec.population("Isocortex.L2/3.E").size
    assert info.n_synapses / n_post == pytest.approx(target, rel=0.1)


@pytest.mark.slow
def test_sheet_fires_at_physiological_rates(atlas):
    # with the Potjans-Diesmann in-degrees, background and the van Albada compensation, every
    # population stays between 0.1 and 60 Hz (not silent, not runaway) at fraction 0.01
    spec, _ = cortex_spec(atlas, ("MOp",), fraction=0.01, seed=1)
    spec = spec.add(zt.record.Spikes())
    res = zt.sim.run(zt.build.network(spec, seed=1), 600.0, seed=1)
    rates = res.rates_hz(200.0, 600.0)
    assert all(0.1 < r < 60.0 for r in rates.values()), rates


def test_estimate_before_building_and_refusal(atlas, caplog):
    import logging

    from zentai.errors import MemoryBudgetError

    with caplog.at_level(logging.INFO, logger="zentai.build.cortex"):
        spec, _ = cortex_spec(atlas, ("MOp",), fraction=0.02, seed=1)
    line = next(r.getMessage() for r in caplog.records if "cortex estimate" in r.getMessage())
    est_neurons, est_synapses = (int(x.replace(",", "")) for x in line.split()[2:5:2])
    net = zt.build.network(spec, seed=1)
    # the estimate (densities x volume, mean in-degrees) predicts what gets built
    assert spec.n_neurons == pytest.approx(est_neurons, rel=0.03)
    assert net.n_synapses == pytest.approx(est_synapses, rel=0.05)
    # the whole isocortex at full density does not fit in 24 GiB: refused with a fraction that does
    with pytest.raises(MemoryBudgetError, match=r"largest fraction that fits is about 0\.\d+"):
        cortex_spec(atlas, ("Isocortex",), fraction=1.0, hemisphere=None)


def test_pathway_gain_scales_only_its_pathway(atlas):
    base, _ = cortex_spec(atlas, ("MOp",), fraction=0.01, seed=1)
    gained, _ = cortex_spec(
        atlas, ("MOp",), fraction=0.01, seed=1, pathway_gain={("L2/3.E", "L5A.E"): 2.5}
    )
    for a, b in zip(base.projections, gained.projections, strict=True):
        factor = 2.5 if (a.pre, a.post) == ("Isocortex.L2/3.E", "Isocortex.L5A.E") else 1.0
        assert b.weight.mu == pytest.approx(factor * a.weight.mu)
        assert b.rule.mean_indegree == a.rule.mean_indegree


def test_background_gain_scales_only_its_population(atlas):
    base, _ = cortex_spec(atlas, ("MOp",), fraction=0.01, seed=1)
    gained, _ = cortex_spec(atlas, ("MOp",), fraction=0.01, seed=1, background_gain={"L6a.E": 1.1})
    for a, b in zip(base.stimuli, gained.stimuli, strict=True):
        background = a.rate == 8.0  # the K_ext sources; inputs of absent PD layers keep theirs
        factor = 1.1 if (background and a.target == "Isocortex.L6a.E") else 1.0
        assert b.n_sources == round(a.n_sources * factor)
