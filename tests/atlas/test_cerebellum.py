"""Cerebellar cortex layers by a Laplace potential, aggregation and folium axis."""

import os
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from zentai.atlas.cerebellum import CerebellarLayers, cerebellar_geometry
from zentai.atlas.synthetic import synthetic_atlas
from zentai.errors import SpecError

_BESIDE_CLONE = Path(__file__).resolve().parents[3] / "shared" / "data" / "allen"
BSB = np.array([130.0, 15.0, 150.0]) / 295.0  # MODEL_SPEC §2.4 thicknesses, as fractions


def _relative_error(geo, layers):
    measured = np.array(list(geo.layer_fractions().values()))
    return measured / layers.fractions - 1.0


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "zentai" / "geometry"


# ------------------------------------------------------------------ synthetic sheet
def test_default_thickness_fractions_on_synthetic_sheet():
    # corrugated sheet of constant thickness (synthetic module doc): layer volume shares should
    # equal thickness shares; measured relative errors at 25 µm: +0.3 %, -10.8 %, +0.8 %.
    # The Purkinje band (15 µm) is thinner than a voxel, so its count aliases with the grid.
    layers = CerebellarLayers()
    np.testing.assert_allclose(layers.fractions, BSB)
    geo = cerebellar_geometry(synthetic_atlas(25), layers, coarse_factor=4, cache=False)
    err = _relative_error(geo, layers)
    assert abs(err[0]) < 0.05
    assert abs(err[1]) < 0.15
    assert abs(err[2]) < 0.05
    assert (geo.layer >= 0).all()


def test_configured_thickness_fractions_on_synthetic_sheet():
    # bands of at least two voxels: all three within +-10 % (measured +1.4, -8.3, +2.8 %)
    layers = CerebellarLayers(granular_um=120.0, purkinje_um=60.0, molecular_um=120.0)
    geo = cerebellar_geometry(synthetic_atlas(25), layers, coarse_factor=4, cache=False)
    assert np.all(np.abs(_relative_error(geo, layers)) < 0.10)


def test_coarse_fractions_conserve_volume_and_folium_axis_is_ml():
    geo = cerebellar_geometry(synthetic_atlas(50), coarse_factor=2, cache=False)
    assert geo.coarse_resolution_um == 100.0
    # every fine voxel lands in one coarse voxel: summed fractions x 2^3 = fine voxel count
    np.testing.assert_allclose(geo.fractions.sum() * 8, len(geo.phi))
    assert (geo.fractions.sum(axis=1) <= 1.0 + 1e-12).all()
    # the folds run along ML (synthetic module doc), so the folium axis is ML everywhere
    assert np.abs(geo.folium_axis[:, 2]).min() > 0.99
    np.testing.assert_allclose(np.linalg.norm(geo.folium_axis, axis=1), 1.0)


def test_layers_are_validated():
    with pytest.raises(SpecError, match=r"CerebellarLayers\.purkinje_um must be a thickness > 0"):
        CerebellarLayers(purkinje_um=0.0)
    with pytest.raises(SpecError, match="calibration must be 'potential' or 'volume'"):
        CerebellarLayers(calibration="area")
    with pytest.raises(SpecError, match="coarse_factor must be an integer >= 1"):
        cerebellar_geometry(synthetic_atlas(100), coarse_factor=0, cache=False)


def test_cache_round_trip(cache_home):
    atlas = synthetic_atlas(50)
    first = cerebellar_geometry(atlas, coarse_factor=2)
    assert len(list(cache_home.glob("cerebellum-*.npz"))) == 1
    again = cerebellar_geometry(atlas, coarse_factor=2)
    for f in ("index", "phi", "layer", "fractions", "folium_axis"):
        np.testing.assert_array_equal(getattr(again, f), getattr(first, f))


