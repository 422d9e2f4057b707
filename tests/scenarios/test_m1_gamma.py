"""The m1-gamma scenario (issue 4, item 6): schema, CLI run, summary keys and checks."""

from __future__ import annotations

import contextlib
import io
import json
import math
from itertools import pairwise
from pathlib import Path

import pytest

from zentai.cli.main import main
from zentai.errors import SpecError
from zentai.scenarios import SCENARIOS, load_scenario
from zentai.scenarios.runner import PEAK_SEARCH_HZ

LAYERS = ("L2/3", "L4", "L5A", "L5B", "L6a", "L6b")


def _wrap(x: float) -> float:
    y = (x + 180.0) % 360.0 - 180.0
    return 180.0 if y == -180.0 else y


def test_toml_round_trip():
    sc = load_scenario("m1-gamma")
    assert sc.name == "m1-gamma" and sc.kind == "cortex"
    assert sc.regions == ("MOp",) and sc.hemisphere == "left"
    assert sc.fraction == 0.1 and sc.models == "izhikevich" and sc.seed == 0
    (st,) = sc.stimuli
    assert st.kind == "DC" and st.amplitude_pa == pytest.approx(1200.0)
    assert st.target.radius_um == pytest.approx(300.0)
    assert st.start_ms == pytest.approx(200.0) and st.stop_ms is None
    assert st.target.layer == "L2/3" and st.target.cell_class == "E"
    assert st.target.voxel == "center" and st.target.population == "Isocortex.L2/3.E"
    assert sc.duration_ms == pytest.approx(1000.0) and sc.warmup_ms == pytest.approx(200.0)
    assert sc.dt_ms == pytest.approx(0.1)
    assert sc.band_hz == (30.0, 50.0) and sc.resolution_hz == 2.0
    assert load_scenario(sc.source) == sc  # by path, too


def test_schema_errors(tmp_path: Path):
    text = Path(load_scenario("m1-gamma").source).read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('layer = "L2/3"', 'layer = "L23"'))
    with pytest.raises(SpecError, match="closest: 'L2/3'"):
        load_scenario(bad)
    bad.write_text(text.replace("[analysis]", "[analysis]\nbnad = 3"))
    with pytest.raises(SpecError, match="closest: 'band'"):
        load_scenario(bad)
    with pytest.raises(SpecError, match="closest: 'm1-gamma'"):
        load_scenario("m1-gama")


def test_unknown_name_suggests_scenarios(capsys):
    assert main(["run", "m1-gama", "--out", "x"]) == 2
    assert "m1-gamma" in capsys.readouterr().err


def _check_consistent(s: dict) -> None:
    checks, ph = s["checks"], s["phase_deg"]
    lo, hi = s["band_hz"]
    f, r = s["peak_hz"], s["peak_ratio"]
    assert checks["peak_in_band"]["pass"] is (f is not None and lo <= f <= hi)
    assert checks["peak_in_band"]["peak_hz"] == f
    assert checks["peak_ratio_ge_3"]["pass"] is (r is not None and r >= 3.0)
    ly = s["stim_layer"]
    e, fs, lts = (ph.get(f"{ly}.{c}") for c in ("E", "FS", "LTS"))
    c = checks["e_fs_within_45"]
    ok = e is not None and fs is not None and abs(_wrap(e - fs)) <= 45.0
    assert c["pass"] is ok and c["e_deg"] == e and c["fs_deg"] == fs
    c = checks["lts_lags_fs"]
    assert c["pass"] is (lts is not None and fs is not None and _wrap(lts - fs) > 0)
    pooled = s["phase_deg_pooled"]
    present = [x for x in ("L2/3", "L4", "L5", "L6") if f"{x}.E" in pooled]
    e_layers = [x for x in present if pooled[f"{x}.E"] is not None]
    steps = [_wrap(pooled[f"{b}.E"] - pooled[f"{a}.E"]) for a, b in pairwise(e_layers)]
    order = checks["e_phase_order"]
    assert order["layers"] == e_layers
    ok = len(e_layers) >= 2 and e_layers == present and all(x > 0 for x in steps)
    assert order["pass"] is ok
    # a phase needs enough spikes
    for k, n in s["phase_n_spikes"].items():
        assert (ph[k] is None) or n >= 20
    for c in checks.values():
        assert isinstance(c["pass"], bool)


def _finite_or_none(x) -> bool:
    return x is None or (isinstance(x, (int, float)) and math.isfinite(x))


