"""Region-to-region mouse connectomes: Oh et al. 2014 and Knox et al. 2019 (homogeneous model).

Both tables are linear-model coefficients ``W[s, t]``: the projection volume in target ``t`` per
unit of tracer-injected volume in source ``s`` (Oh et al. 2014, Nature 508:207, Methods; Knox et
al. 2019, Netw Neurosci 3:217, the regional "homogeneous" baseline). They are not divided by the
target volume.

Hemisphere convention
---------------------
The Allen injections are all in the right hemisphere, so the tables give ``ipsi`` = right -> right
and ``contra`` = right -> left. :class:`RegionalConnectome` assumes mirror symmetry: a source in
*either* hemisphere projects with ``W_ipsi`` to the same hemisphere and with ``W_contra`` to the
opposite one. :meth:`RegionalConnectome.full_matrix` writes this out over ``2 n`` nodes ordered
(left regions, right regions)::

    [[W_ipsi,   W_contra],     rows: source (left, right)
     [W_contra, W_ipsi  ]]     columns: target (left, right)

Queries at other ontology levels
--------------------------------
A query acronym ``A`` resolves against the model's regions:

* ``A`` is a model region: its row / column.
* ``A`` lies above model regions (``"MO"``, ``"Isocortex"``): the model regions below it, ``R(A)``.
  As a **source**, rows are averaged weighted by source volume,
  ``W[A, t] = sum_{s in R(A)} V_s W[s, t] / sum_{s in R(A)} V_s``, because W is per unit injected
  volume (an injection filling all of ``A`` injects ``V_s`` into each part). As a **target**,
  columns are summed, ``W[s, A] = sum_{t in R(A)} W[s, t]``, because projection volumes add up.
* ``A`` lies below a model region ``M`` (a layer such as ``"MOp5"``): as a source it takes ``M``'s
  row (the model is homogeneous within ``M``); as a target it takes ``M``'s column times
  ``V_A / V_M`` (projection volume spread evenly over ``M``).

``V`` is the region's voxel count in the right (injected) hemisphere of the atlas, descendants
included. Anything else raises :class:`~zentai.errors.RegionError` with the closest acronyms.
"""

from __future__ import annotations

import csv
import gzip
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from zentai.errors import RegionError, SpecError, closest

if TYPE_CHECKING:
    from zentai.atlas.atlas import Atlas
    from zentai.atlas.ontology import Ontology

__all__ = ["Connection", "RegionalConnectome", "load_knox2019", "load_oh2014"]

_HEMISPHERES = ("ipsi", "contra")


@dataclass(frozen=True)
class Connection:
    """One entry of a ranked :meth:`RegionalConnectome.targets` / ``sources`` list."""

    region: str
    hemisphere: str  # "ipsi" or "contra", relative to the source
    weight: float


