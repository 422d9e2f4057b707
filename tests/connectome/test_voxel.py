"""Voxel-model interface on a synthetic mcmodels-format fixture (random nonnegative factors)."""

import gzip
import json

import numpy as np
import pytest

from zentai.atlas.atlas import Atlas
from zentai.atlas.ontology import Ontology, Structure
from zentai.connectome.voxel import VoxelConnectome
from zentai.errors import DataError, RegionError, SpecError


def _atlas() -> Atlas:
    onto = Ontology(
        [
            Structure(997, "root", "root", None, 0, 0, "FFFFFF"),
            Structure(8, "grey", "grey", 997, 1, 1, "FFFFFF"),
            Structure(985, "MOp", "MOp", 8, 2, 2, "FFFFFF"),
            Structure(648, "MOp5", "MOp5", 985, 3, 3, "FFFFFF"),
            Structure(993, "MOs", "MOs", 8, 2, 4, "FFFFFF"),
            Structure(672, "CP", "CP", 8, 2, 5, "FFFFFF"),
        ]
    )
    # (AP, DV, ML) = (2, 2, 4); ML 0-1 left, 2-3 right
    ann = np.array(
        [
            [[985, 648, 648, 985], [993, 0, 0, 993]],
            [[672, 672, 672, 672], [0, 993, 985, 0]],
        ],
        dtype=np.uint32,
    )
    return Atlas(annotation=ann, resolution_um=100.0, ontology=onto)


@pytest.fixture
def model(tmp_path):
    atlas = _atlas()
    src_ids, tgt_ids = [985, 993], [985, 993, 672]
    src = np.zeros(atlas.shape, dtype=bool)
    for i in src_ids:
        src |= atlas.mask(i)
    src[:, :, :2] = False  # right hemisphere (hemisphere_id 2)
    tgt = np.zeros(atlas.shape, dtype=bool)
    for i in tgt_ids:
        tgt |= atlas.mask(i)  # both hemispheres (hemisphere_id 3)
    rng = np.random.default_rng(0)
    weights = rng.uniform(0, 1, (int(src.sum()), 3))
    nodes = rng.uniform(0, 1, (3, int(tgt.sum())))
    np.savetxt(tmp_path / "weights.csv", weights, delimiter=",")
    with gzip.open(tmp_path / "nodes.csv.gz", "wt") as f:
        np.savetxt(f, nodes, delimiter=",")
    (tmp_path / "source_mask_params.json").write_text(
        json.dumps({"structure_ids": src_ids, "hemisphere_id": 2})
    )
    (tmp_path / "target_mask_params.json").write_text(
        json.dumps({"structure_ids": tgt_ids, "hemisphere_id": 3})
    )
    vc = VoxelConnectome.from_files(
        tmp_path / "weights.csv",
        tmp_path / "nodes.csv.gz",
        tmp_path / "source_mask_params.json",
        tmp_path / "target_mask_params.json",
        atlas=atlas,
    )
    return vc, weights @ nodes, src, tgt


def test_masks_and_full_block(model):
    vc, dense, src, tgt = model
    np.testing.assert_array_equal(vc.source_mask, src)
    np.testing.assert_array_equal(vc.target_mask, tgt)
    assert vc.shape == (int(src.sum()), int(tgt.sum())) == (4, 12)
    np.testing.assert_allclose(vc.weights_between(), dense, rtol=1e-12)


def test_weights_between_selections(model):
    vc, dense, src, tgt = model
    s_idx = np.flatnonzero(vc.atlas.mask("MOp")[src])  # MOp (with MOp5) in the source list
    t_idx = np.flatnonzero(vc.atlas.mask("CP", 1)[tgt])  # left CP in the target list
    np.testing.assert_allclose(vc.weights_between("MOp", "CP", "left"), dense[np.ix_(s_idx, t_idx)])
    np.testing.assert_allclose(vc.weights_between([0, 2], [5]), dense[np.ix_([0, 2], [5])])
    mos = np.flatnonzero(vc.atlas.mask("MOs")[src])
    assert mos.tolist() == [2]  # C order of (AP, DV, ML): (0,0,2) (0,0,3) (0,1,3) (1,1,2)
    np.testing.assert_allclose(vc.weights_between(vc.atlas.mask("MOs"), None), dense[mos])


def test_regional_definitions_by_hand(model):
    vc, dense, src, tgt = model
    s = [np.flatnonzero(vc.atlas.mask(r)[src]) for r in ("MOp", "MOs")]
    t = [np.flatnonzero(vc.atlas.mask(r)[tgt]) for r in ("MOp", "MOs", "CP")]
    strength = np.array([[dense[np.ix_(i, j)].sum() for j in t] for i in s])
    n_s = np.array([len(i) for i in s], dtype=float)[:, None]  # 3 and 1 source voxels
    n_t = np.array([len(j) for j in t], dtype=float)[None, :]  # 5, 3 and 4 target voxels
    assert n_s.ravel().tolist() == [3, 1] and n_t.ravel().tolist() == [5, 3, 4]
    regions = (["MOp", "MOs"], ["MOp", "MOs", "CP"])
    np.testing.assert_allclose(vc.regional(*regions, kind="strength"), strength)
    np.testing.assert_allclose(vc.regional(*regions, kind="density"), strength / n_t)
    np.testing.assert_allclose(vc.regional(*regions, kind="normalized_strength"), strength / n_s)
    np.testing.assert_allclose(
        vc.regional(*regions, kind="normalized_density"), strength / (n_s * n_t)
    )


def test_errors(model, tmp_path):
    vc, *_ = model
    with pytest.raises(SpecError, match="kind must be one of"):
        vc.regional(["MOp"], ["CP"], kind="weight")
    with pytest.raises(RegionError, match="Unknown region 'MOq'"):
        vc.regional(["MOq"], ["CP"])
    with pytest.raises(SpecError, match=r"source voxel indices must be in \[0, 4\)"):
        vc.weights_between([7], None)
    np.save(tmp_path / "bad.npy", np.ones((5, 3)))
    with pytest.raises(DataError, match="must equal the source"):
        VoxelConnectome.from_files(
            tmp_path / "bad.npy",
            tmp_path / "nodes.csv.gz",
            tmp_path / "source_mask_params.json",
            tmp_path / "target_mask_params.json",
            atlas=vc.atlas,
        )
    with pytest.raises(DataError, match="does not exist"):
        VoxelConnectome.from_files(
            tmp_path / "missing.csv", tmp_path / "nodes.csv.gz", {"structure_ids": [985]},
            {"structure_ids": [985]}, atlas=vc.atlas,
        )  # fmt: skip
