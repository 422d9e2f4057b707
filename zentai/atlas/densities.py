"""Per-region neuron densities and cell-class fractions (MODEL_SPEC §1.5).

Sources, in the order they are used:

1. **Neuron density (all neurons)**: no per-region total-neuron table is staged (Erö et al. 2018 is
   not available as a file), so every structure takes the density of its deepest entry in
   :data:`FALLBACK_NEURONS_PER_MM3`. These are Herculano-Houzel's neuron totals divided by CCFv3
   volumes (100 µm annotation, both hemispheres):

   - cerebellum: 42.22e6 neurons (Herculano-Houzel et al. 2011, Brain Behav Evol 78:302, Table 1)
     / CB 53.719 mm³ = 786e3 /mm³;
   - olfactory bulb: 3.89e6 (ibid.) / MOB + AOB 17.056 mm³ = 228e3 /mm³;
   - cerebral cortex: 2 x 5,048,837 (one hemisphere; Herculano-Houzel, Watson & Paxinos 2013,
     Front Neuroanat 7:35, Table 1), mapped, as atlas-densities 0.2.6 does, to Isocortex + ENT
     + PIR 146.312 mm³ = 69.0e3 /mm³;
   - everything else in "grey" (HPF but ENT, the rest of OLF, CTXsp, STR, PAL, TH, HY, MB, P,
     MY): the remaining 67.87e6 - 42.22e6 - 10.10e6 = 15.55e6 neurons of the brain without the
     olfactory bulb (Herculano-Houzel et al. 2011, Table 1) / 231.875 mm³ = 67.1e3 /mm³;
   - fiber tracts and ventricles: 0; voxels labelled only "root" (3,589 at 100 µm): 0.

   The Herculano-Houzel numbers were transcribed from atlas-densities 0.2.6 and not re-checked
   against the papers (see the data folder's PROVENANCE.md). One density per division is a coarse
   stand-in: real densities vary several-fold within a division.
2. **Interneuron subtypes**: PV, SST and VIP densities of Kim et al. 2017 (Cell 171:456, mmc3,
   cells/mm³), the mean of the male and female means, from the structure itself or its nearest
   ancestor with data.
3. **All inhibitory neurons**: the mean of the Rodarie et al. 2022 (PLoS Comput Biol
   18:e1010739) literature rows "inhibitory neuron / cell density" of the structure or its
   nearest ancestor, but never below PV + SST + VIP; without such a row, PV + SST + VIP (a lower
   bound: these three groups cover most but not all GABAergic neurons; Rudy et al. 2011, Dev
   Neurobiol 71:45).

Cell classes: FS = PV+, LTS = SST+, other inhibitory = inhibitory - PV - SST (VIP and the rest),
excitatory = neurons - inhibitory. Where the inhibitory density exceeds the neuron density
(e.g. STR, 358e3 /mm³ GAD67+ in Rodarie's table), all four are scaled so that inhibitory =
neurons. PV+ as "FS" is the neocortical convention; in the cerebellum PV also marks Purkinje cells.
"""

from __future__ import annotations

import csv
import gzip
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from zentai.errors import SpecError

if TYPE_CHECKING:
    from zentai.atlas.atlas import Atlas
    from zentai.atlas.ontology import Ontology

__all__ = [
    "CELL_CLASSES",
    "FALLBACK_NEURONS_PER_MM3",
    "CellDensities",
    "NeuronEstimate",
    "estimate_neurons",
    "herculano_houzel_totals",
    "load_densities",
    "load_kim2017",
    "load_rodarie2022",
]

CELL_CLASSES = ("excitatory", "fs", "lts", "other_inhibitory")

#: neurons per mm³ by division; a structure uses its deepest listed ancestor (derivation above)
FALLBACK_NEURONS_PER_MM3: dict[str, float] = {
    "grey": 67.1e3,  # HH 2011 brain minus CB minus cortex (HH 2013), / rest of grey
    "Isocortex": 69.0e3,  # HH 2013 Table 1, 2 x 5,048,837 / (Isocortex + ENT + PIR)
    "ENT": 69.0e3,  # as Isocortex
    "PIR": 69.0e3,  # as Isocortex
    "OLF": 67.1e3,  # rest of grey
    "MOB": 228e3,  # HH 2011 Table 1 olfactory bulb 3.89e6 / (MOB + AOB)
    "AOB": 228e3,  # as MOB
    "HPF": 67.1e3,  # rest of grey
    "CTXsp": 67.1e3,  # rest of grey
    "STR": 67.1e3,  # rest of grey
    "PAL": 67.1e3,  # rest of grey
    "TH": 67.1e3,  # rest of grey
    "HY": 67.1e3,  # rest of grey
    "MB": 67.1e3,  # rest of grey
    "P": 67.1e3,  # rest of grey
    "MY": 67.1e3,  # rest of grey
    "CB": 786e3,  # HH 2011 Table 1 cerebellum 42.22e6 / CB 53.719 mm³
    "fiber tracts": 0.0,
    "VS": 0.0,
}

