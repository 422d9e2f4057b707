"""Tensor code for each neuron model (one :class:`Dynamics` subclass per description class)."""

from __future__ import annotations

from zentai.sim.models.adex import AdExDynamics
from zentai.sim.models.base import Dynamics
from zentai.sim.models.izhikevich import Izhikevich2003Dynamics, Izhikevich2007Dynamics
from zentai.sim.models.lif import LIFDynamics
from zentai.sim.models.lif_ahp import LIFAHPDynamics
from zentai.sim.models.lif_cond import LIFCondDynamics

__all__ = ["Dynamics", "dynamics_for", "register"]

_REGISTRY: dict[type, type[Dynamics]] = {}


def register(cls: type[Dynamics]) -> type[Dynamics]:
    """Register a :class:`Dynamics` subclass for its ``model_class``."""
    _REGISTRY[cls.model_class] = cls
    return cls


def dynamics_for(model_class: type) -> type[Dynamics]:
    """The :class:`Dynamics` subclass that simulates ``model_class``."""
    try:
        return _REGISTRY[model_class]
    except KeyError:
        from zentai.errors import SpecError

        raise SpecError(
            f"No engine implementation for neuron model {model_class.__name__}; implemented: "
            f"{sorted(c.__name__ for c in _REGISTRY)}."
        ) from None


for _cls in (
    LIFDynamics,
    LIFCondDynamics,
    Izhikevich2003Dynamics,
    Izhikevich2007Dynamics,
    AdExDynamics,
    LIFAHPDynamics,
):
    register(_cls)
del _cls
