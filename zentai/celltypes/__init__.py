"""Neuron and synapse model descriptions and published parameter sets."""

from zentai.celltypes.models import (
    LIF,
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
    "AdEx",
    "Izhikevich2003",
    "Izhikevich2007",
    "Izhikevich2007Variant",
    "LIFCond",
    "NeuronModel",
    "Receptor",
    "model_class",
    "model_names",
]
