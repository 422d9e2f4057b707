"""Neuron densities and cell-class fractions: staged tables, hand-computed fractions, totals."""

import csv
import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from zentai.atlas.atlas import Atlas
from zentai.atlas.densities import (
    CELL_CLASSES,
    FALLBACK_NEURONS_PER_MM3,
    CellDensities,
    estimate_neurons,
    herculano_houzel_totals,
    load_densities,
    load_kim2017,
    load_rodarie2022,
)
from zentai.atlas.ontology import Ontology, Structure
from zentai.errors import SpecError

DATA = Path(os.environ.get("ZENTAI_DATA", "/work/shared/data/allen"))
needs_data = pytest.mark.skipif(
    not (DATA / "kim2017_interneurons_tidy.csv.gz").exists(),
    reason=f"staged Allen data not found in {DATA} (set ZENTAI_DATA)",
)


def _toy_ontology() -> Ontology:
    return Ontology(
        [
            Structure(997, "root", "root", None, 0, 0, "FFFFFF"),
            Structure(8, "grey", "grey", 997, 1, 1, "FFFFFF"),
            Structure(315, "Isocortex", "Isocortex", 8, 2, 2, "FFFFFF"),
            Structure(985, "MOp", "MOp", 315, 3, 3, "FFFFFF"),
            Structure(648, "MOp5", "MOp5", 985, 4, 4, "FFFFFF"),
            Structure(477, "STR", "Striatum", 8, 2, 5, "FFFFFF"),
            Structure(1009, "fiber tracts", "fiber tracts", 997, 1, 6, "FFFFFF"),
        ]
    )


def _toy_densities() -> CellDensities:
    onto = _toy_ontology()
    kim = {985: {"PV": 4000.0, "SST": 3000.0, "VIP": 1000.0}, 477: {"PV": 500.0, "SST": 0.0}}
    inhibitory = {985: 10000.0, 477: 200000.0}
    fallback = {"grey": 50000.0, "Isocortex": 80000.0, "fiber tracts": 0.0}
    return CellDensities(onto, kim, inhibitory, fallback)


def test_class_densities_by_hand():
    d = _toy_densities()
    dens, sources = d.class_densities("MOp5")  # inherits MOp's Kim and inhibitory values
    # N = 80000 (Isocortex), I = max(10000, 4000 + 3000 + 1000) = 10000
    assert dens == {"excitatory": 70000.0, "fs": 4000.0, "lts": 3000.0, "other_inhibitory": 3000.0}
    assert any("Kim" in s for s in sources) and any("Rodarie" in s for s in sources)
    f = d.fractions("MOp")
    assert f == pytest.approx({"excitatory": 0.875, "fs": 0.05, "lts": 0.0375,
                               "other_inhibitory": 0.0375})  # fmt: skip


def test_inhibitory_above_neuron_density_is_clipped():
    d = _toy_densities()
    # STR: N = 50000 (grey), I = 200000 > N -> everything scaled by 50000 / 200000
    f = d.fractions("STR")
    assert f["excitatory"] == 0.0
    assert f["fs"] == pytest.approx(500.0 * 0.25 / 50000.0)
    assert sum(f.values()) == pytest.approx(1.0)
    assert d.fractions("fiber tracts") == dict.fromkeys(CELL_CLASSES, 0.0)


def test_estimate_counts_are_density_times_volume_times_fraction():
    onto = _toy_ontology()
    ann = np.array([[[985, 648, 648, 477], [1009, 0, 985, 477]]], dtype=np.uint32)
    atlas = Atlas(annotation=ann, resolution_um=100.0, ontology=onto)
    d = _toy_densities()
    est = estimate_neurons(atlas, "MOp", fraction=0.5, densities=d)
    # 4 voxels of 0.001 mm³, 80000 neurons/mm³, fraction 0.5 -> 160 neurons; 87.5 % excitatory
    assert est.volume_mm3 == pytest.approx(0.004)
    assert est.total == pytest.approx(160.0)
    assert est.counts["excitatory"] == pytest.approx(140.0)
    est_root = estimate_neurons(atlas, "root", densities=d)
    assert est_root.total == pytest.approx((4 * 80000 + 2 * 50000) * 0.001)  # fiber tracts: 0
    with pytest.raises(SpecError, match=r"estimate_neurons.fraction must be in \(0, 1\]; got 0"):
        estimate_neurons(atlas, "MOp", fraction=0, densities=d)


