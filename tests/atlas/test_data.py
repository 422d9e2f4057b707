"""The data-file registry (`zentai.atlas.data`) and the `zentai data` command."""

import gzip
import shutil

import pytest

from zentai.atlas.data import FILES, GROUPS, find_file, is_valid, sha256, verify
from zentai.cli.main import main
from zentai.errors import DataError


def _sums(folder):
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split() for line in lines)}


def test_files_register_every_staged_file_with_its_checksum(real_data):
    # SHA256SUMS of the staged folder (see its PROVENANCE.md); PROVENANCE.md itself is no data
    sums = _sums(real_data)
    sums.pop("PROVENANCE.md")
    assert {n: f.sha256 for n, f in FILES.items()} == sums
    for name in FILES:
        assert sha256(real_data / name) == sums[name]


def test_groups_and_sources():
    assert set(GROUPS) == {"ccf-v3", "ccf-v3-25um", "connectome", "densities"}
    assert GROUPS["ccf-v3-25um"] == ["annotation_25.nrrd"]
    assert FILES["annotation_100.nrrd"].url == (
        "https://download.alleninstitute.org/informatics-archive/current-release/mouse_ccf/"
        "annotation/ccf_2017/annotation_100.nrrd"
    )
    onto = FILES["structure_graph_1.json.gz"]
    assert onto.url == "http://api.brain-map.org/api/v2/structure_graph_download/1.json"
    # uncompressed SHA-256 from PROVENANCE.md
    assert onto.raw_sha256 == "b5f0d024d1df09ee18aef15093f55240f4a70b3924ee9689add612dadff80386"
    for f in FILES.values():
        assert f.url is not None or f.note, f.name  # every file says how to get it
        assert f.member is None or f.url.endswith(".tar.gz")


def test_raw_sha256_matches_the_staged_gzip_content(real_data):
    for f in FILES.values():
        if f.raw_sha256 is not None:
            assert sha256(real_data / f.name, gunzip=True) == f.raw_sha256


def test_regzipped_file_with_other_bytes_still_verifies(real_data, tmp_path):
    # a fetched .gz made by another zlib differs in bytes but has the same content
    name = "structure_graph_1.json.gz"
    raw = gzip.decompress((real_data / name).read_bytes())
    (tmp_path / name).write_bytes(gzip.compress(raw, compresslevel=1))
    assert sha256(tmp_path / name) != FILES[name].sha256
    assert is_valid(tmp_path / name, FILES[name])
    verify(tmp_path / name)


def test_find_file_missing_names_file_folders_and_command(isolated_data):
    with pytest.raises(DataError, match=r"'annotation_25\.nrrd' is not in.*zentai data fetch "):
        find_file("annotation_25.nrrd")
    with pytest.raises(DataError, match=r"looked in: .*xdg/zentai.*fetch ccf-v3-25um"):
        find_file("annotation_25.nrrd")


def test_find_file_for_a_derived_file_explains_how_to_get_it(isolated_data):
    with pytest.raises(DataError, match=r"'structures\.csv' cannot be downloaded: .*derives"):
        find_file("structures.csv")


def test_data_dir_order_argument_env_cache(tmp_path, monkeypatch, isolated_data):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    isolated_data.mkdir(parents=True)
    for d in (tmp_path / "a", tmp_path / "b", isolated_data):
        (d / "x.txt").write_text(str(d))
    monkeypatch.setenv("ZENTAI_DATA", str(tmp_path / "b"))
    assert find_file("x.txt", tmp_path / "a") == tmp_path / "a" / "x.txt"
    assert find_file("x.txt") == tmp_path / "b" / "x.txt"
    monkeypatch.delenv("ZENTAI_DATA")
    assert find_file("x.txt") == isolated_data / "x.txt"


def test_verify_wrong_file_names_file_and_expected_hash(real_data, tmp_path):
    bad = tmp_path / "annotation_100.nrrd"
    shutil.copy(real_data / "structures.csv", bad)
    expected = FILES["annotation_100.nrrd"].sha256
    with pytest.raises(DataError, match=rf"annotation_100\.nrrd.*expected {expected}"):
        verify(bad)


# ------------------------------------------------------------------ zentai data ...
def test_cli_data_list_shows_present_missing_and_verified(real_data, monkeypatch, capsys):
    monkeypatch.setenv("ZENTAI_DATA", str(real_data))
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("annotation_100.nrrd"))
    assert row.split()[1:] == ["ccf-v3", "ok", str(real_data / "annotation_100.nrrd")]
    assert out.count(" ok ") == len(FILES)


def test_cli_data_list_missing(isolated_data, capsys):
    assert main(["data", "list", "--no-verify"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("annotation_25.nrrd"))
    assert row.split()[1:] == ["ccf-v3-25um", "-", "missing"]


def test_cli_data_verify_ok_and_bad(real_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZENTAI_DATA", str(real_data))
    assert main(["data", "verify"]) == 0
    assert f"{len(FILES)} verified, 0 bad, 0 missing" in capsys.readouterr().out

    folder = tmp_path / "data"
    folder.mkdir()
    data = bytearray((real_data / "annotation_100.nrrd").read_bytes())
    data[-10] ^= 0xFF
    (folder / "annotation_100.nrrd").write_bytes(bytes(data))
    monkeypatch.setenv("ZENTAI_DATA", str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert main(["data", "verify"]) == 2
    captured = capsys.readouterr()
    assert "1 verified" not in captured.out
    assert "0 verified, 1 bad" in captured.out
    expected = FILES["annotation_100.nrrd"].sha256
    assert captured.err.startswith("zentai data: error: 1 data file(s) are corrupt")
    assert f"expected SHA-256 {expected}" in captured.err


def test_cli_data_verify_with_nothing_present(isolated_data, capsys):
    assert main(["data", "verify"]) == 2
    assert "No data files found" in capsys.readouterr().err


def test_cli_data_fetch_unknown_group(isolated_data, capsys):
    assert main(["data", "fetch", "ccf"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zentai data: error: Unknown data group or file 'ccf'")
    assert "closest: 'ccf-v3'" in err


def test_cli_data_fetch_skips_present_files(real_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZENTAI_DATA", str(real_data))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert main(["data", "fetch", "ccf-v3", "--no-progress"]) == 0  # all present: no network
    out = capsys.readouterr().out
    assert f"ok  {real_data / 'annotation_100.nrrd'}" in out


def test_cli_data_fetch_derived_file_into_empty_dest(isolated_data, tmp_path, capsys):
    code = main(["data", "fetch", "structures.csv", "--dest", str(tmp_path / "d")])
    assert code == 2
    err = capsys.readouterr().err
    assert "'structures.csv': it is a table the zentai project derives" in err
    assert "ZENTAI_DATA" in err


def test_cli_data_needs_an_action(capsys):
    assert main(["data"]) == 2
    assert "ACTION" in capsys.readouterr().err
