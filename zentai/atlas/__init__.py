"""Atlas stage: the Allen CCFv3 volumes and ontology, data files, geometry."""

from zentai.atlas.atlas import Atlas, load
from zentai.atlas.cerebellum import (
    CEREBELLAR_LAYERS,
    CerebellarGeometry,
    CerebellarLayers,
    cerebellar_geometry,
)
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
from zentai.atlas.geometry import (
    CCF_LAYERS,
    LAYERS,
    ColumnCheck,
    CorticalGeometry,
    column_check,
    cortical_geometry,
    layer_depth_table,
    projected_distance,
    tangent_basis,
)
from zentai.atlas.ontology import Ontology, Structure, load_ontology
from zentai.atlas.synthetic import synthetic_atlas

__all__ = [
    "CCF_LAYERS",
    "CELL_CLASSES",
    "CEREBELLAR_LAYERS",
    "FALLBACK_NEURONS_PER_MM3",
    "FILES",
    "LAYERS",
    "Atlas",
    "CellDensities",
    "CerebellarGeometry",
    "CerebellarLayers",
    "ColumnCheck",
    "CorticalGeometry",
    "NeuronEstimate",
    "Ontology",
    "Structure",
    "cerebellar_geometry",
    "column_check",
    "cortical_geometry",
    "data_dir",
    "estimate_neurons",
    "find_file",
    "herculano_houzel_totals",
    "layer_depth_table",
    "load",
    "load_densities",
    "load_kim2017",
    "load_ontology",
    "load_rodarie2022",
    "projected_distance",
    "synthetic_atlas",
    "tangent_basis",
    "verify",
]
