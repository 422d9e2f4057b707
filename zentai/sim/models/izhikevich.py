"""Izhikevich (2003) and Izhikevich (2007) neurons: forward Euler, u stopped at the crossing.

Integration scheme
------------------
Both models are advanced by one explicit (forward) Euler step of length ``dt`` in which *both*
derivatives are evaluated at the start-of-step values (NEST ``izhikevich`` with
``consistent_integration=True``; Izhikevich 2007, ch. 8, uses the same update with a 1 ms
step). The synaptic current is taken at the start of the step, as :mod:`.base` prescribes.
Conductance receptors contribute ``g (e_rev - v)`` (times the NMDA Mg²⁺ block, if set) through
:meth:`~zentai.sim.models.base.Dynamics.synaptic_current`; current receptors add their value.

Conductance receptors are linearly implicit: their ``-g v`` term is taken at the end of the
step, ``v_new = v + h dv / (1 + h g / c_m)`` with ``dv`` the explicit derivative and ``g`` the
summed conductance (Mg-blocked at the start-of-step ``v``). Without it the step diverges once
``h g / c_m > 2``: a striatal MSN (c_m 15.2 pF) under the ~400 nS of its collaterals after a
synchronous volley (cbgc, session 7) oscillated past ``v_peak`` every step. The difference from
plain Euler is O(h^2 (g / c_m)^2); current receptors are unchanged.

One further deviation from plain Euler, in the step where a spike is detected only: ``u`` is
advanced over the fraction ``theta`` of the step before the threshold crossing, found by linear
interpolation of ``v - v_spike(u)`` between the start and the Euler end of the step, not over
the whole step. In continuous time ``u`` stops integrating at the spike; with a whole Euler step
the ``u`` carried past the reset jumps with the grid phase of the crossing. For the FS cell,
whose cubic nullcline is ~1e4 pA near the peak, that jump is up to ~250 pA at dt = 0.1 ms.
ISIs then scatter by ±1 ms and a 1e-6 perturbation grows to ms (so float32 and float64 runs
part). With ``theta`` the spike-to-spike map is continuous in the phase; FS fires regularly
(ISI 12.1 ms vs 12.27 ms at dt = 1 µs) and runs are insensitive to rounding. For the other
cells the change is below 1 pA.

After the Euler step the synaptic state decays and takes the weights arriving in this step,
then the spike condition is tested on the new ``v``. (The book clamps ``v`` at its peak before
the reset for plotting; the reset overwrites ``v`` in the same step, so no clamp is needed.)
There is no refractory period.

Izhikevich (2007) special rules (MODEL_SPEC §4.2; ModelDB 39948 ``izhi2007b.mod``), selected
per neuron by ``variant_code`` (see ``Izhikevich2007.VARIANT_CODES``):

* generic: ``U(v) = b (v - v_r)``; spike at ``v >= v_peak``; reset ``v <- c``, ``u <- u + d``.
* fs: ``U(v) = b (v - v_b)^3`` for ``v >= v_b``, else 0; spike at ``v >= v_peak``; reset
  ``v <- c`` only (no increment of ``u``).
* lts: ``U(v) = b (v - v_r)``; spike at ``v >= v_peak - 0.1 u``; reset ``v <- c + 0.04 u``,
  ``u <- min(u + d, u_max)``. With the book's ``u_max = 670`` pA (book code and
  ``izhi2007b.mod``) the rule is ill-posed under strong drive: at ``u = 670`` the reset
  (-26.2 mV) lies above the peak (-27 mV), so a cell whose ``u`` reaches the cap fires on every
  step. Steady DC: 200 Hz at 600 pA, 400 Hz at 800 pA, then every step from ~900 pA (10 kHz at
  dt 0.1 ms, 20 kHz at 0.05 ms); with ``u_max = 500`` the same cell gives 200 / 360 / 435 Hz at
  600 / 800 / 1000 pA at either dt. The engine warns (:class:`~zentai.errors.RunawayWarning`)
  when a neuron averages more than 1 kHz.
* tc: ``U(v) = b' (v - v_r)``; spike at ``v >= v_peak + 0.1 u``; reset ``v <- c - 0.1 u``,
  ``u <- u + d``.
* rtn: ``U(v) = b' (v - v_r)``; spike at ``v >= v_peak``; reset ``v <- c``, ``u <- u + d``.

with ``b' = b_hyper`` where ``v <= -65 mV`` and ``b`` above. The reset of ``v`` uses ``u``
before the increment. When the whole group shares one variant (a Python float code) only the
rules of that variant are evaluated; a per-neuron code tensor selects the rules with masks.
"""