_CITE = {
    "hh": "Herculano-Houzel et al. 2011 (Brain Behav Evol 78:302) and 2013 (Front Neuroanat "
    "7:35) totals / CCFv3 volumes",
    "kim": "Kim et al. 2017 (Cell 171:456) PV/SST/VIP densities, mean of male and female",
    "rodarie": "Rodarie et al. 2022 (PLoS Comput Biol 18:e1010739) inhibitory neuron densities",
    "lower": "inhibitory = PV + SST + VIP (lower bound; no inhibitory-density row)",
}


def _open(name: str, data_dir: str | os.PathLike | None):
    from zentai.atlas.data import find_file, verify

    path = find_file(name, data_dir)
    verify(path)  # checksum from zentai.atlas.data.FILES
    return gzip.open(path, "rt", newline="") if name.endswith(".gz") else open(path, newline="")


@lru_cache(maxsize=4)
def load_kim2017(data_dir: str | None = None) -> dict[int, dict[str, float]]:
    """Kim et al. 2017 densities (cells/mm³) by Allen id: ``{"PV", "SST", "VIP"}``.

    Each value is the mean of the male and the female mean (N = 5 each; mmc3). ROIs without an
    Allen id (ACBcr, ACBsh, PAGdl, PAGdm, PAGl, PAGvl, VISl23) and "N/D" entries are left out.
    """
    by: dict[tuple[int, str], list[float]] = {}
    with _open("kim2017_interneurons_tidy.csv.gz", data_dir) as f:
        for r in csv.DictReader(f):
            if r["measure"] != "density" or r["cell_type"] not in ("PV", "SST", "VIP"):
                continue
            if r["sex"] not in ("male", "female") or not r["allen_id"] or not r["mean"]:
                continue
            by.setdefault((int(r["allen_id"]), r["cell_type"]), []).append(float(r["mean"]))
    out: dict[int, dict[str, float]] = {}
    for (sid, cell_type), values in by.items():
        if len(values) == 2:
            out.setdefault(sid, {})[cell_type] = (values[0] + values[1]) / 2.0
    return out


@lru_cache(maxsize=4)
def load_rodarie2022(data_dir: str | None = None) -> dict[str, dict[int, list[float]]]:
    """Rodarie et al. 2022 literature densities (cells/mm³): ``{cell_type: {allen_id: [values]}}``.

    Only rows with measurement type "cell density" in "number of cells per mm^3" and a resolved
    Allen id are kept (cell types "PV+", "SST+", "VIP+", "inhibitory neuron").
    """
    out: dict[str, dict[int, list[float]]] = {}
    with _open("rodarie2022_literature_measurements.csv.gz", data_dir) as f:
        for r in csv.DictReader(f):
            if r["measurement_type"] != "cell density" or not r["allen_id"]:
                continue
            if r["measurement_unit"] != "number of cells per mm^3":
                continue
            cell = out.setdefault(r["cell_type"], {})
            cell.setdefault(int(r["allen_id"]), []).append(float(r["measurement"]))
    return out


def herculano_houzel_totals(data_dir: str | os.PathLike | None = None) -> dict[str, float]:
    """Neuron totals of Herculano-Houzel et al. 2011 / 2013 (``herculano_houzel_cell_counts.csv``).

    Keys: ``whole_brain_excluding_olfactory_bulb``, ``olfactory_bulb``, ``cerebellum``,
    ``cerebral_cortex_one_hemisphere``, plus ``whole_brain`` (the first two added).
    """
    with _open("herculano_houzel_cell_counts.csv", data_dir) as f:
        out = {r["group"]: float(r["neurons"]) for r in csv.DictReader(f)}
    out["whole_brain"] = out["whole_brain_excluding_olfactory_bulb"] + out["olfactory_bulb"]
    return out


@dataclass(frozen=True)
class NeuronEstimate:
    """Expected neuron counts of a region by cell class, with the sources used."""

    region: str
    volume_mm3: float
    fraction: float
    counts: dict[str, float]  # keys: CELL_CLASSES
    sources: tuple[str, ...] = field(default=())

    @property
    def total(self) -> float:
        """All neurons (sum over the classes)."""
        return float(sum(self.counts.values()))

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {
            "region": self.region,
            "volume_mm3": self.volume_mm3,
            "fraction": self.fraction,
            "total": self.total,
            "counts": dict(self.counts),
            "sources": list(self.sources),
        }


