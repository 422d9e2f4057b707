"""Connection rules and value distributions (descriptions only; generation is in ``build``).

Rules say which (pre, post) pairs are connected; distributions say what weight and delay each
synapse gets. Both are frozen dataclasses that round-trip through TOML via ``kind`` names.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from zentai import units as u
from zentai.errors import SpecError, closest

__all__ = [
    "Bernoulli",
    "Constant",
    "DistanceGaussian",
    "Distribution",
    "Explicit",
    "FixedIndegree",
    "FixedTotalNumber",
    "GroupBernoulli",
    "Normal",
    "OneToOne",
    "Rule",
    "Uniform",
    "distribution_from_dict",
    "rule_from_dict",
]


# ----------------------------------------------------------------------------- distributions
class Distribution:
    """Base of value distributions. Values may be quantities; ``in_unit`` converts them."""

    kind: ClassVar[str] = ""

    def in_unit(self, unit: str, owner: str) -> Distribution:
        """A copy whose numbers are plain floats in ``unit`` (quantities converted)."""
        changes = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None or f.metadata.get("unitless"):
                continue
            changes[f.name] = u.to_canonical(v, unit, owner=f"{owner}.{f.name}")
        return dataclasses.replace(self, **changes)

    @property
    def mean(self) -> float:
        """Mean of the distribution before any truncation (for sign and scale checks)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with ``kind`` for TOML."""
        d = {"kind": self.kind}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None:
                d[f.name] = v
        return d


@dataclass(frozen=True)
class Constant(Distribution):
    """Every synapse gets ``value``."""

    kind: ClassVar[str] = "constant"
    value: Any

    @property
    def mean(self) -> float:
        return float(self.value)


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal(mean, std); values outside [low, high] are redrawn (NEST's ``redraw``)."""

    kind: ClassVar[str] = "normal"
    mu: Any
    sigma: Any
    low: Any = None
    high: Any = None

    def __post_init__(self) -> None:
        s = self.sigma
        if isinstance(s, (int, float)) and not (s >= 0 and math.isfinite(s)):
            raise SpecError(f"Normal.sigma must be a finite number >= 0; got {s!r}.")
        lo, hi = self.low, self.high
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and not lo < hi:
            raise SpecError(f"Normal.low must be below Normal.high; got low={lo!r}, high={hi!r}.")

    @property
    def mean(self) -> float:
        return float(self.mu)


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on [low, high)."""

    kind: ClassVar[str] = "uniform"
    low: Any
    high: Any

    def __post_init__(self) -> None:
        lo, hi = self.low, self.high
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and not lo <= hi:
            raise SpecError(
                f"Uniform.low must not exceed Uniform.high; got low={lo!r}, high={hi!r}."
            )

    @property
    def mean(self) -> float:
        return 0.5 * (float(self.low) + float(self.high))


_DISTRIBUTIONS = {c.kind: c for c in (Constant, Normal, Uniform)}


def distribution_from_dict(d: Any, owner: str = "distribution") -> Distribution:
    """Build a distribution from a number, quantity string or ``{"kind": ...}`` dict."""
    if isinstance(d, Distribution):
        return d
    if isinstance(d, (int, float, str, u.Quantity)):
        return Constant(d)
    if isinstance(d, dict):
        d = dict(d)
        kind = d.pop("kind", None)
        if kind not in _DISTRIBUTIONS:
            raise SpecError(f"{owner}.kind must be one of {sorted(_DISTRIBUTIONS)}; got {kind!r}.")
        return _DISTRIBUTIONS[kind](**d)
    raise SpecError(f"{owner} must be a number, quantity or distribution; got {d!r}.")


# --------------------------------------------------------------------------------- rules
class Rule:
    """Base of connection rules."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with ``kind`` for TOML."""
        d: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                v = v.tolist()
            d[f.name] = v
        return d


def _check_prob(owner: str, p: float) -> None:
    if not (isinstance(p, (int, float, np.floating)) and 0.0 <= p <= 1.0):
        raise SpecError(f"{owner} must be a probability in [0, 1]; got {p!r}.")


def _check_count(owner: str, n: Any) -> None:
    if not (isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0):
        raise SpecError(f"{owner} must be a non-negative integer; got {n!r}.")


@dataclass(frozen=True)
class FixedIndegree(Rule):
    """Each postsynaptic neuron draws ``k`` presynaptic partners uniformly.

    With ``allow_multapses`` the draws are with replacement (NEST ``fixed_indegree``).
    """

    kind: ClassVar[str] = "fixed_indegree"
    k: int
    allow_autapses: bool = True
    allow_multapses: bool = True

    def __post_init__(self) -> None:
        _check_count("FixedIndegree.k", self.k)


@dataclass(frozen=True)
class FixedTotalNumber(Rule):
    """``n`` synapses in total, each between a uniformly drawn pre and post neuron.

    As NEST ``fixed_total_number`` with multapses and autapses allowed: the in-degrees follow a
    multinomial distribution over the postsynaptic neurons.
    """

    kind: ClassVar[str] = "fixed_total_number"
    n: int
    allow_autapses: bool = True

    def __post_init__(self) -> None:
        _check_count("FixedTotalNumber.n", self.n)


