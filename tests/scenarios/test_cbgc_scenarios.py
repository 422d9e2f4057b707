"""cbgc-pulse and scan-opto run end to end and write what they promise (slow: atlas model).

The acceptance phenomena themselves (triphasic SNr, CN excitation-inhibition-rebound, motor >
visual sites) are not asserted yet: see docs/design/cbgc.md for what the model gives today."""

import json

import numpy as np
import pytest


@pytest.mark.slow
def test_cbgc_pulse_writes_phases_and_rates(real_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ZENTAI_DATA", str(real_data))
    from zentai.scenarios.cbgc import cbgc_pulse

    s = cbgc_pulse(tmp_path, trials=4, fraction=0.003, progress=False)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["snr_phases"] == s["snr_phases"] and (tmp_path / "psth.png").exists()
    for ph in s["snr_phases"] + s["cn_phases"]:
        assert ph["sign"] in "+-" and ph["latency_ms"] >= 0 and ph["duration_ms"] > 0
    assert 20 <= s["rates_hz"]["SNr"] <= 60  # spontaneous, before the first pulse


@pytest.mark.slow
def test_scan_opto_completes_every_site(real_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ZENTAI_DATA", str(real_data))
    from zentai.scenarios.scan_opto import scan_opto

    s = scan_opto(tmp_path, grid=2, batch=4, fraction=0.002, progress=False)
    assert s["completed"] == s["n_sites"] == 4
    maps = np.load(tmp_path / "maps.npz")
    assert maps["response_hz"].shape == (3, 4) and np.isfinite(maps["response_hz"]).all()
    assert (tmp_path / "maps.png").exists() and s["total_s"] > 0