class CellDensities:
    """Neuron density and class densities (per mm³) of every structure of an ontology."""

    def __init__(
        self,
        ontology: Ontology,
        kim: dict[int, dict[str, float]],
        inhibitory: dict[int, float],
        fallback: dict[str, float] | None = None,
    ) -> None:
        self.ontology = ontology
        self.kim = kim
        self.inhibitory = inhibitory
        fallback = FALLBACK_NEURONS_PER_MM3 if fallback is None else fallback
        self.fallback = {ontology.id(a): v for a, v in fallback.items() if a in ontology}
        self._cache: dict[int, tuple[dict[str, float], tuple[str, ...]]] = {}

    def _nearest(self, sid: int, table: dict) -> int | None:
        s = self.ontology.get(sid)
        while s is not None:
            if s.id in table:
                return s.id
            s = self.ontology.parent(s.id)
        return None

    def neuron_density(self, region: int | str) -> float:
        """Neurons per mm³ of ``region`` (its deepest entry in the fallback table, else 0)."""
        hit = self._nearest(self.ontology.id(region), self.fallback)
        return 0.0 if hit is None else float(self.fallback[hit])

    def class_densities(self, region: int | str) -> tuple[dict[str, float], tuple[str, ...]]:
        """Per-mm³ densities by :data:`CELL_CLASSES` of one structure, and the sources used.

        Treats ``region`` as homogeneous (the rules in the module docstring); for a region with
        subregions use :func:`estimate_neurons`, which sums over the labelled voxels.
        """
        sid = self.ontology.id(region)
        if sid in self._cache:
            return self._cache[sid]
        n = self.neuron_density(sid)
        sources = [_CITE["hh"]]
        kim_id = self._nearest(sid, self.kim)
        kim = self.kim.get(kim_id, {}) if kim_id is not None else {}
        pv, sst, vip = (kim.get(k, 0.0) for k in ("PV", "SST", "VIP"))
        if kim:
            sources.append(_CITE["kim"])
        inh_id = self._nearest(sid, self.inhibitory)
        if inh_id is not None:
            inh = max(self.inhibitory[inh_id], pv + sst + vip)
            sources.append(_CITE["rodarie"])
        else:
            inh = pv + sst + vip
            sources.append(_CITE["lower"])
        if n <= 0:
            dens = dict.fromkeys(CELL_CLASSES, 0.0)
            sources = [_CITE["hh"]]
        else:
            scale = min(1.0, n / inh) if inh > 0 else 1.0
            pv, sst, inh = pv * scale, sst * scale, inh * scale
            dens = {
                "excitatory": max(n - inh, 0.0),
                "fs": pv,
                "lts": sst,
                "other_inhibitory": max(inh - pv - sst, 0.0),
            }
        out = (dens, tuple(sources))
        self._cache[sid] = out
        return out

    def fractions(self, region: int | str) -> dict[str, float]:
        """Fractions of neurons by class (each in [0, 1], summing to 1; all 0 without neurons)."""
        dens, _ = self.class_densities(region)
        total = sum(dens.values())
        return {k: (v / total if total > 0 else 0.0) for k, v in dens.items()}


def load_densities(
    ontology: Ontology | None = None, data_dir: str | os.PathLike | None = None
) -> CellDensities:
    """:class:`CellDensities` from the staged Kim 2017 and Rodarie 2022 tables."""
    if ontology is None:
        from zentai.atlas.ontology import load_ontology

        ontology = load_ontology(data_dir)
    key = None if data_dir is None else str(data_dir)
    inh = {
        sid: float(np.mean(v))
        for sid, v in load_rodarie2022(key).get("inhibitory neuron", {}).items()
        if sid in ontology
    }
    kim = {sid: v for sid, v in load_kim2017(key).items() if sid in ontology}
    return CellDensities(ontology, kim, inh)


def estimate_neurons(
    atlas: Atlas,
    region: int | str,
    fraction: float = 1.0,
    hemisphere: int | str | None = None,
    densities: CellDensities | None = None,
    data_dir: str | os.PathLike | None = None,
) -> NeuronEstimate:
    """Expected neurons of ``region`` by cell class: Σ over labels of density x volume x fraction.

    Each annotation label inside the region (the region itself and its descendants) uses its own
    class densities (:meth:`CellDensities.class_densities`), so a region spanning divisions
    (``"CH"``, ``"root"``) mixes their densities by volume.

    Parameters
    ----------
    atlas : Atlas
    region : str or int
        Allen acronym or id.
    fraction : float
        Fraction of the neurons to keep, in (0, 1] (a scaled-down model).
    hemisphere : None, 1/"left", 2/"right"
    densities : CellDensities, optional
        Default: :func:`load_densities` on the atlas ontology.
    """
    if isinstance(fraction, bool) or not (0.0 < float(fraction) <= 1.0):
        raise SpecError(f"estimate_neurons.fraction must be in (0, 1]; got {fraction!r}.")
    if densities is None:
        densities = load_densities(atlas.ontology, data_dir)
    mask = atlas.mask(region, hemisphere)
    labels, voxels = np.unique(atlas.annotation[mask], return_counts=True)
    counts = dict.fromkeys(CELL_CLASSES, 0.0)
    sources: list[str] = []
    vv = atlas.voxel_volume_mm3
    for label, n_vox in zip(labels.tolist(), voxels.tolist()):
        dens, src = densities.class_densities(int(label))
        for k in CELL_CLASSES:
            counts[k] += dens[k] * n_vox * vv * fraction
        sources.extend(s for s in src if s not in sources)
    return NeuronEstimate(
        region=atlas.ontology.acronym(region),
        volume_mm3=float(mask.sum()) * vv,
        fraction=float(fraction),
        counts=counts,
        sources=tuple(sources),
    )
