"""Adaptive exponential integrate-and-fire (Brette & Gerstner 2005): sub-stepped Heun (RK2).

Integration scheme
------------------
``c_m dV/dt = -g_l (V - e_l) + g_l delta_t exp((V - v_th)/delta_t) - w + I_syn(V, t) + i_e
+ I_stim`` and ``tau_w dw/dt = a (V - e_l) - w``. One engine step of length ``dt`` is split
into ``n_sub = ceil(dt / MAX_SUBSTEP_MS)`` equal sub-steps, each advanced with Heun's method
(explicit trapezoidal RK2). Inside the step each synaptic trace follows its exact exponential
decay from its start-of-step value (the order of :mod:`.base`), so the sub-steps see
``g_r(t + s) = g_r(t) exp(-s/tau_r)``.

Why this is safe at dt = 0.1 ms: the exponential term makes the upstroke stiff. Its argument
is clipped at ``min((v_peak - v_th)/delta_t, EXP_ARG_MAX)`` so it never overflows (float32
included), and V (in the predictor and after each sub-step) is clamped at ``v_peak``. Once a
neuron reaches ``v_peak`` it stays there for the rest of the step while ``w`` keeps
integrating with ``V = v_peak``; at the end of the step ``V >= v_peak`` is a spike:
``V <- v_reset``, ``w <- w + b``. During ``round(t_ref/dt)`` steps after a spike dV/dt is set
to zero (V clamped at ``v_reset``, as NEST ``aeif_cond_exp``) while ``w`` and the synapses
evolve. Below the upstroke the fastest time scale is ``c_m / (g_l + Σ g_r)`` (a few ms), far
above the 0.025 ms sub-step, so Heun is both stable and accurate there
(see ``tests/sim/test_models.py`` for the comparison with a tight-tolerance ODE solution).
"""

from __future__ import annotations

import math

import torch

from zentai.celltypes.models import AdEx
from zentai.sim.models.base import Dynamics, ParamValue, mg_block

__all__ = ["EXP_ARG_MAX", "MAX_SUBSTEP_MS", "AdExDynamics"]

#: longest Heun sub-step, ms
MAX_SUBSTEP_MS = 0.025
#: cap on (V - v_th)/delta_t inside exp(); exp(20) ~ 5e8 is far past the point of no return
EXP_ARG_MAX = 20.0


def _convert(value: ParamValue, dtype: torch.dtype, device: torch.device) -> ParamValue:
    if isinstance(value, torch.Tensor):
        return value.to(dtype=dtype, device=device)
    return float(value)


def _minimum(x: ParamValue, y: float) -> ParamValue:
    return x.clamp(max=y) if isinstance(x, torch.Tensor) else min(x, y)


class AdExDynamics(Dynamics):
    """Engine update for :class:`~zentai.celltypes.AdEx`."""

    model_class = AdEx

    def setup(self) -> None:
        p = self.p = {k: _convert(v, self.dtype, self.device) for k, v in self.params.items()}
        self.n_sub = max(1, math.ceil(self.dt / MAX_SUBSTEP_MS - 1e-9))
        self.h_sub = self.dt / self.n_sub
        n_bounds = self.n_sub + 1
        # decay of each receptor trace at the sub-step boundaries j * h_sub, j = 0..n_sub
        decay = [
            [math.exp(-j * self.h_sub / r.tau) for j in range(n_bounds)] for r in self.receptors
        ]
        # receptors whose current is linear in V: I = i_lin - g_lin V, one row per receptor
        g_lin = [[0.0] * n_bounds for _ in self.receptors]
        i_lin = [[0.0] * n_bounds for _ in self.receptors]
        self.blocked = []  # (receptor index, e_rev, decays) of Mg-blocked conductances
        for r, rec in enumerate(self.receptors):
            if rec.is_conductance and rec.mg_block:
                self.blocked.append((r, rec.e_rev, decay[r]))
            elif rec.is_conductance:
                g_lin[r] = decay[r]
                i_lin[r] = [x * rec.e_rev for x in decay[r]]
            else:
                i_lin[r] = decay[r]
        self.g_lin = torch.tensor(g_lin, dtype=self.dtype, device=self.device).reshape(-1, n_bounds)
        self.i_lin = torch.tensor(i_lin, dtype=self.dtype, device=self.device).reshape(-1, n_bounds)
        self.exp_arg_max = _minimum((p["v_peak"] - p["v_th"]) / p["delta_t"], EXP_ARG_MAX)
        self.spike_scale = p["g_l"] * p["delta_t"]  # pA
        self.leak_drive = p["g_l"] * p["e_l"]  # pA
        self.ref_steps = self.refractory_steps(p["t_ref"])

    def rest_state(self, n_ensembles: int, n: int) -> dict[str, torch.Tensor]:
        return {
            "v": self.full(self.p["e_l"], n_ensembles, n),
            "w": self.full(0.0, n_ensembles, n),
        }

    def _derivatives(
        self,
        v: torch.Tensor,
        w: torch.Tensor,
        syn: torch.Tensor,
        j: int,
        g_total: torch.Tensor,
        drive: torch.Tensor,
        free_over_c: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """dV/dt (mV/ms) and dw/dt (pA/ms) at sub-step boundary ``j``.

        ``g_total[j]`` = g_l + linear conductances, ``drive[j]`` = g_l e_l + their g e_rev
        + current-receptor and external currents, so that the linear part is
        ``drive - g_total V``. ``free_over_c`` is ``1/c_m``, or 0 while refractory.
        """
        p = self.p
        arg = ((v - p["v_th"]) / p["delta_t"]).clamp(max=self.exp_arg_max)
        i_mem = self.spike_scale * torch.exp(arg) + drive[j] - g_total[j] * v - w
        for r, e_rev, decay in self.blocked:
            i_mem = i_mem + syn[r] * decay[j] * mg_block(v, p.get("mg", 1.0)) * (e_rev - v)
        dv = i_mem * free_over_c
        dw = (p["a"] * (v - p["e_l"]) - w) / p["tau_w"]
        return dv, dw

    def step(self, state, arriving, i_stim):
        p, hs = self.p, self.h_sub
        v, w, syn, refr = state["v"], state["w"], state["syn"], state["refr"]
        i_ext = p["i_e"] if i_stim is None else i_stim + p["i_e"]
        # linear synaptic terms at every sub-step boundary, (n_sub + 1, B, n)
        g_total = torch.einsum("rj,rbn->jbn", self.g_lin, syn) + p["g_l"]
        drive = torch.einsum("rj,rbn->jbn", self.i_lin, syn) + (self.leak_drive + i_ext)
        free_over_c = (refr <= 0).to(v.dtype) / p["c_m"]
        v_peak = p["v_peak"]
        for j in range(self.n_sub):
            k1v, k1w = self._derivatives(v, w, syn, j, g_total, drive, free_over_c)
            v_pred = (v + hs * k1v).clamp(max=v_peak)
            w_pred = w + hs * k1w
            k2v, k2w = self._derivatives(v_pred, w_pred, syn, j + 1, g_total, drive, free_over_c)
            v.add_(0.5 * hs * (k1v + k2v)).clamp_(max=v_peak)
            w.add_(0.5 * hs * (k1w + k2w))
        spiked = self.threshold_and_reset(state, arriving, v_peak)
        w.copy_(torch.where(spiked, w + p["b"], w))
        return spiked
