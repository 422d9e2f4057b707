"""The simulation engine (state tensors, stepping, spike delivery, devices)."""

from zentai.sim.engine import Simulator, resolve_device, run

__all__ = ["Simulator", "resolve_device", "run"]
