"""Place neurons in atlas voxels by cell-class density x volume x fraction.

Counts per (voxel, class) use stochastic rounding of the expected number, keyed by
(seed, class, voxel), so totals are unbiased at small fractions and the same seed gives the same
cells; positions are uniform within the voxel, keyed by (seed, class, voxel, cell).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from zentai import rng

__all__ = ["Placement", "place_in_voxels"]


@dataclass(frozen=True)
class Placement:
    """Neurons of one cell class placed in voxels.

    Attributes
    ----------
    voxel : ndarray, (n,), int64
        Row of each neuron in the voxel table given to :func:`place_in_voxels`.
    positions_um : ndarray, (n, 3), float64
        Soma positions (AP, DV, ML) in µm.
    """

    voxel: np.ndarray
    positions_um: np.ndarray

    @property
    def size(self) -> int:
        """Number of neurons."""
        return int(self.voxel.size)


def place_in_voxels(
    voxel_index: np.ndarray,
    expected: np.ndarray,
    resolution_um: float,
    seed: int,
    label: str,
) -> Placement:
    """Place ``expected[v]`` neurons (stochastically rounded) uniformly in voxel ``v``.

    Parameters
    ----------
    voxel_index : ndarray, (V, 3), int
        Voxel indices (AP, DV, ML).
    expected : ndarray, (V,), float
        Expected neuron count per voxel (density x voxel volume x fraction).
    resolution_um : float
    seed : int
    label : str
        Name of the cell class (part of the random key).

    Examples
    --------
    >>> import numpy as np
    >>> p = place_in_voxels(np.array([[0, 0, 0], [0, 0, 1]]), np.array([2.0, 0.5]), 100.0, 1, "E")
    >>> int((p.voxel == 0).sum())
    2
    """
    voxel_index = np.asarray(voxel_index, dtype=np.int64)
    expected = np.asarray(expected, dtype=np.float64)
    flat = torch.as_tensor(
        voxel_index[:, 0] * 1_000_000 + voxel_index[:, 1] * 1_000 + voxel_index[:, 2]
    )
    base = np.floor(expected)
    u = rng.uniform(rng.key(seed, "place", label), flat, 0).numpy()
    counts = (base + (u < expected - base)).astype(np.int64)
    voxel = np.repeat(np.arange(len(counts)), counts)
    k = np.arange(voxel.size) - np.repeat(np.cumsum(counts) - counts, counts)
    stream = flat[voxel] if voxel.size else torch.zeros(0, dtype=torch.int64)
    kk = torch.as_tensor(k)
    jitter = np.stack(
        [rng.uniform(rng.key(seed, "position", label, c), stream, kk).numpy() for c in range(3)],
        axis=1,
    )
    positions = (voxel_index[voxel] + jitter) * resolution_um
    return Placement(voxel=voxel, positions_um=positions)
