"""Analysis of recorded activity: rates, spectra, spike phases and activity maps.

Plain functions, NumPy / xarray in and out; nothing here imports :mod:`zentai.sim`.
Groupings (population, region, layer, cell type, voxel) are given as a mapping
``name -> neuron ids`` or as one label per neuron (see :mod:`zentai.analysis.rates`).
"""

from zentai.analysis.maps import centroid, morans_i, top_view, voxel_activity
from zentai.analysis.phase import (
    bandpass_phase,
    circular_mean,
    phase_histogram,
    phase_table,
    spike_phases,
    vector_strength,
)
from zentai.analysis.rates import population_rate, propagation_latency
from zentai.analysis.spectral import (
    coherence,
    coherence_with_surrogates,
    peak_frequency,
    peak_ratio,
    power_spectrum,
)

__all__ = [
    "bandpass_phase",
    "centroid",
    "circular_mean",
    "coherence",
    "coherence_with_surrogates",
    "morans_i",
    "peak_frequency",
    "peak_ratio",
    "phase_histogram",
    "phase_table",
    "population_rate",
    "power_spectrum",
    "propagation_latency",
    "spike_phases",
    "top_view",
    "vector_strength",
    "voxel_activity",
]
