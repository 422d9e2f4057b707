"""Cerebellar cortex layers by a Laplace potential, aggregation and folium axis."""

import os
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from zentai.atlas.cerebellum import CerebellarLayers, cerebellar_geometry
from zentai.atlas.synthetic import CB_THICKNESS, synthetic_atlas
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
@pytest.fixture(scope="module")
def syn25():
    return synthetic_atlas(25)


# measured relative errors (granular, Purkinje, molecular) at 25 µm, default thicknesses:
# equivolume -2.3 / +27 / -0.7 %, equidistant -1.7 / -10.8 / +2.5 %, potential +0.3 / -10.8 /
# +0.8 %. The Purkinje band (15 µm) is thinner than a voxel, so its count aliases with the grid.
@pytest.mark.parametrize("coordinate", ["equivolume", "equidistant", "potential"])
def test_default_thickness_fractions_on_synthetic_sheet(syn25, coordinate):
    # corrugated sheet of constant thickness (synthetic module doc): layer volume shares should
    # equal thickness shares
    layers = CerebellarLayers(coordinate=coordinate)
    np.testing.assert_allclose(layers.fractions, BSB)
    geo = cerebellar_geometry(syn25, layers, coarse_factor=4, cache=False)
    err = _relative_error(geo, layers)
    assert abs(err[0]) < 0.05
    assert abs(err[1]) < 0.30
    assert abs(err[2]) < 0.05
    assert (geo.layer >= 0).all()


# bands of at least two voxels (measured: equivolume -0.6 / -2.0 / +1.6 %, equidistant -3.7 /
# +12 / -2.3 %, potential +1.4 / -8.3 / +2.8 %)
@pytest.mark.parametrize(
    ("coordinate", "tol"), [("equivolume", 0.10), ("equidistant", 0.15), ("potential", 0.10)]
)
def test_configured_thickness_fractions_on_synthetic_sheet(syn25, coordinate, tol):
    layers = CerebellarLayers(
        granular_um=120.0, purkinje_um=60.0, molecular_um=120.0, coordinate=coordinate
    )
    geo = cerebellar_geometry(syn25, layers, coarse_factor=4, cache=False)
    assert np.all(np.abs(_relative_error(geo, layers)) < tol)


def test_streamline_thickness_on_synthetic_sheet(syn25):
    # the sheet is every point within CB_THICKNESS of the white-matter core: the traced
    # thickness is CB_THICKNESS and the equidistant coordinate is the distance from the core
    # over it (measured: median thickness 300 µm, 5-95 % 280-313 µm; median |t - d / 300| 0.014)
    geo = cerebellar_geometry(
        syn25, CerebellarLayers(coordinate="equidistant"), coarse_factor=4, cache=False
    )
    ok = np.isfinite(geo.thickness_um)
    assert ok.mean() > 0.95
    assert abs(np.median(geo.thickness_um[ok]) - CB_THICKNESS) < 10.0
    assert np.percentile(np.abs(geo.thickness_um[ok] - CB_THICKNESS), 90) < 25.0
    core = np.isin(syn25.annotation, syn25.label_set("fiber tracts"))
    d = ndimage.distance_transform_edt(~core)[tuple(geo.index.T)] * 25.0 - 12.5
    dev = np.abs(geo.depth - d / CB_THICKNESS)
    assert np.median(dev[ok]) < 0.05
    # layers in order of distance from the white matter
    med = [np.median(d[geo.layer == k]) for k in range(3)]
    assert med[0] < med[1] < med[2]


def test_volume_calibration_is_by_construction(syn25):
    layers = CerebellarLayers(calibration="volume", coordinate="equidistant")
    geo = cerebellar_geometry(syn25, layers, coarse_factor=4, cache=False)
    assert np.all(np.abs(_relative_error(geo, layers)) < 0.02)


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
    with pytest.raises(SpecError, match="calibration must be 'thickness' or 'volume'"):
        CerebellarLayers(calibration="area")
    with pytest.raises(SpecError, match="coordinate must be one of 'equidistant'"):
        CerebellarLayers(coordinate="phi")
    with pytest.raises(SpecError, match="coarse_factor must be an integer >= 1"):
        cerebellar_geometry(synthetic_atlas(100), coarse_factor=0, cache=False)


def test_cache_round_trip(cache_home):
    atlas = synthetic_atlas(50)
    first = cerebellar_geometry(atlas, coarse_factor=2)
    assert len(list(cache_home.glob("cerebellum-*.npz"))) == 1
    cerebellar_geometry(atlas, CerebellarLayers(coordinate="equidistant"), coarse_factor=2)
    assert len(list(cache_home.glob("cerebellum-*.npz"))) == 2  # the coordinate is in the key
    again = cerebellar_geometry(atlas, coarse_factor=2)
    for f in ("index", "phi", "depth", "thickness_um", "layer", "fractions", "folium_axis"):
        np.testing.assert_array_equal(getattr(again, f), getattr(first, f))


