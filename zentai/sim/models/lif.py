"""Current-based LIF with exponential PSCs, integrated exactly (NEST ``iaf_psc_exp``).

Exact integration after Rotter & Diesmann (1999), Biol Cybern 81:381: over one step of length
h, with V measured from e_l, constant external current I0 and PSCs decaying with tau_s,

    V(t+h) = P22 V + Σ_s P21_s I_s + P20 I0,
    P22 = exp(-h/tau_m),  P20 = tau_m/c_m (1 - P22),
    P21_s = tau_m tau_s / (c_m (tau_m - tau_s)) (exp(-h/tau_m) - exp(-h/tau_s)).
"""

from __future__ import annotations

import math

import torch

from zentai.celltypes.models import LIF
from zentai.sim.models.base import Dynamics

__all__ = ["LIFDynamics"]


def _exp(x):
    return torch.exp(x) if isinstance(x, torch.Tensor) else math.exp(x)


class LIFDynamics(Dynamics):
    """Engine update for :class:`~zentai.celltypes.LIF`."""

    model_class = LIF

    def setup(self) -> None:
        p, h = self.params, self.dt
        tau_m, c_m = p["tau_m"], p["c_m"]
        self.p22 = _exp(-h / tau_m)
        self.p20 = tau_m / c_m * (1.0 - self.p22)
        self.p21 = []
        for rec in self.receptors:
            ts = rec.tau
            self.p21.append(tau_m * ts / (c_m * (tau_m - ts)) * (self.p22 - _exp(-h / ts)))
        self.ref_steps = self.refractory_steps(p["t_ref"])

    def rest_state(self, n_ensembles: int, n: int) -> dict[str, torch.Tensor]:
        return {"v": self.full(self.params["e_l"], n_ensembles, n)}

    def step(self, state, arriving, i_stim):
        p = self.params
        v, syn, refr = state["v"], state["syn"], state["refr"]
        e_l = p["e_l"]
        i0 = p["i_e"] if i_stim is None else i_stim + p["i_e"]
        v_rel = v - e_l
        v_new = v_rel * self.p22 + i0 * self.p20
        for r in range(len(self.receptors)):
            v_new = v_new + syn[r] * self.p21[r]
        active = refr <= 0
        v.copy_(torch.where(active, v_new + e_l, v))
        return self.threshold_and_reset(state, arriving, p["v_th"])