from __future__ import annotations

import math

import torch

from zentai.celltypes.models import Izhikevich2003, Izhikevich2007, Izhikevich2007Variant
from zentai.errors import SpecError
from zentai.sim.models.base import Dynamics, ParamValue

__all__ = ["Izhikevich2003Dynamics", "Izhikevich2007Dynamics"]

_CODES = Izhikevich2007.VARIANT_CODES
_GENERIC, _FS, _LTS, _TC, _RTN = (_CODES[k] for k in ("generic", "fs", "lts", "tc", "rtn"))

#: membrane potential (mV) at or below which TC and RTN cells use ``b_hyper`` (MODEL_SPEC §4.2)
B_SWITCH_MV = -65.0

# Per-variant coefficients, indexed by code:
# spike when v >= v_peak + PEAK_U * u; reset v <- c + RESET_U * u; u <- u + D_SCALE * d, capped
# at the parameter u_max for LTS cells
_PEAK_U = {_GENERIC: 0.0, _FS: 0.0, _LTS: -0.1, _TC: 0.1, _RTN: 0.0}
_RESET_U = {_GENERIC: 0.0, _FS: 0.0, _LTS: 0.04, _TC: -0.1, _RTN: 0.0}
_D_SCALE = {_GENERIC: 1.0, _FS: 0.0, _LTS: 1.0, _TC: 1.0, _RTN: 1.0}


def _convert(value: ParamValue, dtype: torch.dtype, device: torch.device) -> ParamValue:
    if isinstance(value, torch.Tensor):
        return value.to(dtype=dtype, device=device)
    return float(value)


def _external_current(
    i_syn: torch.Tensor, i_e: ParamValue, i_stim: torch.Tensor | None
) -> torch.Tensor:
    total = i_syn + i_e
    return total if i_stim is None else total + i_stim


def _implicit_in_g(dv: torch.Tensor, g: torch.Tensor | None, c_m: ParamValue, h: float):
    """The Euler increment ``dv`` with the conductance term ``-g v`` taken at the end of the
    step: ``dv / (1 + h g / c_m)`` (module docstring)."""
    return dv if g is None else dv / (1.0 + h * g / c_m)


def _crossing_fraction(gap_start: torch.Tensor, overshoot_end: torch.Tensor) -> torch.Tensor:
    """Fraction of the step before ``v`` meets the threshold, by linear interpolation.

    ``gap_start = v_spike - v`` at the start of the step, ``overshoot_end = v - v_spike`` at
    its end; meaningful only where the end overshoot is >= 0. A start already at or above the
    threshold (a user-written state) gives 0.
    """
    gap = gap_start.clamp(min=0.0)
    return (gap / (gap + overshoot_end).clamp(min=1e-30)).clamp(max=1.0)


