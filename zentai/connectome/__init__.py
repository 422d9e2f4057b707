"""Connection rules, the Allen regional connectomes, the voxel model and probabilities."""

from zentai.connectome.allen import Connection, RegionalConnectome, load_knox2019, load_oh2014
from zentai.connectome.probability import (
    calibrate_kappa,
    connection_probability,
    distance_delay,
    long_range_indegree,
)
from zentai.connectome.rules import (
    Bernoulli,
    Constant,
    DistanceGaussian,
    Distribution,
    Explicit,
    FixedIndegree,
    FixedTotalNumber,
    Normal,
    OneToOne,
    Rule,
    Uniform,
    distribution_from_dict,
    rule_from_dict,
)
from zentai.connectome.voxel import KINDS, VoxelConnectome

__all__ = [
    "KINDS",
    "Bernoulli",
    "Connection",
    "Constant",
    "DistanceGaussian",
    "Distribution",
    "Explicit",
    "FixedIndegree",
    "FixedTotalNumber",
    "Normal",
    "OneToOne",
    "RegionalConnectome",
    "Rule",
    "Uniform",
    "VoxelConnectome",
    "calibrate_kappa",
    "connection_probability",
    "distance_delay",
    "distribution_from_dict",
    "load_knox2019",
    "load_oh2014",
    "long_range_indegree",
    "rule_from_dict",
]
