"""Holism analysis: Granger causality and transfer entropy find the true direction in a linear
autoregressive system and in a spiking chain; correlations recover a known structure."""

import numpy as np
import pytest

import zentai as zt
from zentai.analysis.holism import (
    compare_correlations,
    correlation_structure,
    granger,
    transfer_entropy,
)
from zentai.build import NetworkSpec, Population, Projection
from zentai.celltypes import LIF
from zentai.connectome import FixedIndegree, OneToOne
from zentai.errors import SpecError
from zentai.record import PopulationRate, Spikes
from zentai.stim import PoissonInput


def _chain(T=4000, seed=0):
    # x -> y -> z, x autonomous
    rng = np.random.default_rng(seed)
    x, y, z = np.zeros(T), np.zeros(T), np.zeros(T)
    e = rng.standard_normal((T, 3))
    for t in range(1, T):
        x[t] = 0.6 * x[t - 1] + e[t, 0]
        y[t] = 0.5 * y[t - 1] + 0.5 * x[t - 1] + e[t, 1]
        z[t] = 0.5 * z[t - 1] + 0.5 * y[t - 1] + e[t, 2]
    return np.stack([x, y, z], axis=1)


def test_granger_finds_the_chain_and_not_the_shortcut():
    g = granger(_chain(), order=2)
    p, F = g["p"], g["F"]
    assert p[1, 0] < 1e-10 and p[2, 1] < 1e-10  # x -> y, y -> z
    assert p[0, 1] > 1e-3 and p[1, 2] > 1e-3 and p[0, 2] > 1e-3  # no reverse influence
    assert p[2, 0] > 1e-3  # x -> z only through y: gone once y's past is known
    # Geweke's F for y -> x is log(1 + b^2 var(x) / var(e)) here: b = 0.5, var(x) = 1/(1-0.36)
    assert F[1, 0] == pytest.approx(np.log(1 + 0.25 / 0.64), rel=0.15)


def test_transfer_entropy_of_a_noisy_copy_is_one_minus_its_entropy():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, 20000)
    flip = rng.random(20000) < 0.1
    y = np.empty_like(x)
    y[0] = 0
    y[1:] = x[:-1] ^ flip[1:]
    h = -(0.1 * np.log2(0.1) + 0.9 * np.log2(0.9))
    fwd = transfer_entropy(x, y)
    back = transfer_entropy(y, x)
    assert fwd["te_corrected"] == pytest.approx(1 - h, abs=0.02) and fwd["p"] < 0.05
    assert abs(back["te_corrected"]) < 0.005


def test_granger_finds_the_direction_of_a_spiking_chain():
    # population A (Poisson-driven) projects onto every neuron of B; nothing goes back.
    # Population rates in 2 ms bins, VAR order 10 (20 ms). A fires irregularly (~16 Hz), so
    # its rate has no memory of its own: driven ~6x harder (~130 Hz), its neurons fired in
    # step, its rate oscillated (autocorrelation 0.75 at 8 ms) beyond what order 10 absorbs,
    # and B's past, a delayed copy of A's, "predicted" A as well (p ~1e-5 to 1e-13)
    pops = (
        Population(name="A", size=400, model=LIF()),
        Population(name="B", size=400, model=LIF()),
    )
    spec = NetworkSpec(
        populations=pops,
        projections=(
            Projection(pre="A", post="B", rule=FixedIndegree(400), weight=40.0, delay=2.0),
        ),
        stimuli=(
            PoissonInput(target="A", n_sources=1000, rate=8.0, weight=87.8),
            PoissonInput(target="B", n_sources=900, rate=8.0, weight=87.8),
        ),
        recorders=(PopulationRate(bin=2.0),),
    )  # fmt: skip
    res = zt.sim.run(zt.build.network(spec, seed=1), 5000.0, seed=2)
    rates = res.population_rate.sel(member=0).values.T  # (2,500 bins, [A, B]) in Hz
    assert 10 < rates[:, 0].mean() < 25 and rates[:, 1].mean() > 2 * rates[:, 0].mean()
    g = granger(rates, order=10)
    # measured (seeds 1-3): p(A -> B) below 1e-300, p(B -> A) 0.04-0.29, F ratio 130-220
    assert g["p"][1, 0] < 1e-6 and g["p"][0, 1] > 1e-3
    assert g["F"][1, 0] > 20 * g["F"][0, 1]


def test_transfer_entropy_finds_the_direction_of_a_spiking_pair():
    # neuron A (irregular, ~16 Hz) drives neuron B through one strong synapse; spike trains
    # as 0/1 per ms, histories of 3 ms (the 1 ms delay plus B's rise to threshold)
    pops = (Population(name="A", size=1, model=LIF()), Population(name="B", size=1, model=LIF()))
    spec = NetworkSpec(
        populations=pops,
        projections=(Projection(pre="A", post="B", rule=OneToOne(), weight=1500.0, delay=1.0),),
        stimuli=(
            PoissonInput(target="A", n_sources=1000, rate=8.0, weight=87.8),
            PoissonInput(target="B", n_sources=900, rate=8.0, weight=87.8),
        ),
        recorders=(Spikes(),),
    )  # fmt: skip
    res = zt.sim.run(zt.build.network(spec, seed=1), 20000.0, seed=2)
    trains = np.zeros((2, 20000), dtype=np.int64)
    for k, pop in enumerate(("A", "B")):
        trains[k, np.minimum(res.times_ms(0, pop).astype(int), 19999)] = 1
    fwd = transfer_entropy(trains[0], trains[1], history=3)
    back = transfer_entropy(trains[1], trains[0], history=3)
    assert fwd["p"] < 0.05 and fwd["te_corrected"] > 0.01
    assert fwd["te_corrected"] > 20 * max(back["te_corrected"], 0.0)


