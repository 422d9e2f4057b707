"""Analysis of recorded activity: rates, spectra, spike phases and activity maps.

Plain functions, NumPy / xarray in and out; nothing here imports :mod:`zentai.sim`.
Groupings (population, region, layer, cell type, voxel) are given as a mapping
``name -> neuron ids`` or as one label per neuron (see :mod:`zentai.analysis.rates`).
"""

from zentai.analysis.rates import population_rate, propagation_latency
from zentai.analysis.spectral import (
    coherence,
    coherence_with_surrogates,
    peak_frequency,
    peak_ratio,
    power_spectrum,
)

__all__ = [
    "coherence",
    "coherence_with_surrogates",
    "peak_frequency",
    "peak_ratio",
    "population_rate",
    "power_spectrum",
    "propagation_latency",
]
