"""The multi-region builder: region kinds, relay nuclei, and the connectome's inter-area wiring."""

import numpy as np
import pytest
from scipy import stats

import zentai as zt
from zentai import rng
from zentai.build.brain import _k_exc_total, brain_spec, classify_regions, kappa_for
from zentai.build.network import estimate
from zentai.build.wiring import connect
from zentai.connectome.allen import load_knox2019
from zentai.connectome.probability import long_range_indegree
from zentai.connectome.rules import GroupBernoulli
from zentai.errors import RegionError, SpecError

from .test_basal_ganglia import indegrees


@pytest.fixture(scope="module")
def atlas(real_data):
    return zt.atlas.load("allen_mouse_100um", data_dir=real_data)


@pytest.fixture(scope="module")
def built(atlas):
    spec, layout = brain_spec(atlas, ("MOp", "MOs", "VAL", "PG"), fraction=0.005, seed=2)
    return spec, layout, zt.build.network(spec, seed=5)


def test_regions_are_sorted_by_kind(atlas):
    k = classify_regions(atlas, ["MOp", "VAL", "RT", "PG", "SIM", "DN"])
    assert (k.cortex, k.thalamus, k.reticular, k.pons) == (("MOp",), ("VAL",), ("RT",), ("PG",))
    assert (k.lobules, k.nuclei) == (("SIM",), ("DN",))
    with pytest.raises(RegionError, match="cannot build 'CP'"):
        classify_regions(atlas, ["MOp", "CP"])


def test_kappa_gives_the_long_range_share_of_the_pyramidal_indegree(atlas):
    # the calibration property, recomputed here from the connectome and kappa: the in-degree
    # that kappa gives the isocortex (pyramidal-weighted) is F_LR of the PD excitatory in-degree
    knox = load_knox2019(atlas=atlas)
    kappa = kappa_for(atlas, knox, 0.2)
    assert kappa > 0
    assert kappa_for(atlas, knox, 0.1) == pytest.approx(kappa / 2, rel=1e-9)  # no clipping
    assert 3000 < _k_exc_total() < 5000  # PD: local E + K_ext of an E cell, ~3,900
    # one check by hand on a toy table (same formula as the builder uses)
    k = long_range_indegree([[2.0]], [100.0], [50.0], kappa=kappa)
    assert k[0] == pytest.approx(100 * min(1.0, kappa * 2.0 / 50.0))


def test_relay_nuclei_are_placed_in_their_voxels(built, atlas):
    spec, layout, _ = built
    for pop, region in (("TH.TC", "VAL"), ("P.PG", "PG")):
        vox = layout.voxels[pop]
        assert spec.population(pop).size == len(vox) > 0
        assert atlas.mask(region, "left")[tuple(vox.T)].all()
        assert np.all(np.floor(layout.positions[pop] / 100.0).astype(int) == vox)
    assert set(layout.areas) == {"MOp", "MOs", "VAL", "PG"}
    # every cortical neuron is labelled with MOp or MOs
    for p in spec.populations:
        if p.name.startswith("Isocortex."):
            assert set(np.unique(layout.area[p.name])) <= {0, 1}


def proj_size(spec, name):
    return spec.population(name).size


def test_realised_inter_area_indegrees_match_the_table(built):
    # two-level check: each (source area, target area) block's synapse count is binomial with
    # the table's probability (p < 1 here), and no synapse joins two cells of the same area
    spec = built[0]
    names = (
        "Isocortex.L5B.E->P.PG:long_range",
        "Isocortex.L2/3.E->Isocortex.L2/3.E:long_range",
        "TH.TC->Isocortex.L5A.E:long_range",
    )
    for name in names:
        proj = next(p for p in spec.projections if p.name == name)
        rule = proj.rule
        assert isinstance(rule, GroupBernoulli)
        pre, post = connect(
            rule, proj_size(spec, proj.pre), proj_size(spec, proj.post), rng.key(7, name)
        )
        pre, post = pre.numpy(), post.numpy()
        gpre, gpost = rule.pre_groups[pre], rule.post_groups[post]
        assert np.all(gpre != gpost)
        n_pre = np.bincount(rule.pre_groups[rule.pre_groups >= 0], minlength=rule.p.shape[0])
        n_post = np.bincount(rule.post_groups[rule.post_groups >= 0], minlength=rule.p.shape[1])
        tested = 0
        for a in range(rule.p.shape[0]):
            for b in range(rule.p.shape[1]):
                p = rule.p[a, b]
                trials = int(n_pre[a] * n_post[b])
                count = int(((gpre == a) & (gpost == b)).sum())
                if p == 0 or trials == 0:
                    assert count == 0
                    continue
                assert 0 < p < 1
                assert stats.binomtest(count, trials, p).pvalue > 1e-4, (name, a, b)
                tested += 1
        assert tested >= 1