@dataclass(frozen=True)
class Bernoulli(Rule):
    """Each (pre, post) pair is connected independently with probability ``p``."""

    kind: ClassVar[str] = "bernoulli"
    p: float
    allow_autapses: bool = True

    def __post_init__(self) -> None:
        _check_prob("Bernoulli.p", self.p)


@dataclass(frozen=True)
class OneToOne(Rule):
    """Pre neuron i connects to post neuron i (populations of equal size)."""

    kind: ClassVar[str] = "one_to_one"


@dataclass(frozen=True)
class DistanceGaussian(Rule):
    """Bernoulli with ``p(d) = p_max exp(-d² / (2 sigma²))`` of the distance d.

    Needs positions on both populations; pairs beyond ``cutoff_sigma * sigma`` are never
    connected. ``dims`` selects the coordinates used (e.g. (0, 1) for a planar distance).

    ``tangent=True`` measures d in the plane tangent to the brain surface at the postsynaptic
    neuron: ``d = |(r_i - r_j) - ((r_i - r_j)·n_j) n_j|`` with the post population's
    ``normals`` n_j (MODEL_SPEC §1.4; Igarashi et al. 2019 wire cortex this way).

    ``mean_indegree`` replaces ``p_max``: p_max is set so that the mean expected in-degree
    over a fixed sample of postsynaptic neurons equals it (capped at 1; MODEL_SPEC §1.4
    calibration without the infinite-sheet assumption, so region borders count).
    """

    kind: ClassVar[str] = "distance_gaussian"
    p_max: float | None = None
    sigma: Any = field(default=100.0, metadata={"unit": "um"})
    cutoff_sigma: float = 3.0
    dims: tuple[int, ...] = (0, 1, 2)
    allow_autapses: bool = False
    tangent: bool = False
    mean_indegree: float | None = None

    def __post_init__(self) -> None:
        if (self.p_max is None) == (self.mean_indegree is None):
            raise SpecError(
                "DistanceGaussian needs exactly one of p_max (a probability) or mean_indegree "
                f"(a target in-degree); got p_max={self.p_max!r}, "
                f"mean_indegree={self.mean_indegree!r}."
            )
        if self.p_max is not None:
            _check_prob("DistanceGaussian.p_max", self.p_max)
        elif not (
            isinstance(self.mean_indegree, (int, float, np.number))
            and self.mean_indegree >= 0
            and math.isfinite(self.mean_indegree)
        ):
            raise SpecError(
                f"DistanceGaussian.mean_indegree must be a finite number >= 0; got "
                f"{self.mean_indegree!r}."
            )
        object.__setattr__(
            self, "sigma", u.to_canonical(self.sigma, "um", owner="DistanceGaussian.sigma")
        )
        if not (self.sigma > 0 and math.isfinite(self.sigma)):
            raise SpecError(f"DistanceGaussian.sigma must be positive; got {self.sigma!r} µm.")
        if not self.cutoff_sigma > 0:
            raise SpecError(
                f"DistanceGaussian.cutoff_sigma must be positive; got {self.cutoff_sigma!r}."
            )
        dims = tuple(int(x) for x in self.dims)
        if not dims or len(set(dims)) != len(dims) or min(dims) < 0 or max(dims) > 2:
            raise SpecError(
                f"DistanceGaussian.dims must be distinct coordinate indices in 0..2; got {dims!r}."
            )
        if self.tangent and dims != (0, 1, 2):
            raise SpecError(
                f"DistanceGaussian.tangent projects 3-D displacements; dims must be (0, 1, 2); "
                f"got {dims!r}."
            )
        object.__setattr__(self, "dims", dims)


@dataclass(frozen=True, eq=False)
class Explicit(Rule):
    """Connections given as index arrays (e.g. from a builder), local to each population."""

    kind: ClassVar[str] = "explicit"
    pre_idx: Any
    post_idx: Any

    def __post_init__(self) -> None:
        pre = np.asarray(self.pre_idx)
        post = np.asarray(self.post_idx)
        if pre.shape != post.shape or pre.ndim != 1:
            raise SpecError(
                f"Explicit.pre_idx and post_idx must be 1-D arrays of equal length; got shapes "
                f"{pre.shape} and {post.shape}."
            )
        if pre.size and (pre.dtype.kind not in "iu" or post.dtype.kind not in "iu"):
            raise SpecError("Explicit.pre_idx and post_idx must be integer arrays.")
        object.__setattr__(self, "pre_idx", pre.astype(np.int64))
        object.__setattr__(self, "post_idx", post.astype(np.int64))


