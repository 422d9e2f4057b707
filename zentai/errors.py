"""Exception tree: every error zentai raises for bad input derives from :class:`ZentaiError`.

Each child also subclasses the matching builtin, so ``except ValueError`` keeps working.
Messages follow ``<Owner>.<field> must be <expected>; got <value!r>. <how to fix>.``
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "DataError",
    "DeviceError",
    "MemoryBudgetError",
    "RegionError",
    "RunawayWarning",
    "SimulationError",
    "SpecError",
    "UnitError",
    "ZentaiError",
    "ZentaiInternalError",
    "closest",
]


class ZentaiError(Exception):
    """Base class of all zentai errors."""


class SpecError(ZentaiError, ValueError):
    """A description (population, projection, stimulus, run argument) is invalid."""


class UnitError(SpecError, TypeError):
    """A quantity has the wrong physical dimension."""


class RegionError(SpecError, KeyError):
    """An unknown brain region (acronym or id)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DeviceError(ZentaiError, RuntimeError):
    """The requested device is unavailable."""


class DataError(ZentaiError, FileNotFoundError):
    """A data file is missing or corrupt."""


class MemoryBudgetError(ZentaiError, MemoryError):
    """A network or run would not fit in the available memory."""


class SimulationError(ZentaiError, RuntimeError):
    """The simulation reached an invalid state (e.g. NaN membrane potentials)."""


class RunawayWarning(RuntimeWarning):
    """Neurons fired faster than any real neuron can: their model left its valid range."""


class ZentaiInternalError(ZentaiError, AssertionError):
    """A broken internal invariant. Please report it."""


def closest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a sentence fragment naming the closest matches of ``name`` among ``choices``."""
    choices = list(choices)
    matches = difflib.get_close_matches(name, choices, n=n, cutoff=0.3)
    if matches:
        return "closest: " + ", ".join(repr(m) for m in matches)
    shown = ", ".join(repr(c) for c in choices[:12])
    more = ", ..." if len(choices) > 12 else ""
    return f"choose from {shown}{more}"