def test_long_range_weights_keep_the_mean_input(atlas, built):
    spec, _, _ = built
    proj = next(p for p in spec.projections if p.name == "TH.TC->Isocortex.L2/3.E:long_range")
    sqrt_spec, _ = brain_spec(
        atlas, ("MOp", "MOs", "VAL", "PG"), fraction=0.005, seed=2, long_range_scaling="sqrt"
    )
    proj_sqrt = next(
        p for p in sqrt_spec.projections if p.name == "TH.TC->Isocortex.L2/3.E:long_range"
    )
    # both divide the weight by sqrt(fraction); "mean" raises the in-degree by 1/sqrt(fraction)
    # over "sqrt" (in-degree x sqrt(f) instead of x f), so that the mean input is kept
    assert proj.weight.mean == pytest.approx(proj_sqrt.weight.mean, rel=1e-9)
    assert proj.rule.expected_indegree().mean() == pytest.approx(
        proj_sqrt.rule.expected_indegree().mean() / np.sqrt(0.005), rel=1e-9
    )
    # the delay follows the VAL -> MOp centroid distance at 0.5 m/s (a few mm -> 5-12 ms)
    assert 5.0 < proj.delay.mean < 12.0


def test_same_seed_same_brain(atlas, built):
    net = built[2]
    again = zt.build.network(
        brain_spec(atlas, ("MOp", "MOs", "VAL", "PG"), fraction=0.005, seed=2)[0], seed=5
    )
    assert np.array_equal(net.target.numpy(), again.target.numpy())
    assert np.array_equal(net.weight.numpy(), again.weight.numpy())


def test_relays_fire_in_their_range(built):
    # background alone plus cortical input: TC, pontine cells fire, neither silent nor saturated
    spec = built[0]
    res = zt.sim.run(zt.build.network(spec.add(zt.record.Spikes()), seed=5), 400.0, seed=1)
    rates = res.rates_hz(100.0, 400.0)
    assert 2.0 < rates["TH.TC"] < 60.0, rates
    assert 2.0 < rates["P.PG"] < 60.0, rates


def test_pontine_mossy_fibres_reach_granule_and_cn_cells(atlas):
    # PG and a lobule together: the cerebellum builder's mossy projections from P.PG (kept in
    # its layout, as its own spec cannot name P.PG) must be in the merged spec
    spec, layout = brain_spec(atlas, ("PG", "SIM", "DN"), fraction=0.002, seed=1, mossy_share=0.5)
    # every cerebellar neuron is labelled with its own area (the 25 µm placement maps to the
    # 100 µm voxels of the atlas)
    assert np.all(layout.area["CB.GrC"] == layout.areas.index("SIM"))
    assert np.all(layout.area["CBN.E"] == layout.areas.index("DN"))
    mossy = [p for p in spec.projections if p.pre == "P.PG"]
    assert {p.post for p in mossy} >= {"CB.GrC", "CBN.E"}
    grc = [p for p in mossy if p.post == "CB.GrC"]
    assert sum(p.rule.k for p in grc if p.receptor == "ampa") == 2  # half of the 4 MF per GrC


def test_estimate_predicts_the_build(built):
    # printed before building by the scenario runner: neurons exact, synapses within 5 %
    spec, _, net = built
    est = estimate(spec)
    assert est.n_neurons == net.n_neurons
    assert est.n_synapses == pytest.approx(net.n_synapses, rel=0.05)
    assert est.build_bytes > 0 and est.pairs > 0
    assert "neurons" in str(est) and "s to wire" in str(est)


def test_brain_on_the_synthetic_atlas_builds_in_seconds(real_data):
    # the synthetic atlas's cortex (SYN), cerebellar cortex (CBXs) and nuclei (CBNs), with a
    # made-up two-region connectome: the whole pipeline without the CCF (densities still come
    # from the staged tables, keyed by the synthetic ontology's Allen ids)
    import time

    from zentai.atlas.synthetic import synthetic_atlas
    from zentai.connectome.allen import RegionalConnectome

    coarse, fine = synthetic_atlas(100), synthetic_atlas(50)
    regions = ("SYN", "CBXs", "CBNs")
    w = np.array([[0.0, 0.0, 0.5], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])  # SYN <-> CBNs
    conn = RegionalConnectome("toy", regions, regions, w, np.zeros_like(w), coarse.ontology)
    t0 = time.perf_counter()
    spec, _ = brain_spec(
        coarse, ("SYN", "CBXs", "CBNs"), fraction=0.002, seed=3, connectome=conn,
        cerebellum_atlas=fine, check_memory=False,
    )  # fmt: skip
    net = zt.build.network(spec, seed=3)
    assert time.perf_counter() - t0 < 60.0
    assert {"CB.GrC", "CB.PC", "CBN.E", "Isocortex.L2/3.E"} <= {p.name for p in spec.populations}
    # CN E cells project to the cortex (the report's rule), never the reverse (post-ineligible)
    lr = [p for p in spec.projections if p.name.endswith(":long_range")]
    assert lr and all(p.pre == "CBN.E" and p.post.startswith("Isocortex.") for p in lr)
    assert net.n_synapses > 0
    with pytest.raises(SpecError, match="cerebellum_atlas"):
        brain_spec(coarse, ("SYN", "CBXs"), fraction=0.002, connectome=conn)