def test_correlation_structure_recovers_partial_correlations_and_modules():
    # a Gaussian graphical model with a known precision matrix: two modules of three
    prec = np.eye(6) * 2.0
    for a, b in ((0, 1), (1, 2), (3, 4), (4, 5)):
        prec[a, b] = prec[b, a] = -0.8
    cov = np.linalg.inv(prec)
    x = np.random.default_rng(3).multivariate_normal(np.zeros(6), cov, size=50000)
    s = correlation_structure(x, n_modules=2)
    want = -prec / np.sqrt(np.outer(np.diag(prec), np.diag(prec)))
    np.fill_diagonal(want, 1.0)
    np.testing.assert_allclose(s["partial"], want, atol=0.02)
    assert len(set(s["modules"][:3])) == 1 and len(set(s["modules"][3:])) == 1
    assert s["modules"][0] != s["modules"][3]
    # the same structure in a second sample is recognised, a shuffled one is not
    y = np.random.default_rng(4).multivariate_normal(np.zeros(6), cov, size=50000)
    same = compare_correlations(s["corr"], np.corrcoef(y, rowvar=False), n_permutations=199)
    assert same["r"] > 0.99 and same["p"] < 0.05
    with pytest.raises(SpecError, match="square matrices"):
        compare_correlations(s["corr"], s["corr"][:3, :3])
    with pytest.raises(SpecError, match=r"\(time, variables\)"):
        granger(np.zeros(10))


def test_phi_g_closed_form_zero_cases_and_estimation():
    from zentai.analysis.holism import phi_g, phi_g_from_data

    # unit 2 drives unit 1 (x1_t = c x2_{t-1} + e1, x2_t = e2, unit noise): cutting the link,
    # the best disconnected model keeps A' = 0 and Phi_G = 1/2 log(1 + c^2)
    for c in (0.3, 0.8):
        A = np.array([[0.0, c], [0.0, 0.0]])
        assert phi_g(A)["phi"] == pytest.approx(0.5 * np.log1p(c * c), rel=1e-6)
    # no causal influence across the parts: Phi_G = 0, whatever the self-coupling and noise
    A = np.array([[0.5, 0.2, 0.0], [0.1, 0.4, 0.0], [0.0, 0.0, 0.7]])
    noise = np.array([[1.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.0]])
    r = phi_g(A, noise)
    assert r["phi"] == pytest.approx(0.0, abs=1e-9)
    assert r["partition"][0] == r["partition"][1] != r["partition"][2]
    # mutual coupling integrates more than the same links one way
    one_way = phi_g(np.array([[0.3, 0.4], [0.0, 0.3]]))["phi"]
    two_way = phi_g(np.array([[0.3, 0.4], [0.4, 0.3]]))["phi"]
    assert two_way > one_way > 0
    # estimated from a simulated series: close to the true value
    rng = np.random.default_rng(2)
    A = np.array([[0.4, 0.5], [0.0, 0.5]])
    x = np.zeros((50000, 2))
    for t in range(1, 50000):
        x[t] = A @ x[t - 1] + rng.standard_normal(2)
    assert phi_g_from_data(x)["phi"] == pytest.approx(phi_g(A)["phi"], rel=0.05)
    with pytest.raises(SpecError, match="not stationary"):
        phi_g(np.array([[1.1, 0.0], [0.0, 0.2]]))


def test_decoding_reaches_the_bayes_accuracy_and_chance_without_information():
    from scipy.stats import norm

    from zentai.analysis.holism import decode

    # two Gaussian classes in 10-D with a shared covariance, Mahalanobis distance 2:
    # the Bayes accuracy is Phi(1) = 0.841
    rng = np.random.default_rng(8)
    L = rng.standard_normal((10, 10)) * 0.3 + np.eye(10)
    cov = L @ L.T
    delta = rng.standard_normal(10)
    delta *= 2.0 / np.sqrt(delta @ np.linalg.solve(cov, delta))
    y = np.repeat([0, 1], 1500)
    x = rng.multivariate_normal(np.zeros(10), cov, size=3000) + np.outer(y, delta)
    r = decode(x, y, shrinkage=0.0, n_permutations=20)
    assert r["accuracy"] == pytest.approx(norm.cdf(1.0), abs=0.025) and r["p"] < 0.06
    assert r["confusion"].sum() == 3000 and r["chance"] == 0.5
    # the same features with shuffled labels: chance
    r0 = decode(x, rng.permutation(y), n_permutations=20)
    assert abs(r0["accuracy"] - 0.5) < 0.04 and r0["p"] > 0.05
    # three classes of spiking-population counts (Poisson rates differ by class in a few units)
    lab = np.repeat([0, 1, 2], 100)
    rates = np.full((3, 30), 5.0)
    rates[1, :5] = 8.0
    rates[2, 5:10] = 8.0
    counts = rng.poisson(rates[lab])
    r3 = decode(counts, lab, n_permutations=20)
    assert r3["accuracy"] > 0.8 and r3["classes"].tolist() == [0, 1, 2]
    with pytest.raises(SpecError, match="labels for"):
        decode(x, y[:-1])
