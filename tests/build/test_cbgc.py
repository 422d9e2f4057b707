"""cbgc: the pathways joining the atlas motor loop and the basal ganglia."""

import numpy as np
import pytest

import zentai as zt
from zentai.build.basal_ganglia import BACKGROUND, BACKGROUND_GAIN
from zentai.build.cbgc import (
    ASSUMED_L5_HZ,
    CBGC_PATHWAYS,
    CORTEX_SHARE,
    K_CORTEX,
    K_NIGROTHALAMIC,
    cbgc_spec,
)

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
    for pre, post, rec, _ in CBGC_PATHWAYS:
        k = indegrees(net, pre, post, rec)
        se = np.sqrt(K_CORTEX / 2 / k.size)
        assert abs(k.mean() - K_CORTEX / 2) < 4 * se + 0.05, (pre, post, rec, k.mean())
    assert (indegrees(net, "SNr", "TH.TC", "in") == K_NIGROTHALAMIC).all()
    # the brain's own pathways are there: cortico-pontine, ponto-cerebellar, cerebello-thalamic
    spec, _ = built
    pairs = {(p.pre, p.post) for p in spec.projections}
    assert ("P.PG", "CB.GrC") in pairs and ("CB.PC", "CBN.E") in pairs
    # corticopontine input from L5B PT cells only (MODEL_SPEC 5), at the PT conduction speed
    to_pons = [p for p in spec.projections if p.post == "P.PG" and p.pre.startswith("Isocortex")]
    assert {p.pre for p in to_pons} == {"Isocortex.L5B.E"}
    assert all(p.delay.mu < 3.0 for p in to_pons), [p.delay for p in to_pons]
    assert ("CBN.E", "TH.TC") in pairs


def test_mean_cortical_drive_is_kept(built):
    """Modelled L5 inputs at ASSUMED_L5_HZ plus the reduced generator give bgmodel's drive."""
    spec, _ = built
    gen = {(s.target, s.receptor): s for s in spec.stimuli if s.target == "STR.D1"}
    base = {(p, r): (rate0, w) for p, rate0, recs in BACKGROUND for r, w in recs}
    rate0, w0 = base[("STR.D1", "ampa")]
    full = rate0 * BACKGROUND_GAIN["STR.D1"] * w0
    st = gen[("STR.D1", "ampa")]
    proj = [p for p in spec.projections if p.post == "STR.D1" and p.receptor == "ampa"]
    modelled = sum(K_CORTEX // 2 * ASSUMED_L5_HZ[p.pre] * p.weight.mean for p in proj)
    assert {p.pre for p in proj} == {"Isocortex.L5A.E", "Isocortex.L5B.E"}
    assert st.rate * st.weight + modelled == pytest.approx(full)
    assert modelled == pytest.approx(CORTEX_SHARE["STR.D1"] * full)
