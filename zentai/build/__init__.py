"""Build stage: network descriptions and their assembly into a :class:`Network`."""

from zentai.build.network import Group, Network, network
from zentai.build.spec import NetworkSpec, Population, Projection

__all__ = ["Group", "Network", "NetworkSpec", "Population", "Projection", "network"]
