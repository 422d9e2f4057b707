"""Conductance-based LIF: exponential Euler with step-averaged conductances.

Integration scheme
------------------
``c_m dV/dt = -g_l (V - e_l) + Σ_r g_r(t) B_r(V) (e_r - V) + Σ_q I_q(t) + i_e + I_stim``.
Over one step [t, t + h] each receptor trace decays exactly, ``g_r(t + s) = g_r(t) e^{-s/tau_r}``
(and likewise the current receptors ``I_q``). The membrane update replaces each trace by its
exact mean over the step, ``ḡ_r = g_r(t) tau_r / h (1 - e^{-h/tau_r})``, freezes the NMDA block
at ``B_r(V(t))``, and then solves the resulting linear equation exactly::

    G = g_l + Σ_r ḡ_r B_r,   V_inf = (g_l e_l + Σ_r ḡ_r B_r e_r + Σ_q Ī_q + i_e + I_stim) / G,
    V(t + h) = V_inf + (V(t) - V_inf) exp(-h G / c_m).

This is exact for constant conductances, unconditionally stable for any conductance size (an
explicit Euler step is not when ``h G / c_m`` > 2), and second-order accurate in the
conductance time course thanks to the averaging; the only first-order error left is the frozen
Mg²⁺ block. Synaptic state then decays by ``exp(-h/tau)`` and takes this step's weights, and
the threshold is tested on the new V (order of :mod:`.base`). After a spike V is clamped to
``v_reset`` for ``round(t_ref / h)`` steps (as NEST); the conductances keep evolving.
"""

from __future__ import annotations

import math

import torch

from zentai.celltypes.models import LIFCond
from zentai.sim.models.base import Dynamics, ParamValue

__all__ = ["LIFCondDynamics"]


def _convert(value: ParamValue, dtype: torch.dtype, device: torch.device) -> ParamValue:
    if isinstance(value, torch.Tensor):
        return value.to(dtype=dtype, device=device)
    return float(value)


class LIFCondDynamics(Dynamics):
    """Engine update for :class:`~zentai.celltypes.LIFCond`."""

    model_class = LIFCond

    def setup(self) -> None:
        self.p = {k: _convert(v, self.dtype, self.device) for k, v in self.params.items()}
        h = self.dt
        #: exact mean of exp(-s/tau) over s in [0, h], one float per receptor
        self.step_mean = [r.tau / h * -math.expm1(-h / r.tau) for r in self.receptors]
        self.ref_steps = self.refractory_steps(self.p["t_ref"])

    def rest_state(self, n_ensembles: int, n: int) -> dict[str, torch.Tensor]:
        return {"v": self.full(self.p["e_l"], n_ensembles, n)}

    def step(self, state, arriving, i_stim):
        p = self.p
        v, syn, refr = state["v"], state["syn"], state["refr"]
        g_tot = torch.full_like(v, 0.0) + p["g_l"]
        drive = g_tot * p["e_l"] + p["i_e"]
        if i_stim is not None:
            drive = drive + i_stim
        g_tot, drive = self.add_step_mean_inputs(syn, v, g_tot, drive, self.step_mean)
        v_inf = drive / g_tot
        v_new = v_inf + (v - v_inf) * torch.exp(-self.dt / p["c_m"] * g_tot)
        v.copy_(torch.where(refr <= 0, v_new, v))
        return self.threshold_and_reset(state, arriving, p["v_th"])