# ---------------------------------------------------------------- staged tables
@needs_data
def test_kim2017_values_match_table():
    kim = load_kim2017(str(DATA))
    raw = {}
    with gzip.open(DATA / "kim2017_interneurons_tidy.csv.gz", "rt", newline="") as f:
        for r in csv.DictReader(f):
            if r["roi_acronym"] == "MOp" and r["measure"] == "density" and r["cell_type"] == "PV":
                raw[r["sex"]] = float(r["mean"])
    assert round(raw["male"]) == 4060 and round(raw["female"]) == 3880  # PROVENANCE.md
    assert kim[985]["PV"] == (raw["male"] + raw["female"]) / 2
    assert round(kim[985]["PV"]) == 3970


@needs_data
def test_rodarie2022_rows():
    rod = load_rodarie2022(str(DATA))
    assert set(rod) >= {"PV+", "SST+", "VIP+", "inhibitory neuron"}
    # VISp has two inhibitory-density rows in the table: 51785 and 25840 (rounded)
    assert sorted(round(v) for v in rod["inhibitory neuron"][385]) == [25840, 51785]


@pytest.fixture(scope="module")
def atlas():
    if not (DATA / "annotation_100.nrrd").exists():
        pytest.skip(f"annotation_100.nrrd not found in {DATA} (set ZENTAI_DATA)")
    from zentai.atlas import load

    return load(data_dir=DATA)


@needs_data
def test_fractions_are_valid_everywhere(atlas):
    d = load_densities(atlas.ontology, DATA)
    for label in atlas.labels_present.tolist():
        f = d.fractions(int(label))
        assert all(0.0 <= v <= 1.0 for v in f.values()), atlas.ontology.acronym(int(label))
        assert sum(f.values()) == pytest.approx(1.0) or sum(f.values()) == 0.0


@needs_data
def test_fallbacks_reproduce_herculano_houzel_by_volume(atlas):
    hh = herculano_houzel_totals(DATA)
    vol = atlas.volume_mm3
    cb = hh["cerebellum"] / vol("CB")
    ob = hh["olfactory_bulb"] / (vol("MOB") + vol("AOB"))
    ctx_n = 2 * hh["cerebral_cortex_one_hemisphere"]
    ctx = ctx_n / (vol("Isocortex") + vol("ENT") + vol("PIR"))
    rest_v = vol("grey") - vol("CB") - vol("MOB") - vol("AOB")
    rest_v -= vol("Isocortex") + vol("ENT") + vol("PIR")
    rest = (hh["whole_brain_excluding_olfactory_bulb"] - hh["cerebellum"] - ctx_n) / rest_v
    table = FALLBACK_NEURONS_PER_MM3
    for name, value in (("CB", cb), ("MOB", ob), ("Isocortex", ctx), ("TH", rest), ("HPF", rest)):
        assert table[name] == pytest.approx(value, rel=5e-3), name  # rounded to 3 digits


@needs_data
def test_whole_brain_total_near_herculano_houzel(atlas):
    # The fallbacks are HH totals divided by these very volumes, so this checks the bookkeeping
    # (every grey voxel counted once, fiber tracts empty), not an independent measurement.
    # Measured at 100 µm: 71,766,242 vs 71,760,000 (+0.009 %).
    hh = herculano_houzel_totals(DATA)["whole_brain"]
    est = estimate_neurons(atlas, "root", data_dir=DATA)
    assert est.total == pytest.approx(hh, rel=1e-3)
    assert sum(est.counts.values()) == pytest.approx(est.total)
    mop = estimate_neurons(atlas, "MOp", data_dir=DATA, fraction=0.01)
    assert mop.total == pytest.approx(11.376 * 69.0e3 * 0.01)