# ------------------------------------------------------------------ real CCF (25 µm)
@pytest.fixture(scope="module")
def ccf25():
    env = os.environ.get("ZENTAI_DATA")
    folder = Path(env) if env else _BESIDE_CLONE
    if not (folder / "annotation_25.nrrd").is_file():
        pytest.skip(f"needs the staged Allen data (annotation_25.nrrd not in {folder})")
    from zentai.atlas import load

    atlas = load("allen_mouse_25um", data_dir=folder)
    atlas.ontology  # noqa: B018
    t0 = time.perf_counter()
    geo = cerebellar_geometry(atlas, CerebellarLayers(calibration="volume"), cache=False)
    print(f"\ncerebellar geometry on 25 µm: {time.perf_counter() - t0:.1f} s")
    return atlas, geo


def test_ccf_volume_calibrated_layers_are_ordered(ccf25):
    atlas, geo = ccf25
    layers = CerebellarLayers(calibration="volume")
    err = _relative_error(geo, layers)
    print(f"fractions {geo.layer_fractions()} vs {dict(zip(('g', 'p', 'm'), layers.fractions))}")
    # the thresholds are phi quantiles, so this holds up to ties in phi (measured < 1e-5)
    assert np.all(np.abs(err) < 0.10)
    # what is not by construction: the layers lie in order of distance from the white matter
    wm = np.zeros(atlas._lut_size, dtype=bool)
    for acr in ("fiber tracts", "CBN"):
        wm[atlas.label_set(acr)] = True
    lo = geo.index.min(0)
    hi = geo.index.max(0) + 1
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    dist = ndimage.distance_transform_edt(~wm[atlas.annotation[box]]) * 25.0
    d = dist[tuple((geo.index - lo).T)]
    med = [np.median(d[geo.layer == k]) for k in range(3)]
    print(f"median distance to white matter (µm): {med}")
    assert med[0] < med[1] < med[2]
    # 100 µm aggregation: fractions of 64 fine voxels
    np.testing.assert_allclose(geo.fractions.sum() * 64, len(geo.phi))


def test_ccf_folium_axis(ccf25):
    # vermal folia run mediolaterally (transverse lobules); the axis lies in the tangent plane.
    # Measured: median |axis . ML| 0.95 in the vermis (0.60 in the hemispheres), median
    # |axis . normal| 0.013
    atlas, geo = ccf25
    labels = atlas.annotation[tuple((geo.coarse_index * 4).T)]  # the 100 µm CCF sampling
    vermis = np.isin(labels, atlas.label_set("VERM"))
    assert vermis.sum() > 10_000
    assert np.median(np.abs(geo.folium_axis[vermis, 2])) > 0.8
    assert np.median(np.abs(np.sum(geo.folium_axis * geo.coarse_normal, axis=1))) < 0.1


@pytest.mark.slow
def test_ccf_cache_round_trip(ccf25, cache_home):
    atlas, _ = ccf25
    t0 = time.perf_counter()
    first = cerebellar_geometry(atlas)
    t_solve = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = cerebellar_geometry(atlas)
    t_load = time.perf_counter() - t0  # measured 20.7 s vs 0.27 s
    assert t_load < t_solve / 5
    np.testing.assert_array_equal(again.phi, first.phi)
    np.testing.assert_array_equal(again.folium_axis, first.folium_axis)


@pytest.mark.xfail(
    strict=True,
    reason="phi thresholds at the thickness fractions (MODEL_SPEC §2.5 step 3) give 27 / 3.3 / "
    "69 % on the CCF, where 28 % of the voxels have phi > 0.9 (phi is far from linear in depth)",
)
def test_ccf_potential_thresholds_match_thickness_fractions(ccf25):
    _, geo = ccf25
    layers = CerebellarLayers()
    g, gp = layers.thresholds
    phi = geo.phi[np.isfinite(geo.phi)]
    measured = np.array([(phi < g).mean(), ((phi >= g) & (phi < gp)).mean(), (phi >= gp).mean()])
    print(f"potential thresholds: {measured} vs {layers.fractions}")
    assert np.all(np.abs(measured / layers.fractions - 1.0) < 0.10)
