"""Stimulus descriptions: DC steps, Poisson generators, given spike trains.

A stimulus targets one population (``target``), optionally only the neurons listed in
``neurons`` (indices within the population). Times are in ms, currents in pA, rates in Hz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zentai import units as u
from zentai.errors import SpecError

__all__ = ["DC", "PoissonInput", "SpikeTrain", "Stimulus"]


def _neurons(owner: str, neurons: Any) -> tuple[int, ...] | None:
    if neurons is None:
        return None
    arr = np.asarray(neurons)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise SpecError(f"{owner}.neurons must be a list of integer indices; got {neurons!r}.")
    if arr.size and arr.min() < 0:
        raise SpecError(f"{owner}.neurons must be >= 0; got {int(arr.min())}.")
    return tuple(int(i) for i in arr)


def _window(owner: str, start: float, stop: float | None) -> None:
    if not (math.isfinite(start) and start >= 0):
        raise SpecError(f"{owner}.start must be a finite time >= 0; got {start!r} ms.")
    if stop is not None and not (stop > start):
        raise SpecError(f"{owner}.stop must be after start ({start} ms); got {stop!r} ms.")


class Stimulus:
    """Base of stimuli."""

    target: str
    neurons: tuple[int, ...] | None


@dataclass(frozen=True, kw_only=True)
class DC(Stimulus):
    """A current step of ``amplitude`` on [start, stop) (stop ``None``: to the end)."""

    target: str
    amplitude: float = u.param("pA")
    start: float = u.param("ms", 0.0)
    stop: float | None = u.param("ms", None)
    neurons: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        u.normalize(self)
        if not math.isfinite(self.amplitude):
            raise SpecError(f"DC.amplitude must be a finite current; got {self.amplitude!r} pA.")
        _window("DC", self.start, self.stop)
        object.__setattr__(self, "neurons", _neurons("DC", self.neurons))


@dataclass(frozen=True, kw_only=True)
class PoissonInput(Stimulus):
    """Independent Poisson input to every target neuron.

    Each neuron receives ``n_sources`` independent Poisson trains of ``rate`` (i.e. one train of
    ``n_sources * rate``), each spike adding ``weight`` (pA or nS by receptor) on ``receptor``.
    As NEST's ``poisson_generator`` connected to every neuron with in-degree ``n_sources``.
    """

    target: str
    rate: float = u.param("Hz")
    weight: float = 1.0
    n_sources: int = 1
    receptor: str | None = None
    start: float = u.param("ms", 0.0)
    stop: float | None = u.param("ms", None)
    neurons: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        u.normalize(self)
        if not (math.isfinite(self.rate) and self.rate >= 0):
            raise SpecError(f"PoissonInput.rate must be a rate >= 0; got {self.rate!r} Hz.")
        if isinstance(self.weight, (str, u.Quantity)):
            w = u.parse(self.weight) if isinstance(self.weight, str) else self.weight
            unit = "nS" if w.dimensionality == u.nS.dimensionality else "pA"
            object.__setattr__(self, "weight", u.to_canonical(w, unit, "PoissonInput.weight"))
        if not math.isfinite(self.weight):
            raise SpecError(f"PoissonInput.weight must be finite; got {self.weight!r}.")
        if not (isinstance(self.n_sources, int) and self.n_sources >= 1):
            raise SpecError(
                f"PoissonInput.n_sources must be a positive integer; got {self.n_sources!r}."
            )
        _window("PoissonInput", self.start, self.stop)
        object.__setattr__(self, "neurons", _neurons("PoissonInput", self.neurons))


@dataclass(frozen=True, kw_only=True)
class SpikeTrain(Stimulus):
    """Given spike times, each delivered to every target neuron after ``delay``."""

    target: str
    times: tuple[float, ...] = ()
    weight: float = 1.0
    delay: float = u.param("ms", 0.1)
    receptor: str | None = None
    neurons: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        u.normalize(self)
        times = np.asarray(u.to_canonical(self.times, "ms", "SpikeTrain.times"), dtype=float)
        times = np.atleast_1d(times)
        if times.size and (not np.all(np.isfinite(times)) or times.min() < 0):
            raise SpecError(f"SpikeTrain.times must be finite times >= 0 ms; got {self.times!r}.")
        object.__setattr__(self, "times", tuple(float(t) for t in np.sort(times)))
        if not math.isfinite(self.weight):
            raise SpecError(f"SpikeTrain.weight must be finite; got {self.weight!r}.")
        object.__setattr__(self, "neurons", _neurons("SpikeTrain", self.neurons))