@dataclass(eq=False)
class RegionalConnectome:
    """Dense region x region connectivity (per unit injected volume) for ipsi and contra.

    Attributes
    ----------
    name : str
    source_regions, target_regions : tuple of str
        Model region acronyms (rows, columns).
    w_ipsi, w_contra : ndarray, (n_sources, n_targets)
        ``W`` to the same / the opposite hemisphere. Targets missing from the table (Knox's
        contralateral RPA, RM, EW, OV, RO, which have no left-hemisphere voxels) hold 0.
    p_ipsi, p_contra : ndarray or None
        p-values (Oh 2014 only); NaN where ``W = 0`` (undefined in the source table).
    ontology : Ontology
    atlas : Atlas or None
        Gives the source volumes used for aggregation; loaded on first need when None.
    """

    name: str
    source_regions: tuple[str, ...]
    target_regions: tuple[str, ...]
    w_ipsi: np.ndarray
    w_contra: np.ndarray
    ontology: Ontology
    p_ipsi: np.ndarray | None = None
    p_contra: np.ndarray | None = None
    atlas: Atlas | None = None
    data_dir: str | os.PathLike | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        shape = (len(self.source_regions), len(self.target_regions))
        for m in (self.w_ipsi, self.w_contra):
            if m.shape != shape:
                raise SpecError(f"RegionalConnectome.w must have shape {shape}; got {m.shape}.")
        self._src_idx = {a: i for i, a in enumerate(self.source_regions)}
        self._tgt_idx = {a: i for i, a in enumerate(self.target_regions)}
        self._vol_cache: dict[int, int] = {}

    # ------------------------------------------------------------------ matrices
    def matrix(self, hemisphere: str = "ipsi") -> np.ndarray:
        """``W`` to the same (``"ipsi"``) or opposite (``"contra"``) hemisphere."""
        return self.w_ipsi if _hemi(hemisphere) == "ipsi" else self.w_contra

    def p_values(self, hemisphere: str = "ipsi") -> np.ndarray:
        """p-values of ``W`` (Oh 2014); :class:`SpecError` for a model without them."""
        if self.p_ipsi is None or self.p_contra is None:
            raise SpecError(f"RegionalConnectome {self.name!r} has no p-values (Oh 2014 has).")
        return self.p_ipsi if _hemi(hemisphere) == "ipsi" else self.p_contra

    def full_matrix(self) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """Both hemispheres, ``(2 n_sources, 2 n_targets)``, nodes (left regions, right regions).

        Returns the matrix and the node labels of its columns as ``(acronym, "left"|"right")``.
        Rows use the same order over :attr:`source_regions`.
        """
        top = np.hstack([self.w_ipsi, self.w_contra])
        bottom = np.hstack([self.w_contra, self.w_ipsi])
        t = self.target_regions
        labels = [(a, "left") for a in t] + [(a, "right") for a in t]
        return np.vstack([top, bottom]), labels

    # ------------------------------------------------------------------ resolution
    def _atlas(self) -> Atlas:
        if self.atlas is None:
            from zentai.atlas import load

            self.atlas = load(data_dir=self.data_dir)
        return self.atlas

    @cached_property
    def _right_counts(self) -> np.ndarray:
        """Voxel count of every label in the right (injected) hemisphere."""
        atlas = self._atlas()
        right = atlas.annotation[:, :, atlas.midline_index :]
        return np.bincount(right.ravel().astype(np.int64))

    def volume_voxels(self, region: str) -> int:
        """Right-hemisphere voxel count of ``region`` with its descendants (the weights ``V``)."""
        sid = self.ontology.id(region)
        if sid not in self._vol_cache:
            counts = self._right_counts
            ids = self.ontology.descendant_ids(sid)
            self._vol_cache[sid] = int(counts[ids[ids < counts.size]].sum())
        return self._vol_cache[sid]

    def _resolve(self, acronym: str, side: str) -> tuple[str, list[int]]:
        """("exact" | "above" | "inside", model indices) for ``acronym`` as a source or target."""
        model = self._src_idx if side == "source" else self._tgt_idx
        onto = self.ontology
        onto.get(acronym)  # RegionError with the closest acronyms
        if acronym in model:
            return "exact", [model[acronym]]
        below = [i for a, i in model.items() if onto.is_descendant(a, acronym)]
        if below:
            return "above", below
        for anc in onto.ancestors(acronym):
            if anc.acronym in model:
                return "inside", [model[anc.acronym]]
        raise RegionError(
            f"Region {acronym!r} has no counterpart among the {self.name} {side}s (neither one of "
            f"them, above them nor inside one); {closest(acronym, list(model))}."
        )

    def _row_weights(self, source: str) -> tuple[list[int], np.ndarray]:
        """Source indices and their averaging weights (volume-weighted mean, sum = 1)."""
        kind, idx = self._resolve(source, "source")
        if kind != "above" or len(idx) == 1:
            return idx[:1], np.ones(1)
        vol = np.array([float(self.volume_voxels(self.source_regions[i])) for i in idx])
        if vol.sum() == 0:  # no voxels in this atlas: plain mean
            vol = np.ones_like(vol)
        return idx, vol / vol.sum()

    def _column_weights(self, target: str) -> tuple[list[int], np.ndarray]:
        """Target indices and their summation factors (1, or V_target / V_model inside one)."""
        kind, idx = self._resolve(target, "target")
        if kind != "inside":
            return idx, np.ones(len(idx))
        total = self.volume_voxels(self.target_regions[idx[0]])
        share = self.volume_voxels(target) / total if total else 0.0
        return idx, np.array([share])

    def source_row(self, source: str, hemisphere: str = "ipsi") -> np.ndarray:
        """``W[source, :]`` over :attr:`target_regions`, ``source`` at any ontology level."""
        idx, a = self._row_weights(source)
        return a @ self.matrix(hemisphere)[idx]

    def target_column(self, target: str, hemisphere: str = "ipsi") -> np.ndarray:
        """``W[:, target]`` over :attr:`source_regions`, ``target`` at any ontology level."""
        idx, b = self._column_weights(target)
        return self.matrix(hemisphere)[:, idx] @ b

    # ------------------------------------------------------------------ queries
    def weight(self, source: str, target: str, hemisphere: str = "ipsi") -> float:
        """``W(source -> target)`` to the same (``"ipsi"``) or opposite (``"contra"``) side.

        Acronyms may be at any ontology level (aggregation rules in the module docstring); two
        model regions give the table entry itself, bit for bit.

        Examples
        --------
        >>> import numpy as np
        >>> from zentai.atlas.ontology import Ontology, Structure
        >>> onto = Ontology([Structure(1, "root", "root", None, 0, 0, "FFFFFF"),
        ...                  Structure(2, "A", "A", 1, 1, 1, "FFFFFF")])
        >>> c = RegionalConnectome("toy", ("A",), ("A",), np.array([[0.5]]), np.zeros((1, 1)),
        ...                        onto)
        >>> c.weight("A", "A"), c.weight("A", "A", "contra")
        (0.5, 0.0)
        """
        w = self.matrix(hemisphere)
        s_idx, a = self._row_weights(source)
        t_idx, b = self._column_weights(target)
        if len(s_idx) == 1 and len(t_idx) == 1 and a[0] == 1.0 and b[0] == 1.0:
            return float(w[s_idx[0], t_idx[0]])
        return float(a @ w[np.ix_(s_idx, t_idx)] @ b)

    def targets(self, source: str, n: int = 10, hemisphere: str = "both") -> list[Connection]:
        """The ``n`` strongest model targets of ``source``, strongest first.

        ``hemisphere``: ``"ipsi"``, ``"contra"`` or ``"both"`` (both ranked together).
        """
        hemis = _HEMISPHERES if hemisphere == "both" else (_hemi(hemisphere),)
        entries = [
            Connection(t, h, float(v))
            for h in hemis
            for t, v in zip(self.target_regions, self.source_row(source, h))
        ]
        return _top(entries, n)

    def sources(self, target: str, n: int = 10, hemisphere: str = "both") -> list[Connection]:
        """The ``n`` strongest model sources of ``target``, strongest first (as :meth:`targets`)."""
        hemis = _HEMISPHERES if hemisphere == "both" else (_hemi(hemisphere),)
        entries = [
            Connection(r, h, float(v))
            for h in hemis
            for r, v in zip(self.source_regions, self.target_column(target, h))
        ]
        return _top(entries, n)

    def __repr__(self) -> str:
        return (
            f"<RegionalConnectome {self.name}: {len(self.source_regions)} sources x "
            f"{len(self.target_regions)} targets, ipsi + contra>"
        )


