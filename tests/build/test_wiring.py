"""Tests of connectivity generation (:mod:`zentai.build.wiring`).

Statistical tests follow NEST's two-level scheme (``testsuite/pytests/connect/
connect_test_base.py``): for each of 20 fixed seeds (0..19, chosen before looking at results),
a chi-squared test gives one p-value; level 1 requires every p-value above ALPHA / 20
(Bonferroni, so that the 20 seeds together have a false-alarm rate of ALPHA), level 2 KS-tests
the 20 p-values against Uniform(0, 1) at ALPHA.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats
import torch

from zentai import rng
from zentai import units as u
from zentai.build import wiring
from zentai.build.wiring import connect, draw, slots
from zentai.connectome.rules import (
    Bernoulli,
    Constant,
    DistanceGaussian,
    Explicit,
    FixedIndegree,
    FixedTotalNumber,
    Normal,
    OneToOne,
    Uniform,
)
from zentai.errors import SpecError

ALPHA = 0.01
SEEDS = range(20)


def _two_level(pvalues: list[float]) -> None:
    pvalues = np.asarray(pvalues)
    assert pvalues.min() > ALPHA / len(pvalues), f"level 1 failed: {pvalues}"
    ks = scipy.stats.kstest(pvalues, "uniform").pvalue
    assert ks > ALPHA, f"level 2 failed (KS p={ks:.3g}): {pvalues}"


def _chi2_histogram(values: np.ndarray, pmf: np.ndarray) -> float:
    """Chi-squared p-value of a histogram of integer ``values`` against ``pmf`` on 0..len-1.

    Neighbouring values are merged until each bin expects at least 5 counts (the usual rule;
    NEST's ``chi_squared_check`` also drops sparse tails).
    """
    observed = np.bincount(values, minlength=len(pmf)).astype(float)
    expected = pmf * len(values)
    obs_bins, exp_bins = [], []
    acc_o = acc_e = 0.0
    for o, e in zip(observed, expected):
        acc_o += o
        acc_e += e
        if acc_e >= 5:
            obs_bins.append(acc_o)
            exp_bins.append(acc_e)
            acc_o = acc_e = 0.0
    obs_bins[-1] += acc_o  # right tail into the last bin
    exp_bins[-1] += acc_e
    return scipy.stats.chisquare(obs_bins, exp_bins).pvalue


def _indegrees(post: torch.Tensor, n_post: int) -> np.ndarray:
    return torch.bincount(post, minlength=n_post).numpy()


def _key(seed: int, name: str = "proj") -> int:
    return rng.key(seed, "projection", name)


# ------------------------------------------------------------------ statistics
def test_bernoulli_indegrees_and_outdegrees_are_binomial():
    # in-degree of each post ~ Binomial(n_pre, p); out-degree of each pre ~ Binomial(n_post, p)
    n_pre, n_post, p = 200, 400, 0.2
    p_in, p_out = [], []
    for seed in SEEDS:
        pre, post = connect(Bernoulli(p), n_pre, n_post, _key(seed))
        p_in.append(
            _chi2_histogram(
                _indegrees(post, n_post), scipy.stats.binom.pmf(np.arange(n_pre + 1), n_pre, p)
            )
        )
        p_out.append(
            _chi2_histogram(
                _indegrees(pre, n_pre), scipy.stats.binom.pmf(np.arange(n_post + 1), n_post, p)
            )
        )
    _two_level(p_in)
    _two_level(p_out)


def test_bernoulli_without_autapses_indegrees_are_binomial_over_the_others():
    # one population, autapses excluded: in-degree ~ Binomial(n - 1, p)
    n, p = 300, 0.1
    pvalues = []
    for seed in SEEDS:
        pre, post = connect(
            Bernoulli(p, allow_autapses=False), n, n, _key(seed), self_connection=True
        )
        assert not bool((pre == post).any())
        pmf = scipy.stats.binom.pmf(np.arange(n + 1), n - 1, p)
        pvalues.append(_chi2_histogram(_indegrees(post, n), pmf))
    _two_level(pvalues)


def test_fixed_total_number_indegrees_multinomial_and_pres_uniform():
    # NEST fixed_total_number: in-degrees multinomial(N, 1/n_post), marginally
    # Binomial(N, 1/n_post); pres iid uniform, so pre counts are multinomial(N, 1/n_pre).
    n_pre, n_post, total = 150, 200, 20_000
    p_in, p_pre = [], []
    for seed in SEEDS:
        pre, post = connect(FixedTotalNumber(total), n_pre, n_post, _key(seed))
        assert pre.numel() == total
        pmf = scipy.stats.binom.pmf(np.arange(total + 1), total, 1 / n_post)
        p_in.append(_chi2_histogram(_indegrees(post, n_post), pmf))
        p_pre.append(scipy.stats.chisquare(_indegrees(pre, n_pre)).pvalue)
    _two_level(p_in)
    _two_level(p_pre)


def test_fixed_indegree_with_multapses_pres_uniform():
    # n_post * k iid uniform draws: pre counts multinomial(n_post k, 1/n_pre)
    n_pre, n_post, k = 300, 200, 100
    pvalues = []
    for seed in SEEDS:
        pre, _ = connect(FixedIndegree(k), n_pre, n_post, _key(seed))
        pvalues.append(scipy.stats.chisquare(_indegrees(pre, n_pre)).pvalue)
    _two_level(pvalues)


@pytest.mark.parametrize("k", [100, 200], ids=["redraw", "random-keys"])
def test_fixed_indegree_without_multapses_pres_uniform(k):
    # Each post takes a uniform k-subset of n pres: indicator I_i has variance q(1 - q),
    # q = k/n, and covariance -q(1 - q)/(n - 1) between pres, so the pre counts over n_post
    # posts have covariance n_post q(1 - q) n/(n - 1) (I - 11'/n): Pearson's statistic times
    # (n - 1) / (n (1 - q)) is chi-squared with n - 1 degrees of freedom.
    # k = 100 <= n/2 uses redraw rounds, k = 200 > n/2 the random-key selection.
    n_pre, n_post = 300, 200
    q = k / n_pre
    pvalues = []
    for seed in SEEDS:
        pre, _ = connect(FixedIndegree(k, allow_multapses=False), n_pre, n_post, _key(seed))
        counts = _indegrees(pre, n_pre)
        expected = n_post * q
        stat = ((counts - expected) ** 2 / expected).sum() * (n_pre - 1) / (n_pre * (1 - q))
        pvalues.append(scipy.stats.chi2.sf(stat, n_pre - 1))
    _two_level(pvalues)


# ---------------------------------------------------------- exact bookkeeping
@pytest.mark.parametrize("multapses", [True, False])
@pytest.mark.parametrize("k", [1, 30, 99], ids=["k1", "k30", "k99"])
def test_fixed_indegree_exact_k_no_autapses_no_multapses(k, multapses):
    n = 100  # one population; without autapses 99 candidates, so k = 99 takes all others
    rule = FixedIndegree(k, allow_autapses=False, allow_multapses=multapses)
    pre, post = connect(rule, n, n, _key(1), self_connection=True)
    assert torch.equal(torch.bincount(post, minlength=n), torch.full((n,), k))
    assert not bool((pre == post).any())
    assert int(pre.min()) >= 0 and int(pre.max()) < n
    if not multapses:
        pairs = torch.unique(post * n + pre)
        assert pairs.numel() == pre.numel()
    if k == 99 and not multapses:  # every other neuron exactly once
        assert torch.equal(torch.bincount(pre, minlength=n), torch.full((n,), 99))


def test_fixed_indegree_multapses_occur_when_allowed():
    # k = 50 draws from 20 pres must repeat (pigeonhole)
    pre, post = connect(FixedIndegree(50), 20, 10, _key(2))
    assert torch.unique(post * 20 + pre).numel() < pre.numel()


def test_fixed_indegree_draw_c_of_post_j_is_uniform_int_at_counter_c():
    # documented keying: draw c of post j is uniform_int(key("pre"), stream j, counter c, n_pre)
    key = _key(3)
    pre, post = connect(FixedIndegree(7), 50, 9, key)
    j = torch.arange(9).repeat_interleave(7)
    c = torch.arange(7).repeat(9)
    assert torch.equal(post, j)
    assert torch.equal(pre, rng.uniform_int(rng.key(key, "pre"), j, c, 50))


def test_fixed_total_number_without_autapses():
    n = 50
    pre, post = connect(
        FixedTotalNumber(5000, allow_autapses=False), n, n, _key(4), self_connection=True
    )
    assert pre.numel() == 5000
    assert not bool((pre == post).any())
    assert bool((post[1:] >= post[:-1]).all())


def test_bernoulli_p_one_connects_all_pairs_and_autapse_flag():
    # as NEST's testAutapsesTrue/False with p = 1
    n = 12
    pre, post = connect(Bernoulli(1.0), n, n, _key(5), self_connection=True)
    assert torch.equal(post * n + pre, torch.arange(n * n))
    pre, post = connect(Bernoulli(1.0, allow_autapses=False), n, n, _key(5), self_connection=True)
    assert pre.numel() == n * (n - 1) and not bool((pre == post).any())
    assert connect(Bernoulli(0.0), n, n, _key(5))[0].numel() == 0


def test_one_to_one_and_explicit():
    pre, post = connect(OneToOne(), 5, 5, _key(6))
    assert torch.equal(pre, torch.arange(5)) and torch.equal(post, torch.arange(5))
    rule = Explicit(pre_idx=[4, 0, 3, 1, 2], post_idx=[2, 1, 2, 0, 1])
    pre, post = connect(rule, 5, 3, _key(6))
    # stable sort by post: the given order is kept within each post
    assert post.tolist() == [0, 1, 1, 2, 2]
    assert pre.tolist() == [1, 0, 2, 4, 3]


def test_slots_number_synapses_per_post_across_chunks(monkeypatch):
    post = torch.tensor([0, 0, 0, 2, 3, 3, 3, 3, 7, 7])
    expected = [0, 1, 2, 0, 0, 1, 2, 3, 0, 1]
    assert slots(post).tolist() == expected
    monkeypatch.setattr(wiring, "_CPU_CHUNK", 3)  # runs crossing chunk boundaries
    assert slots(post).tolist() == expected
    assert slots(torch.empty(0, dtype=torch.int64)).numel() == 0


# ----------------------------------------------------------- distance kernel
def test_distance_gaussian_recovers_kernel_and_cutoff():
    # Pairs binned by distance: connected count per bin vs the sum of p_max exp(-d²/2σ²) over
    # the bin's pairs (expected), tolerance 5 binomial standard deviations; none beyond
    # cutoff_sigma * sigma = 250 µm.
    gen = np.random.default_rng(0)
    n = 1500
    pos_pre = gen.uniform(0, 1000, (n, 3))
    pos_post = gen.uniform(0, 1000, (n, 3))
    pos_post[:, 2] = 1e4  # z is ignored with dims=(0, 1)
    rule = DistanceGaussian(p_max=0.8, sigma=100 * u.um, cutoff_sigma=2.5, dims=(0, 1))
    pre, post = connect(rule, n, n, _key(7), pre_positions=pos_pre, post_positions=pos_post)
    d_all = np.hypot(*(pos_post[:, None, :2] - pos_pre[None, :, :2]).transpose(2, 0, 1))
    conn = np.zeros((n, n), bool)
    conn[post.numpy(), pre.numpy()] = True
    assert d_all[conn].max() <= 250.0
    p_all = np.where(d_all <= 250.0, 0.8 * np.exp(-(d_all**2) / (2 * 100.0**2)), 0.0)
    edges = np.arange(0, 300, 12.5)
    which = np.digitize(d_all, edges)
    for b in np.unique(which[d_all < 250]):
        in_bin = which == b
        expected = p_all[in_bin].sum()
        sd = math.sqrt((p_all[in_bin] * (1 - p_all[in_bin])).sum())
        assert abs(conn[in_bin].sum() - expected) <= 5 * sd + 1, (edges[b - 1], expected)


def test_distance_gaussian_excludes_autapses_by_default():
    pos = np.zeros((30, 3))  # all at one point: p = p_max = 1 for every pair
    pre, post = connect(
        DistanceGaussian(p_max=1.0),
        30,
        30,
        _key(8),
        pre_positions=pos,
        post_positions=pos,
        self_connection=True,
    )
    assert pre.numel() == 30 * 29 and not bool((pre == post).any())


# ------------------------------------------------------- partition independence
def _rules_and_sizes():
    gen = np.random.default_rng(1)
    pos_pre = gen.uniform(0, 300, (90, 3))
    pos_post = gen.uniform(0, 300, (70, 3))
    expl_post = gen.integers(0, 70, 400)
    expl_pre = gen.integers(0, 90, 400)
    same = {"self_connection": True}
    return [
        ("fixed_indegree", FixedIndegree(25), 90, 70, {}),
        ("fixed_indegree_self", FixedIndegree(25, allow_autapses=False), 70, 70, same),
        ("indegree_redraw", FixedIndegree(30, allow_multapses=False), 90, 70, {}),
        ("indegree_keys", FixedIndegree(60, False, False), 70, 70, same),
        ("total_number", FixedTotalNumber(3000), 90, 70, {}),
        ("total_number_self", FixedTotalNumber(3000, allow_autapses=False), 70, 70, same),
        ("bernoulli", Bernoulli(0.3), 90, 70, {}),
        ("bernoulli_self", Bernoulli(0.3, allow_autapses=False), 70, 70, same),
        (
            "distance",
            DistanceGaussian(0.9, sigma=80.0, dims=(0, 1)),
            90,
            70,
            {"pre_positions": pos_pre, "post_positions": pos_post},
        ),
        ("one_to_one", OneToOne(), 70, 70, {}),
        ("explicit", Explicit(expl_pre, expl_post), 90, 70, {}),
    ]


RULES = _rules_and_sizes()
DISTS = [Constant(2.5), Uniform(-1.0, 3.0), Normal(1.0, 2.0, low=0.0, high=3.0)]


@pytest.mark.parametrize(
    ("name", "rule", "n_pre", "n_post", "kw"), RULES, ids=[r[0] for r in RULES]
)
def test_post_range_chunks_concatenate_to_the_full_result(name, rule, n_pre, n_post, kw):
    key = _key(9, name)
    pre, post = connect(rule, n_pre, n_post, key, **kw)
    assert pre.numel() > 0
    assert bool((post[1:] >= post[:-1]).all())
    bounds = [0, 1, 1, 13, 40, n_post]
    parts = [
        connect(rule, n_pre, n_post, key, post_range=(a, b), **kw)
        for a, b in itertools.pairwise(bounds)
    ]
    assert torch.equal(torch.cat([p[0] for p in parts]), pre)
    assert torch.equal(torch.cat([p[1] for p in parts]), post)
    for dist in DISTS:
        wkey = rng.key(key, "weight")
        full = draw(dist, wkey, post, slots(post))
        chunked = torch.cat([draw(dist, wkey, p[1], slots(p[1])) for p in parts])
        assert torch.equal(chunked, full)


@pytest.mark.parametrize(
    ("name", "rule", "n_pre", "n_post", "kw"), RULES, ids=[r[0] for r in RULES]
)
def test_result_does_not_depend_on_internal_chunk_size(name, rule, n_pre, n_post, kw, monkeypatch):
    # CUDA uses larger chunks than the CPU; tiny chunks here must give the same synapses
    key = _key(10, name)
    pre, post = connect(rule, n_pre, n_post, key, **kw)
    w = draw(Normal(0.0, 1.0, low=-0.5), key, post, slots(post))
    monkeypatch.setattr(wiring, "_CPU_CHUNK", 37)
    pre2, post2 = connect(rule, n_pre, n_post, key, **kw)
    assert torch.equal(pre2, pre) and torch.equal(post2, post)
    assert torch.equal(draw(Normal(0.0, 1.0, low=-0.5), key, post2, slots(post2)), w)


@pytest.mark.parametrize(
    ("name", "rule", "n_pre", "n_post", "kw"), RULES, ids=[r[0] for r in RULES]
)
def test_same_key_identical_other_key_different(name, rule, n_pre, n_post, kw):
    a = connect(rule, n_pre, n_post, _key(11, name), **kw)
    b = connect(rule, n_pre, n_post, _key(11, name), **kw)
    c = connect(rule, n_pre, n_post, _key(12, name), **kw)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    if name in ("one_to_one", "explicit"):  # deterministic rules: the key plays no part
        assert torch.equal(a[0], c[0])
    else:
        assert a[0].shape != c[0].shape or not torch.equal(a[0], c[0])


# ------------------------------------------------------------------------ draw
def test_normal_with_bounds_matches_truncated_normal():
    # Redrawing out-of-bounds values gives the truncated normal; its mean and standard
    # deviation come from scipy.stats.truncnorm. Tolerance: 5 standard errors.
    mu, sigma, low, high = 1.0, 2.0, 0.0, 3.0
    n = 200_000
    post = torch.arange(n) // 100
    x = draw(Normal(mu, sigma, low=low, high=high), rng.key(13), post, slots(post))
    assert bool(((x >= low) & (x <= high)).all())
    tn = scipy.stats.truncnorm((low - mu) / sigma, (high - mu) / sigma, loc=mu, scale=sigma)
    assert float(x.mean()) == pytest.approx(tn.mean(), abs=5 * tn.std() / math.sqrt(n))
    # one-sided bound keeping only 16 % of the mass (many redraw rounds)
    x = draw(Normal(0.0, 1.0, low=1.0), rng.key(14), post, slots(post))
    tn = scipy.stats.truncnorm(1.0, np.inf)
    assert float(x.min()) >= 1.0
    assert float(x.mean()) == pytest.approx(tn.mean(), abs=5 * tn.std() / math.sqrt(n))


def test_normal_with_bounds_two_level_ks():
    mu, sigma, low, high = 87.8, 8.78, 80.0, 100.0
    tn = scipy.stats.truncnorm((low - mu) / sigma, (high - mu) / sigma, loc=mu, scale=sigma)
    post = torch.arange(5000) // 10
    pvalues = []
    for seed in SEEDS:
        x = draw(Normal(mu, sigma, low=low, high=high), rng.key(seed, "w"), post, slots(post))
        pvalues.append(scipy.stats.kstest(x.numpy(), tn.cdf).pvalue)
    _two_level(pvalues)


def test_uniform_and_constant_draws():
    post = torch.arange(100_000) // 10
    x = draw(Uniform(-2.0, 6.0), rng.key(15), post, slots(post))
    assert float(x.min()) >= -2.0 and float(x.max()) < 6.0
    # U(-2, 6): mean 2, standard deviation 8 / sqrt(12)
    assert float(x.mean()) == pytest.approx(2.0, abs=5 * 8 / math.sqrt(12 * 100_000))
    c = draw(Constant(87.8), rng.key(15), post, slots(post), dtype=torch.float32)
    assert c.dtype == torch.float32 and bool((c == np.float32(87.8)).all())


# ---------------------------------------------------------------------- errors
def test_error_k_too_large_without_multapses():
    with pytest.raises(SpecError, match=r"FixedIndegree.k must be at most .*n_pre - 1 = 9.*got 10"):
        connect(
            FixedIndegree(10, allow_autapses=False, allow_multapses=False),
            10,
            10,
            1,
            self_connection=True,
        )
    with pytest.raises(SpecError, match=r"FixedIndegree.k must be 0 .*got 3"):
        connect(FixedIndegree(3), 0, 10, 1)


def test_error_positions_missing_or_wrong_shape():
    rule = DistanceGaussian(0.5)
    with pytest.raises(SpecError, match=r"needs connect.pre_positions, an array of shape \(4, 3\)"):
        connect(rule, 4, 5, 1, post_positions=np.zeros((5, 3)))
    with pytest.raises(
        SpecError, match=r"connect.post_positions must have shape \(5, D\).*\(4, 3\)"
    ):
        connect(rule, 4, 5, 1, pre_positions=np.zeros((4, 3)), post_positions=np.zeros((4, 3)))
    with pytest.raises(SpecError, match=r"dims must be column indices in \[0, 2\)"):
        connect(rule, 4, 5, 1, pre_positions=np.zeros((4, 2)), post_positions=np.zeros((5, 2)))


def test_error_one_to_one_sizes_and_self_connection_sizes():
    with pytest.raises(
        SpecError, match="OneToOne needs populations of equal size; got n_pre=3, n_post=4"
    ):
        connect(OneToOne(), 3, 4, 1)
    with pytest.raises(SpecError, match="self_connection=True needs n_pre == n_post"):
        connect(Bernoulli(0.1), 3, 4, 1, self_connection=True)


def test_error_explicit_index_out_of_range_names_index_and_size():
    rule = Explicit(pre_idx=[0, 1, 7], post_idx=[0, 0, 1])
    with pytest.raises(
        SpecError, match=r"Explicit.pre_idx must be indices in \[0, n_pre=5\); got 7 at position 2"
    ):
        connect(rule, 5, 3, 1)
    rule = Explicit(pre_idx=[0, 1], post_idx=[-1, 0])
    with pytest.raises(SpecError, match=r"Explicit.post_idx .*n_post=3\); got -1 at position 0"):
        connect(rule, 5, 3, 1)


def test_error_bad_post_range_and_rule():
    with pytest.raises(SpecError, match=r"connect.post_range must be a pair .* got \(3, 2\)"):
        connect(Bernoulli(0.1), 5, 5, 1, post_range=(3, 2))
    with pytest.raises(SpecError, match=r"connect\.rule must be a connection rule"):
        connect("bernoulli", 5, 5, 1)


def test_error_fixed_total_number_without_partners():
    with pytest.raises(SpecError, match=r"FixedTotalNumber.n must be 0 .*got 10"):
        connect(FixedTotalNumber(10), 0, 5, 1)


def test_error_normal_bounds_that_keep_nothing():
    post = torch.arange(10)
    with pytest.raises(SpecError, match=r"Normal\(mu=0.0, sigma=1.0, low=40.0, high=None\)"):
        draw(Normal(0.0, 1.0, low=40.0), 1, post, slots(post))
    with pytest.raises(SpecError, match=r"Normal\(mu=5.0, sigma=0.0, low=0.0, high=1.0\)"):
        draw(Normal(5.0, 0.0, low=0.0, high=1.0), 1, post, slots(post))


def test_error_quantity_not_converted_and_unsorted_slots():
    post = torch.arange(3)
    with pytest.raises(SpecError, match=r"Constant.value must be a plain number .*in_unit"):
        draw(Constant(87.8 * u.pA), 1, post, slots(post))
    with pytest.raises(SpecError, match=r"slots\.post_idx must be sorted"):
        slots(torch.tensor([0, 2, 1]))


# ------------------------------------------------------------------------ device
@pytest.mark.gpu
@pytest.mark.parametrize(
    ("name", "rule", "n_pre", "n_post", "kw"), RULES, ids=[r[0] for r in RULES]
)
def test_cuda_gives_the_same_synapses_as_cpu(name, rule, n_pre, n_post, kw):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    key = _key(16, name)
    pre, post = connect(rule, n_pre, n_post, key, **kw)
    pre_c, post_c = connect(rule, n_pre, n_post, key, device="cuda", **kw)
    assert pre_c.device.type == "cuda"
    assert torch.equal(pre_c.cpu(), pre) and torch.equal(post_c.cpu(), post)
    w = draw(Uniform(0.0, 1.0), key, post, slots(post))
    w_c = draw(Uniform(0.0, 1.0), key, post_c, slots(post_c))
    assert torch.equal(w_c.cpu(), w)


@pytest.mark.parametrize(
    "rule",
    [
        FixedIndegree(30),
        FixedTotalNumber(20_000),
        Bernoulli(0.05),
        FixedIndegree(30, allow_multapses=False),
    ],
    ids=["indegree", "total", "bernoulli", "indegree-distinct"],
)
def test_connect_int32_indices_equal_int64(rule):
    # FixedIndegree / FixedTotalNumber write int32 directly (compiled loop), the others convert
    key = rng.key(3, "int32")
    ref = connect(rule, 500, 400, key, self_connection=False)
    pre, post = connect(rule, 500, 400, key, index_dtype=torch.int32)
    assert pre.dtype == post.dtype == torch.int32
    assert torch.equal(pre.long(), ref[0]) and torch.equal(post.long(), ref[1])
    with pytest.raises(SpecError, match=r"index_dtype must be torch\.int64 or torch\.int32"):
        connect(rule, 500, 400, key, index_dtype=torch.int16)
