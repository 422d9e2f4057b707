"""Observation operators: what a recording would have measured, computed from a run.

Every operator maps a population-rate time series ``rate`` (members, channels, time; Hz per
neuron, bins of ``dt_ms``) — a channel is a population, a region, a voxel or a cell type,
whatever the rates were pooled over — to what the filter compares with the data:

* :func:`population_rates` (recorded per population) and :func:`grouped_rates` (per voxel,
  region or cell type: any labelling of a population's neurons) give that series;
* :func:`window_rate` — mean firing rate over a window (identity + noise, MODEL_SPEC §7.2 b);
* :class:`Calcium` — wide-field / population calcium ΔF/F: the rate filtered by a GCaMP-like
  rise-and-decay kernel (MODEL_SPEC §7.2 c: τ_rise ≈ 50 ms, τ_decay ≈ 400 ms, marked [N]
  there, tunable) plus optional Gaussian noise;
* :class:`BalloonWindkessel` — BOLD from the haemodynamic Balloon–Windkessel model with the
  Digital Twin Brain's constants (Friston et al. 2000; Lu et al. 2023; MODEL_SPEC §7.1).

The stateful operators (calcium, BOLD) keep their state between calls, so a run cut into
assimilation cycles gives the same signal as one long run; their state is part of a checkpoint
(:meth:`state_dict` / :meth:`load_state_dict`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from zentai.errors import SpecError

__all__ = ["BalloonWindkessel", "Calcium", "grouped_rates", "population_rates", "window_rate"]


def _rates(rate: Any, owner: str) -> np.ndarray:
    r = np.asarray(rate, dtype=np.float64)
    if r.ndim != 3:
        raise SpecError(f"{owner}: rate must have shape (members, channels, time); got {r.shape}.")
    if not np.all(np.isfinite(r)):
        raise SpecError(f"{owner}: rate holds NaN or inf.")
    return r


def population_rates(result: Any, populations: Any = None) -> np.ndarray:
    """The recorded population rate of a :class:`~zentai.record.Result` as an array
    (members, populations, time) in Hz, in the order of ``populations`` (default: all
    recorded)."""
    pr = result.population_rate
    names = list(pr.coords["population"].values)
    if populations is None:
        return pr.values
    missing = [p for p in populations if p not in names]
    if missing:
        raise SpecError(f"population rate not recorded for {missing}; recorded: {names}.")
    return pr.sel(population=list(populations)).values


def grouped_rates(
    result: Any,
    population: str,
    labels: Any,
    *,
    t_start: float,
    t_stop: float,
    bin_ms: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Rates of groups of a population's neurons — per voxel, region or cell type — from its
    recorded spikes: ``labels`` (one per neuron of ``population``, e.g. a voxel index or a
    region acronym) defines the groups. Returns (rate (members, groups, bins) in Hz per
    neuron, the group labels in sorted order). Spikes in (t_start, t_stop] count, in bins of
    ``bin_ms``.
    """
    a, b = result.populations[population]
    labels = np.asarray(labels)
    if labels.shape != (b - a,):
        raise SpecError(
            f"grouped_rates: labels must have one entry per neuron of {population!r} "
            f"({b - a}); got shape {labels.shape}."
        )
    n_bins = round((t_stop - t_start) / bin_ms)
    if n_bins < 1 or abs(n_bins * bin_ms - (t_stop - t_start)) > 1e-6:
        raise SpecError(
            f"grouped_rates: (t_stop - t_start) must be a positive multiple of bin_ms = "
            f"{bin_ms}; got ({t_start}, {t_stop}] ms."
        )
    names, group = np.unique(labels, return_inverse=True)
    sizes = np.bincount(group, minlength=len(names))
    B = result.n_ensembles
    counts = np.zeros((B, len(names), n_bins))
    for m in range(B):
        t, idx = result.spikes(population, m)
        keep = (t > t_start) & (t <= t_stop)
        k = np.minimum(((t[keep] - t_start) / bin_ms - 1e-9).astype(np.int64), n_bins - 1)
        np.add.at(counts[m], (group[idx[keep]], k), 1.0)
    return counts / sizes[None, :, None] / (bin_ms * 1e-3), names


