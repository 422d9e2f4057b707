"""Regional connectomes (Oh 2014, Knox 2019): exact table entries, aggregation, errors."""

import csv
import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from zentai.atlas.atlas import Atlas
from zentai.atlas.ontology import Ontology, Structure
from zentai.connectome.allen import RegionalConnectome, load_knox2019, load_oh2014
from zentai.errors import RegionError, SpecError

DATA = Path(os.environ.get("ZENTAI_DATA", "/work/shared/data/allen"))
needs_data = pytest.mark.skipif(
    not (DATA / "oh2014_connectivity_tidy.csv.gz").exists(),
    reason=f"staged Allen data not found in {DATA} (set ZENTAI_DATA)",
)


# ---------------------------------------------------------------- synthetic fixture
def _toy() -> RegionalConnectome:
    """root > grey > {MO > {MOp > MOp5, MOs}, CP}; model regions MOp, MOs, CP."""
    s = [
        Structure(997, "root", "root", None, 0, 0, "FFFFFF"),
        Structure(8, "grey", "grey", 997, 1, 1, "FFFFFF"),
        Structure(500, "MO", "Motor", 8, 2, 2, "FFFFFF"),
        Structure(985, "MOp", "Primary motor", 500, 3, 3, "FFFFFF"),
        Structure(648, "MOp5", "MOp layer 5", 985, 4, 4, "FFFFFF"),
        Structure(993, "MOs", "Secondary motor", 500, 3, 5, "FFFFFF"),
        Structure(672, "CP", "Caudoputamen", 8, 2, 6, "FFFFFF"),
        Structure(1009, "fiber tracts", "fiber tracts", 997, 1, 7, "FFFFFF"),
    ]
    onto = Ontology(s)
    # (AP, DV, ML) = (1, 3, 4): ML 0-1 left, 2-3 right. Right hemisphere: MOp 1 voxel + MOp5 2
    # voxels (V_MOp = 3), MOs 1 voxel (V_MOs = 1), CP 2 voxels. The left half is ignored.
    ann = np.array([[[985, 985, 985, 648], [993, 993, 648, 993], [672, 0, 672, 672]]])
    atlas = Atlas(annotation=ann.astype(np.uint32), resolution_um=100.0, ontology=onto)
    regions = ("MOp", "MOs", "CP")
    w_ipsi = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    w_contra = w_ipsi / 10.0
    return RegionalConnectome("toy", regions, regions, w_ipsi, w_contra, onto, atlas=atlas)


def test_toy_exact_entries_and_hemispheres():
    c = _toy()
    assert c.weight("MOp", "MOs") == 2.0
    assert c.weight("MOs", "CP", "contra") == pytest.approx(0.6)
    full, labels = c.full_matrix()
    # source left MOp -> target left MOs is ipsi; source left MOp -> right MOs is contra
    assert full[0, 1] == 2.0 and full[0, 3 + 1] == pytest.approx(0.2)
    assert full[3 + 0, 1] == pytest.approx(0.2) and full[3 + 0, 3 + 1] == 2.0
    assert labels[1] == ("MOs", "left") and labels[4] == ("MOs", "right")


def test_toy_aggregated_source_is_volume_weighted_mean():
    c = _toy()
    assert c.volume_voxels("MOp") == 3 and c.volume_voxels("MOs") == 1
    # MO = {MOp (V=3), MOs (V=1)}: row = (3 * W[MOp] + 1 * W[MOs]) / 4
    expected = (3 * np.array([1.0, 2.0, 3.0]) + 1 * np.array([4.0, 5.0, 6.0])) / 4
    np.testing.assert_allclose(c.source_row("MO"), expected)
    assert c.weight("MO", "CP") == pytest.approx((3 * 3.0 + 1 * 6.0) / 4)  # 3.75


def test_toy_aggregated_target_is_sum():
    c = _toy()
    assert c.weight("CP", "MO") == pytest.approx(7.0 + 8.0)
    # both aggregated: grey as source = (3 W[MOp] + 1 W[MOs] + 2 W[CP]) / 6, target MO sums
    expected = (3 * (1 + 2) + 1 * (4 + 5) + 2 * (7 + 8)) / 6
    assert c.weight("grey", "MO") == pytest.approx(expected)
    assert c.weight("grey", "MO", "contra") == pytest.approx(expected / 10)


def test_toy_inside_a_model_region():
    c = _toy()
    # as a source a layer takes its region's row; as a target a V_layer / V_region share
    assert c.weight("MOp5", "CP") == 3.0
    assert c.weight("CP", "MOp5") == pytest.approx(7.0 * 2 / 3)


