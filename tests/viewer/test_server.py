"""The viewer's data and JSON endpoints on real results (a microcircuit run with its NWB file,
an m1-gamma scenario run) and on a synthetic result with a known 40 Hz modulation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from zentai.cli.main import main
from zentai.errors import DataError, SpecError
from zentai.io import hdf5
from zentai.record.result import Result
from zentai.viewer.data import load_dataset
from zentai.viewer.server import start

REPO = Path(__file__).resolve().parents[2]
MODULATION_HZ = 40.0


@pytest.fixture(scope="module")
def results(tmp_path_factory, real_data):
    """{"mc": microcircuit folder (with result.nwb), "m1": m1-gamma folder, "sine": synthetic}."""
    root = tmp_path_factory.mktemp("viewer")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZENTAI_DATA", str(real_data))
        mc, m1 = root / "mc", root / "m1"
        common = ["--device", "cpu", "--seed", "1", "--no-progress"]
        assert main(["run", "microcircuit", "--scale", "0.03", "--duration", "0.4",
                     "--warmup", "0.1", "--nwb", "--out", str(mc), *common]) == 0  # fmt: skip
        assert main(["run", "m1-gamma", "--fraction", "0.01", "--duration", "0.25",
                     "--warmup", "0.1", "--out", str(m1), *common]) == 0  # fmt: skip
        yield {"mc": mc, "m1": m1, "sine": _sine_result(root / "sine")}


def _sine_result(folder: Path) -> Path:
    """Population "mod" (300 neurons): Poisson at 20 (1 + 0.9 sin(2 pi 40 Hz t)) Hz; "flat"
    (300): 20 Hz. 1.1 s, the first 100 ms a warm-up (in the summary)."""
    rng = np.random.default_rng(7)
    dt, t_stop, n = 0.1, 1100.0, 300
    t = np.arange(1, int(t_stop / dt) + 1) * dt  # spike stamps (k + 1) dt
    lam_mod = 20.0 * (1 + 0.9 * np.sin(2 * np.pi * MODULATION_HZ * t / 1000.0)) * dt / 1000.0
    lam_flat = np.full_like(t, 20.0 * dt / 1000.0)
    times, ids = [], []
    for offset, lam in ((0, lam_mod), (n, lam_flat)):
        hits = rng.random((n, t.size)) < lam[None, :]
        neuron, step = np.nonzero(hits)
        times.append(t[step])
        ids.append(neuron + offset)
    times, ids = np.concatenate(times), np.concatenate(ids)
    order = np.argsort(times, kind="stable")
    res = Result(
        dt_ms=dt,
        t_stop_ms=t_stop,
        n_ensembles=1,
        populations={"mod": (0, n), "flat": (n, 2 * n)},
        spike_member=np.zeros(times.size, np.int32),
        spike_neuron=ids[order].astype(np.int64),
        spike_time_ms=times[order],
        recorded_populations=("mod", "flat"),
    )
    folder.mkdir()
    hdf5.write_result(res, folder / "spikes.h5", summary={"warmup_ms": 100.0})
    return folder


@pytest.fixture(scope="module")
def server(results):
    srv, thread = start([results["mc"], results["m1"]])
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def get(server, path: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(server.url + path.lstrip("/"), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# ---------------------------------------------------------------------------- rates
@pytest.mark.parametrize("which", ["mc", "m1"])
def test_mean_rates_equal_the_results_rates(results, which):
    folder = results[which]
    res = hdf5.read_result(folder / "spikes.h5")
    summary = json.loads((folder / "summary.json").read_text())
    ds = load_dataset(folder)
    r = ds.rates()
    assert r["window_ms"] == [100.0, res.t_stop_ms]
    expected = res.rates_hz(100.0, res.t_stop_ms)
    assert r["names"] == list(expected)
    for pop, hz in expected.items():
        assert r["mean_hz"][pop] == pytest.approx(hz, rel=1e-5, abs=1e-9)
        assert summary["rates_hz"][pop] == pytest.approx(hz, rel=1e-9)
    # the binned traces average to the same rates over the bins inside the window
    times, traces = np.array(r["time_ms"]), np.array(r["rates_hz"])
    assert times[-1] + r["bin_ms"] / 2 == pytest.approx(res.t_stop_ms)
    inside = times > 100.0
    np.testing.assert_allclose(
        traces[:, inside].mean(axis=1), [expected[p] for p in r["names"]], rtol=1e-4, atol=1e-6
    )
    assert any(v > 0 for v in expected.values())


def test_groupings_by_labels(results):
    ds = load_dataset(results["m1"])
    assert ds.groupings() == ["population", "region", "layer", "cell_class"]
    by_layer = ds.rates("layer")
    assert by_layer["names"] == ["L2/3", "L5A", "L5B", "L6a", "L6b"]
    # a group's mean is the size-weighted mean of its populations' means
    pops = ds.rates()
    for layer in by_layer["names"]:
        members = [p for p in pops["names"] if ds.labels[p]["layer"] == layer]
        sizes = np.array([pops["sizes"][pops["names"].index(p)] for p in members])
        means = np.array([pops["mean_hz"][p] for p in members])
        assert by_layer["mean_hz"][layer] == pytest.approx(
            (sizes * means).sum() / sizes.sum(), rel=1e-5
        )
    with pytest.raises(SpecError, match="group must be one of"):
        load_dataset(results["mc"]).rates("region")


# ---------------------------------------------------------------------------- raster
def test_raster_counts(results):
    ds = load_dataset(results["mc"])
    res = hdf5.read_result(results["mc"] / "spikes.h5")
    full = ds.raster()
    assert full["n_total"] == full["n_shown"] == res.n_spikes > 0
    assert sorted(full["time_ms"]) == pytest.approx(np.sort(res.spike_time_ms))
    for p in full["populations"]:
        a, b = res.populations[p["name"]]
        assert p["n_spikes"] == p["n_shown"] == int(((res.spike_neuron >= a) &
                                                     (res.spike_neuron < b)).sum())  # fmt: skip
    cap = res.n_spikes // 3
    thin = ds.raster(max_points=cap)
    assert thin["n_total"] == res.n_spikes
    assert 0 < thin["n_shown"] <= cap
    # whole rows: every shown neuron keeps all its spikes
    rows, counts = np.unique(thin["row"], return_counts=True)
    np.testing.assert_array_equal(counts, np.bincount(res.spike_neuron)[rows])
    assert 0 < thin["neuron_fraction"] < 1
    with pytest.raises(SpecError, match="max_points"):
        ds.raster(max_points=0)


# ---------------------------------------------------------------------------- spectra
def test_spectrum_peak_of_a_modulated_population(results):
    ds = load_dataset(results["sine"])
    sp = ds.spectra()
    assert sp["names"] == ["mod", "flat"]
    f = np.array(sp["frequency_hz"])
    psd = np.array(sp["psd"])
    band = f >= 5.0
    peak = f[band][np.argmax(psd[0, band])]
    assert abs(peak - MODULATION_HZ) <= sp["resolution_hz"]
    # at 40 Hz the modulated population has far more power than the flat one
    k = np.argmin(np.abs(f - MODULATION_HZ))
    assert psd[0, k] > 20 * psd[1, k]
    # Parseval: the PSD integrates to the rate's variance (Welch with a taper: within 15 %)
    df = f[1] - f[0]
    for g in range(2):
        assert psd[g].sum() * df == pytest.approx(sp["variance_hz2"][g], rel=0.15)
    # the flat population's spectrum is white at its Poisson level: the variance of its rate,
    # rate / (N bin), spread one-sided over 0..fs/2 (fs = 1 kHz)
    expected_white = 2 * (20.0 / (300 * 1e-3)) / 1000.0  # Hz^2/Hz
    assert psd[1, band].mean() == pytest.approx(expected_white, rel=0.15)


def test_spectra_of_a_real_result(results):
    sp = load_dataset(results["m1"]).spectra()
    psd = np.array(sp["psd"])
    assert psd.shape == (len(sp["names"]), len(sp["frequency_hz"]))
    assert np.all(psd >= 0) and np.any(psd > 0)
    assert sp["window_ms"] == [100.0, 350.0]


# ---------------------------------------------------------------------------- correlations
@pytest.mark.parametrize("which", ["mc", "m1", "sine"])
def test_correlation_matrix_symmetric_with_unit_diagonal(results, which):
    c = load_dataset(results[which]).correlation()
    m = np.array([[np.nan if v is None else v for v in row] for row in c["matrix"]])
    n = len(c["names"])
    assert m.shape == (n, n)
    live = ~np.isnan(np.diag(m))
    assert live.sum() >= 2
    np.testing.assert_allclose(np.diag(m)[live], 1.0, atol=1e-6)
    np.testing.assert_allclose(m[np.ix_(live, live)], m[np.ix_(live, live)].T, atol=1e-6)
    assert np.all(np.abs(m[np.ix_(live, live)]) <= 1 + 1e-6)
    # silent groups: their whole row is undefined
    assert np.all(np.isnan(m[~live]))


# ---------------------------------------------------------------------------- map
def test_atlas_map_projects_positions_and_keeps_every_spike(results):
    ds = load_dataset(results["m1"])
    m = ds.activity_map(bin_ms=10.0)
    assert m["mode"] == "atlas"
    assert m["grid"]["um_per_cell"] == 100.0
    assert m["background"] is not None
    assert [r["name"] for r in m["background"]["regions"]] == ["MOp"]
    rates = np.array(m["rates_hz"])
    n = np.array(m["n_neurons"])
    assert rates.shape == (len(m["time_ms"]), len(m["cells"]["x"])) == (35, n.size)
    assert n.sum() == ds.n_neurons
    # every column of neurons lies inside MOp's dorsal projection (left hemisphere)
    w = m["grid"]["width"]
    flat = np.array(m["cells"]["y"]) * w + np.array(m["cells"]["x"])
    assert set(flat) <= set(m["background"]["regions"][0]["cells"])
    assert np.all(np.array(m["cells"]["x"]) < w // 2)
    # rate x neurons x bin = spikes: nothing lost or counted twice
    spikes = (rates * n[None, :]).sum() * m["bin_ms"] / 1000.0
    assert spikes == pytest.approx(ds.n_spikes, rel=1e-3)
    assert m["n_spikes"] == ds.n_spikes


def test_schematic_map_without_positions(results):
    ds = load_dataset(results["mc"])
    m = ds.activity_map(bin_ms=10.0)
    assert m["mode"] == "schematic"
    assert m["cells"]["label"] == list(ds.populations)
    assert m["grid"]["x_names"] == ["E", "I"]
    assert m["grid"]["y_names"] == ["L2/3", "L4", "L5", "L6"]
    rates = np.array(m["rates_hz"])
    sizes = np.array(m["n_neurons"])
    # the mean of the frames after the warm-up are the population rates
    after = np.array(m["time_ms"]) > 100.0
    np.testing.assert_allclose(
        rates[after].mean(axis=0), list(ds.rates()["mean_hz"].values()), rtol=1e-4, atol=1e-5
    )
    assert list(sizes) == [b - a for a, b in ds.populations.values()]


# ---------------------------------------------------------------------------- NWB
def test_nwb_file_holds_the_same_spikes(results):
    h5 = load_dataset(results["mc"])
    nwb = load_dataset(results["mc"] / "result.nwb")
    assert nwb.kind == "NWB" and nwb.populations == h5.populations
    assert nwb.labels == h5.labels
    assert nwb.t_stop_ms == h5.t_stop_ms
    np.testing.assert_allclose(np.sort(nwb.times_ms), np.sort(h5.times_ms), atol=1e-6)
    np.testing.assert_array_equal(np.bincount(nwb.neuron), np.bincount(h5.neuron))
    np.testing.assert_allclose(nwb.rates()["rates_hz"], h5.rates()["rates_hz"], rtol=1e-5)


# ---------------------------------------------------------------------------- errors
def test_bad_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path)
    msg = str(err.value)
    assert str(tmp_path) in msg and "spikes.h5" in msg and "result.nwb" in msg
    assert "notes.txt" in msg
    (tmp_path / "spikes.h5").write_text("not hdf5")
    with pytest.raises(DataError, match="not a readable HDF5 file"):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match="neither a result folder"):
        load_dataset(tmp_path / "notes.txt")


# ---------------------------------------------------------------------------- HTTP
def test_endpoints(server, results):
    status, datasets = get(server, "/api/datasets")
    assert status == 200
    assert [d["name"] for d in datasets] == ["mc", "m1"]
    assert [d["has_positions"] for d in datasets] == [False, True]
    for i in range(2):
        for what in ("rates", "raster", "spectra", "correlation", "map"):
            status, body = get(server, f"/api/{i}/{what}")
            assert status == 200, body
    status, body = get(server, "/api/1/rates?group=region&bin_ms=10")
    assert status == 200 and body["names"] == ["MOp"] and body["bin_ms"] == 10.0
    status, body = get(server, "/api/0/raster?max_points=100")
    assert status == 200 and body["n_shown"] <= 100
    # the page and its assets
    with urllib.request.urlopen(server.url, timeout=10) as r:
        assert b"static/app.js" in r.read() and r.headers["Content-Type"].startswith("text/html")
    for asset in ("app.js", "style.css"):
        with urllib.request.urlopen(server.url + "static/" + asset, timeout=10) as r:
            assert r.status == 200 and len(r.read()) > 500


def test_endpoint_errors(server):
    status, body = get(server, "/api/5/rates")
    assert status == 404 and "/api/datasets" in body["error"]
    status, body = get(server, "/api/0/bogus")
    assert status == 404 and "rates, raster" in body["error"]
    status, body = get(server, "/api/0/rates?group=region")
    assert status == 400 and "group must be one of" in body["error"]
    status, body = get(server, "/api/0/rates?bin_ms=-1")
    assert status == 400 and "bin_ms must be a positive number" in body["error"]
    status, body = get(server, "/api/0/raster?max_points=many")
    assert status == 400 and "max_points must be an integer" in body["error"]
    for path in ("/static/..%2Fserver.py", "/static/missing.js", "/nothing"):
        status, body = get(server, path)
        assert status == 404 and "error" in body


# ---------------------------------------------------------------------------- CLI
def test_cli_view_bad_folder(tmp_path, capsys):
    assert main(["view", str(tmp_path), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zentai view: error:") and str(tmp_path) in err and "spikes.h5" in err
    assert main(["view", "a", "b", "c", "--no-browser"]) == 2
    assert "unrecognized arguments: c" in capsys.readouterr().err
    assert main(["view", str(tmp_path), "--port", "70000", "--no-browser"]) == 2
    assert "--port must be in 0..65535" in capsys.readouterr().err


def test_cli_view_serves_until_ctrl_c(results):
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
    command = [sys.executable, "-m", "zentai", "view", str(results["sine"]), "--port", "0"]
    # a shell starts background jobs (`pytest &`, nohup) with SIGINT ignored, and a child
    # inherits that: Python then never raises KeyboardInterrupt. Give the server what a
    # terminal's Ctrl-C meets: the default disposition
    proc = subprocess.Popen(
        [*command, "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert "sine (zentai result)" in lines[0], lines
        url = lines[1].split("serving at ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        with urllib.request.urlopen(url + "api/datasets", timeout=30) as r:
            assert json.loads(r.read())[0]["n_spikes"] > 0
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # show where it hangs: faulthandler dumps on SIGABRT
            proc.send_signal(signal.SIGABRT)
            out, err = proc.communicate(timeout=30)
            pytest.fail(f"zentai view did not stop within 30 s of Ctrl-C:\n{err}")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
