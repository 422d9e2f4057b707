"""Atlas, ontology and BrainGlobe reader; the issue-3 acceptance points on the real data.

Expected numbers on the real data come from shared/data/allen/PROVENANCE.md (505,359 brain
voxels at 100 µm; MOp = 985 with 11,376 voxels including descendants; 1327 structures;
hemisphere 1 = ML index < 57).
"""

import json
import shutil
import time

import numpy as np
import pytest

from zentai.atlas import Atlas, load, load_ontology
from zentai.atlas.brainglobe import read, reorient
from zentai.atlas.data import FILES
from zentai.errors import DataError, RegionError, SpecError


@pytest.fixture(scope="module")
def atlas100(real_data) -> Atlas:
    return load("allen_mouse_100um", data_dir=real_data)


# ------------------------------------------------------------------ acceptance (real data)
def test_brain_voxels_at_100um(atlas100):
    assert atlas100.shape == (132, 80, 114)
    assert atlas100.n_brain_voxels == 505_359
    assert atlas100.midline_index == 57


def test_every_label_resolves_in_the_ontology(atlas100):
    labels = atlas100.labels_present
    assert len(labels) == 669  # PROVENANCE: 669 distinct non-zero labels
    missing = [int(i) for i in labels if int(i) not in atlas100.ontology]
    assert missing == []
    assert 934 not in labels  # ENTmv: "934 not in 100 micron" (mcmodels)


def test_mop_voxels_by_hemisphere(atlas100):
    assert atlas100.ontology.id("MOp") == 985
    assert atlas100.voxel_count("MOp") == 11_376
    assert atlas100.voxel_count(985, "left") == 5_718
    assert atlas100.voxel_count("MOp", hemisphere=2) == 5_658  # right: ML >= 57
    mask = atlas100.mask("MOp", "right")
    assert not mask[:, :, :57].any()
    assert atlas100.volume_mm3("MOp") == pytest.approx(11.376)  # 11,376 voxels of 0.001 mm³


def test_other_regions_and_hemisphere_convention(atlas100):
    assert atlas100.voxel_count("CB") == 53_719
    assert atlas100.voxel_count("Isocortex") == 123_245
    assert atlas100.voxel_count("root") == 505_359
    # RPA, RM, EW, OV, RO have no voxels in the left half (PROVENANCE, Knox 2019 check)
    for region in ("RPA", "RM", "EW", "OV", "RO"):
        assert atlas100.voxel_count(region, "left") == 0, region
        assert atlas100.voxel_count(region, "right") > 0, region
    # brainglobe's 100 µm test atlas: labels 59 (IAD) and 362 (MD) in this slice
    assert set(np.unique(atlas100.annotation[65:67, 39:41, 57:59]).tolist()) == {59, 362}
    assert atlas100.hemisphere(np.array([0, 56, 57, 113])).tolist() == [1, 1, 2, 2]


def test_voxel_centers_um(atlas100):
    centers = atlas100.voxel_centers_um(atlas100.mask("MOp"))
    assert centers.shape == (11_376, 3)
    assert np.all((centers - 50.0) % 100.0 == 0.0)  # centres of 100 µm voxels


def test_loading_the_100um_atlas_takes_under_2_s(real_data):
    load("allen_mouse_100um", data_dir=real_data)  # first call: imports, file cache
    t0 = time.perf_counter()
    load("allen_mouse_100um", data_dir=real_data)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0  # issue 3 acceptance point (measured ~0.02 s)


def test_unknown_acronym_lists_closest_matches(atlas100):
    with pytest.raises(RegionError, match=r"Unknown region 'M1'.*closest: 'MOp'"):
        atlas100.mask("M1")
    with pytest.raises(RegionError, match=r"closest: 'VISp'"):
        atlas100.ontology.get("V1")
    with pytest.raises(RegionError, match=r"Unknown region 'mop'.*closest: 'MOp'"):
        atlas100.voxel_count("mop")
    with pytest.raises(RegionError, match=r"Unknown region 'Isocortx'.*closest: 'Isocortex'"):
        atlas100.voxel_count("Isocortx")
    with pytest.raises(RegionError, match="Unknown structure id 123456789"):
        atlas100.mask(123456789)


def test_bad_hemisphere(atlas100):
    with pytest.raises(SpecError, match="hemisphere must be None, 1/'left' or 2/'right'"):
        atlas100.mask("MOp", "middle")


def test_corrupt_annotation_names_file_and_expected_sha256(real_data, tmp_path):
    data = bytearray((real_data / "annotation_100.nrrd").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "annotation_100.nrrd").write_bytes(bytes(data))
    expected = FILES["annotation_100.nrrd"].sha256
    with pytest.raises(DataError, match=rf"annotation_100\.nrrd.*corrupt.*expected {expected}"):
        load("allen_mouse_100um", data_dir=tmp_path)


def test_wrong_file_under_the_ontology_name(real_data, tmp_path):
    shutil.copy(real_data / "annotation_100.nrrd", tmp_path)
    shutil.copy(
        real_data / "structure_tree_safe_2017.csv.gz", tmp_path / "structure_graph_1.json.gz"
    )
    expected = FILES["structure_graph_1.json.gz"].sha256
    with pytest.raises(DataError, match=rf"structure_graph_1\.json\.gz.*expected {expected}"):
        load_ontology(tmp_path)


