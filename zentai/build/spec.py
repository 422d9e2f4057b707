"""Network descriptions: populations, projections and the whole :class:`NetworkSpec`.

Descriptions hold numbers and names, never tensors, and draw no random numbers;
:func:`zentai.build.network` turns a spec into a :class:`~zentai.build.Network`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zentai import units as u
from zentai.celltypes.models import NeuronModel
from zentai.connectome.rules import (
    Constant,
    Rule,
    distribution_from_dict,
    rule_from_dict,
)
from zentai.errors import SpecError, closest
from zentai.record.recorders import Recorder
from zentai.stim import Stimulus

__all__ = ["NetworkSpec", "Population", "Projection", "TsodyksMarkram"]


@dataclass(frozen=True, kw_only=True, eq=False)
class Population:
    """A group of ``size`` neurons of one ``model``.

    Parameters
    ----------
    name : str
        Unique name, e.g. ``"L2/3E"`` or ``"MOp.L2/3.E"``.
    size : int
        Number of neurons.
    model : NeuronModel
        Neuron description (scalar parameters shared by all neurons).
    params : mapping of str to array, optional
        Per-neuron overrides of model parameters, each of shape ``(size,)`` in canonical units.
    initial : mapping of str to Distribution, optional
        Initial values of state variables (e.g. ``{"v": Normal(-58, 10)}``), drawn per neuron
        from the simulation seed; unspecified variables start at the model's rest values.
    positions : array, (size, 3), µm, optional
        Soma positions.
    normals : array, (size, 3), optional
        Unit vectors normal to the local brain surface at each neuron (for cortical sheets: the
        depth gradient), used by rules that measure distance in the tangent plane.
    labels : mapping of str to str, optional
        Descriptive labels such as region, layer, cell type.
    """

    name: str
    size: int
    model: NeuronModel
    params: Mapping[str, Any] = field(default_factory=dict)
    initial: Mapping[str, Any] = field(default_factory=dict)
    positions: Any = None
    normals: Any = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"Population.name must be a non-empty string; got {self.name!r}.")
        if isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer)):
            raise SpecError(
                f"Population.size must be a non-negative integer; got {self.size!r} "
                f"for population {self.name!r}."
            )
        object.__setattr__(self, "size", int(self.size))
        if self.size < 0:
            raise SpecError(
                f"Population.size must be a non-negative integer; got {self.size!r} "
                f"for population {self.name!r}."
            )
        if not isinstance(self.model, NeuronModel):
            raise SpecError(
                f"Population.model must be a neuron model (e.g. zt.celltypes.LIF()); got "
                f"{self.model!r} for population {self.name!r}."
            )
        names = self.model.param_names()
        params = {}
        for k, v in dict(self.params).items():
            if k not in names:
                raise SpecError(
                    f"Population {self.name!r}: {type(self.model).__name__} has no parameter "
                    f"{k!r}; {closest(k, names)}."
                )
            unit = u.field_unit(self.model, k) or "1"
            arr = np.asarray(u.to_canonical(v, unit, owner=f"{self.name}.params.{k}"), float)
            if arr.ndim == 0:
                arr = np.full(self.size, float(arr))
            if arr.shape != (self.size,):
                raise SpecError(
                    f"Population {self.name!r}: params[{k!r}] must have shape ({self.size},); "
                    f"got {arr.shape}."
                )
            if not np.all(np.isfinite(arr)):
                raise SpecError(f"Population {self.name!r}: params[{k!r}] must be finite.")
            params[k] = arr
        object.__setattr__(self, "params", params)
        states = type(self.model).state_names
        init = {}
        for k, v in dict(self.initial).items():
            if k not in states:
                raise SpecError(
                    f"Population {self.name!r}: {type(self.model).__name__} has no state "
                    f"variable {k!r}; state variables: {list(states)}."
                )
            init[k] = distribution_from_dict(v, owner=f"{self.name}.initial.{k}")
        object.__setattr__(self, "initial", init)
        if self.positions is not None:
            pos = np.asarray(self.positions, dtype=float)
            if pos.shape != (self.size, 3):
                raise SpecError(
                    f"Population {self.name!r}: positions must have shape ({self.size}, 3) "
                    f"in µm; got {pos.shape}."
                )
            object.__setattr__(self, "positions", pos)
        if self.normals is not None:
            nrm = np.asarray(self.normals, dtype=float)
            if nrm.shape != (self.size, 3) or not np.all(np.isfinite(nrm)):
                raise SpecError(
                    f"Population {self.name!r}: normals must be finite with shape "
                    f"({self.size}, 3); got {nrm.shape}."
                )
            length = np.linalg.norm(nrm, axis=1)
            if self.size and np.abs(length - 1.0).max() > 1e-3:
                raise SpecError(
                    f"Population {self.name!r}: normals must be unit vectors; got lengths in "
                    f"[{length.min():.3g}, {length.max():.3g}]."
                )
            object.__setattr__(self, "normals", nrm)
        object.__setattr__(self, "labels", {str(k): str(v) for k, v in dict(self.labels).items()})


@dataclass(frozen=True)
class TsodyksMarkram:
    """Short-term depression and facilitation of a projection's synapses (Tsodyks, Pawelzik &
    Markram 1998, Neural Comput. 10:821; the update order of NEST's ``tsodyks2_synapse``).

    At each presynaptic spike, ``h`` ms after the previous one, the resources ``x`` recover
    and the release probability ``u`` facilitates::

        x <- 1 + (x - u x - 1) exp(-h / tau_rec)
        u <- U + u (1 - U) exp(-h / tau_fac)        (exp(...) = 0 when tau_fac = 0)

    and the spike is transmitted with ``weight * u * x / U``: the projection's weight is the
    efficacy of a first spike after a long silence (x = 1, u = U), as in Lindahl & Hellgren
    Kotaleski (2016). NEST 3.10's ``tsodyks2_synapse`` with weight = ours / U, u = U and x = 1
    gives the same postsynaptic membrane to 1e-13 mV (``benchmarks/stp_nest.py``, four
    parameter sets). The state is kept per presynaptic neuron and member: every synapse of the
    projection from one neuron sees the same spikes.

    Parameters
    ----------
    U : float
        Release increment, in (0, 1].
    tau_rec : float
        Recovery time constant of the resources (ms), > 0.
    tau_fac : float
        Facilitation time constant (ms), >= 0 (0: no facilitation).
    """

    U: float
    tau_rec: float
    tau_fac: float = 0.0

    def __post_init__(self) -> None:
        for name in ("U", "tau_rec", "tau_fac"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise SpecError(f"TsodyksMarkram.{name} must be a number; got {v!r}.")
            object.__setattr__(self, name, float(v))
        if not 0 < self.U <= 1:
            raise SpecError(f"TsodyksMarkram.U must be in (0, 1]; got {self.U}.")
        if self.tau_rec <= 0:
            raise SpecError(f"TsodyksMarkram.tau_rec must be > 0 ms; got {self.tau_rec}.")
        if self.tau_fac < 0:
            raise SpecError(f"TsodyksMarkram.tau_fac must be >= 0 ms; got {self.tau_fac}.")

    def to_dict(self) -> dict[str, float]:
        return {"U": self.U, "tau_rec": self.tau_rec, "tau_fac": self.tau_fac}


def _stp_from(value: Any) -> TsodyksMarkram | None:
    if value is None or isinstance(value, TsodyksMarkram):
        return value
    if isinstance(value, dict):
        extra = set(value) - {"U", "tau_rec", "tau_fac"}
        if extra or not {"U", "tau_rec"} <= set(value):
            raise SpecError(
                f"Projection.stp must have the keys U, tau_rec (and optionally tau_fac); got "
                f"{sorted(value)}."
            )
        return TsodyksMarkram(**value)
    raise SpecError(f"Projection.stp must be a TsodyksMarkram or None; got {value!r}.")


@dataclass(frozen=True, kw_only=True, eq=False)
class Projection:
    """Synapses from population ``pre`` to population ``post``.

    Parameters
    ----------
    pre, post : str
        Population names.
    rule : Rule
        Connection rule (:mod:`zentai.connectome.rules`).
    weight : Distribution or number
        Synaptic weight in the receptor's unit (pA for current, nS for conductance synapses);
        the sign of a current weight sets excitation or inhibition.
    delay : Distribution or quantity
        Transmission delay (ms); drawn delays are rounded to the time step and raised to at
        least one step, constant delays must be multiples of the step.
    receptor : str, optional
        Input port of the postsynaptic model; by default the first excitatory port for a
        non-negative mean weight and the first inhibitory one otherwise.
    name : str, optional
        Defaults to ``"pre->post"`` (``"pre->post:receptor"`` when a receptor is named); names
        must be unique within a network and key its random draws.
    stp : TsodyksMarkram, optional
        Short-term plasticity of these synapses (default: static).
    procedural : bool
        Regenerate the synapses at every spike instead of storing them
        (:mod:`zentai.build.procedural`; rule :class:`Bernoulli`, Constant or Normal weight and
        delay, a Normal delay with a finite ``high``; Triton and torch paths).
    """

    pre: str
    post: str
    rule: Rule
    weight: Any = 1.0
    delay: Any = 1.5
    receptor: str | None = None
    name: str | None = None
    stp: TsodyksMarkram | None = None
    procedural: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "stp", _stp_from(self.stp))
        if not isinstance(self.procedural, bool):
            raise SpecError(
                f"Projection.procedural must be True or False; got {self.procedural!r}."
            )
        object.__setattr__(self, "rule", rule_from_dict(self.rule))
        object.__setattr__(self, "weight", distribution_from_dict(self.weight, "Projection.weight"))
        delay = distribution_from_dict(self.delay, "Projection.delay").in_unit(
            "ms", "Projection.delay"
        )
        object.__setattr__(self, "delay", delay)
        if isinstance(delay, Constant) and not (delay.value > 0 and math.isfinite(delay.value)):
            raise SpecError(
                f"Projection.delay must be a positive time; got {delay.value!r} ms "
                f"({self.pre}->{self.post})."
            )
        if self.name is None:
            suffix = f":{self.receptor}" if self.receptor else ""
            object.__setattr__(self, "name", f"{self.pre}->{self.post}{suffix}")
        if self.procedural:
            from zentai.build.procedural import params_of

            owner = f"Projection {self.name!r} (procedural)"
            if type(self.rule).__name__ != "Bernoulli":
                raise SpecError(f"{owner}: the rule must be Bernoulli; got {self.rule}.")
            if self.stp is not None:
                raise SpecError(f"{owner}: short-term plasticity needs stored synapses.")
            if type(self.weight).__name__ not in ("Constant", "Normal"):
                raise SpecError(
                    f"{owner}.weight: a procedural projection draws Constant or Normal values; "
                    f"got {self.weight}."
                )
            d = params_of(self.delay, f"{owner}.delay", "ms")
            if d[1] > 0 and not math.isfinite(d[3]):
                raise SpecError(
                    f"{owner}.delay: a Normal delay needs a finite high (it sizes the delay "
                    f"buffer); got {self.delay}."
                )


def _as_tuple(items: Any, kind: type, owner: str) -> tuple:
    items = tuple(items)
    for it in items:
        if not isinstance(it, kind):
            raise SpecError(f"{owner} must contain {kind.__name__} objects; got {it!r}.")
    return items


@dataclass(frozen=True, kw_only=True, eq=False)
class NetworkSpec:
    """A whole network: populations, projections, stimuli and recorders.

    Change a spec by making a new one: :meth:`add` returns a copy.
    """

    populations: tuple[Population, ...] = ()
    projections: tuple[Projection, ...] = ()
    stimuli: tuple[Stimulus, ...] = ()
    recorders: tuple[Recorder, ...] = ()
    name: str = "network"
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pops = _as_tuple(self.populations, Population, "NetworkSpec.populations")
        object.__setattr__(self, "populations", pops)
        object.__setattr__(
            self, "projections", _as_tuple(self.projections, Projection, "NetworkSpec.projections")
        )
        object.__setattr__(
            self, "stimuli", _as_tuple(self.stimuli, Stimulus, "NetworkSpec.stimuli")
        )
        object.__setattr__(
            self, "recorders", _as_tuple(self.recorders, Recorder, "NetworkSpec.recorders")
        )
        names = [p.name for p in pops]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise SpecError(f"Population names must be unique; repeated: {sorted(dup)}.")
        for proj in self.projections:
            self._check_pop(proj.pre, f"Projection {proj.name!r} pre")
            self._check_pop(proj.post, f"Projection {proj.name!r} post")
        for st in self.stimuli:
            pop = self.population(st.target)
            if st.neurons and max(st.neurons) >= pop.size:
                raise SpecError(
                    f"{type(st).__name__}.neurons must be indices below {pop.size} (size of "
                    f"{pop.name!r}); got {max(st.neurons)}."
                )
        for rec in self.recorders:
            for p in getattr(rec, "populations", None) or ():
                self._check_pop(p, f"{type(rec).__name__}.populations")
            if hasattr(rec, "population"):
                pop = self.population(rec.population)
                for var in rec.variables:
                    if var not in type(pop.model).state_names:
                        raise SpecError(
                            f"StateMonitor.variables: {type(pop.model).__name__} has no state "
                            f"variable {var!r}; state variables: "
                            f"{list(type(pop.model).state_names)}."
                        )
                if rec.neurons and max(rec.neurons) >= pop.size:
                    raise SpecError(
                        f"StateMonitor.neurons must be indices below {pop.size} (size of "
                        f"{pop.name!r}); got {max(rec.neurons)}."
                    )

    def _check_pop(self, name: str, owner: str) -> None:
        if name not in self.population_names:
            raise SpecError(
                f"{owner}: unknown population {name!r}; {closest(name, self.population_names)}."
            )

    @property
    def population_names(self) -> tuple[str, ...]:
        """Names of all populations, in order."""
        return tuple(p.name for p in self.populations)

    def population(self, name: str) -> Population:
        """The population called ``name``; unknown names get the closest matches."""
        for p in self.populations:
            if p.name == name:
                return p
        raise SpecError(f"Unknown population {name!r}; {closest(name, self.population_names)}.")

    @property
    def n_neurons(self) -> int:
        """Total number of neurons."""
        return sum(p.size for p in self.populations)

    def add(self, *items: Any) -> NetworkSpec:
        """A copy with populations, projections, stimuli or recorders appended."""
        groups: dict[str, list] = {
            "populations": list(self.populations),
            "projections": list(self.projections),
            "stimuli": list(self.stimuli),
            "recorders": list(self.recorders),
        }
        for it in items:
            if isinstance(it, Population):
                groups["populations"].append(it)
            elif isinstance(it, Projection):
                groups["projections"].append(it)
            elif isinstance(it, Stimulus):
                groups["stimuli"].append(it)
            elif isinstance(it, Recorder):
                groups["recorders"].append(it)
            else:
                raise SpecError(
                    "NetworkSpec.add takes Population, Projection, stimulus or recorder objects; "
                    f"got {it!r}."
                )
        return dataclasses.replace(self, **{k: tuple(v) for k, v in groups.items()})

    def replace(self, **changes: Any) -> NetworkSpec:
        """A copy with fields replaced."""
        return dataclasses.replace(self, **changes)

    def part(self, ranges: Mapping[str, tuple[int, int]]) -> NetworkSpec:
        """The spec of one process's part of a distributed network: population ``p`` keeps its
        neurons ``[a, b)`` of ``ranges[p]`` (all when absent), with their per-neuron parameters,
        positions and normals; stimuli keep their order (random streams are keyed by it) and
        their targets among the kept neurons, renumbered from ``a``. Projections stay as they
        are (the distributed build reads them against the whole spec)."""
        pops, kept = [], {}
        for p in self.populations:
            a, b = ranges.get(p.name, (0, p.size))
            if not (isinstance(a, int) and isinstance(b, int) and 0 <= a <= b <= p.size):
                raise SpecError(
                    f"NetworkSpec.part: the range of {p.name!r} must be (a, b) with "
                    f"0 <= a <= b <= {p.size}; got {ranges.get(p.name)!r}."
                )
            kept[p.name] = (a, b)

            def cut(x: Any, a: int = a, b: int = b) -> Any:
                return None if x is None else np.asarray(x)[a:b]

            pops.append(
                dataclasses.replace(
                    p,
                    size=b - a,
                    params={k: v[a:b] for k, v in p.params.items()},
                    positions=cut(p.positions),
                    normals=cut(p.normals),
                )
            )
        stims = []
        for st in self.stimuli:
            a, b = kept[st.target]
            if st.neurons is None:
                stims.append(st)
                continue
            idx = [i - a for i in st.neurons if a <= i < b]
            stims.append(dataclasses.replace(st, neurons=tuple(idx)))
        for rec in self.recorders:
            if hasattr(rec, "population"):
                raise SpecError(
                    f"{type(rec).__name__} of {rec.population!r} is not supported on a "
                    f"distributed network yet; record spikes or population rates instead."
                )
        return dataclasses.replace(self, populations=tuple(pops), stimuli=tuple(stims))