def _hemi(hemisphere: str) -> str:
    if hemisphere not in _HEMISPHERES:
        raise SpecError(f"hemisphere must be 'ipsi' or 'contra'; got {hemisphere!r}.")
    return hemisphere


def _top(entries: list[Connection], n: int) -> list[Connection]:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise SpecError(f"n must be an integer >= 0; got {n!r}.")
    entries.sort(key=lambda c: -c.weight)
    return entries[:n]


# ====================================================================== loaders
def _read_tidy(
    name: str, data_dir: str | os.PathLike | None, ontology: Ontology
) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    from zentai.atlas.data import find_file, verify

    path = find_file(name, data_dir)
    verify(path)  # checksum from zentai.atlas.data.FILES
    with gzip.open(path, "rt", newline="") as f:
        rows = list(csv.DictReader(f))
    # ids are authoritative (Oh's "SUM " has a trailing space in the original)
    src_ids = list(dict.fromkeys(int(r["source_id"]) for r in rows))
    tgt_ids = list(dict.fromkeys(int(r["target_id"]) for r in rows))
    sources = tuple(ontology.acronym(i) for i in src_ids)
    targets = tuple(ontology.acronym(i) for i in tgt_ids)
    si = {s: k for k, s in enumerate(src_ids)}
    ti = {t: k for k, t in enumerate(tgt_ids)}
    shape = (len(sources), len(targets))
    w = {h: np.zeros(shape) for h in _HEMISPHERES}
    has_p = "p_value" in rows[0]
    p = {h: np.full(shape, np.nan) for h in _HEMISPHERES} if has_p else None
    for r in rows:
        i, j, h = si[int(r["source_id"])], ti[int(r["target_id"])], r["hemisphere"]
        w[h][i, j] = float(r["weight"])
        if p is not None and r["p_value"]:
            p[h][i, j] = float(r["p_value"])
    return sources, targets, w, p