def test_topographic_mossy_fibres_keep_k_distinct_near_partners(atlas):
    from zentai.build.brain import _map_coords

    spec, layout = brain_spec(
        atlas, ("PG", "SIM", "DN"), fraction=0.002, seed=1, mossy_share=0.5, topography=0.15
    )
    grc = [p for p in spec.projections if p.pre == "P.PG" and p.post == "CB.GrC"]
    assert len(grc) == 2  # AMPA and NMDA, with the same partners
    a, b = grc
    assert np.array_equal(a.rule.pre_idx, b.rule.pre_idx)
    pre, post = a.rule.pre_idx, a.rule.post_idx
    n_grc = spec.population("CB.GrC").size
    assert np.array_equal(np.bincount(post, minlength=n_grc), np.full(n_grc, 2))
    pairs = pre * n_grc + post
    assert np.unique(pairs).size == pairs.size  # distinct partners
    c = _map_coords(layout)
    d = np.linalg.norm(c["P.PG"][pre] - c["CB.GrC"][post], axis=1)
    rnd = np.linalg.norm(
        c["P.PG"][np.random.default_rng(0).permutation(pre)] - c["CB.GrC"][post], axis=1
    )
    assert np.median(d) < 0.5 * np.median(rnd)  # partners follow the map


def test_pons_input_layers_restricts_corticopontine_cells_and_keeps_the_in_degree(atlas):
    import zentai as zt

    def pons_inputs(spec):
        """Mean inputs per pontine cell from each cortical E population."""
        net = zt.build.network(spec, seed=1)
        return {
            name: indegrees(net, name, "P.PG", "ex").mean()
            for name in net.pop_slices
            if name.startswith("Isocortex.") and name.endswith(".E")
        }

    every, _ = brain_spec(atlas, ("MOp", "PG"), fraction=0.002, seed=1)
    pt, _ = brain_spec(atlas, ("MOp", "PG"), fraction=0.002, seed=1, pons_input_layers=("L5B",))
    to_pons = {p.pre for p in pt.projections if p.post == "P.PG" and p.pre.startswith("Iso")}
    assert to_pons == {"Isocortex.L5B.E"}
    k_every, k_pt = pons_inputs(every), pons_inputs(pt)
    assert all(v == 0 for n, v in k_pt.items() if n != "Isocortex.L5B.E")
    # the same mean in-degree, now all from L5B (independent Bernoulli draws)
    assert k_pt["Isocortex.L5B.E"] == pytest.approx(sum(k_every.values()), rel=0.2)
    assert k_pt["Isocortex.L5B.E"] > 3 * k_every["Isocortex.L5B.E"]
    with pytest.raises(SpecError, match="pons_input_layers"):
        brain_spec(atlas, ("MOp", "PG"), fraction=0.002, pons_input_layers=("L7",))


def test_pt_velocity_shortens_only_the_l5b_subcortical_delays(atlas):
    regions = ("MOp", "MOs", "VAL", "PG")
    slow, _ = brain_spec(atlas, regions, fraction=0.002, seed=1)
    fast, _ = brain_spec(atlas, regions, fraction=0.002, seed=1, pt_velocity=5.0)
    d_slow = {p.name: p.delay.mu for p in slow.projections if p.name and "long_range" in p.name}
    d_fast = {p.name: p.delay.mu for p in fast.projections if p.name and "long_range" in p.name}
    assert d_slow.keys() == d_fast.keys()
    for name, d in d_slow.items():
        pre, post = name.split(":")[0].split("->")
        if pre == "Isocortex.L5B.E" and not post.startswith("Isocortex."):
            # d = 0.1 + L / v: ten times the velocity, a tenth of the conduction time
            assert d_fast[name] == pytest.approx(0.1 + (d - 0.1) / 10.0, rel=1e-6)
        else:
            assert d_fast[name] == d
    with pytest.raises(SpecError, match="pt_velocity"):
        brain_spec(atlas, regions, fraction=0.002, pt_velocity=-1.0)
