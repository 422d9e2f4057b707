"""The :class:`Result` of a run: recorded spikes, population rates and sampled states.

Plain NumPy / xarray, no torch: analysis and I/O read a Result without importing the engine.
Spike times follow NEST's convention: a spike emitted while integrating step k (the interval
[k dt, (k + 1) dt)) is stamped (k + 1) dt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from zentai.errors import SpecError, closest

__all__ = ["Result"]


@dataclass
class Result:
    """Recordings of one run (possibly of several ensemble members).

    Attributes
    ----------
    dt_ms : float
    t_stop_ms : float
        Biological time reached.
    n_ensembles : int
    populations : dict of str to (int, int)
        Global [start, stop) neuron ids of each population.
    spike_member, spike_neuron : ndarray, (n_spikes,), int
        Member index and global neuron id of each recorded spike (time-ordered).
    spike_time_ms : ndarray, (n_spikes,), float64
    rate_counts : ndarray, (n_steps, n_ensembles, n_populations) or None
        Spike counts per step and population (for :attr:`population_rate`).
    rate_bin_ms : float or None
    states : dict of str to xarray.DataArray
        ``"<population>.<variable>"`` -> dims (member, neuron, time), attrs ``units``.
    meta : dict
        Free-form run information (seed, device, timings).
    """

    dt_ms: float
    t_stop_ms: float
    n_ensembles: int
    populations: dict[str, tuple[int, int]]
    spike_member: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    spike_neuron: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    spike_time_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    recorded_populations: tuple[str, ...] = ()
    rate_counts: np.ndarray | None = None
    rate_bin_ms: float | None = None
    rate_populations: tuple[str, ...] = ()
    states: dict[str, xr.DataArray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ lookup
    def _pop(self, name: str) -> tuple[int, int]:
        if name not in self.populations:
            raise SpecError(f"Unknown population {name!r}; {closest(name, self.populations)}.")
        return self.populations[name]

    def _member(self, member: int) -> int:
        if not (isinstance(member, (int, np.integer)) and 0 <= member < self.n_ensembles):
            raise SpecError(
                f"member must be an integer in [0, {self.n_ensembles}); got {member!r}."
            )
        return int(member)

    @property
    def n_spikes(self) -> int:
        """Number of recorded spikes (all members)."""
        return int(self.spike_time_ms.size)

    def spikes(
        self, population: str | None = None, member: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """(times_ms, neuron) of one member's spikes; neuron indices local to ``population``."""
        m = self._member(member)
        sel = self.spike_member == m
        offset = 0
        if population is not None:
            a, b = self._pop(population)
            sel &= (self.spike_neuron >= a) & (self.spike_neuron < b)
            offset = a
        return self.spike_time_ms[sel], self.spike_neuron[sel] - offset

    def neuron_ids(self, population: str) -> np.ndarray:
        """Global ids of the neurons of ``population`` (``populations`` holds (start, stop))."""
        a, b = self._pop(population)
        return np.arange(a, b, dtype=np.int64)

    def times_ms(self, neuron: int, population: str | None = None, member: int = 0) -> np.ndarray:
        """Spike times (ms) of one neuron (index local to ``population``, else global id)."""
        t, idx = self.spikes(population, member)
        return t[idx == neuron]

    def spike_trains(self, population: str, member: int = 0) -> list[np.ndarray]:
        """One array of spike times per neuron of ``population``."""
        a, b = self._pop(population)
        t, idx = self.spikes(population, member)
        order = np.argsort(idx, kind="stable")
        t, idx = t[order], idx[order]
        bounds = np.searchsorted(idx, np.arange(b - a + 1))
        return [t[bounds[i] : bounds[i + 1]] for i in range(b - a)]

    # ------------------------------------------------------------------ statistics
    def _window(self, t_start: float, t_stop: float | None) -> tuple[float, float]:
        t_stop = self.t_stop_ms if t_stop is None else float(t_stop)
        if not (0 <= t_start < t_stop):
            raise SpecError(
                f"time window must satisfy 0 <= t_start < t_stop; got [{t_start}, {t_stop}] ms."
            )
        return float(t_start), t_stop

    def rates_hz(
        self, t_start: float = 0.0, t_stop: float | None = None, member: int = 0
    ) -> dict[str, float]:
        """Mean firing rate (Hz per neuron) of each recorded population over (t_start, t_stop]."""
        t0, t1 = self._window(t_start, t_stop)
        out = {}
        for name in self.recorded_populations:
            a, b = self.populations[name]
            t, _ = self.spikes(name, member)
            n = int(((t > t0) & (t <= t1)).sum())
            out[name] = n / max(b - a, 1) / ((t1 - t0) * 1e-3)
        return out

    def cv_isi(
        self,
        t_start: float = 0.0,
        t_stop: float | None = None,
        member: int = 0,
        min_spikes: int = 3,
    ) -> dict[str, float]:
        """Mean coefficient of variation of inter-spike intervals per population.

        Only neurons with at least ``min_spikes`` spikes in the window count; NaN if none.
        """
        t0, t1 = self._window(t_start, t_stop)
        out = {}
        for name in self.recorded_populations:
            a, b = self.populations[name]
            t, idx = self.spikes(name, member)
            sel = (t > t0) & (t <= t1)
            t, idx = t[sel], idx[sel]
            order = np.lexsort((t, idx))
            t, idx = t[order], idx[order]
            isi = np.diff(t)
            same = idx[1:] == idx[:-1]
            counts = np.bincount(idx, minlength=b - a)
            good = counts >= min_spikes
            if not good.any():
                out[name] = float("nan")
                continue
            nid = idx[1:][same]
            isi = isi[same]
            s1 = np.bincount(nid, weights=isi, minlength=b - a)
            s2 = np.bincount(nid, weights=isi**2, minlength=b - a)
            k = np.bincount(nid, minlength=b - a).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = s1 / k
                var = s2 / k - mean**2
                cv = np.sqrt(np.maximum(var, 0.0)) / mean
            out[name] = float(np.mean(cv[good]))
        return out

    @property
    def population_rate(self) -> xr.DataArray:
        """Population rate in Hz per neuron, dims (member, population, time), binned."""
        if self.rate_counts is None:
            raise SpecError(
                "No population rate was recorded; add zt.record.PopulationRate() to the spec."
            )
        counts = self.rate_counts  # (steps, B, P)
        per_bin = max(1, round(self.rate_bin_ms / self.dt_ms))
        n_bins = counts.shape[0] // per_bin
        c = counts[: n_bins * per_bin].reshape(n_bins, per_bin, *counts.shape[1:]).sum(1)
        sizes = np.array(
            [self.populations[p][1] - self.populations[p][0] for p in self.rate_populations]
        )
        rate = c / np.maximum(sizes, 1) / (per_bin * self.dt_ms * 1e-3)
        t0 = self.t_stop_ms - counts.shape[0] * self.dt_ms
        times = t0 + (np.arange(n_bins) + 0.5) * per_bin * self.dt_ms
        return xr.DataArray(
            np.transpose(rate, (1, 2, 0)),
            dims=("member", "population", "time"),
            coords={"population": list(self.rate_populations), "time": times},
            attrs={"units": "Hz", "time_units": "ms", "bin_ms": per_bin * self.dt_ms},
        )
