"""The synthetic atlas: deterministic layout with the geometry its docstring promises."""

import numpy as np
import pytest

from zentai.atlas.synthetic import (
    R_PIA,
    R_WM,
    analytic_cortex_depth,
    analytic_cortex_normal,
    synthetic_atlas,
)
from zentai.errors import SpecError


def test_shape_and_counts_are_deterministic():
    a, b = synthetic_atlas(100, seed=0), synthetic_atlas(100, seed=0)
    assert a.shape == (40, 24, 32)  # 4000 x 2400 x 3200 µm at 100 µm
    np.testing.assert_array_equal(a.annotation, b.annotation)
    assert a.n_brain_voxels < 50_000  # "tens of thousands at most"
    for acr in ("SYN1", "SYN2/3", "SYN4", "SYN5", "SYN6a", "SYN6b", "ccs", "CBXs", "arbs"):
        assert a.voxel_count(acr) > 0, acr


def test_seed_moves_only_the_nuclei():
    a, b = synthetic_atlas(100, seed=0), synthetic_atlas(100, seed=1)
    assert not np.array_equal(a.mask("CBNs"), b.mask("CBNs"))
    np.testing.assert_array_equal(a.mask("SYN"), b.mask("SYN"))
    np.testing.assert_array_equal(a.mask("CBXs"), b.mask("CBXs"))


def test_layers_sit_at_their_radial_fractions():
    # layer k holds s = (R_PIA - r) / (R_PIA - R_WM) in [bounds[k], bounds[k+1]] (module doc)
    a = synthetic_atlas(50)
    bounds = (0.0, 0.1, 0.35, 0.45, 0.7, 0.9, 1.0)
    for k, suffix in enumerate(("1", "2/3", "4", "5", "6a", "6b")):
        p = a.voxel_centers_um(a.mask(f"SYN{suffix}"))
        r = np.hypot(p[:, 1] - 2400.0, p[:, 2] - 1600.0)
        s = (R_PIA - r) / (R_PIA - R_WM)
        assert s.min() >= bounds[k] - 1e-9
        assert s.max() <= bounds[k + 1] + 1e-9


def test_analytic_depth_and_normal_at_known_points():
    # on the axis' dorsal ray: r = 2000 (pia) -> 0, r = 1000 (white matter) -> 1
    p = np.array(
        [[100.0, 400.0, 1600.0], [100.0, 1400.0, 1600.0], [100.0, 2400.0 - 1414.2, 1600.0]]
    )
    np.testing.assert_allclose(analytic_cortex_depth(p), [0.0, 1.0, 0.5], atol=1e-4)
    np.testing.assert_allclose(analytic_cortex_normal(p)[0], [0.0, 1.0, 0.0])  # ventral


def test_resolution_is_checked():
    with pytest.raises(SpecError, match=r"resolution_um must be a number in \[10, 200\] µm"):
        synthetic_atlas(1000)
