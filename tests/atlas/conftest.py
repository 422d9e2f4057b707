"""Fixtures for the atlas tests: the staged real data folder (or a skip saying why)."""

from pathlib import Path

import pytest


@pytest.fixture
def isolated_data(tmp_path, monkeypatch) -> Path:
    """No ZENTAI_DATA and an empty cache; returns the cache folder (not created)."""
    monkeypatch.delenv("ZENTAI_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "zentai"
