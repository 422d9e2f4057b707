"""Atlas stage: the Allen CCFv3 volumes and ontology, data files, geometry."""

from zentai.atlas.atlas import Atlas, load
from zentai.atlas.data import FILES, data_dir, find_file, verify
from zentai.atlas.densities import (
    CELL_CLASSES,
    FALLBACK_NEURONS_PER_MM3,
    CellDensities,
    NeuronEstimate,
    estimate_neurons,
    herculano_houzel_totals,
    load_densities,
    load_kim2017,
    load_rodarie2022,
)
from zentai.atlas.ontology import Ontology, Structure, load_ontology

__all__ = [
    "CELL_CLASSES",
    "FALLBACK_NEURONS_PER_MM3",
    "FILES",
    "Atlas",
    "CellDensities",
    "NeuronEstimate",
    "Ontology",
    "Structure",
    "data_dir",
    "estimate_neurons",
    "find_file",
    "herculano_houzel_totals",
    "load",
    "load_densities",
    "load_kim2017",
    "load_ontology",
    "load_rodarie2022",
    "verify",
]