class Izhikevich2003Dynamics(Dynamics):
    """Engine update for :class:`~zentai.celltypes.Izhikevich2003` (dimensionless currents).

    ``dv/dt = 0.04 v^2 + 5 v + 140 - u + I``, ``du/dt = a (b v - u)`` with time in ms; ``I``
    (synaptic + ``i_e`` + stimulus) is added directly to ``dv/dt``.
    """

    model_class = Izhikevich2003

    def setup(self) -> None:
        self.p = {k: _convert(v, self.dtype, self.device) for k, v in self.params.items()}

    def rest_state(self, n_ensembles: int, n: int) -> dict[str, torch.Tensor]:
        """The stable fixed point for ``I = 0`` where it exists, else ``v = c``; ``u = b v``.

        With ``u = b v`` the rest potential solves ``0.04 v^2 + (5 - b) v + 140 = 0``; the lower
        root is stable (−70 mV for b = 0.2). For ``b`` above about 0.267 there is no fixed
        point (the cell fires tonically) and ``v`` starts at ``c``.
        """
        b = self.full(self.p["b"], n_ensembles, n)
        c = self.full(self.p["c"], n_ensembles, n)
        disc = (5.0 - b) ** 2 - 4.0 * 0.04 * 140.0
        root = (-(5.0 - b) - torch.sqrt(disc.clamp(min=0.0))) / (2.0 * 0.04)
        v = torch.where(disc >= 0.0, root, c)
        return {"v": v, "u": b * v}

    def step(self, state, arriving, i_stim):
        p, h = self.p, self.dt
        v, u, syn = state["v"], state["u"], state["syn"]
        i_tot = _external_current(self.synaptic_current(syn, v), p["i_e"], i_stim)
        dv = (0.04 * v + 5.0) * v + 140.0 - u + i_tot
        h_du = h * p["a"] * (p["b"] * v - u)
        v_new = v + h * _implicit_in_g(dv, self.synaptic_conductance(syn, v), 1.0, h)
        self.decay_and_add(syn, arriving)
        spiked = v_new >= p["v_peak"]
        theta = _crossing_fraction(p["v_peak"] - v, v_new - p["v_peak"])
        u_spike = u + theta * h_du  # u at the crossing
        v.copy_(torch.where(spiked, p["c"], v_new))
        u.copy_(torch.where(spiked, u_spike + p["d"], u + h_du))
        return spiked


