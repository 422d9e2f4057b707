"""Neuron and synapse model descriptions and published parameter sets."""

from zentai.celltypes.catalog import (
    CellType,
    catalog,
    cell_type,
    geminiani_2019,
    izhikevich_2007_m1,
    izhikevich_2007_pons,
    izhikevich_2007_thalamus,
    lindahl_2016,
    yamazaki_nagao_2012,
)
from zentai.celltypes.models import (
    LIF,
    LIFAHP,
    AdEx,
    Izhikevich2003,
    Izhikevich2007,
    Izhikevich2007Variant,
    LIFCond,
    NeuronModel,
    Receptor,
    model_class,
    model_names,
)

__all__ = [
    "LIF",
    "LIFAHP",
    "AdEx",
    "CellType",
    "Izhikevich2003",
    "Izhikevich2007",
    "Izhikevich2007Variant",
    "LIFCond",
    "NeuronModel",
    "Receptor",
    "catalog",
    "cell_type",
    "geminiani_2019",
    "izhikevich_2007_m1",
    "izhikevich_2007_pons",
    "izhikevich_2007_thalamus",
    "lindahl_2016",
    "model_class",
    "model_names",
    "yamazaki_nagao_2012",
]
