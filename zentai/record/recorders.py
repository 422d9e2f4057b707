"""Recorder descriptions: what the engine keeps while it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from zentai import units as u
from zentai.errors import SpecError

__all__ = ["PopulationRate", "Recorder", "Spikes", "StateMonitor"]


class Recorder:
    """Base of recorders."""


def _pops(owner: str, pops: Any) -> tuple[str, ...] | None:
    if pops is None:
        return None
    if isinstance(pops, str):
        return (pops,)
    return tuple(str(p) for p in pops)


@dataclass(frozen=True, kw_only=True)
class Spikes(Recorder):
    """Record every spike (member, neuron, time) of the named populations (all if ``None``)."""

    populations: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "populations", _pops("Spikes", self.populations))


@dataclass(frozen=True, kw_only=True)
class PopulationRate(Recorder):
    """Population-averaged firing rate in bins of ``bin`` (Hz per neuron)."""

    bin: float = u.param("ms", 1.0)
    populations: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        u.normalize(self)
        if not self.bin > 0:
            raise SpecError(f"PopulationRate.bin must be a positive time; got {self.bin!r} ms.")
        object.__setattr__(self, "populations", _pops("PopulationRate", self.populations))


@dataclass(frozen=True, kw_only=True)
class StateMonitor(Recorder):
    """Sample state ``variables`` of ``neurons`` (indices in ``population``) every ``interval``.

    ``interval`` of ``None`` samples every step.
    """

    population: str
    variables: tuple[str, ...] = ("v",)
    neurons: tuple[int, ...] | None = None
    interval: float | None = u.param("ms", None)

    def __post_init__(self) -> None:
        u.normalize(self)
        if isinstance(self.variables, str):
            object.__setattr__(self, "variables", (self.variables,))
        object.__setattr__(self, "variables", tuple(self.variables))
        if self.neurons is not None:
            arr = np.asarray(self.neurons)
            if arr.ndim != 1 or (arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0)):
                raise SpecError(
                    f"StateMonitor.neurons must be non-negative integer indices; "
                    f"got {self.neurons!r}."
                )
            object.__setattr__(self, "neurons", tuple(int(i) for i in arr))
        if self.interval is not None and not self.interval > 0:
            raise SpecError(
                f"StateMonitor.interval must be a positive time; got {self.interval!r} ms."
            )
