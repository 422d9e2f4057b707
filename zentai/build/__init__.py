"""Build stage: network descriptions, built-in models and their assembly into a Network."""

from zentai.build.microcircuit import microcircuit
from zentai.build.network import Group, Network, network
from zentai.build.spec import NetworkSpec, Population, Projection, TsodyksMarkram
from zentai.errors import SpecError, closest

__all__ = [
    "BUILTIN_MODELS",
    "Group",
    "Network",
    "NetworkSpec",
    "Population",
    "Projection",
    "TsodyksMarkram",
    "builtin",
    "microcircuit",
    "network",
]

#: built-in models by name -> function returning a NetworkSpec
BUILTIN_MODELS = {"microcircuit": microcircuit}


def builtin(name: str, **kwargs) -> NetworkSpec:
    """The spec of built-in model ``name`` (e.g. ``"microcircuit"``), built with ``kwargs``."""
    if name not in BUILTIN_MODELS:
        raise SpecError(f"Unknown model {name!r}; {closest(name, BUILTIN_MODELS)}.")
    return BUILTIN_MODELS[name](**kwargs)
