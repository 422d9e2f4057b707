"""Fixtures for the atlas tests: the staged real data folder (or a skip saying why)."""

import os
from pathlib import Path

import pytest

# CI clones next to shared/: <clone>/../shared/data/allen
_BESIDE_CLONE = Path(__file__).resolve().parents[3] / "shared" / "data" / "allen"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The staged Allen data folder ($ZENTAI_DATA, else ../shared/data/allen); else skip."""
    env = os.environ.get("ZENTAI_DATA")
    folder = Path(env) if env else _BESIDE_CLONE
    needed = ("annotation_100.nrrd", "structure_graph_1.json.gz")
    absent = [n for n in needed if not (folder / n).is_file()]
    if absent:
        pytest.skip(
            f"needs the staged Allen data ({', '.join(absent)} not in {folder}); "
            "set ZENTAI_DATA to shared/data/allen"
        )
    return folder


@pytest.fixture
def isolated_data(tmp_path, monkeypatch) -> Path:
    """No ZENTAI_DATA and an empty cache; returns the cache folder (not created)."""
    monkeypatch.delenv("ZENTAI_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "zentai"
