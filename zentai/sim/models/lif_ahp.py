"""Conductance LIF with an AHP conductance and no reset (Yamazaki & Nagao 2012): exponential Euler.

Integration scheme
------------------
``c_m dV/dt = -g_l (V - e_l) + Σ_r g_r(t) B_r(V) (e_r - V) + g_ahp s_ahp(t) (e_ahp - V)
+ Σ_q I_q(t) + i_e + I_stim``. As in :mod:`.lif_cond`, over one step [t, t + h] every receptor
trace and the AHP gate decay exactly, ``x(t + s) = x(t) e^{-s/tau}``; the membrane update
replaces each by its exact mean over the step, ``x̄ = x(t) tau/h (1 - e^{-h/tau})``, freezes a
Mg²⁺ block (if a receptor has one) at ``B(V(t))`` and solves the linear equation exactly::

    G = g_l + Σ_r ḡ_r B_r + g_ahp s̄_ahp,
    V_inf = (g_l e_l + Σ_r ḡ_r B_r e_r + g_ahp s̄_ahp e_ahp + Σ_q Ī_q + i_e + I_stim) / G,
    V(t + h) = V_inf + (V(t) - V_inf) exp(-h G / c_m).

The update is stable for any conductance size; the Purkinje AHP (100 nS on 106 pF) has a time
constant of about 1 ms, which an explicit step would resolve poorly at dt = 1 ms.

Then (order of :mod:`.base`) the synaptic traces decay and take this step's weights, the AHP gate
decays by ``exp(-h/tau_ahp)``, and the threshold is tested on the new V: wherever
``V > v_th`` the gate is set to 1 (peak conductance ``g_ahp``, held while V stays above);
a spike is emitted where V crossed ``v_th`` upwards in this step (``V(t) <= v_th < V(t + h)``)
and the neuron is not refractory. There is no reset of V. A spike starts ``round(t_ref/h)``
steps in which no further spike is emitted (V is not clamped).
"""

from __future__ import annotations

import math

import torch

from zentai.celltypes.models import LIFAHP
from zentai.sim.models.base import Dynamics, ParamValue

__all__ = ["LIFAHPDynamics"]


def _convert(value: ParamValue, dtype: torch.dtype, device: torch.device) -> ParamValue:
    if isinstance(value, torch.Tensor):
        return value.to(dtype=dtype, device=device)
    return float(value)


def _exp(x: ParamValue) -> ParamValue:
    return torch.exp(x) if isinstance(x, torch.Tensor) else math.exp(x)


def _expm1(x: ParamValue) -> ParamValue:
    return torch.expm1(x) if isinstance(x, torch.Tensor) else math.expm1(x)


class LIFAHPDynamics(Dynamics):
    """Engine update for :class:`~zentai.celltypes.LIFAHP`."""

    model_class = LIFAHP

    def setup(self) -> None:
        p = self.p = {k: _convert(v, self.dtype, self.device) for k, v in self.params.items()}
        h = self.dt
        #: exact mean of exp(-s/tau) over s in [0, h], one float per receptor
        self.step_mean = [r.tau / h * -math.expm1(-h / r.tau) for r in self.receptors]
        #: the same for the AHP gate, and its decay factor over one step
        self.ahp_mean = p["tau_ahp"] / h * -_expm1(-h / p["tau_ahp"])
        self.ahp_decay = _exp(-h / p["tau_ahp"])
        self.ref_steps = self.refractory_steps(p["t_ref"])

    def rest_state(self, n_ensembles: int, n: int) -> dict[str, torch.Tensor]:
        return {
            "v": self.full(self.p["e_l"], n_ensembles, n),
            "s_ahp": self.full(0.0, n_ensembles, n),
        }

    def step(self, state, arriving, i_stim):
        p = self.p
        v, s_ahp, syn, refr = state["v"], state["s_ahp"], state["syn"], state["refr"]
        g_ahp = s_ahp * self.ahp_mean * p["g_ahp"]
        g_tot = g_ahp + p["g_l"]
        drive = g_ahp * p["e_ahp"] + p["g_l"] * p["e_l"] + p["i_e"]
        if i_stim is not None:
            drive = drive + i_stim
        g_tot, drive = self.add_step_mean_inputs(syn, v, g_tot, drive, self.step_mean)
        v_inf = drive / g_tot
        v_new = v_inf + (v - v_inf) * torch.exp(-self.dt / p["c_m"] * g_tot)
        free = refr <= 0
        crossed = (v <= p["v_th"]) & (v_new > p["v_th"])
        v.copy_(v_new)
        refr.sub_(1).clamp_(min=0)
        self.decay_and_add(syn, arriving)
        s_ahp.mul_(self.ahp_decay)
        above = v > p["v_th"]
        s_ahp.masked_fill_(above, 1.0)
        spiked = crossed & free
        refr.masked_fill_(spiked, 0).add_(spiked * self.ref_steps)
        return spiked
