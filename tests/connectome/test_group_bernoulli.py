"""GroupBernoulli: per-(group, group) probabilities and the normalised topographic kernel."""

import numpy as np
import pytest
import torch
from scipy import stats

from zentai import rng
from zentai.build.wiring import connect
from zentai.connectome.rules import GroupBernoulli, rule_from_dict
from zentai.errors import SpecError


def _rule(**kw):
    pre = np.repeat([0, 1, -1], [300, 500, 50])
    post = np.repeat([0, 1], [200, 400])
    p = np.array([[0.05, 0.0], [0.01, 0.2]])
    return GroupBernoulli(p=p, pre_groups=pre, post_groups=post, **kw)


def test_block_counts_follow_the_table():
    r = _rule()
    pre, post = connect(r, 850, 600, rng.key(3, "blocks"))
    pre, post = pre.numpy(), post.numpy()
    g_pre, g_post = r.pre_groups[pre], r.post_groups[post]
    assert (g_pre >= 0).all()  # group -1 never connects
    n_pre = np.array([300, 500])
    n_post = np.array([200, 400])
    for a in range(2):
        for b in range(2):
            n = int(((g_pre == a) & (g_post == b)).sum())
            trials = n_pre[a] * n_post[b]
            # two-sided binomial test on each block
            assert stats.binomtest(n, trials, r.p[a, b]).pvalue > 1e-3 if r.p[a, b] > 0 else n == 0
    assert r.expected_indegree()[0] == pytest.approx(300 * 0.05 + 500 * 0.01)


def test_topography_keeps_block_indegree_and_follows_the_map():
    rng_np = np.random.default_rng(0)
    pre_c = rng_np.uniform(0, 1, (850, 1))
    post_c = rng_np.uniform(0, 1, (600, 1))
    r = _rule(topo_sigma=0.1, pre_coords=pre_c, post_coords=post_c)
    flat = _rule()
    pre, post = connect(r, 850, 600, rng.key(4, "topo"))
    pre0, _ = connect(flat, 850, 600, rng.key(4, "topo"))
    pre, post = pre.numpy(), post.numpy()
    # the mean in-degree per block is kept within sampling error (no clipping at these p)
    assert pre.size == pytest.approx(pre0.numel(), rel=0.05)
    # partners are near in map coordinates: spread far below the uniform's 1/sqrt(6) ~ 0.41
    d = pre_c[pre, 0] - post_c[post, 0]
    assert np.sqrt(np.mean(d**2)) < 0.2
    assert np.sqrt(np.mean(d**2)) > 0.05  # and not degenerate


def test_round_trip_and_errors():
    r = _rule()
    back = rule_from_dict(r.to_dict())
    assert np.array_equal(back.p, r.p) and np.array_equal(back.pre_groups, r.pre_groups)
    with pytest.raises(SpecError, match="probabilities in"):
        GroupBernoulli(p=[[1.5]], pre_groups=[0], post_groups=[0])
    with pytest.raises(SpecError, match=r"groups in \[0, 1\)"):
        GroupBernoulli(p=[[0.5]], pre_groups=[0, 2], post_groups=[0])
    with pytest.raises(SpecError, match="needs all of topo_sigma"):
        GroupBernoulli(p=[[0.5]], pre_groups=[0], post_groups=[0], topo_sigma=1.0)
    with pytest.raises(SpecError, match="one group per neuron"):
        connect(GroupBernoulli(p=[[0.5]], pre_groups=[0], post_groups=[0]), 2, 1, 1)


@pytest.mark.parametrize("topo", [False, True])
def test_visiting_only_nonzero_blocks_gives_the_dense_result(topo):
    # connect() skips pairs whose block probability is 0; the dense tile loop visits all pairs.
    # Same decisions, same order: identical synapses, for any post range.
    from zentai.build.wiring import _GroupProb, _pairwise

    rng_np = np.random.default_rng(1)
    pre_g = rng_np.integers(-1, 3, 700)
    post_g = rng_np.integers(0, 3, 500)
    p = np.array([[0.0, 0.05, 0.2], [0.1, 0.0, 0.0], [0.0, 0.3, 0.02]])
    kw = {}
    if topo:
        kw = {"topo_sigma": 0.2, "pre_coords": rng_np.uniform(0, 1, (700, 2)),
                  "post_coords": rng_np.uniform(0, 1, (500, 2))}  # fmt: skip
    rule = GroupBernoulli(p=p, pre_groups=pre_g, post_groups=post_g, **kw)
    key = rng.key(9, "blocks")
    for a, b in ((0, 500), (123, 377)):
        fast = connect(rule, 700, 500, key, post_range=(a, b))
        dense = _pairwise(
            _GroupProb(rule, 700, 500, torch.device("cpu")), 700, key, a, b, False,
            torch.device("cpu"),
        )  # fmt: skip
        assert torch.equal(fast[0], dense[0]) and torch.equal(fast[1], dense[1])
        assert fast[0].numel() > 0
