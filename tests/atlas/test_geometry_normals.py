"""Unit normals where the depth gradient vanishes."""

import numpy as np

from zentai.atlas.geometry import _unit_normals


def test_zero_gradient_voxels_get_a_neighbours_normal():
    """A voxel with no gradient takes its face neighbours' mean normal; an isolated one (or one
    whose neighbours' normals cancel) the nearest voxel's: every normal is a unit vector."""
    index = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 2], [5, 5, 5], [1, 0, 0], [-1, 0, 0]]) + 1
    grad = np.array([[0, 0, 0], [0, 2.0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 3.0], [0, 0, -3.0]])
    n = _unit_normals(index, grad)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0)
    np.testing.assert_allclose(n[2], [0, 1, 0])  # face neighbour (0, 0, 1)
    assert np.allclose(np.abs(n[3]).sum(), 1.0)  # isolated voxel: a copy of a real normal