@dataclass(frozen=True, eq=False)
class GroupBernoulli(Rule):
    """Bernoulli with one probability per (pre group, post group), optionally topographic.

    Each neuron carries a group label (e.g. the brain area it sits in): ``pre_groups[i]`` in
    ``[0, G_pre)`` and ``post_groups[j]`` in ``[0, G_post)``, or -1 for a neuron that takes no
    part. Pair (i, j) connects with ``p[pre_groups[i], post_groups[j]]``. This is how an
    area-by-area connectome (MODEL_SPEC §6.2) wires populations that span several areas
    without splitting them per area.

    Topography (``topo_sigma`` with ``pre_coords`` / ``post_coords``, one row of map coordinates
    per neuron, any units shared by both): ``p_ij = min(1, p[g, h] k_ij / m_j(g))`` with
    ``k_ij = exp(-|c_i - c_j|² / 2 topo_sigma²)`` and ``m_j(g)`` the mean of ``k_ij`` over the
    pre neurons ``i`` of group ``g``. The expected number of inputs a neuron receives from each
    group is kept (up to the clipping at 1); only which neurons of the group provide them follows
    the map.
    """

    kind: ClassVar[str] = "group_bernoulli"
    p: Any
    pre_groups: Any
    post_groups: Any
    topo_sigma: float | None = None
    pre_coords: Any = None
    post_coords: Any = None
    allow_autapses: bool = False

    def __post_init__(self) -> None:
        p = np.asarray(self.p, dtype=np.float64)
        if p.ndim != 2 or not np.all(np.isfinite(p)) or (p.size and (p.min() < 0 or p.max() > 1)):
            raise SpecError(
                "GroupBernoulli.p must be a 2-D array (pre groups x post groups) of "
                f"probabilities in [0, 1]; got shape {p.shape}"
                + (f" with values in [{p.min():g}, {p.max():g}]." if p.size else ".")
            )
        object.__setattr__(self, "p", p)
        for name, n_groups in (("pre_groups", p.shape[0]), ("post_groups", p.shape[1])):
            g = np.asarray(getattr(self, name))
            if g.ndim != 1 or (g.size and g.dtype.kind not in "iu"):
                raise SpecError(
                    f"GroupBernoulli.{name} must be a 1-D integer array (one group per neuron); "
                    f"got shape {g.shape}, dtype {g.dtype}."
                )
            g = g.astype(np.int64)
            if g.size and (g.min() < -1 or g.max() >= n_groups):
                bad = int(g[(g < -1) | (g >= n_groups)][0])
                raise SpecError(
                    f"GroupBernoulli.{name} must hold groups in [0, {n_groups}) or -1 (no "
                    f"group) to match p's shape {p.shape}; got {bad}."
                )
            object.__setattr__(self, name, g)
        topo = (self.topo_sigma, self.pre_coords, self.post_coords)
        if any(t is not None for t in topo):
            if any(t is None for t in topo):
                raise SpecError(
                    "GroupBernoulli topography needs all of topo_sigma, pre_coords and "
                    "post_coords; got "
                    + ", ".join(
                        f"{n}={'set' if t is not None else None}"
                        for n, t in zip(("topo_sigma", "pre_coords", "post_coords"), topo)
                    )
                    + "."
                )
            if not (isinstance(self.topo_sigma, (int, float)) and self.topo_sigma > 0):
                raise SpecError(f"GroupBernoulli.topo_sigma must be > 0; got {self.topo_sigma!r}.")
            for name, groups in (("pre_coords", "pre_groups"), ("post_coords", "post_groups")):
                c = np.asarray(getattr(self, name), dtype=np.float64)
                n = getattr(self, groups).size
                if c.ndim != 2 or c.shape[0] != n or not np.all(np.isfinite(c)):
                    raise SpecError(
                        f"GroupBernoulli.{name} must be a finite (n, D) array with n = "
                        f"len({groups}) = {n}; got shape {c.shape}."
                    )
                object.__setattr__(self, name, c)
            if self.pre_coords.shape[1] != self.post_coords.shape[1]:
                raise SpecError(
                    "GroupBernoulli.pre_coords and post_coords must have the same number of "
                    f"columns; got {self.pre_coords.shape[1]} and {self.post_coords.shape[1]}."
                )
            object.__setattr__(self, "topo_sigma", float(self.topo_sigma))

    def expected_indegree(self) -> np.ndarray:
        """Expected in-degree of each post neuron (without the clipping at 1)."""
        n_pre = np.bincount(self.pre_groups[self.pre_groups >= 0], minlength=self.p.shape[0])
        per_group = n_pre @ self.p
        return np.where(self.post_groups >= 0, per_group[self.post_groups], 0.0)


_RULES = {
    c.kind: c
    for c in (
        FixedIndegree,
        FixedTotalNumber,
        Bernoulli,
        OneToOne,
        DistanceGaussian,
        Explicit,
        GroupBernoulli,
    )
}


def rule_from_dict(d: Any) -> Rule:
    """Build a rule from a ``{"kind": ...}`` dict (as read from TOML)."""
    if isinstance(d, Rule):
        return d
    if not isinstance(d, dict):
        raise SpecError(f"Projection.rule must be a rule or a dict with 'kind'; got {d!r}.")
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in _RULES:
        raise SpecError(f"Unknown connection rule {kind!r}; {closest(str(kind), _RULES)}.")
    if "dims" in d:
        d["dims"] = tuple(d["dims"])
    return _RULES[kind](**d)
