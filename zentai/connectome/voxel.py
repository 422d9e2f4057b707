"""The Knox et al. 2019 voxel-scale connectome, read from files of Allen's mcmodels package.

Knox JE et al. (2019) Netw Neurosci 3:217. The model is distributed by
AllenInstitute/mouse_connectivity_models (``mcmodels``); ``VoxelModelCache`` downloads it (100 µm
only). zentai does not download it: supply the files that cache holds.

Expected files
--------------
``weights``
    ``(n_source_voxels, n_nodes)`` matrix, comma-separated text (mcmodels reads it with
    ``np.loadtxt(..., delimiter=',')``; ``.csv``, ``.csv.gz`` or ``.txt``), or a ``.npy`` array.
``nodes``
    ``(n_nodes, n_target_voxels)`` matrix, same formats. The voxel x voxel matrix is the product
    ``weights @ nodes`` (mcmodels ``VoxelConnectivityArray(weights, nodes)``); it is never formed
    whole here (about 200,000 x 400,000 at 100 µm).
``source_mask``, ``target_mask``
    JSON mask parameters as mcmodels stores them, ``{"structure_ids": [...], "hemisphere_id": h}``
    (h: 1 left, 2 right, 3 both; the Knox source mask is the right hemisphere, the target mask
    both). A mask's voxels are the atlas voxels labelled with a listed structure or one of its
    descendants, in the hemisphere, in C order of (AP, DV, ML) (``numpy.argwhere`` order), which
    is the row / column order of ``weights`` / ``nodes``.

Regionalised weights (MODEL_SPEC §6.1, mcmodels ``RegionalizedModel``), for source region S and
target region T with voxel counts |S| (in the source mask) and |T| (in the target mask):

* connection strength ``CS = Σ_{i in S} Σ_{j in T} w_ij``;
* connection density ``CS / |T|``;
* normalised connection strength ``CS / |S|``;
* normalised connection density ``CS / (|S| |T|)``.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zentai.errors import DataError, RegionError, SpecError

__all__ = ["KINDS", "VoxelConnectome"]

#: regionalised quantities of :meth:`VoxelConnectome.regional`
KINDS = ("strength", "density", "normalized_strength", "normalized_density")
_HEMI = {1: 1, 2: 2, 3: 3, "left": 1, "right": 2, "both": 3, None: 3}


def _read_matrix(path: str | os.PathLike, owner: str) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise DataError(
            f"VoxelConnectome.{owner}: {str(path)!r} does not exist; give the {owner} file of the "
            f"mcmodels voxel model (VoxelModelCache cache folder)."
        )
    if path.suffix == ".npy":
        arr = np.load(path)
    else:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as f:
            arr = np.loadtxt(f, delimiter=",", ndmin=2)
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2:
        raise DataError(
            f"VoxelConnectome.{owner} must be a 2-D matrix; {str(path)!r} is {arr.ndim}-D."
        )
    return arr


def _read_mask(path: str | os.PathLike | dict, owner: str) -> tuple[list[int], int]:
    if isinstance(path, dict):
        params = path
    else:
        try:
            params = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise DataError(f"VoxelConnectome.{owner}: {str(path)!r} does not exist.") from None
    if "structure_ids" not in params:
        raise DataError(
            f"VoxelConnectome.{owner} must hold mcmodels mask parameters "
            f"{{'structure_ids': [...], 'hemisphere_id': 1|2|3}}; got keys {sorted(params)}."
        )
    hemi = params.get("hemisphere_id", 3)
    if hemi not in (1, 2, 3):
        raise DataError(f"VoxelConnectome.{owner}.hemisphere_id must be 1, 2 or 3; got {hemi!r}.")
    return [int(i) for i in params["structure_ids"]], int(hemi)


@dataclass(eq=False)
class VoxelConnectome:
    """Voxel x voxel connectivity ``weights @ nodes`` over a source and a target voxel mask.

    Attributes
    ----------
    weights : ndarray, (n_source_voxels, n_nodes)
    nodes : ndarray, (n_nodes, n_target_voxels)
    source_mask, target_mask : ndarray of bool, atlas shape (AP, DV, ML)
    atlas : Atlas
    """

    weights: np.ndarray
    nodes: np.ndarray
    source_mask: np.ndarray
    target_mask: np.ndarray
    atlas: Any

    def __post_init__(self) -> None:
        n_s, n_t = int(self.source_mask.sum()), int(self.target_mask.sum())
        if self.weights.shape[1] != self.nodes.shape[0]:
            raise DataError(
                f"VoxelConnectome: weights has {self.weights.shape[1]} columns but nodes has "
                f"{self.nodes.shape[0]} rows; they must be the two factors of one model."
            )
        if self.weights.shape[0] != n_s or self.nodes.shape[1] != n_t:
            raise DataError(
                f"VoxelConnectome: weights rows ({self.weights.shape[0]}) and nodes columns "
                f"({self.nodes.shape[1]}) must equal the source ({n_s}) and target ({n_t}) mask "
                f"voxel counts in this atlas; check the atlas resolution (100 µm) and the masks."
            )
        self.source_coords = np.argwhere(self.source_mask)
        self.target_coords = np.argwhere(self.target_mask)
        self.source_labels = self.atlas.annotation[self.source_mask]
        self.target_labels = self.atlas.annotation[self.target_mask]

    @classmethod
    def from_files(
        cls,
        weights: str | os.PathLike,
        nodes: str | os.PathLike,
        source_mask: str | os.PathLike | dict,
        target_mask: str | os.PathLike | dict,
        atlas: Any = None,
        data_dir: str | os.PathLike | None = None,
    ) -> VoxelConnectome:
        """Read mcmodels voxel-model files (formats in the module docstring).

        ``atlas`` defaults to the 100 µm CCFv3 atlas (``zentai.atlas.load``), the only
        resolution the voxel model exists at.
        """
        if atlas is None:
            from zentai.atlas import load

            atlas = load("allen_mouse_100um", data_dir=data_dir)
        masks = []
        for spec, owner in ((source_mask, "source_mask"), (target_mask, "target_mask")):
            ids, hemi = _read_mask(spec, owner)
            m = np.zeros(atlas.shape, dtype=bool)
            for sid in ids:
                m |= atlas.mask(sid)
            if hemi != 3:
                m &= (atlas.hemisphere(np.arange(atlas.shape[2])) == hemi)[None, None, :]
            masks.append(m)
        return cls(
            _read_matrix(weights, "weights"),
            _read_matrix(nodes, "nodes"),
            masks[0],
            masks[1],
            atlas,
        )

    # ------------------------------------------------------------------ voxel selection
    @property
    def shape(self) -> tuple[int, int]:
        """(n_source_voxels, n_target_voxels)."""
        return (self.weights.shape[0], self.nodes.shape[1])

    def _select(self, voxels: Any, side: str, hemisphere: Any = None) -> np.ndarray:
        """Indices into the source / target voxel list of ``voxels``.

        ``voxels``: an acronym or id (the region's voxels in the mask), a boolean volume of the
        atlas shape, an integer index array, or None (all).
        """
        mask = self.source_mask if side == "source" else self.target_mask
        n = int(mask.sum())
        if voxels is None and hemisphere is None:
            return np.arange(n)
        if voxels is None or isinstance(voxels, (str, int, np.integer)):
            region = self.atlas.ontology.structures[0].id if voxels is None else voxels
            h = _HEMI.get(hemisphere)
            if h is None:
                raise SpecError(
                    f"hemisphere must be None, 'left', 'right' or 'both'; got {hemisphere!r}."
                )
            sel = self.atlas.mask(region, None if h == 3 else h)
            return np.flatnonzero(sel[mask])
        arr = np.asarray(voxels)
        if arr.dtype == bool:
            if arr.shape != mask.shape:
                raise SpecError(
                    f"a boolean voxel selection must have the atlas shape {mask.shape}; got "
                    f"{arr.shape}."
                )
            return np.flatnonzero(arr[mask])
        if arr.dtype.kind in "iu":
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise SpecError(
                    f"{side} voxel indices must be in [0, {n}); got values up to {arr.max()}."
                )
            return arr.ravel()
        raise SpecError(
            f"{side}_voxels must be a region acronym or id, a boolean volume or an integer index "
            f"array; got {type(voxels).__name__}."
        )

    def weights_between(
        self, source_voxels: Any = None, target_voxels: Any = None, target_hemisphere: Any = None
    ) -> np.ndarray:
        """Voxel weights ``(weights @ nodes)[source_voxels][:, target_voxels]``, formed lazily.

        Only the selected block is computed: ``weights[src] @ nodes[:, tgt]``.

        Returns
        -------
        ndarray, (n_selected_sources, n_selected_targets)
        """
        src = self._select(source_voxels, "source")
        tgt = self._select(target_voxels, "target", target_hemisphere)
        return self.weights[src] @ self.nodes[:, tgt]

    def regional(
        self,
        source_regions: list[str | int],
        target_regions: list[str | int],
        kind: str = "normalized_density",
        target_hemisphere: Any = None,
    ) -> np.ndarray:
        """Regionalised matrix ``(n_source_regions, n_target_regions)`` of ``kind``.

        ``kind``: one of :data:`KINDS` (definitions in the module docstring). Region sizes are
        voxel counts inside the source / target masks (``target_hemisphere`` restricts the
        targets: "left", "right" or None for both). Strength is computed as
        ``(1ᵀ weights[S]) (nodes[:, T] 1)`` without forming voxel blocks.
        """
        if kind not in KINDS:
            raise SpecError(f"VoxelConnectome.regional kind must be one of {KINDS}; got {kind!r}.")
        for r in (*source_regions, *target_regions):
            self.atlas.ontology.get(r)  # RegionError for unknown acronyms
        src = [self._select(r, "source") for r in source_regions]
        tgt = [self._select(r, "target", target_hemisphere) for r in target_regions]
        row_sums = np.stack([self.weights[i].sum(axis=0) for i in src]) if src else None
        col_sums = np.stack([self.nodes[:, j].sum(axis=1) for j in tgt], axis=1) if tgt else None
        if row_sums is None or col_sums is None:
            return np.zeros((len(src), len(tgt)))
        strength = row_sums @ col_sums
        n_s = np.array([len(i) for i in src], dtype=np.float64)
        n_t = np.array([len(j) for j in tgt], dtype=np.float64)
        empty = [r for r, k in zip(source_regions, n_s) if k == 0]
        if empty and kind.startswith("normalized"):
            raise RegionError(
                f"source region {empty[0]!r} has no voxels in the source mask; it cannot be "
                f"normalised by its size."
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind == "strength":
                return strength
            if kind == "density":
                return np.where(n_t > 0, strength / n_t, 0.0)
            if kind == "normalized_strength":
                return strength / n_s[:, None]
            return np.where(n_t > 0, strength / (n_s[:, None] * n_t[None, :]), 0.0)

    def __repr__(self) -> str:
        return (
            f"<VoxelConnectome {self.shape[0]:,} source x {self.shape[1]:,} target voxels, "
            f"rank {self.weights.shape[1]}>"
        )
