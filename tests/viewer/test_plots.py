"""The raster + rates figure: a valid PNG with the expected content, clear errors, no pyplot."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from zentai.errors import SpecError
from zentai.record.result import Result
from zentai.viewer import cell_class, raster_and_rates, raster_and_rates_figure
from zentai.viewer.plots import COLORS

REPO = Path(__file__).resolve().parents[2]


def synthetic_result(with_rates: bool = True) -> Result:
    """E (100 neurons) fires every 10 ms from 5 ms, I (20 neurons) every 4 ms from 2 ms."""
    pops = {"L4E": (0, 100), "L4I": (100, 120)}
    t_e = np.arange(5.0, 200.0, 10.0)  # 20 spikes per E neuron: 100 Hz over 200 ms
    t_i = np.arange(2.0, 200.0, 4.0)  # 50 spikes per I neuron: 250 Hz
    times = np.concatenate([np.repeat(t_e, 100), np.repeat(t_i, 20)])
    neurons = np.concatenate(
        [np.tile(np.arange(100), t_e.size), np.tile(np.arange(100, 120), t_i.size)]
    )
    order = np.argsort(times, kind="stable")
    res = Result(
        dt_ms=0.1,
        t_stop_ms=200.0,
        n_ensembles=1,
        populations=pops,
        spike_member=np.zeros(times.size, np.int32),
        spike_neuron=neurons[order].astype(np.int64),
        spike_time_ms=times[order],
        recorded_populations=("L4E", "L4I"),
    )
    if with_rates:
        counts = np.zeros((2000, 1, 2), np.int32)
        np.add.at(counts[:, 0, 0], np.round(t_e / 0.1).astype(int) - 1, 100)
        np.add.at(counts[:, 0, 1], np.round(t_i / 0.1).astype(int) - 1, 20)
        res.rate_counts, res.rate_bin_ms, res.rate_populations = counts, 1.0, ("L4E", "L4I")
    return res


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def has_colour(image: np.ndarray, hex_colour: str, tol: float = 0.02) -> bool:
    rgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return bool(np.any(np.all(np.abs(image[..., :3] - rgb) < tol, axis=-1)))


@pytest.mark.parametrize("with_rates", [True, False], ids=["recorded-rates", "binned-spikes"])
def test_png_is_valid_and_shows_e_and_i(tmp_path, with_rates):
    path = raster_and_rates(synthetic_result(with_rates), tmp_path / "fig.png")
    assert path == tmp_path / "fig.png"
    assert png_size(path) == (1100, 850)  # 11 x 8.5 in at 100 dpi
    assert path.stat().st_size > 20_000
    image = imread(path)
    assert has_colour(image, COLORS["E"]) and has_colour(image, COLORS["I"])
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # no temporary left


def test_bars_show_mean_rates_and_raster_is_subsampled():
    fig = raster_and_rates_figure(synthetic_result(), max_neurons_per_pop=10, t_start=100.0)
    raster, bars, traces = fig.axes[:3]
    # rows: 10 of the 100 E neurons, 10 of the 20 I neurons
    assert raster.get_ylim() == (0.0, 20.0)
    n_points = sum(len(c.get_offsets()) for c in raster.collections)
    # E spikes at 105..195 ms (10 per neuron), I at 102..198 ms (25 per neuron) in (100, 200]
    assert n_points == 10 * 10 + 10 * 25
    widths = sorted(p.get_width() for p in bars.patches)
    np.testing.assert_allclose(widths, [100.0, 250.0])  # Hz
    assert [t.get_text() for t in raster.get_yticklabels()] == ["L4E", "L4I"]
    assert len(traces.lines) == 2


def test_empty_population_list_is_a_clear_error(tmp_path):
    res = synthetic_result()
    with pytest.raises(SpecError, match="needs at least one population with recorded spikes"):
        raster_and_rates(res, tmp_path / "x.png", populations=[])
    res.recorded_populations = ()
    with pytest.raises(SpecError, match=r"got an empty population list\. Add zt\.record\.Spikes"):
        raster_and_rates(res, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_other_bad_arguments(tmp_path):
    res = synthetic_result()
    with pytest.raises(SpecError, match="population 'L4EE' has no recorded spikes; closest: 'L4E'"):
        raster_and_rates(res, tmp_path / "x.png", populations=["L4EE"])
    with pytest.raises(SpecError, match=r"0 <= t_start < t_stop <= 200 ms"):
        raster_and_rates(res, tmp_path / "x.png", t_start=150.0, t_stop=100.0)
    with pytest.raises(SpecError, match="max_neurons_per_pop must be a positive integer"):
        raster_and_rates(res, tmp_path / "x.png", max_neurons_per_pop=0)


def test_cell_class_from_labels_or_name():
    assert cell_class("L2/3E") == "E" and cell_class("MOp.L5.I") == "I"
    assert cell_class("TC") == "?" and cell_class("TC", {"TC": "E"}) == "E"


def test_no_pyplot_state(tmp_path):
    # a fresh interpreter: drawing must not import pyplot (whose figure list is global state)
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO / "tests" / "viewer")!r})
        from test_plots import synthetic_result
        from zentai.viewer import raster_and_rates
        raster_and_rates(synthetic_result(), {str(tmp_path / "f.png")!r})
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
        """
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "f.png").exists()