def _ontology(atlas: Atlas | None, data_dir: str | os.PathLike | None) -> Ontology:
    if atlas is not None:
        return atlas.ontology
    from zentai.atlas.ontology import load_ontology

    return load_ontology(data_dir)


def load_oh2014(
    data_dir: str | os.PathLike | None = None, atlas: Atlas | None = None
) -> RegionalConnectome:
    """Oh et al. 2014 (Nature 508:207) linear model, Suppl. Table 3: W and p, 213 x 213 regions.

    Reads ``oh2014_connectivity_tidy.csv.gz`` (SHA-256 checked). ``atlas`` supplies the ontology
    and the volumes for aggregated queries (the 100 µm CCFv3 atlas is loaded when first needed).
    """
    onto = _ontology(atlas, data_dir)
    sources, targets, w, p = _read_tidy("oh2014_connectivity_tidy.csv.gz", data_dir, onto)
    assert p is not None
    return RegionalConnectome(
        "oh2014", sources, targets, w["ipsi"], w["contra"], onto, p["ipsi"], p["contra"],
        atlas=atlas, data_dir=data_dir,
    )  # fmt: skip


def load_knox2019(
    data_dir: str | os.PathLike | None = None, atlas: Atlas | None = None
) -> RegionalConnectome:
    """Knox et al. 2019 (Netw Neurosci 3:217) homogeneous regional model, 291 summary structures.

    Reads ``knox2019_homogeneous_model_tidy.csv.gz`` (from AllenInstitute/mouse_connectivity_models,
    ``paper/figures/model_comparison/output/homogeneous-standard-model.csv``). The 5 targets
    absent from the contralateral columns (no left-hemisphere voxels) hold 0 in ``w_contra``.
    """
    onto = _ontology(atlas, data_dir)
    sources, targets, w, _ = _read_tidy("knox2019_homogeneous_model_tidy.csv.gz", data_dir, onto)
    return RegionalConnectome(
        "knox2019", sources, targets, w["ipsi"], w["contra"], onto, atlas=atlas, data_dir=data_dir
    )