def test_unknown_atlas_name():
    with pytest.raises(SpecError, match=r"Unknown atlas 'allen_mouse_10um'.*allen_mouse_100um"):
        load("allen_mouse_10um")


# ------------------------------------------------------------------ ontology (real data)
def test_ontology_round_trip_for_all_structures(real_data):
    onto = load_ontology(real_data)
    assert len(onto) == 1327
    for s in onto.structures:
        assert onto.id(s.acronym) == s.id
        assert onto.acronym(s.id) == s.acronym
    assert len(set(onto.acronyms)) == 1327


def test_ontology_parents_and_descendants(real_data):
    onto = load_ontology(real_data)
    assert onto.parent("root") is None
    assert onto.parent("MOp").acronym == "MO"
    assert [s.acronym for s in onto.ancestors("MOp")][:3] == ["MO", "Isocortex", "CTXpl"]
    assert onto.ancestors("MOp")[-1].acronym == "root"
    layers = {s.acronym for s in onto.children("MOp")}
    assert layers == {"MOp1", "MOp2/3", "MOp5", "MOp6a", "MOp6b"}
    ids = onto.descendant_ids("MOp")
    assert ids[0] == 985 and set(ids[1:]) == {onto.id(a) for a in layers}
    assert onto.is_descendant("MOp5", "Isocortex")
    assert not onto.is_descendant("CB", "Isocortex")
    assert onto.get(985).color_hex == "1F9D5A"  # structures.csv / Allen colour of MOp
    assert len(onto.descendants("root")) == 1327


# ------------------------------------------------------------------ BrainGlobe (synthetic)
_STRUCTURES = [
    {"acronym": "root", "id": 997, "name": "root", "structure_id_path": [997],
     "rgb_triplet": [255, 255, 255]},
    {"acronym": "grey", "id": 8, "name": "Basic cell groups and regions",
     "structure_id_path": [997, 8], "rgb_triplet": [191, 218, 227]},
    {"acronym": "MOp", "id": 985, "name": "Primary motor area",
     "structure_id_path": [997, 8, 985], "rgb_triplet": [31, 157, 90]},
    {"acronym": "CB", "id": 512, "name": "Cerebellum", "structure_id_path": [997, 8, 512],
     "rgb_triplet": [240, 240, 128]},
]  # fmt: skip


def _annotation() -> np.ndarray:
    """A 4 x 3 x 6 (AP, DV, ML) volume: MOp anterior-dorsal, CB posterior, all distinct-ish."""
    a = np.zeros((4, 3, 6), dtype=np.uint32)
    a[0, 0, :] = 985
    a[1, 0, :3] = 985
    a[3, :, :] = 512
    a[3, 2, 5] = 0
    a[2, 1, 4] = 8
    return a


def _write_bg(folder, annotation, orientation="asr", resolution=(50, 50, 50)):
    import tifffile

    folder.mkdir()
    meta = {
        "name": "toy_mouse",
        "orientation": orientation,
        "resolution": list(resolution),
        "shape": list(annotation.shape),
        "species": "Mus musculus",
        "symmetric": False,
    }
    (folder / "metadata.json").write_text(json.dumps(meta))
    (folder / "structures.json").write_text(json.dumps(_STRUCTURES))
    tifffile.imwrite(folder / "annotation.tiff", annotation, photometric="minisblack")
    return folder


def test_brainglobe_asr_folder_reads_as_is(tmp_path):
    ann = _annotation()
    atlas = read(_write_bg(tmp_path / "bg", ann))
    assert atlas.name == "toy_mouse_50um"
    assert atlas.resolution_um == 50.0
    np.testing.assert_array_equal(atlas.annotation, ann)
    assert atlas.annotation.dtype == np.uint32
    assert atlas.voxel_count("MOp") == 9
    assert atlas.voxel_count("grey") == 9 + 17 + 1
    assert atlas.ontology.parent("MOp").acronym == "grey"
    assert atlas.ontology.get("CB").color_hex == "F0F080"


@pytest.mark.parametrize("orientation", ["lpi", "sal", "rsa", "pli"])
def test_brainglobe_orientation_is_undone(tmp_path, orientation):
    # write the asr volume in another orientation (by undoing it), read it back as asr
    ann = _annotation()
    stored, _ = reorient(ann, "asr", orientation)
    assert stored.shape != ann.shape or not np.array_equal(stored, ann)
    atlas = read(_write_bg(tmp_path / "bg", stored, orientation))
    np.testing.assert_array_equal(atlas.annotation, ann)


def test_load_accepts_a_brainglobe_folder(tmp_path):
    folder = _write_bg(tmp_path / "bg", _annotation())
    np.testing.assert_array_equal(load(folder).annotation, _annotation())
    np.testing.assert_array_equal(load(str(folder)).annotation, _annotation())


def test_brainglobe_errors(tmp_path):
    with pytest.raises(DataError, match=r"not a BrainGlobe atlas folder: .*structures\.json"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "metadata.json").write_text("{}")
        read(tmp_path / "empty")
    with pytest.raises(DataError, match=r"orientation must be three letters.*got 'asx'"):
        read(_write_bg(tmp_path / "a", _annotation(), "asx"))
    with pytest.raises(DataError, match=r"cubic voxels.*\[25.0, 25.0, 50.0\]"):
        read(_write_bg(tmp_path / "b", _annotation(), "asr", (25, 25, 50)))
