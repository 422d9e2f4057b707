"""`zentai atlas info`: text and JSON output on the staged 100 µm atlas, unknown regions."""

import json
import os
from pathlib import Path

import pytest

from zentai.cli.main import main

DATA = Path(os.environ.get("ZENTAI_DATA", "/work/shared/data/allen"))
pytestmark = pytest.mark.skipif(
    not (DATA / "annotation_100.nrrd").exists(),
    reason=f"staged Allen data not found in {DATA} (set ZENTAI_DATA)",
)


def test_info_json_mop(capsys):
    assert main(["atlas", "info", "MOp", "--json", "--data-dir", str(DATA)]) == 0
    info = json.loads(capsys.readouterr().out)
    # voxel counts of MOp in annotation_100 (PROVENANCE.md: 11,376 with descendants)
    assert (info["voxels"], info["voxels_left"], info["voxels_right"]) == (11376, 5718, 5658)
    assert info["acronym"] == "MOp" and info["id"] == 985
    assert info["volume_mm3"] == pytest.approx(11.376)
    assert info["layers"] == ["1", "2/3", "5", "6a", "6b"]
    counts = info["neurons_estimate"]["counts"]
    assert set(counts) == {"excitatory", "fs", "lts", "other_inhibitory"}
    assert sum(counts.values()) == pytest.approx(info["neurons_estimate"]["total"])
    assert len(info["top_targets"]) == 10 and len(info["top_sources"]) == 10
    weights = [t["weight"] for t in info["top_targets"]]
    assert weights == sorted(weights, reverse=True)
    # Oh 2014: CP is MOp's strongest ipsilateral target (W = 2.98)
    assert info["top_targets"][0]["region"] == "CP"


def test_info_text_knox(capsys):
    argv = ["atlas", "info", "MOp", "--connectome", "knox2019", "-n", "3", "--data-dir", str(DATA)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "voxels    11,376 (left 5,718, right 5,658)" in out
    assert "layers    1, 2/3, 5, 6a, 6b" in out
    assert "strongest targets (knox2019" in out


def test_info_region_outside_the_connectome(capsys):
    assert main(["atlas", "info", "fiber tracts", "--json", "--data-dir", str(DATA)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (
        info["top_targets"] == [] and "not covered by the oh2014 model" in info["connectome_note"]
    )
    assert info["neurons_estimate"]["total"] == 0.0


def test_info_unknown_region_one_line_exit_2(capsys):
    assert main(["atlas", "info", "Mop", "--data-dir", str(DATA)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Unknown region 'Mop'" in err and "closest:" in err and "'MOp'" in err
