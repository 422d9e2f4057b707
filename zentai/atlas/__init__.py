"""Atlas stage: the Allen CCFv3 volumes and ontology, data files, geometry."""

from zentai.atlas.atlas import Atlas, load
from zentai.atlas.data import FILES, data_dir, find_file, verify
from zentai.atlas.ontology import Ontology, Structure, load_ontology

__all__ = [
    "FILES",
    "Atlas",
    "Ontology",
    "Structure",
    "data_dir",
    "find_file",
    "load",
    "load_ontology",
    "verify",
]