class Izhikevich2007Dynamics(Dynamics):
    """Engine update for :class:`~zentai.celltypes.Izhikevich2007` (pF, mV, pA, ms).

    ``c_m dv/dt = k (v - v_r)(v - v_t) - u + I``, ``du/dt = a (U(v) - u)``, with the variant
    rules of the module docstring. ``params["variant_code"]`` (a float, or a tensor of codes
    per neuron) selects the variant; a ``params["variant"]`` string is accepted as well.
    """

    model_class = Izhikevich2007

    def setup(self) -> None:
        self.p = {
            k: _convert(v, self.dtype, self.device)
            for k, v in self.params.items()
            if k not in ("variant", "variant_code")
        }
        code = self.params.get("variant_code")
        if code is None:
            variant = self.params.get("variant", Izhikevich2007Variant.GENERIC)
            code = float(_CODES[Izhikevich2007Variant(variant).value])
        if isinstance(code, torch.Tensor):
            self._setup_mixed(torch.round(code.to(self.device)).to(torch.int64))
        else:
            self._setup_uniform(round(float(code)))

    def _setup_uniform(self, code: int) -> None:
        if code not in _PEAK_U:
            raise SpecError(
                f"Izhikevich2007 variant_code must be one of {sorted(_PEAK_U)}; got {code!r}."
            )
        self.mixed = False
        self.cubic = code == _FS
        self.switch = code in (_TC, _RTN)
        self._switch_b_tensors()
        self.peak_u = _PEAK_U[code]
        self.reset_u = _RESET_U[code]
        self.d_eff = _D_SCALE[code] * self.p["d"]
        self.u_max = self.p["u_max"] if code == _LTS else math.inf

    def _setup_mixed(self, codes: torch.Tensor) -> None:
        self.mixed = True
        n_codes = len(_PEAK_U)
        if bool(((codes < 0) | (codes >= n_codes)).any()):  # setup only, not in the step
            raise SpecError(
                f"Izhikevich2007 variant_code must hold codes in {sorted(_PEAK_U)} "
                f"(see Izhikevich2007.VARIANT_CODES); got {sorted(set(codes.flatten().tolist()))}."
            )

        def table(values: dict[int, float]) -> torch.Tensor:
            t = torch.tensor([values[i] for i in range(n_codes)], dtype=self.dtype)
            return t.to(self.device)[codes]

        self._switch_b_tensors()
        self.is_fs = codes == _FS
        self.is_switch = (codes == _TC) | (codes == _RTN)
        self.peak_u = table(_PEAK_U)
        self.reset_u = table(_RESET_U)
        self.d_eff = table(_D_SCALE) * self.p["d"]
        u_max = torch.as_tensor(self.p["u_max"], dtype=self.dtype, device=self.device)
        self.u_max = torch.where(codes == _LTS, u_max, math.inf)

    def _switch_b_tensors(self) -> None:
        # torch.where needs a tensor operand to keep the dtype when both b values are floats
        def as_t(x: ParamValue) -> torch.Tensor:
            return torch.as_tensor(x, dtype=self.dtype, device=self.device)

        self.b_t = as_t(self.p["b"])
        self.b_hyper_t = as_t(self.p["b_hyper"])

    def rest_state(self, n_ensembles: int, n: int) -> dict[str, torch.Tensor]:
        """``v = v_r``, ``u = 0``: a fixed point of every variant with ``I = 0``."""
        return {
            "v": self.full(self.p["v_r"], n_ensembles, n),
            "u": self.full(0.0, n_ensembles, n),
        }

    def _nullcline(self, v: torch.Tensor) -> torch.Tensor:
        """``U(v)`` of the variant rules, ``(n_ensembles, n)`` pA."""
        p = self.p
        if self.mixed:
            b_lin = torch.where(self.is_switch & (v <= B_SWITCH_MV), self.b_hyper_t, self.b_t)
            x = (v - p["v_b"]).clamp(min=0.0)
            return torch.where(self.is_fs, p["b"] * x * x * x, b_lin * (v - p["v_r"]))
        if self.cubic:
            x = (v - p["v_b"]).clamp(min=0.0)
            return p["b"] * x * x * x
        if self.switch:
            b_lin = torch.where(v <= B_SWITCH_MV, self.b_hyper_t, self.b_t)
            return b_lin * (v - p["v_r"])
        return p["b"] * (v - p["v_r"])

    def _spike_threshold(self, u: torch.Tensor) -> ParamValue:
        v_peak = self.p["v_peak"]
        return v_peak + self.peak_u * u if self.mixed or self.peak_u else v_peak

    def step(self, state, arriving, i_stim):
        p, h = self.p, self.dt
        v, u, syn = state["v"], state["u"], state["syn"]
        i_tot = _external_current(self.synaptic_current(syn, v), p["i_e"], i_stim)
        dv = (p["k"] * (v - p["v_r"]) * (v - p["v_t"]) - u + i_tot) / p["c_m"]
        h_du = h * p["a"] * (self._nullcline(v) - u)
        v_new = v + h * _implicit_in_g(dv, self.synaptic_conductance(syn, v), p["c_m"], h)
        u_euler = u + h_du
        self.decay_and_add(syn, arriving)
        v_spike = self._spike_threshold(u_euler)
        spiked = v_new >= v_spike
        theta = _crossing_fraction(self._spike_threshold(u) - v, v_new - v_spike)
        u_spike = u + theta * h_du  # u at the crossing
        v_after = p["c"] + self.reset_u * u_spike if self.mixed or self.reset_u else p["c"]
        u_after = u_spike + self.d_eff
        if isinstance(self.u_max, torch.Tensor) or math.isfinite(self.u_max):
            u_after = torch.clamp(u_after, max=self.u_max)
        v.copy_(torch.where(spiked, v_after, v_new))
        u.copy_(torch.where(spiked, u_after, u_euler))
        return spiked