def window_rate(rate: Any) -> np.ndarray:
    """Mean rate over the whole series: (members, channels, time) -> (members, channels)."""
    r = _rates(rate, "window_rate")
    if r.shape[2] == 0:
        raise SpecError("window_rate: the window holds no time bins.")
    return r.mean(axis=2)


class Calcium:
    """Calcium indicator ΔF/F of a population: ``A (k * rate)(t)`` with the kernel
    ``k(t) = (exp(-t/τ_decay) - exp(-t/τ_rise)) / (τ_decay - τ_rise)`` (unit area, seconds),
    so a steady rate ν gives ΔF/F = A ν (``amplitude`` A: ΔF/F per spike per second per neuron,
    i.e. the steady-state fluorescence of one spike per second).

    The kernel is the difference of two first-order filters, each integrated exactly over a
    bin (rate held constant within the bin), so the result does not depend on how the series
    is cut into calls. ``noise``: standard deviation of additive Gaussian noise on ΔF/F (drawn
    from ``rng`` when given to :meth:`__call__`).
    """

    def __init__(
        self,
        dt_ms: float,
        *,
        tau_rise_ms: float = 50.0,
        tau_decay_ms: float = 400.0,
        amplitude: float = 0.05,
        noise: float = 0.0,
    ) -> None:
        for name, val in (("dt_ms", dt_ms), ("tau_rise_ms", tau_rise_ms),
                          ("tau_decay_ms", tau_decay_ms)):  # fmt: skip
            if not (isinstance(val, (int, float)) and math.isfinite(val) and val > 0):
                raise SpecError(f"Calcium.{name} must be a positive time (ms); got {val!r}.")
        if not tau_rise_ms < tau_decay_ms:
            raise SpecError(
                f"Calcium needs tau_rise_ms < tau_decay_ms; got {tau_rise_ms} >= {tau_decay_ms}."
            )
        if not noise >= 0:
            raise SpecError(f"Calcium.noise must be >= 0; got {noise!r}.")
        self.dt_ms = float(dt_ms)
        self.tau_r = tau_rise_ms * 1e-3
        self.tau_d = tau_decay_ms * 1e-3
        self.amplitude = float(amplitude)
        self.noise = float(noise)
        self._state: np.ndarray | None = None  # (2, members, channels): the two filters

    def __call__(self, rate: Any, rng: np.random.Generator | None = None) -> np.ndarray:
        """ΔF/F at the end of every bin of ``rate`` (members, channels, time)."""
        r = _rates(rate, "Calcium")
        h = self.dt_ms * 1e-3
        if self._state is None or self._state.shape[1:] != r.shape[:2]:
            self._state = np.zeros((2, *r.shape[:2]))
        out = np.empty_like(r)
        taus = (self.tau_d, self.tau_r)
        decay = [math.exp(-h / t) for t in taus]
        st = self._state
        for k in range(r.shape[2]):
            for j, (t, d) in enumerate(zip(taus, decay)):
                # x' = -x/tau + rate: exact over one bin with the rate held
                st[j] = st[j] * d + r[:, :, k] * t * (1.0 - d)
            out[:, :, k] = (st[0] - st[1]) / (self.tau_d - self.tau_r)
        out *= self.amplitude
        if self.noise > 0:
            if rng is None:
                raise SpecError("Calcium with noise > 0 needs rng= (a numpy Generator).")
            out += self.noise * rng.standard_normal(out.shape)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"state": None if self._state is None else self._state.copy()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self._state = None if d["state"] is None else np.array(d["state"])


