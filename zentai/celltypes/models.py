"""Neuron-model descriptions: frozen dataclasses with parameters in canonical units.

A description holds numbers only; the engine's tensor code for each model lives in
:mod:`zentai.sim.models`. Canonical units: ms, mV, pA, nS, pF (see :mod:`zentai.units`).
Synaptic inputs are described by :class:`Receptor` entries: a receptor with ``e_rev=None``
is a current synapse (weights in pA), otherwise a conductance synapse (weights in nS).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from zentai import units as u
from zentai.errors import SpecError

__all__ = [
    "LIF",
    "LIFAHP",
    "AdEx",
    "Izhikevich2003",
    "Izhikevich2007",
    "Izhikevich2007Variant",
    "LIFCond",
    "NeuronModel",
    "Receptor",
    "model_class",
    "model_names",
]


@dataclass(frozen=True, kw_only=True)
class Receptor:
    """One synaptic input port with an exponentially decaying current or conductance.

    ``e_rev=None`` makes it a current synapse (weights in pA, PSC jumps by the weight);
    otherwise a conductance synapse (weights in nS) with reversal potential ``e_rev``.
    ``mg_block=True`` multiplies the conductance by the NMDA magnesium block
    ``1 / (1 + [Mg] / 3.57 mM * exp(-0.062 V / mV))`` (Jahr & Stevens 1990, J Neurosci 10:3178).
    """

    name: str
    tau: float = u.param("ms", 0.5)
    e_rev: float | None = u.param("mV", None)
    mg_block: bool = False

    def __post_init__(self) -> None:
        u.normalize(self)
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"Receptor.name must be a non-empty string; got {self.name!r}.")
        if not (self.tau > 0 and math.isfinite(self.tau)):
            raise SpecError(f"Receptor.tau must be a positive time; got {self.tau!r} ms.")
        if self.mg_block and self.e_rev is None:
            raise SpecError(f"Receptor {self.name!r}: mg_block needs a conductance (set e_rev).")

    @property
    def is_conductance(self) -> bool:
        """True for conductance synapses (weights in nS)."""
        return self.e_rev is not None

    @property
    def weight_unit(self) -> str:
        """Canonical unit of weights arriving at this receptor."""
        return "nS" if self.is_conductance else "pA"


def _receptors(*items: Receptor) -> Any:
    return field(default=tuple(items))


class NeuronModel:
    """Mixin for neuron descriptions: validation, receptor lookup, parameter names."""

    #: names of per-neuron state variables, in the order the engine stores them
    state_names: ClassVar[tuple[str, ...]] = ()
    #: parameters that must be strictly positive
    _positive: ClassVar[tuple[str, ...]] = ()
    #: parameters that must be >= 0
    _nonnegative: ClassVar[tuple[str, ...]] = ()

    receptors: tuple[Receptor, ...]

    def _validate(self) -> None:
        u.normalize(self)
        name = type(self).__name__
        recs = tuple(r if isinstance(r, Receptor) else Receptor(**r) for r in self.receptors)
        object.__setattr__(self, "receptors", recs)
        for p in self._positive:
            v = getattr(self, p)
            if not (isinstance(v, float) and v > 0 and math.isfinite(v)):
                unit = u.field_unit(self, p) or ""
                raise SpecError(f"{name}.{p} must be positive; got {v!r} {unit}.".rstrip())
        for p in self._nonnegative:
            v = getattr(self, p)
            if not (isinstance(v, float) and v >= 0 and math.isfinite(v)):
                unit = u.field_unit(self, p) or ""
                raise SpecError(f"{name}.{p} must be >= 0; got {v!r} {unit}.".rstrip())
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float) and not math.isfinite(v):
                raise SpecError(f"{name}.{f.name} must be finite; got {v!r}.")
        names = [r.name for r in self.receptors]
        if len(set(names)) != len(names):
            raise SpecError(f"{name}.receptors must have distinct names; got {names}.")

    @property
    def receptor_names(self) -> tuple[str, ...]:
        """Names of the synaptic input ports."""
        return tuple(r.name for r in self.receptors)

    def receptor_index(self, name: str) -> int:
        """Index of receptor ``name``; raises :class:`SpecError` listing the valid names."""
        names = self.receptor_names
        if name not in names:
            raise SpecError(
                f"{type(self).__name__} has no receptor {name!r}; receptors: {list(names)}."
            )
        return names.index(name)

    def default_receptor(self, weight_sign: float) -> str:
        """Receptor used when a projection names none: the first excitatory/inhibitory port."""
        names = self.receptor_names
        if len(names) == 1:
            return names[0]
        for r in self.receptors:
            exc = (r.e_rev is None and r.name.startswith("ex")) or (
                r.e_rev is not None and r.e_rev > -40.0
            )
            if (weight_sign >= 0) == exc:
                return r.name
        return names[0]

    def param_names(self) -> tuple[str, ...]:
        """Scalar numeric parameters (those that may become per-neuron arrays)."""
        return tuple(
            f.name
            for f in dataclasses.fields(self)
            if f.name != "receptors" and isinstance(getattr(self, f.name), float)
        )


@dataclass(frozen=True, kw_only=True)
class LIF(NeuronModel):
    """Current-based leaky integrate-and-fire neuron with exponential PSCs (NEST ``iaf_psc_exp``).

    ``tau_m dV/dt = -(V - e_l) + tau_m / c_m (I_syn + i_e + I_stim)``; exact integration
    (Rotter & Diesmann 1999). After a spike V is clamped to ``v_reset`` for ``t_ref``.
    Defaults: Potjans & Diesmann (2014), Cereb. Cortex 24:785, Table 5.
    """

    state_names: ClassVar[tuple[str, ...]] = ("v",)
    _positive: ClassVar[tuple[str, ...]] = ("tau_m", "c_m")
    _nonnegative: ClassVar[tuple[str, ...]] = ("t_ref",)

    tau_m: float = u.param("ms", 10.0)
    c_m: float = u.param("pF", 250.0)
    e_l: float = u.param("mV", -65.0)
    v_th: float = u.param("mV", -50.0)
    v_reset: float = u.param("mV", -65.0)
    t_ref: float = u.param("ms", 2.0)
    i_e: float = u.param("pA", 0.0)
    receptors: tuple[Receptor, ...] = _receptors(
        Receptor(name="ex", tau=0.5), Receptor(name="in", tau=0.5)
    )

    def __post_init__(self) -> None:
        self._validate()
        if self.v_reset >= self.v_th:
            raise SpecError(f"LIF.v_reset ({self.v_reset} mV) must be below v_th ({self.v_th} mV).")
        for r in self.receptors:
            if r.is_conductance:
                raise SpecError(
                    f"LIF receptors must be current synapses (e_rev=None); receptor {r.name!r} "
                    f"has e_rev={r.e_rev} mV. Use LIFCond for conductance synapses."
                )
            if abs(r.tau - self.tau_m) < 1e-9:
                raise SpecError(
                    f"LIF receptor {r.name!r}: tau ({r.tau} ms) must differ from tau_m "
                    f"({self.tau_m} ms) for exact integration."
                )


# Receptor defaults for conductance models: decay times and reversal potentials of the mouse M1
# model (Dura-Bernal et al.; OSB M1NetworkModel, MODEL_SPEC §1.3); GABA_B reversal −95 mV
# (a typical K+ reversal, [N] in MODEL_SPEC; the M1 file uses −80).
_COND_RECEPTORS = (
    Receptor(name="ampa", tau=5.3, e_rev=0.0),
    Receptor(name="nmda", tau=150.0, e_rev=0.0, mg_block=True),
    Receptor(name="gaba_a", tau=9.1, e_rev=-80.0),
    Receptor(name="gaba_b", tau=20.0, e_rev=-95.0),
)


@dataclass(frozen=True, kw_only=True)
class LIFCond(NeuronModel):
    """Conductance-based LIF with exponential AMPA, NMDA (Mg²⁺ block), GABA_A, GABA_B synapses.

    ``c_m dV/dt = -g_l (V - e_l) + Σ_r g_r B_r(V) (e_r - V) + i_e + I_stim``; after a spike V is
    clamped to ``v_reset`` for ``t_ref``. Receptor defaults: see ``_COND_RECEPTORS``.
    """

    state_names: ClassVar[tuple[str, ...]] = ("v",)
    _positive: ClassVar[tuple[str, ...]] = ("c_m", "g_l")
    _nonnegative: ClassVar[tuple[str, ...]] = ("t_ref", "mg")

    c_m: float = u.param("pF", 250.0)
    g_l: float = u.param("nS", 16.7)
    e_l: float = u.param("mV", -70.0)
    v_th: float = u.param("mV", -50.0)
    v_reset: float = u.param("mV", -60.0)
    t_ref: float = u.param("ms", 2.0)
    i_e: float = u.param("pA", 0.0)
    mg: float = 1.0  # extracellular Mg2+ concentration in mM
    receptors: tuple[Receptor, ...] = field(default=_COND_RECEPTORS)

    def __post_init__(self) -> None:
        self._validate()
        if self.v_reset >= self.v_th:
            raise SpecError(
                f"LIFCond.v_reset ({self.v_reset} mV) must be below v_th ({self.v_th} mV)."
            )


@dataclass(frozen=True, kw_only=True)
class Izhikevich2003(NeuronModel):
    """Izhikevich (2003) simple model, IEEE Trans Neural Netw 14:1569 (dimensionless currents).

    ``dv/dt = 0.04 v² + 5 v + 140 - u + I``, ``du/dt = a (b v - u)``; if ``v >= v_peak``:
    ``v <- c``, ``u <- u + d``. ``I`` (synaptic + ``i_e`` + stimulus) is in the model's own
    current units (the equation has unit capacitance); current receptors only add to ``I``.
    Defaults: regular spiking (RS). Named sets: :meth:`preset`.
    """

    state_names: ClassVar[tuple[str, ...]] = ("v", "u")

    a: float = 0.02
    b: float = 0.2
    c: float = u.param("mV", -65.0)
    d: float = 8.0
    v_peak: float = u.param("mV", 30.0)
    i_e: float = 0.0
    receptors: tuple[Receptor, ...] = _receptors(
        Receptor(name="ex", tau=1.0), Receptor(name="in", tau=1.0)
    )

    # (a, b, c, d) from Izhikevich 2003, Fig. 2 (MODEL_SPEC §4.1)
    PRESETS: ClassVar[dict[str, tuple[float, float, float, float]]] = {
        "RS": (0.02, 0.2, -65.0, 8.0),
        "IB": (0.02, 0.2, -55.0, 4.0),
        "CH": (0.02, 0.2, -50.0, 2.0),
        "FS": (0.1, 0.2, -65.0, 2.0),
        "LTS": (0.02, 0.25, -65.0, 2.0),
        "TC": (0.02, 0.25, -65.0, 0.05),
        "RZ": (0.1, 0.26, -65.0, 2.0),
    }

    def __post_init__(self) -> None:
        self._validate()

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> Izhikevich2003:
        """A named cell class of Izhikevich (2003): RS, IB, CH, FS, LTS, TC, RZ."""
        key = name.upper()
        if key not in cls.PRESETS:
            raise SpecError(
                f"Izhikevich2003 preset must be one of {sorted(cls.PRESETS)}; got {name!r}."
            )
        a, b, c, d = cls.PRESETS[key]
        return cls(a=a, b=b, c=c, d=d, **overrides)


class Izhikevich2007Variant(StrEnum):
    """Special rules of Izhikevich (2007), ch. 8, as in ModelDB 39948 ``izhi2007b.mod``."""

    GENERIC = "generic"
    FS = "fs"
    LTS = "lts"
    TC = "tc"
    RTN = "rtn"


@dataclass(frozen=True, kw_only=True)
class Izhikevich2007(NeuronModel):
    """Izhikevich (2007) model in physical units (Dynamical Systems in Neuroscience, ch. 8).

    ``c_m dv/dt = k (v - v_r)(v - v_t) - u + I``, ``du/dt = a (b (v - v_r) - u)``; if
    ``v >= v_peak``: ``v <- c``, ``u <- u + d``. Units: c_m pF, k nS/mV, v mV, u pA, a 1/ms,
    b nS, d pA. ``variant`` selects the special rules of MODEL_SPEC §4.2 (FS cubic u-nullcline
    with ``v_b``; LTS and TC peak/reset shifts, the LTS cap ``u_max`` on ``u``; TC and RTN
    switch ``b`` below −65 mV to ``b_hyper``). Named sets: :meth:`preset` (RS, IB, CH, LTS,
    FS, TC, RTN).
    """

    state_names: ClassVar[tuple[str, ...]] = ("v", "u")
    _positive: ClassVar[tuple[str, ...]] = ("c_m", "k")

    c_m: float = u.param("pF", 100.0)
    k: float = 0.7
    v_r: float = u.param("mV", -60.0)
    v_t: float = u.param("mV", -40.0)
    v_peak: float = u.param("mV", 35.0)
    a: float = 0.03
    b: float = -2.0
    c: float = u.param("mV", -50.0)
    d: float = 100.0
    v_b: float = u.param("mV", -55.0)  # FS only: onset of the cubic u-nullcline
    b_hyper: float = 0.0  # TC / RTN only: b used when v <= -65 mV
    u_max: float = u.param("pA", 670.0)  # LTS only: cap of u after a spike (book: 670 pA)
    i_e: float = u.param("pA", 0.0)
    variant: Izhikevich2007Variant = Izhikevich2007Variant.GENERIC
    receptors: tuple[Receptor, ...] = _receptors(
        Receptor(name="ex", tau=2.0), Receptor(name="in", tau=5.0)
    )

    # (C pF, k, v_r, v_t, v_peak, a, b, c, d, variant[, v_b or b_hyper]); Izhikevich 2007 ch. 8
    # figures 8.12-8.32 as tabulated in ModelDB 39948 izhi2007Wrapper.py (MODEL_SPEC §4.2).
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        "RS": {
            "c_m": 100.0,
            "k": 0.7,
            "v_r": -60.0,
            "v_t": -40.0,
            "v_peak": 35.0,
            "a": 0.03,
            "b": -2.0,
            "c": -50.0,
            "d": 100.0,
        },
        "IB": {
            "c_m": 150.0,
            "k": 1.2,
            "v_r": -75.0,
            "v_t": -45.0,
            "v_peak": 50.0,
            "a": 0.01,
            "b": 5.0,
            "c": -56.0,
            "d": 130.0,
        },
        "CH": {
            "c_m": 50.0,
            "k": 1.5,
            "v_r": -60.0,
            "v_t": -40.0,
            "v_peak": 25.0,
            "a": 0.03,
            "b": 1.0,
            "c": -40.0,
            "d": 150.0,
        },
        "LTS": {
            "c_m": 100.0,
            "k": 1.0,
            "v_r": -56.0,
            "v_t": -42.0,
            "v_peak": 40.0,
            "a": 0.03,
            "b": 8.0,
            "c": -53.0,
            "d": 20.0,
            "variant": "lts",
        },
        "FS": {
            "c_m": 20.0,
            "k": 1.0,
            "v_r": -55.0,
            "v_t": -40.0,
            "v_peak": 25.0,
            "a": 0.2,
            "b": 0.025,
            "c": -45.0,
            "d": 0.0,
            "v_b": -55.0,
            "variant": "fs",
        },
        "TC": {
            "c_m": 200.0,
            "k": 1.6,
            "v_r": -60.0,
            "v_t": -50.0,
            "v_peak": 35.0,
            "a": 0.01,
            "b": 0.0,
            "b_hyper": 15.0,
            "c": -60.0,
            "d": 10.0,
            "variant": "tc",
        },
        "RTN": {
            "c_m": 40.0,
            "k": 0.25,
            "v_r": -65.0,
            "v_t": -45.0,
            "v_peak": 0.0,
            "a": 0.015,
            "b": 2.0,
            "b_hyper": 10.0,
            "c": -55.0,
            "d": 50.0,
            "variant": "rtn",
        },
    }

    #: numeric code of each variant; the engine holds it per neuron as the parameter
    #: ``variant_code`` so that one group may mix variants (e.g. RS and FS cells)
    VARIANT_CODES: ClassVar[dict[str, int]] = {"generic": 0, "fs": 1, "lts": 2, "tc": 3, "rtn": 4}

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "variant", Izhikevich2007Variant(self.variant))
        except ValueError:
            raise SpecError(
                f"Izhikevich2007.variant must be one of "
                f"{[v.value for v in Izhikevich2007Variant]}; got {self.variant!r}."
            ) from None
        self._validate()

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> Izhikevich2007:
        """A named cell class of Izhikevich (2007): RS, IB, CH, LTS, FS, TC, RTN.

        For FS the stored ``b`` is the cubic coefficient 0.025 pA/mV³ of
        ``U(v) = b (v - v_b)³`` (the wrapper's ``b = -2`` and ``d = -55`` encode the same rule).
        """
        key = name.upper()
        if key not in cls.PRESETS:
            raise SpecError(
                f"Izhikevich2007 preset must be one of {sorted(cls.PRESETS)}; got {name!r}."
            )
        return cls(**{**cls.PRESETS[key], **overrides})

    @property
    def variant_code(self) -> float:
        """``variant`` as a number (see ``VARIANT_CODES``), the form the engine stores."""
        return float(self.VARIANT_CODES[self.variant.value])

    def param_names(self) -> tuple[str, ...]:
        """Numeric parameters, plus ``variant_code`` (``variant`` itself is a string)."""
        return (*super().param_names(), "variant_code")


@dataclass(frozen=True, kw_only=True)
class AdEx(NeuronModel):
    """Adaptive exponential integrate-and-fire neuron.

    Brette & Gerstner (2005), J Neurophysiol 94:3637.

    ``c_m dV/dt = -g_l (V - e_l) + g_l delta_t exp((V - v_th) / delta_t) - w + I``,
    ``tau_w dw/dt = a (V - e_l) - w``; at ``V >= v_peak``: ``V <- v_reset``, ``w <- w + b``,
    then V is clamped for ``t_ref``. Defaults: Brette & Gerstner (2005), Table 1; conductance
    synapses as NEST ``aeif_cond_exp`` (AMPA-like 0 mV, GABA-like −85 mV).
    """

    state_names: ClassVar[tuple[str, ...]] = ("v", "w")
    _positive: ClassVar[tuple[str, ...]] = ("c_m", "g_l", "delta_t", "tau_w")
    _nonnegative: ClassVar[tuple[str, ...]] = ("t_ref",)

    c_m: float = u.param("pF", 281.0)
    g_l: float = u.param("nS", 30.0)
    e_l: float = u.param("mV", -70.6)
    v_th: float = u.param("mV", -50.4)
    delta_t: float = u.param("mV", 2.0)
    v_peak: float = u.param("mV", 0.0)
    v_reset: float = u.param("mV", -70.6)
    a: float = u.param("nS", 4.0)
    b: float = u.param("pA", 80.5)
    tau_w: float = u.param("ms", 144.0)
    t_ref: float = u.param("ms", 0.0)
    i_e: float = u.param("pA", 0.0)
    receptors: tuple[Receptor, ...] = _receptors(
        Receptor(name="ex", tau=0.2, e_rev=0.0), Receptor(name="in", tau=2.0, e_rev=-85.0)
    )

    def __post_init__(self) -> None:
        self._validate()
        if self.v_peak <= self.v_th:
            raise SpecError(f"AdEx.v_peak ({self.v_peak} mV) must be above v_th ({self.v_th} mV).")


# Receptor defaults of LIFAHP: the cerebellar granule cell of Yamazaki & Nagao (2012), as
# refactored in numericalbrainorg/snsbook code/part2/ec/gr.h (MODEL_SPEC §2.2). snsbook's NMDA
# gate has no Mg²⁺ block, so none is applied here.
_GRC_RECEPTORS = (
    Receptor(name="ampa", tau=1.2, e_rev=0.0),
    Receptor(name="nmda", tau=52.0, e_rev=0.0),
    Receptor(name="gaba_fast", tau=7.0, e_rev=-82.0),
    Receptor(name="gaba_slow", tau=59.0, e_rev=-82.0),
)


@dataclass(frozen=True, kw_only=True)
class LIFAHP(NeuronModel):
    """Conductance LIF without reset, repolarised by an afterhyperpolarisation (AHP) conductance.

    Yamazaki & Tanaka (2007), Eur J Neurosci 26:2279; Yamazaki & Nagao (2012), PLoS ONE
    7:e33319; equations and numbers as in numericalbrainorg/snsbook ``code/part2/ec``
    (MODEL_SPEC §2.2)::

        c_m dV/dt = -g_l (V - e_l) - Σ_r g_r (V - e_r) - g_ahp s_ahp (V - e_ahp) + i_e + I_stim

    ``s_ahp`` decays with ``tau_ahp``. While ``V > v_th`` it is held at 1, so the AHP
    conductance peaks at ``g_ahp`` (nS). snsbook stores ``s_ahp = dt / tau_ahp`` and multiplies
    the AHP term by ``tau_ahp / dt``; the product is the same, so ``g_ahp`` keeps its meaning.
    A spike is emitted when V crosses ``v_th`` upwards (below or at ``v_th`` at the start of a
    step, above it at the end). snsbook (dt = 1 ms) counts every step above ``v_th`` as a spike;
    with the crossing rule the spike count does not depend on ``dt``. There is no reset: the
    AHP pulls V back. ``t_ref`` (default 0) suppresses new spikes for ``round(t_ref/dt)`` steps
    after a spike. V keeps evolving, because there is no reset value to clamp it at.
    Under strong drive (beyond about 60 pA for the granule and 300 pA for the Golgi defaults)
    the AHP cannot hold V below ``v_th``. V then stays above it (depolarisation block, no more
    spikes) or recrosses it every few steps; ``t_ref`` caps that rate.

    Receptors are conductance :class:`Receptor` entries (weights in nS: the jump of ``g_r`` per
    spike). snsbook's weight ``w`` onto channel ``c`` with gain ``ḡ_c`` and split ``r_c``
    corresponds to a weight ``ḡ_c r_c w`` nS here. Defaults: granule cell (snsbook ``gr.h``).
    """

    state_names: ClassVar[tuple[str, ...]] = ("v", "s_ahp")
    _positive: ClassVar[tuple[str, ...]] = ("c_m", "g_l", "tau_ahp")
    _nonnegative: ClassVar[tuple[str, ...]] = ("g_ahp", "t_ref")

    c_m: float = u.param("pF", 3.1)
    g_l: float = u.param("nS", 0.43)
    e_l: float = u.param("mV", -58.0)
    v_th: float = u.param("mV", -35.0)
    g_ahp: float = u.param("nS", 1.0)
    e_ahp: float = u.param("mV", -82.0)
    tau_ahp: float = u.param("ms", 5.0)
    t_ref: float = u.param("ms", 0.0)
    i_e: float = u.param("pA", 0.0)
    receptors: tuple[Receptor, ...] = field(default=_GRC_RECEPTORS)

    def __post_init__(self) -> None:
        self._validate()
        if self.e_ahp >= self.v_th:
            raise SpecError(
                f"LIFAHP.e_ahp must be below v_th ({self.v_th} mV) so that the AHP repolarises; "
                f"got {self.e_ahp} mV."
            )
        for r in self.receptors:
            if not r.is_conductance:
                raise SpecError(
                    f"LIFAHP receptors must be conductance synapses; receptor {r.name!r} has "
                    f"e_rev=None. Give it a reversal potential (e.g. e_rev=0.0 for AMPA)."
                )


_MODELS: dict[str, type] = {
    "LIF": LIF,
    "LIFCond": LIFCond,
    "Izhikevich2003": Izhikevich2003,
    "Izhikevich2007": Izhikevich2007,
    "AdEx": AdEx,
    "LIFAHP": LIFAHP,
}


def model_names() -> tuple[str, ...]:
    """Names of the built-in neuron models."""
    return tuple(_MODELS)


def model_class(name: str) -> type:
    """Look up a neuron model class by name; unknown names get the closest matches."""
    from zentai.errors import closest

    if name not in _MODELS:
        raise SpecError(f"Unknown neuron model {name!r}; {closest(name, _MODELS)}.")
    return _MODELS[name]