# ------------------------------------------------------------------ real CCF (25 µm)
TARGET = "target 0.441 / 0.051 / 0.508"


def _ccf_atlas():
    env = os.environ.get("ZENTAI_DATA")
    folder = Path(env) if env else _BESIDE_CLONE
    if not (folder / "annotation_25.nrrd").is_file():
        pytest.skip(f"needs the staged Allen data (annotation_25.nrrd not in {folder})")
    from zentai.atlas import load

    atlas = load("allen_mouse_25um", data_dir=folder)
    atlas.ontology  # noqa: B018
    return atlas


def _ccf_geometry(atlas, layers):
    t0 = time.perf_counter()
    geo = cerebellar_geometry(atlas, layers, cache=False)
    print(f"\n{layers.coordinate} on 25 µm: {time.perf_counter() - t0:.1f} s")
    print(f"fractions {geo.layer_fractions()} ({TARGET})")
    return geo


@pytest.fixture(scope="module")
def ccf25_potential():
    # about 20 s: the Laplace potential and normals without streamlines
    atlas = _ccf_atlas()
    return atlas, _ccf_geometry(atlas, CerebellarLayers(coordinate="potential"))


@pytest.fixture(scope="module")
def ccf25():
    # the default (equivolume) layers, about 30 s
    atlas = _ccf_atlas()
    return atlas, _ccf_geometry(atlas, CerebellarLayers())


def _median_wm_distance(atlas, geo):
    wm = np.zeros(atlas._lut_size, dtype=bool)
    for acr in ("fiber tracts", "CBN"):
        wm[atlas.label_set(acr)] = True
    lo = geo.index.min(0)
    hi = geo.index.max(0) + 1
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    dist = ndimage.distance_transform_edt(~wm[atlas.annotation[box]]) * 25.0
    d = dist[tuple((geo.index - lo).T)]
    return [float(np.median(d[geo.layer == k])) for k in range(3)]


@pytest.mark.slow
def test_ccf_default_layers_match_thickness_fractions(ccf25):
    # equivolume thickness coordinate, thresholds at the thickness fractions (not quantiles).
    # Measured 0.433 / 0.051 / 0.516 (-1.7 / -0.2 / +1.5 %); 99.1 % of the voxels have both
    # streamline ends (the rest fall back to phi); median traced thickness 376 µm
    atlas, geo = ccf25
    layers = CerebellarLayers()
    assert layers.coordinate == "equivolume" and layers.calibration == "thickness"
    assert np.all(np.abs(_relative_error(geo, layers)) < 0.10)
    assert np.isfinite(geo.thickness_um).mean() > 0.97
    # not implied by the model: the layers lie in order of distance from the white matter
    # (measured medians 106 / 206 / 286 µm)
    med = _median_wm_distance(atlas, geo)
    print(f"median distance to white matter (µm): {med}")
    assert med[0] < med[1] < med[2]
    # 100 µm aggregation: fractions of 64 fine voxels
    np.testing.assert_allclose(geo.fractions.sum() * 64, len(geo.phi))


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="equidistant thickness coordinate gives 0.336 / 0.046 / 0.619 on the CCF "
    f"({TARGET}; -24 / -10 / +22 %): the pial side of a folium holds more volume",
)
def test_ccf_equidistant_layers_match_thickness_fractions():
    atlas = _ccf_atlas()
    layers = CerebellarLayers(coordinate="equidistant")
    geo = _ccf_geometry(atlas, layers)
    med = _median_wm_distance(atlas, geo)
    print(f"median distance to white matter (µm): {med}")
    assert med[0] < med[1] < med[2]
    assert np.all(np.abs(_relative_error(geo, layers)) < 0.10)


def test_ccf_folium_axis(ccf25_potential):
    # vermal folia run mediolaterally (transverse lobules); the axis lies in the tangent plane.
    # Measured: median |axis . ML| 0.95 in the vermis (0.60 in the hemispheres), median
    # |axis . normal| 0.013
    atlas, geo = ccf25_potential
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
    t_load = time.perf_counter() - t0
    print(f"solve {t_solve:.1f} s, load {t_load:.2f} s")
    assert t_load < t_solve / 5
    np.testing.assert_array_equal(again.depth, first.depth)
    np.testing.assert_array_equal(again.layer, first.layer)
    np.testing.assert_array_equal(again.folium_axis, first.folium_axis)


@pytest.mark.xfail(
    strict=True,
    reason="phi thresholds at the thickness fractions (MODEL_SPEC §2.5 step 3) give 0.274 / "
    f"0.033 / 0.692 on the CCF ({TARGET}), where 28 % of the voxels have phi > 0.9 (phi is far "
    "from linear in depth)",
)
def test_ccf_potential_thresholds_match_thickness_fractions(ccf25_potential):
    _, geo = ccf25_potential
    layers = CerebellarLayers(coordinate="potential")
    assert np.all(np.abs(_relative_error(geo, layers)) < 0.10)