def test_cli_tiny_run(real_data: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("ZENTAI_DATA", str(real_data))
    out = tmp_path / "run"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        args = ["m1-gamma", "--fraction", "0.005", "--duration", "300 ms", "--no-progress"]
        code = main(["run", *args, "--out", str(out)])
    assert code == 0
    assert "peak" in buf.getvalue()
    for name in ("summary.json", "spikes.h5", "psd.png", "phases.png"):
        assert (out / name).stat().st_size > 0, name
    s = json.loads((out / "summary.json").read_text())
    for key in ("peak_hz", "peak_ratio", "phase_deg", "vector_strength", "rates_hz", "checks"):
        assert key in s
    for key in ("n_neurons", "n_synapses", "build_s", "sim_s", "n_stimulated"):
        assert isinstance(s[key], (int, float)) and math.isfinite(s[key]) and s[key] >= 0
    assert s["fraction"] == 0.005 and s["duration_ms"] == pytest.approx(300.0)
    assert s["n_stimulated"] >= 1
    assert _finite_or_none(s["peak_hz"]) and _finite_or_none(s["peak_ratio"])
    if s["peak_hz"] is not None:
        assert PEAK_SEARCH_HZ[0] <= s["peak_hz"] <= PEAK_SEARCH_HZ[1]
    assert set(s["phase_deg"]) == set(s["vector_strength"])
    assert all(k.split(".")[0] in LAYERS for k in s["phase_deg"])
    for k, v in s["phase_deg"].items():
        assert _finite_or_none(v) and _finite_or_none(s["vector_strength"][k])
        assert v is None or -180.0 <= v <= 180.0
    assert all(math.isfinite(v) for v in s["rates_hz"].values())
    _check_consistent(s)


def test_builtin_scenarios_ship():
    for name in SCENARIOS:
        assert Path(load_scenario(name).source).is_file()


def test_m1_gamma_fs_paced_rhythm_in_the_gamma_band(real_data: Path, tmp_path: Path, monkeypatch):
    # issue 4 / MODEL_SPEC §0 A1 at fraction 0.01 (seconds): DC into L2/3 of MOp gives a
    # population-rate peak in 30-50 Hz at >= 3x the 1/f background (measured seed 0: 32 Hz,
    # ratio 4.8). The phases (A2, A3) are tested at 0.1 (slow test below).
    monkeypatch.setenv("ZENTAI_DATA", str(real_data))
    out = tmp_path / "gamma"
    with contextlib.redirect_stdout(io.StringIO()):
        assert (
            main(["run", "m1-gamma", "--fraction", "0.01", "--no-progress", "--out", str(out)]) == 0
        )
    s = json.loads((out / "summary.json").read_text())
    assert 30.0 <= s["peak_hz"] <= 50.0
    assert s["peak_ratio"] >= 3.0
    assert s["checks"]["peak_in_band"] and s["checks"]["peak_ratio_ge_3"]


@pytest.mark.slow
def test_m1_gamma_phases_at_fraction_0_1(real_data: Path, tmp_path: Path, monkeypatch):
    # MODEL_SPEC §0 A1-A3 at the scenario's default fraction 0.1 (measured seed 0: peak 44 Hz,
    # ratio 237; L2/3 E -16°, FS 1°, LTS 70°; E L2/3 -16° -> L5 83° -> L6 143°)
    monkeypatch.setenv("ZENTAI_DATA", str(real_data))
    out = tmp_path / "gamma01"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", "m1-gamma", "--no-progress", "--out", str(out)]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["fraction"] == 0.1
    assert all(c["pass"] for c in s["checks"].values()), s["checks"]
    _check_consistent(s)


def test_spikes_are_kept_when_an_analysis_fails(real_data: Path, tmp_path: Path, monkeypatch):
    # the simulation's spikes are written before the analyses, so that a failing analysis
    # does not lose the run
    from zentai import analysis
    from zentai.io import hdf5

    def broken(*args, **kwargs):
        raise RuntimeError("analysis broke")

    monkeypatch.setenv("ZENTAI_DATA", str(real_data))
    monkeypatch.setattr(analysis, "phase_table", broken)
    out = tmp_path / "run"
    args = ["m1-gamma", "--fraction", "0.005", "--duration", "300 ms", "--no-progress"]
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(RuntimeError, match="broke"):
        main(["run", *args, "--out", str(out)])
    assert not (out / "summary.json").exists()
    kept = hdf5.read_result(out / "spikes.h5")
    assert kept.spike_neuron.size > 100 and kept.t_stop_ms == pytest.approx(500.0)
