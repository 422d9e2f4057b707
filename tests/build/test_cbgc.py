"""cbgc: the pathways joining the atlas motor loop and the basal ganglia."""

import numpy as np
import pytest

import zentai as zt
from zentai.build.basal_ganglia import BACKGROUND, BACKGROUND_GAIN
from zentai.build.cbgc import ASSUMED_L5_HZ, CBGC_PATHWAYS, K_CORTEX, K_NIGROTHALAMIC, cbgc_spec

from .test_basal_ganglia import indegrees


@pytest.fixture(scope="module")
def built(real_data):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZENTAI_DATA", str(real_data))
        atlas = zt.atlas.load("allen_mouse_100um")
        spec, _ = cbgc_spec(atlas, fraction=0.002, bg_scale=0.001)
        return spec, zt.build.network(spec, seed=0)


def test_joining_pathways_have_their_indegrees(built):
    """Cortical pathways: K/2 inputs per target cell on average from each L5 population
    (binomial: mean within 4 standard errors); nigro-thalamic: exactly K per TC cell."""
    _, net = built
    for pre, post, rec, _, _ in CBGC_PATHWAYS:
        k = indegrees(net, pre, post, rec)
        se = np.sqrt(K_CORTEX / 2 / k.size)
        assert abs(k.mean() - K_CORTEX / 2) < 4 * se + 0.05, (pre, post, rec, k.mean())
    assert (indegrees(net, "SNr", "TH.TC", "in") == K_NIGROTHALAMIC).all()
    # the brain's own pathways are there: cortico-pontine, ponto-cerebellar, cerebello-thalamic
    spec, _ = built
    pairs = {(p.pre, p.post) for p in spec.projections}
    assert ("P.PG", "CB.GrC") in pairs and ("CB.PC", "CBN.E") in pairs
    assert any(pre.startswith("Isocortex") and post == "P.PG" for pre, post in pairs)
    assert ("CBN.E", "TH.TC") in pairs


def test_background_makes_room_for_the_modelled_cortex(built):
    spec, _ = built
    rate = {(s.target, s.receptor): s.rate for s in spec.stimuli if s.target == "STR.D1"}
    base = {(p, r): rate0 for p, rate0, recs in BACKGROUND for r, _ in recs}
    expect = base[("STR.D1", "ampa")] * BACKGROUND_GAIN["STR.D1"] - K_CORTEX * ASSUMED_L5_HZ
    assert rate[("STR.D1", "ampa")] == pytest.approx(expect)
