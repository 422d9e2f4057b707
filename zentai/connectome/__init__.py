"""Connection rules and (later) the Allen connectome."""

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

__all__ = [
    "Bernoulli",
    "Constant",
    "DistanceGaussian",
    "Distribution",
    "Explicit",
    "FixedIndegree",
    "FixedTotalNumber",
    "Normal",
    "OneToOne",
    "Rule",
    "Uniform",
    "distribution_from_dict",
    "rule_from_dict",
]
