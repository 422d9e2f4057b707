"""Recorder descriptions, the :class:`Result` of a run, and synthetic recordings of it
(:mod:`zentai.record.synthetic`: calcium imaging, fibre photometry, Neuropixels-like probes)."""

from zentai.record import synthetic
from zentai.record.recorders import PopulationRate, Recorder, Spikes, StateMonitor

__all__ = ["PopulationRate", "Recorder", "Spikes", "StateMonitor", "synthetic"]