def test_toy_ranked_targets_and_sources():
    c = _toy()
    top = c.targets("MOs", n=2)
    assert [(t.region, t.hemisphere, t.weight) for t in top] == [
        ("CP", "ipsi", 6.0),
        ("MOs", "ipsi", 5.0),
    ]
    src = c.sources("MOp", n=3, hemisphere="contra")
    assert [s.region for s in src] == ["CP", "MOs", "MOp"]
    assert src[0].weight == pytest.approx(0.7)


def test_toy_errors():
    c = _toy()
    with pytest.raises(RegionError, match="closest: 'MO', 'MOs', 'MOp'"):
        c.weight("MOq", "CP")
    with pytest.raises(RegionError, match="no counterpart among the toy sources"):
        c.weight("fiber tracts", "CP")
    with pytest.raises(SpecError, match="hemisphere must be 'ipsi' or 'contra'"):
        c.weight("MOp", "CP", "left")
    with pytest.raises(SpecError, match="no p-values"):
        c.p_values()


# ---------------------------------------------------------------- staged tables
def _raw(name: str, src: str, tgt: str, hemi: str) -> dict:
    with gzip.open(DATA / name, "rt", newline="") as f:
        for r in csv.DictReader(f):
            if (r["source_acronym"], r["target_acronym"], r["hemisphere"]) == (src, tgt, hemi):
                return r
    raise AssertionError("row not found")


@pytest.fixture(scope="module")
def oh():
    return load_oh2014(DATA)


@needs_data
@pytest.mark.parametrize(
    ("src", "tgt", "hemi"),
    [
        ("MOp", "MOs", "ipsi"),
        ("MOp", "MOs", "contra"),
        ("LGd", "VISp", "ipsi"),
        ("VISp", "LGd", "ipsi"),
    ],
)
def test_oh2014_reproduces_table_entries(oh, src, tgt, hemi):
    raw = _raw("oh2014_connectivity_tidy.csv.gz", src, tgt, hemi)
    assert oh.weight(src, tgt, hemi) == float(raw["weight"])  # exact, full precision
    i, j = oh.source_regions.index(src), oh.target_regions.index(tgt)
    assert oh.p_values(hemi)[i, j] == float(raw["p_value"])


@needs_data
def test_oh2014_values_from_provenance(oh):
    # PROVENANCE.md sample values (Oh 2014 Suppl. Table 3, W_ipsi)
    assert oh.weight("MOp", "MOs") == 0.28770154807386283
    assert oh.weight("VISp", "LGd") == pytest.approx(0.1518, abs=5e-5)
    assert oh.weight("LGd", "VISp") == pytest.approx(7.537, abs=5e-4)
    assert len(oh.source_regions) == 213 and oh.w_ipsi.shape == (213, 213)
    assert np.isnan(oh.p_values("ipsi")[oh.w_ipsi == 0]).all()


@needs_data
def test_knox2019_reproduces_table_entries():
    kn = load_knox2019(DATA)
    raw = _raw("knox2019_homogeneous_model_tidy.csv.gz", "MOp", "MOs", "ipsi")
    assert kn.weight("MOp", "MOs") == float(raw["weight"]) == 3.4527322105603835
    raw = _raw("knox2019_homogeneous_model_tidy.csv.gz", "VISp", "VISl", "contra")
    assert kn.weight("VISp", "VISl", "contra") == float(raw["weight"])
    assert len(kn.source_regions) == 291 and len(kn.target_regions) == 291
    # contralateral targets missing from the table (no left-hemisphere voxels) hold 0
    assert kn.w_contra[:, kn.target_regions.index("RPA")].max() == 0.0


@needs_data
def test_oh2014_aggregates_above_model_regions(oh):
    # MO = MOp + MOs in the Oh model; check the rule against the matrix by hand
    v_p, v_s = oh.volume_voxels("MOp"), oh.volume_voxels("MOs")
    i_p, i_s = oh.source_regions.index("MOp"), oh.source_regions.index("MOs")
    j = oh.target_regions.index("CP")
    expected = (v_p * oh.w_ipsi[i_p, j] + v_s * oh.w_ipsi[i_s, j]) / (v_p + v_s)
    assert oh.weight("MO", "CP") == pytest.approx(expected, rel=1e-12)
    iso = [k for k, a in enumerate(oh.target_regions) if oh.ontology.is_descendant(a, "Isocortex")]
    assert oh.weight("MOp", "Isocortex") == pytest.approx(oh.w_ipsi[i_p, iso].sum(), rel=1e-12)
    with pytest.raises(RegionError, match=r"Unknown region 'M1'\..*closest: .*'MOp'"):
        oh.weight("M1", "MOs")
