"""Recorder descriptions and the :class:`Result` of a run."""

from zentai.record.recorders import PopulationRate, Recorder, Spikes, StateMonitor

__all__ = ["PopulationRate", "Recorder", "Spikes", "StateMonitor"]
