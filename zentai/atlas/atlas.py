"""The Allen CCFv3 atlas: annotation volume + ontology, region masks, voxel geometry.

Array axes are (AP, DV, ML) as in Allen's NRRD files: AP index 0 is anterior, DV index 0 dorsal.
Hemispheres follow Allen's mouse_connectivity_models: left (hemisphere 1) is ML index < 57 at
100 µm (< 228 at 25 µm), right (hemisphere 2) is ML >= that midline index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from zentai.atlas.ontology import Ontology, load_ontology
from zentai.errors import SpecError

__all__ = ["Atlas", "load"]

_NAMES = {
    "allen_mouse_100um": ("annotation_100.nrrd", 100.0),
    "allen_mouse_25um": ("annotation_25.nrrd", 25.0),
}


@dataclass(eq=False)
class Atlas:
    """An annotation volume with its ontology.

    Attributes
    ----------
    annotation : ndarray, (AP, DV, ML), uint32
        Allen structure id of each voxel (0 = outside the brain).
    resolution_um : float
        Voxel edge length (µm).
    ontology : Ontology
    name : str
    """

    annotation: np.ndarray
    resolution_um: float
    ontology: Ontology
    name: str = "atlas"

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """(AP, DV, ML) voxel counts."""
        return tuple(self.annotation.shape)  # type: ignore[return-value]

    @property
    def midline_index(self) -> int:
        """First ML index of the right hemisphere (57 at 100 µm, 228 at 25 µm)."""
        return self.shape[2] // 2

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel (mm³)."""
        return (self.resolution_um * 1e-3) ** 3

    @cached_property
    def brain_mask(self) -> np.ndarray:
        """Voxels inside the brain (label != 0)."""
        return self.annotation != 0

    @property
    def n_brain_voxels(self) -> int:
        """Number of labelled voxels."""
        return int(self.brain_mask.sum())

    def voxel_centers_um(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Centres (µm) of the voxels in ``mask`` (all brain voxels by default), (n, 3) AP/DV/ML."""
        mask = self.brain_mask if mask is None else mask
        idx = np.argwhere(mask)
        return (idx + 0.5) * self.resolution_um

    def hemisphere(self, ml_index: np.ndarray | int) -> np.ndarray:
        """1 (left) or 2 (right) for ML indices."""
        return np.where(np.asarray(ml_index) < self.midline_index, 1, 2)

    # ------------------------------------------------------------------ regions
    @cached_property
    def _lut_size(self) -> int:
        return int(max(self.ontology.max_id, int(self.annotation.max()))) + 1

    def label_set(self, region: int | str) -> np.ndarray:
        """Structure ids of ``region`` and all its descendants."""
        return self.ontology.descendant_ids(region)

    def mask(self, region: int | str, hemisphere: int | str | None = None) -> np.ndarray:
        """Boolean mask of ``region`` (with its descendants), optionally one hemisphere.

        ``hemisphere``: None (both), 1 / "left", 2 / "right".
        """
        lut = np.zeros(self._lut_size, dtype=bool)
        ids = self.label_set(region)
        lut[ids[ids < lut.size]] = True
        m = lut[self.annotation]
        if hemisphere is not None:
            h = (
                None
                if isinstance(hemisphere, bool)
                else {"left": 1, "right": 2, 1: 1, 2: 2}.get(hemisphere)
            )
            if h is None:
                raise SpecError(
                    f"hemisphere must be None, 1/'left' or 2/'right'; got {hemisphere!r}."
                )
            ml = np.arange(self.shape[2])
            m &= (self.hemisphere(ml) == h)[None, None, :]
        return m

    def voxel_count(self, region: int | str, hemisphere: int | str | None = None) -> int:
        """Number of voxels of ``region`` (with descendants)."""
        return int(self.mask(region, hemisphere).sum())

    def volume_mm3(self, region: int | str, hemisphere: int | str | None = None) -> float:
        """Volume of ``region`` (mm³)."""
        return self.voxel_count(region, hemisphere) * self.voxel_volume_mm3

    def region_at(self, index: tuple[int, int, int]) -> str:
        """Acronym of the structure labelling voxel ``index`` ("" outside the brain)."""
        sid = int(self.annotation[tuple(index)])
        if sid == 0:
            return ""
        return self.ontology.acronym(sid)

    @cached_property
    def labels_present(self) -> np.ndarray:
        """Distinct non-zero labels in the volume."""
        u = np.unique(self.annotation)
        return u[u != 0]

    def __repr__(self) -> str:
        return (
            f"<Atlas {self.name}: {self.shape} voxels of {self.resolution_um:g} µm, "
            f"{self.n_brain_voxels:,} in the brain, {len(self.ontology)} structures>"
        )


def load(
    name: str | os.PathLike = "allen_mouse_100um", data_dir: str | os.PathLike | None = None
) -> Atlas:
    """Load a CCFv3 atlas by name, or a BrainGlobe atlas folder by path.

    Parameters
    ----------
    name : str or path
        ``"allen_mouse_100um"``, ``"allen_mouse_25um"``, or the path of a BrainGlobe atlas
        folder (read by :func:`zentai.atlas.brainglobe.read`).
    data_dir : path, optional
        Folder searched first for the named atlases' files; then ``$ZENTAI_DATA``, then the
        user cache. Files are checked against their published SHA-256.
    """
    import nrrd

    from zentai.atlas.data import find_file, verify
    from zentai.errors import closest

    if not isinstance(name, str) or name not in _NAMES:
        if os.path.isdir(os.path.expanduser(os.fspath(name))):
            from zentai.atlas.brainglobe import read

            return read(name)
        raise SpecError(
            f"Unknown atlas {os.fspath(name)!r}; {closest(os.fspath(name), _NAMES)}, or the "
            "path of a BrainGlobe atlas folder."
        )
    fname, res = _NAMES[name]
    path = find_file(fname, data_dir)
    verify(path)
    annotation, _header = nrrd.read(str(path))
    return Atlas(
        annotation=np.ascontiguousarray(annotation.astype(np.uint32, copy=False)),
        resolution_um=res,
        ontology=load_ontology(data_dir),
        name=name,
    )