class BalloonWindkessel:
    """BOLD signal of the Balloon–Windkessel model (Friston et al. 2000), with the constants
    and input of the Digital Twin Brain (Lu et al. 2023, ``bold_model_pytorch.py``; MODEL_SPEC
    §7.1):

    ``ds/dt = ε u − s/τ_s − (f − 1)/τ_f``, ``df/dt = s``,
    ``dq/dt = [f (1 − (1 − E0)^(1/f)) / E0 − q v^(1/α − 1)] / τ0``,
    ``dv/dt = (f − v^(1/α)) / τ0``,
    ``y = V0 [7 E0 (1 − q) + 2 (1 − q/v) + (2 E0 − 0.2)(1 − v)]``,

    ε = 200, τ_s = 0.8 s, τ_f = 0.4 s, τ0 = 1 s, α = 0.2, E0 = 0.8, V0 = 0.02, forward Euler
    with ``h`` = 1 ms; ``u`` is the firing rate in spikes per neuron per 1 ms step (rate in Hz
    times 1e-3). Rest: s = 0, f = v = q = 1, y = 0.
    """

    def __init__(
        self,
        *,
        epsilon: float = 200.0,
        tau_s: float = 0.8,
        tau_f: float = 0.4,
        tau_0: float = 1.0,
        alpha: float = 0.2,
        e0: float = 0.8,
        v0: float = 0.02,
        h_s: float = 1e-3,
    ) -> None:
        self.epsilon, self.tau_s, self.tau_f, self.tau_0 = epsilon, tau_s, tau_f, tau_0
        self.alpha, self.e0, self.v0, self.h = alpha, e0, v0, h_s
        self._state: np.ndarray | None = None  # (4, ...): s, f, v, q

    def steady_state(self, u: Any) -> np.ndarray:
        """(s, f, v, q, y) at rest under a constant input ``u`` (the fixed point)."""
        u = np.asarray(u, dtype=np.float64)
        f = 1.0 + self.epsilon * u * self.tau_f
        v = f**self.alpha
        q = f * (1.0 - (1.0 - self.e0) ** (1.0 / f)) / self.e0 / v ** (1.0 / self.alpha - 1.0)
        return np.stack([np.zeros_like(f), f, v, q, self._y(v, q)])

    def _y(self, v: np.ndarray, q: np.ndarray) -> np.ndarray:
        e0 = self.e0
        return self.v0 * (7 * e0 * (1 - q) + 2 * (1 - q / v) + (2 * e0 - 0.2) * (1 - v))

    def __call__(self, rate_hz: Any, dt_ms: float = 1.0) -> np.ndarray:
        """BOLD y after every bin of ``rate_hz`` (members, channels, time; bins of ``dt_ms``,
        a multiple of the 1 ms integration step)."""
        r = _rates(rate_hz, "BalloonWindkessel")
        sub = dt_ms * 1e-3 / self.h
        if not (sub >= 1 - 1e-9 and abs(sub - round(sub)) < 1e-6):
            raise SpecError(
                f"BalloonWindkessel: dt_ms must be a multiple of {self.h * 1e3:g} ms; got {dt_ms}."
            )
        sub = round(sub)
        if self._state is None or self._state.shape[1:] != r.shape[:2]:
            self._state = np.ones((4, *r.shape[:2]))
            self._state[0] = 0.0
        s, f, v, q = self._state
        h, a, e0 = self.h, self.alpha, self.e0
        out = np.empty_like(r)
        for k in range(r.shape[2]):
            u = r[:, :, k] * 1e-3
            for _ in range(sub):
                ds = self.epsilon * u - s / self.tau_s - (f - 1.0) / self.tau_f
                df = s
                dq = (
                    f * (1.0 - (1.0 - e0) ** (1.0 / f)) / e0 - q * v ** (1.0 / a - 1.0)
                ) / self.tau_0
                dv = (f - v ** (1.0 / a)) / self.tau_0
                s, f, q, v = s + h * ds, f + h * df, q + h * dq, v + h * dv
            out[:, :, k] = self._y(v, q)
        self._state = np.stack([s, f, v, q])
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"state": None if self._state is None else self._state.copy()}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self._state = None if d["state"] is None else np.array(d["state"])
