"""DistanceGaussian in the tangent plane of the post neuron, and in-degree calibration."""

import itertools

import numpy as np
import pytest
import torch

import zentai as zt
from zentai.build import NetworkSpec, Population, Projection
from zentai.build.wiring import connect
from zentai.celltypes import LIF
from zentai.connectome import DistanceGaussian
from zentai.errors import SpecError


def _sheet(n, seed, normal):
    """Neurons scattered over a 2 x 2 mm sheet with the given unit normal and 1 mm thickness."""
    g = np.random.default_rng(seed)
    normal = np.asarray(normal, float) / np.linalg.norm(normal)
    a = np.cross(normal, [1.0, 0.0, 0.0])
    if np.linalg.norm(a) < 1e-6:
        a = np.cross(normal, [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(normal, a)
    u, v = g.uniform(-1000, 1000, (2, n))
    depth = g.uniform(0, 1000, n)  # positions along the normal: must not matter
    pos = u[:, None] * a + v[:, None] * b + depth[:, None] * normal
    return pos, np.tile(normal, (n, 1)), a, b


def test_tangent_kernel_ignores_depth_and_is_recovered():
    # p(d_par) = p_max exp(-d_par^2 / 2 sigma^2): connection fraction per tangent-distance bin
    # against the kernel (binomial z-scores), while 3-D distances differ by up to 1 mm in depth
    pos, nrm, _a, _b = _sheet(1500, 0, [0.3, -0.8, 0.5])
    rule = DistanceGaussian(p_max=0.5, sigma=150.0, tangent=True)
    pre, post = connect(
        rule,
        1500,
        1500,
        key=zt.rng.key(1, "t"),
        pre_positions=pos,
        post_positions=pos,
        post_normals=nrm,
        self_connection=True,
    )
    disp = pos[None, :, :] - pos[:, None, :]  # [post, pre]
    along = disp @ nrm[0]
    d_par = np.sqrt(np.maximum((disp**2).sum(-1) - along**2, 0.0))
    np.fill_diagonal(d_par, np.inf)
    connected = np.zeros_like(d_par, dtype=bool)
    connected[post.numpy(), pre.numpy()] = True
    bins = np.arange(0, 450, 50.0)
    for lo, hi in itertools.pairwise(bins):
        sel = (d_par >= lo) & (d_par < hi)
        n = sel.sum()
        p = 0.5 * np.exp(-((0.5 * (lo + hi)) ** 2) / (2 * 150.0**2))
        # bin-averaged kernel is within a few % of the mid-bin value for 50 um bins
        expected = 0.5 * np.exp(-(d_par[sel] ** 2) / (2 * 150.0**2)).mean()
        z = (connected[sel].sum() - n * expected) / np.sqrt(n * expected * (1 - expected))
        assert abs(z) < 4, (lo, hi, connected[sel].mean(), expected, p)
    assert not connected[d_par > 3 * 150.0].any()
    # depth does not matter: pairs with the same tangent distance but far apart in depth connect
    far_in_depth = (np.abs(along) > 500) & (d_par < 100)
    assert connected[far_in_depth].mean() > 0.35


def test_mean_indegree_calibration_hits_the_target():
    pos, nrm, _, _ = _sheet(3000, 1, [0, 0, 1])
    rule = DistanceGaussian(mean_indegree=40.0, sigma=200.0, tangent=True)
    _pre, post = connect(
        rule,
        3000,
        3000,
        key=zt.rng.key(2, "t"),
        pre_positions=pos,
        post_positions=pos,
        post_normals=nrm,
        self_connection=True,
    )
    indeg = np.bincount(post.numpy(), minlength=3000)
    # the calibration sample is 512 posts; their mean kernel sum sets p_max, so the whole
    # population's mean in-degree matches within the sample's relative standard error
    assert indeg.mean() == pytest.approx(40.0, rel=0.06)


def test_tangent_rule_is_partition_independent():
    pos, nrm, _, _ = _sheet(800, 2, [1, 1, 0])
    rule = DistanceGaussian(mean_indegree=20.0, sigma=120.0, tangent=True)
    kw = {
        "key": zt.rng.key(3, "t"),
        "pre_positions": pos,
        "post_positions": pos,
        "post_normals": nrm,
    }
    full = connect(rule, 800, 800, **kw)
    parts = [connect(rule, 800, 800, post_range=(a, a + 200), **kw) for a in range(0, 800, 200)]
    assert torch.equal(full[0], torch.cat([p[0] for p in parts]))
    assert torch.equal(full[1], torch.cat([p[1] for p in parts]))


def test_tangent_rule_needs_normals_and_one_of_p_max_or_indegree():
    with pytest.raises(SpecError, match="exactly one of p_max"):
        DistanceGaussian(sigma=100.0)
    with pytest.raises(SpecError, match="exactly one of p_max"):
        DistanceGaussian(p_max=0.1, mean_indegree=3.0)
    pos, _, _, _ = _sheet(10, 3, [0, 0, 1])
    spec = NetworkSpec(
        populations=(Population(name="E", size=10, model=LIF(), positions=pos),),
        projections=(
            Projection(pre="E", post="E", rule=DistanceGaussian(p_max=0.1, tangent=True)),
        ),
    )
    with pytest.raises(SpecError, match="needs the post population's normals"):
        zt.build.network(spec)
    with pytest.raises(SpecError, match="unit vectors"):
        Population(name="E", size=10, model=LIF(), positions=pos, normals=np.ones((10, 3)))
