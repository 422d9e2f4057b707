"""The interface between the engine and a neuron model's tensor code.

One :class:`Dynamics` object advances all neurons of one *group* (neurons sharing a model
class and receptor set, possibly from several populations) by one time step. State tensors
have shape ``(n_ensembles, n)``; synaptic state has shape ``(n_receptors, n_ensembles, n)``.
Parameters are Python floats when shared by the whole group, else tensors of shape ``(1, n)``
or ``(n_ensembles, n)`` that broadcast against the state.

Order of operations within one step (as NEST's ``iaf_psc_exp``): the membrane is integrated
over [t, t + dt] with the synaptic state at t; then synaptic currents/conductances decay and
the weights arriving in this step are added; then threshold, reset and refractoriness.
So a spike arriving in step s first moves the membrane in step s + 1.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from zentai.celltypes.models import Receptor

__all__ = ["Dynamics", "ParamValue", "mg_block"]

ParamValue = float | torch.Tensor


def mg_block(v: torch.Tensor, mg: ParamValue) -> torch.Tensor:
    """NMDA Mg²⁺ block ``1 / (1 + [Mg]/3.57 exp(-0.062 v))`` (Jahr & Stevens 1990)."""
    return 1.0 / (1.0 + (mg / 3.57) * torch.exp(-0.062 * v))


class Dynamics:
    """Base class: holds parameters, receptors and the synaptic decay factors.

    Subclasses set ``model_class`` and implement :meth:`rest_state` and :meth:`step`.
    """

    model_class: ClassVar[type]

    def __init__(
        self,
        params: dict[str, ParamValue],
        receptors: tuple[Receptor, ...],
        dt: float,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        self.params = params
        self.receptors = receptors
        self.dt = float(dt)
        self.dtype = dtype
        self.device = torch.device(device)
        #: per-receptor decay factor exp(-dt/tau), shape (R, 1, 1)
        self.syn_decay = torch.tensor(
            [math.exp(-self.dt / r.tau) for r in receptors], dtype=dtype, device=self.device
        ).reshape(-1, 1, 1)
        self.is_cond = [r.is_conductance for r in receptors]
        self.setup()

    # ------------------------------------------------------------------ to override
    def setup(self) -> None:
        """Precompute propagators from ``self.params`` (called again after parameter changes)."""

    def rest_state(self, n_ensembles: int, n: int) -> dict[str, torch.Tensor]:
        """Model state variables at rest, each ``(n_ensembles, n)``."""
        raise NotImplementedError

    def step(
        self, state: dict[str, torch.Tensor], arriving: torch.Tensor, i_stim: torch.Tensor | None
    ) -> torch.Tensor:
        """Advance ``state`` in place by one step; return the spike mask ``(n_ensembles, n)``.

        ``arriving`` is ``(R, n_ensembles, n)``: summed weights reaching each receptor in this
        step. ``i_stim`` is an external current in pA (or ``None``).
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def initial_state(self, n_ensembles: int, n: int) -> dict[str, torch.Tensor]:
        """Rest state plus synaptic state ``syn`` (R, B, n) and refractory counter ``refr``."""
        state = self.rest_state(n_ensembles, n)
        state["syn"] = torch.zeros(
            (len(self.receptors), n_ensembles, n), dtype=self.dtype, device=self.device
        )
        state["refr"] = torch.zeros((n_ensembles, n), dtype=torch.int32, device=self.device)
        return state

    def full(self, value: ParamValue, n_ensembles: int, n: int) -> torch.Tensor:
        """A ``(n_ensembles, n)`` tensor filled from a parameter value."""
        out = torch.empty((n_ensembles, n), dtype=self.dtype, device=self.device)
        out[...] = value
        return out

    def _blocked(self, g: torch.Tensor, rec: Receptor, v: torch.Tensor) -> torch.Tensor:
        """``g B(v)``: the conductance ``g`` times the Mg²⁺ block at ``v`` where ``rec`` has one."""
        return g * mg_block(v, self.params.get("mg", 1.0)) if rec.mg_block else g

    def synaptic_current(self, syn: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Total synaptic current (pA) at membrane potential ``v`` for mixed receptor types."""
        total = torch.zeros_like(v)
        for r, rec in enumerate(self.receptors):
            if rec.is_conductance:
                total = total + self._blocked(syn[r], rec, v) * (rec.e_rev - v)
            else:
                total = total + syn[r]
        return total

    def synaptic_conductance(self, syn: torch.Tensor, v: torch.Tensor) -> torch.Tensor | None:
        """Sum of the conductances ``g B(v)`` (nS) at ``v``, or None without conductance
        receptors."""
        total = None
        for r, rec in enumerate(self.receptors):
            if rec.is_conductance:
                g = self._blocked(syn[r], rec, v)
                total = g if total is None else total + g
        return total

    def add_step_mean_inputs(
        self,
        syn: torch.Tensor,
        v: torch.Tensor,
        g_tot: torch.Tensor,
        drive: torch.Tensor,
        step_mean: list,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Add every receptor's mean over the step to a linear membrane equation.

        ``step_mean[r]`` is the mean of the exponential decay over one step; conductances
        (with the Mg²⁺ block at ``v`` where set) add to ``g_tot`` and ``g e_rev`` to ``drive``,
        currents add to ``drive``. Used by the exponential-Euler models (LIFCond, LIFAHP).
        """
        for r, rec in enumerate(self.receptors):
            x = syn[r] * step_mean[r]
            if rec.is_conductance:
                x = self._blocked(x, rec, v)
                g_tot = g_tot + x
                drive = drive + x * rec.e_rev
            else:
                drive = drive + x
        return g_tot, drive

    def decay_and_add(self, syn: torch.Tensor, arriving: torch.Tensor) -> None:
        """``syn <- syn * exp(-dt/tau) + arriving`` in place."""
        syn.mul_(self.syn_decay).add_(arriving)

    def threshold_and_reset(
        self, state: dict[str, torch.Tensor], arriving: torch.Tensor, threshold: ParamValue
    ) -> torch.Tensor:
        """Shared end of a step for models with ``v_reset`` and ``t_ref``.

        Counts the refractory period down, adds the arriving weights to the synaptic state,
        then sets ``v <- v_reset`` and the refractory counter where ``v >= threshold``.
        Needs ``self.ref_steps`` (from :meth:`refractory_steps`). Returns the spike mask.
        """
        v, refr = state["v"], state["refr"]
        refr.sub_(1).clamp_(min=0)
        self.decay_and_add(state["syn"], arriving)
        spiked = v >= threshold
        v.copy_(torch.where(spiked, self.params["v_reset"], v))
        refr.masked_fill_(spiked, 0).add_(spiked * self.ref_steps)
        return spiked

    def refractory_steps(self, t_ref: ParamValue) -> ParamValue:
        """Refractory period in whole steps (rounded, as NEST does)."""
        if isinstance(t_ref, torch.Tensor):
            return torch.round(t_ref / self.dt).to(torch.int32)
        return round(t_ref / self.dt)
