"""The viewer page in headless Chromium: a microcircuit result beside an atlas-scenario result
(and an NWB file beside its simulation); every panel draws data, play advances the frames, the
slider scrubs, and the screenshot's canvases are not blank.

Needs Debian's chromium (/usr/bin/chromium) and the playwright package (the test extra); the
browser is never downloaded. Set ZENTAI_VIEWER_SCREENSHOT=path.png to keep the screenshot.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from zentai.cli.main import main

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PANELS = ("map", "raster", "rates", "spectra", "correlation")

if not os.path.exists(CHROMIUM):
    pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs playwright (pip install playwright)"
)


@pytest.fixture(scope="module")
def results(tmp_path_factory, real_data):
    root = tmp_path_factory.mktemp("viewer_browser")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZENTAI_DATA", str(real_data))
        common = ["--device", "cpu", "--seed", "2", "--warmup", "0.1", "--no-progress"]
        assert main(["run", "microcircuit", "--scale", "0.02", "--duration", "0.3", "--nwb",
                     "--out", str(root / "mc"), *common]) == 0  # fmt: skip
        assert main(["run", "m1-gamma", "--fraction", "0.01", "--duration", "0.2",
                     "--out", str(root / "m1"), *common]) == 0  # fmt: skip
        yield root


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_viewer(browser, paths):
    from zentai.viewer.server import start

    server, thread = start(paths)
    page = browser.new_page(viewport={"width": 1400, "height": 2600})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(server.url)
    page.wait_for_function("window.zentaiViewer && window.zentaiViewer.panelStats().ready")
    return server, thread, page, errors


def close_viewer(server, thread, page):
    page.close()
    server.shutdown()
    server.server_close()
    thread.join(5)


def stats(page) -> dict:
    return page.evaluate("window.zentaiViewer.panelStats()")


def canvas_pixels(png: Path, page) -> dict[tuple[int, str], np.ndarray]:
    """The screenshot's pixels of each canvas, keyed by (column, panel)."""
    from matplotlib.image import imread

    image = imread(png)[..., :3]
    out = {}
    for c, column in enumerate(page.query_selector_all("section.column")):
        for key in PANELS:
            box = column.query_selector(f"canvas[data-panel={key}]").bounding_box()
            x0, y0 = int(box["x"]), int(box["y"])
            out[(c, key)] = image[y0 : y0 + int(box["height"]), x0 : x0 + int(box["width"])]
    return out


def test_microcircuit_beside_atlas_scenario(browser, results, tmp_path):
    server, thread, page, errors = open_viewer(browser, [results / "mc", results / "m1"])
    try:
        s = stats(page)
        assert s["errors"] == [] and errors == []
        assert [c["dataset"] for c in s["columns"]] == ["mc", "m1"]
        for col in s["columns"]:
            for key in PANELS:
                assert col[key] > 0, (col["dataset"], key, col)
            # the drawn counts are the data's: one tile per population, one dot per spike
            assert page.get_attribute(
                f"section[data-dataset='{s['columns'].index(col)}'] canvas[data-panel=raster]",
                "data-points",
            ) == str(col["raster"])
        assert s["columns"][0]["map"] == 8  # microcircuit: 8 population tiles
        assert s["columns"][1]["map"] > 50  # m1-gamma: 100 µm columns of left MOp
        assert [c["frame"] for c in s["columns"]] == [0, 0]
        assert page.locator("section.column h3", has_text="Top view (dorsal)").count() == 1

        # play: the frames advance in both columns; pause stops them
        page.click("#play")
        page.wait_for_function(
            "window.zentaiViewer.panelStats().columns.every(c => c.frame >= 2)", timeout=20_000
        )
        page.click("#play")
        s = stats(page)
        assert not s["playing"] and s["time_ms"] > 0
        frozen = [c["frame"] for c in s["columns"]]
        page.wait_for_timeout(300)
        assert [c["frame"] for c in stats(page)["columns"]] == frozen

        # scrub to the middle: the frame follows the slider, and the label shows the time
        page.eval_on_selector(
            "#scrub", "e => { e.value = 500; e.dispatchEvent(new Event('input')); }"
        )
        s = stats(page)
        assert s["time_ms"] == pytest.approx(s["t_max_ms"] / 2)
        assert s["columns"][0]["frame"] == int(s["time_ms"] // 10)  # 10 ms frames
        assert f"t = {s['time_ms']:g} ms" in page.inner_text("#time")
        assert s["columns"][1]["map_active"] > 0  # the stimulated MOp is firing then

        # group by layer: rates, spectra and correlations are redrawn for the layers
        page.select_option("#group", "layer")
        page.wait_for_function(
            "window.zentaiViewer.panelStats().columns[1].correlation === 25"
        )  # 5 layers of the m1-gamma sheet
        page.select_option("#group", "population")
        page.wait_for_function("window.zentaiViewer.panelStats().columns[1].correlation === 225")

        png = tmp_path / "viewer.png"
        page.screenshot(path=str(png), full_page=True)
        if os.environ.get("ZENTAI_VIEWER_SCREENSHOT"):
            shutil.copy(png, os.environ["ZENTAI_VIEWER_SCREENSHOT"])
        for (c, key), pixels in canvas_pixels(png, page).items():
            assert pixels.size, (c, key)
            colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
            assert pixels.std() > 0.02 and len(colours) > 20, (c, key, pixels.std(), len(colours))
        assert errors == []
    finally:
        close_viewer(server, thread, page)


def test_nwb_beside_its_simulation(browser, results):
    server, thread, page, errors = open_viewer(
        browser, [results / "mc" / "result.nwb", results / "mc"]
    )
    try:
        s = stats(page)
        assert s["errors"] == [] and errors == []
        nwb, sim = s["columns"]
        assert page.inner_text("section[data-dataset='0'] .meta").startswith("NWB")
        for key in PANELS:
            assert nwb[key] > 0 and sim[key] > 0, key
        # the same spikes, the same populations
        assert nwb["raster"] == sim["raster"] and nwb["map"] == sim["map"] == 8
    finally:
        close_viewer(server, thread, page)
