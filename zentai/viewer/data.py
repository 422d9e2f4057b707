"""What the web viewer shows, computed in Python: one :class:`Dataset` per result set.

A dataset is read from a ``zentai run`` folder (``spikes.h5``, with the spec and summary that
``zentai run`` and the scenarios store in it), from a result ``.h5`` file, or from an NWB file
(``result.nwb`` of ``zentai run --nwb``, or a recording with the same ``units`` columns:
``population``, ``neuron``, ``member``, optional labels and ``x``, ``y``, ``z`` in CCF µm).
Only ensemble member 0 is shown.

The methods return plain JSON-ready dicts (lists, floats, ``None`` for undefined numbers):

* :meth:`Dataset.rates`: binned rate (Hz per neuron) of each group over the whole run, and its
  mean over the analysis window (after the warm-up), which equals
  :meth:`zentai.record.Result.rates_hz` for populations;
* :meth:`Dataset.raster`: spike times and neuron rows, thinned by neurons to a cap on points;
* :meth:`Dataset.spectra`: Welch power spectra of the groups' 1 ms rates in the window
  (:func:`zentai.analysis.power_spectrum`);
* :meth:`Dataset.correlation`: Pearson correlations of the groups' binned rates in the window
  (:func:`zentai.analysis.holism.correlation_structure`; ``None`` rows for silent groups);
* :meth:`Dataset.activity_map`: activity frames for the top view (see
  :mod:`zentai.viewer.topview`).
"""

from __future__ import annotations

import json
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zentai.errors import DataError, SpecError

__all__ = ["GROUPINGS", "Dataset", "load_dataset"]

#: how groups can be formed: by population, or by one of the populations' labels
GROUPINGS = ("population", "region", "layer", "cell_class")
#: default cap on the points of a raster
MAX_RASTER_POINTS = 20_000
#: at most this many frames in an activity map (the bin grows to fit)
MAX_FRAMES = 400
_LABEL_COLUMNS = ("cell_type", "cell_class", "region", "layer")


def _num(x: Any, digits: int = 6) -> float | None:
    """A finite float rounded to ``digits`` significant digits, else ``None`` (JSON null)."""
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def _nums(a: Any, digits: int = 6) -> list:
    """A (nested) list of :func:`_num` values of an array."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return _num(a, digits)  # type: ignore[return-value]
    return [_nums(row, digits) if a.ndim > 1 else _num(row, digits) for row in a]


@dataclass(eq=False)
class Dataset:
    """Spikes of one result set (member 0) with its populations, labels and positions.

    Attributes
    ----------
    name, path, kind : str
        Display name, source path, ``"zentai result"`` or ``"NWB"``.
    times_ms, neuron : ndarray (n_spikes,)
        Spike times (ms) and global neuron ids, time-ordered.
    populations : dict of str to (int, int)
        Global [start, stop) neuron ids.
    labels : dict of str to dict
        Labels of each population (``region``, ``layer``, ``cell_class``, ...).
    positions_um : ndarray (n_neurons, 3) or None
        Soma positions (CCF µm: AP, DV, ML), NaN where unknown; None without any.
    t_stop_ms, window_start_ms : float
        End of the run, and start of the analysis window (the warm-up; 0 for NWB files).
    """

    name: str
    path: str
    kind: str
    times_ms: np.ndarray
    neuron: np.ndarray
    populations: dict[str, tuple[int, int]]
    labels: dict[str, dict[str, str]]
    positions_um: np.ndarray | None
    t_stop_ms: float
    window_start_ms: float = 0.0
    dt_ms: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # ------------------------------------------------------------------ basics
    @property
    def n_neurons(self) -> int:
        return max((b for _, b in self.populations.values()), default=0)

    @property
    def n_spikes(self) -> int:
        return int(self.times_ms.size)

    def groupings(self) -> list[str]:
        """The groupings that apply: ``population``, and each label every population has."""
        out = ["population"]
        for g in GROUPINGS[1:]:
            values = [self.labels[p].get(g, "") for p in self.populations]
            if all(values):
                out.append(g)
        return out

    def groups(self, by: str = "population") -> dict[str, np.ndarray]:
        """Group name -> global neuron ids (groups in order of first appearance)."""
        if by not in self.groupings():
            raise SpecError(
                f"group must be one of {self.groupings()} for {self.name!r}; got {by!r}."
            )
        out: dict[str, list[np.ndarray]] = {}
        for p, (a, b) in self.populations.items():
            if b <= a:
                continue
            key = p if by == "population" else self.labels[p][by]
            out.setdefault(key, []).append(np.arange(a, b, dtype=np.int64))
        return {k: np.concatenate(v) for k, v in out.items()}

    def _cached(self, key: Any, make: Any) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = make()
            return self._cache[key]

    def overview(self) -> dict[str, Any]:
        """Name, source, sizes and the populations with their labels."""
        return {
            "name": self.name,
            "path": self.path,
            "kind": self.kind,
            "n_neurons": self.n_neurons,
            "n_spikes": self.n_spikes,
            "t_stop_ms": self.t_stop_ms,
            "window_ms": [self.window_start_ms, self.t_stop_ms],
            "dt_ms": self.dt_ms,
            "has_positions": self.positions_um is not None,
            "groupings": self.groupings(),
            "populations": [
                {"name": p, "size": b - a, "labels": self.labels[p]}
                for p, (a, b) in self.populations.items()
            ],
            "info": self.info,
        }

    # ------------------------------------------------------------------ rates
    def _rate_matrix(self, by: str, bin_ms: float, t0: float, t1: float) -> tuple[list, Any]:
        from zentai.analysis import population_rate

        groups = self.groups(by)
        rate = population_rate(
            (self.times_ms, self.neuron), groups, bin_ms=bin_ms, t_start_ms=t0, t_stop_ms=t1
        )
        return list(groups), rate

    def rates(self, by: str = "population", bin_ms: float = 5.0) -> dict[str, Any]:
        """Binned rates (Hz per neuron) over [0, t_stop] and mean rates in the window."""
        bin_ms = _positive(bin_ms, "bin_ms")
        return self._cached(("rates", by, bin_ms), lambda: self._rates(by, bin_ms))

    def _rates(self, by: str, bin_ms: float) -> dict[str, Any]:
        bin_ms = min(bin_ms, self.t_stop_ms)
        names, rate = self._rate_matrix(by, bin_ms, 0.0, self.t_stop_ms)
        groups = self.groups(by)
        t0, t1 = self.window_start_ms, self.t_stop_ms
        in_window = (self.times_ms > t0) & (self.times_ms <= t1)
        counts = np.bincount(self.neuron[in_window], minlength=self.n_neurons)
        mean = {
            g: _num(counts[ids].sum() / ids.size / ((t1 - t0) * 1e-3)) for g, ids in groups.items()
        }
        return {
            "group": by,
            "names": names,
            "sizes": [int(groups[g].size) for g in names],
            "bin_ms": float(rate.attrs["bin_ms"]),
            "time_ms": _nums(rate["time"].values),
            "rates_hz": _nums(rate.values, 5),
            "mean_hz": mean,
            "window_ms": [t0, t1],
            "units": "Hz per neuron",
        }

    # ------------------------------------------------------------------ raster
    def raster(self, max_points: int = MAX_RASTER_POINTS, seed: int = 0) -> dict[str, Any]:
        """Spike times and neuron rows; above ``max_points``, a random subset of neurons.

        Neurons rather than spikes are thinned, so each row that is shown is complete. ``row``
        is the global neuron id (rows of a population are contiguous).
        """
        if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
            raise SpecError(f"max_points must be a positive integer; got {max_points!r}.")
        return self._cached(("raster", max_points, seed), lambda: self._raster(max_points, seed))

    def _raster(self, max_points: int, seed: int) -> dict[str, Any]:
        n = self.n_spikes
        keep = np.ones(n, dtype=bool)
        neuron_fraction = 1.0
        if n > max_points:
            rng = np.random.default_rng(seed)
            counts = np.bincount(self.neuron, minlength=self.n_neurons)
            order = rng.permutation(self.n_neurons)
            # the largest random set of neurons whose spikes fit the cap
            n_keep = int(np.searchsorted(np.cumsum(counts[order]), max_points, side="right"))
            chosen = np.zeros(self.n_neurons, dtype=bool)
            chosen[order[:n_keep]] = True
            keep = chosen[self.neuron]
            neuron_fraction = n_keep / max(self.n_neurons, 1)
        t, row = self.times_ms[keep], self.neuron[keep]
        pops = []
        for p, (a, b) in self.populations.items():
            in_p = (self.neuron >= a) & (self.neuron < b)
            pops.append(
                {
                    "name": p,
                    "start": a,
                    "stop": b,
                    "n_spikes": int(in_p.sum()),
                    "n_shown": int(((row >= a) & (row < b)).sum()),
                }
            )
        return {
            "n_total": n,
            "n_shown": int(t.size),
            "max_points": max_points,
            "neuron_fraction": neuron_fraction,
            "n_neurons": self.n_neurons,
            "t_stop_ms": self.t_stop_ms,
            "time_ms": [round(float(x), 3) for x in t],
            "row": row.tolist(),
            "populations": pops,
        }

    # ------------------------------------------------------------------ spectra
    def spectra(self, by: str = "population", max_hz: float = 500.0) -> dict[str, Any]:
        """Welch PSD of each group's 1 ms rate in the analysis window (Hz²/Hz).

        The segment length is 40 % of the window (about four segments with 50 % overlap); the
        frequency step is therefore ``2.5 / window`` (at least 1 Hz). ``variance_hz2`` is the
        variance of each group's rate, which the PSD integrates to (Parseval, up to the taper).
        """
        return self._cached(("spectra", by, max_hz), lambda: self._spectra(by, max_hz))

    def _spectra(self, by: str, max_hz: float) -> dict[str, Any]:
        from zentai.analysis import power_spectrum

        t0, t1 = self.window_start_ms, self.t_stop_ms
        names, rate = self._rate_matrix(by, 1.0, t0, t1)
        n_bins = rate.sizes["time"]
        if n_bins < 8:
            raise SpecError(
                f"{self.name!r}: the analysis window ({t1 - t0:g} ms) is too short for spectra."
            )
        resolution = max(1.0, 2.5 * 1000.0 / n_bins)
        psd = power_spectrum(rate, resolution_hz=resolution)
        f = psd["frequency"].values
        sel = f <= max_hz
        return {
            "group": by,
            "names": names,
            "frequency_hz": _nums(f[sel]),
            "psd": _nums(psd.values[:, sel], 5),
            "units": "Hz²/Hz",
            "resolution_hz": float(psd.attrs["resolution_hz"]),
            "variance_hz2": _nums(rate.values.var(axis=-1)),
            "mean_hz": _nums(rate.values.mean(axis=-1)),
            "window_ms": [t0, t1],
        }

    # ------------------------------------------------------------------ correlations
    def correlation(self, by: str = "population", bin_ms: float = 5.0) -> dict[str, Any]:
        """Pearson correlation matrix of the groups' binned rates in the analysis window.

        Rows and columns of groups whose rate is constant (silent) are ``None``.
        """
        bin_ms = _positive(bin_ms, "bin_ms")
        return self._cached(("corr", by, bin_ms), lambda: self._correlation(by, bin_ms))

    def _correlation(self, by: str, bin_ms: float) -> dict[str, Any]:
        from zentai.analysis.holism import correlation_structure

        t0, t1 = self.window_start_ms, self.t_stop_ms
        bin_ms = min(bin_ms, (t1 - t0) / 3.0)
        names, rate = self._rate_matrix(by, bin_ms, t0, t1)
        x = rate.values.T  # (time, group)
        live = np.flatnonzero(x.std(axis=0) > 0)
        corr = np.full((len(names), len(names)), np.nan)
        if live.size >= 2 and x.shape[0] >= 3:
            c = correlation_structure(x[:, live])["corr"]
            corr[np.ix_(live, live)] = c
        elif live.size == 1:
            corr[live[0], live[0]] = 1.0
        return {
            "group": by,
            "names": names,
            "bin_ms": float(rate.attrs["bin_ms"]),
            "matrix": _nums(corr, 4),
            "n_bins": int(x.shape[0]),
            "window_ms": [t0, t1],
        }

    # ------------------------------------------------------------------ activity map
    def activity_map(self, bin_ms: float = 10.0) -> dict[str, Any]:
        """Activity frames for the top view (:func:`zentai.viewer.topview.activity_map`)."""
        bin_ms = _positive(bin_ms, "bin_ms")

        def make() -> dict[str, Any]:
            from zentai.viewer.topview import activity_map

            return activity_map(self, bin_ms, MAX_FRAMES)

        return self._cached(("map", bin_ms), make)


def _positive(value: Any, owner: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{owner} must be a positive number; got {value!r}.") from None
    if not (math.isfinite(v) and v > 0):
        raise SpecError(f"{owner} must be a positive number; got {value!r}.")
    return v


# ============================================================================ loading
def load_dataset(path: str | os.PathLike, name: str | None = None) -> Dataset:
    """Read a result folder, a result ``.h5`` file or an NWB file (module docstring)."""
    p = Path(os.path.expanduser(os.fspath(path)))
    if not p.exists():
        raise DataError(
            f"{str(p)!r} does not exist; give a result folder of 'zentai run' (with spikes.h5), "
            "a result .h5 file or an NWB file."
        )
    if p.is_dir():
        h5, nwb = p / "spikes.h5", p / "result.nwb"
        if h5.is_file():
            return _load_h5(h5, name or p.name, folder=p)
        if nwb.is_file():
            return _load_nwb(nwb, name or p.name)
        found = sorted(x.name for x in p.iterdir())[:12]
        raise DataError(
            f"{str(p)!r} is not a zentai result folder: expected spikes.h5 (written by 'zentai "
            f"run') or result.nwb in it; found {', '.join(found) if found else 'nothing'}."
        )
    if p.suffix == ".nwb":
        return _load_nwb(p, name or f"{p.parent.name}/{p.name}")
    if p.suffix in (".h5", ".hdf5"):
        return _load_h5(p, name or f"{p.parent.name}/{p.name}", folder=p.parent)
    raise DataError(f"{str(p)!r} is neither a result folder, a result .h5 file nor an .nwb file.")


def _summary(path: Path, folder: Path) -> dict[str, Any]:
    from zentai.io import hdf5

    summary = hdf5.read_summary(path)
    if summary is None and (folder / "summary.json").is_file():
        try:
            summary = json.loads((folder / "summary.json").read_text())
        except (OSError, ValueError) as exc:
            raise DataError(
                f"{str(folder / 'summary.json')!r} is not readable JSON: {exc}."
            ) from None
    return summary or {}


def _load_h5(path: Path, name: str, folder: Path) -> Dataset:
    from zentai.io import hdf5

    result = hdf5.read_result(path)
    summary = _summary(path, folder)
    spec = hdf5.read_spec(path)
    if spec is None and (folder / "spec.toml").is_file():
        from zentai.io import toml as ztoml

        spec = ztoml.load(folder / "spec.toml")
    labels: dict[str, dict[str, str]] = {p: {} for p in result.populations}
    positions = None
    if spec is not None:
        known = {p.name: p for p in spec.populations}
        n = max((b for _, b in result.populations.values()), default=0)
        for pop, (a, b) in result.populations.items():
            sp = known.get(pop)
            if sp is None:
                continue
            labels[pop] = {k: str(v) for k, v in sp.labels.items()}
            if sp.positions is not None and sp.size == b - a:
                if positions is None:
                    positions = np.full((n, 3), np.nan)
                positions[a:b] = sp.positions
    times, ids = result.spikes(None, 0)
    if "warmup_ms" in summary:
        warmup = float(summary["warmup_ms"])
    elif "warmup_s" in summary:
        warmup = float(summary["warmup_s"]) * 1000.0
    else:
        warmup = 0.0
    if not 0.0 <= warmup < result.t_stop_ms:
        warmup = 0.0
    info = {
        k: summary[k]
        for k in ("model", "scenario", "spec_name", "seed", "scale", "fraction", "device")
        if summary.get(k) is not None
    }
    return Dataset(
        name=name,
        path=str(path),
        kind="zentai result",
        times_ms=np.asarray(times, np.float64),
        neuron=np.asarray(ids, np.int64),
        populations={
            p: result.populations[p]
            for p in result.recorded_populations or tuple(result.populations)
        },
        labels=labels,
        positions_um=positions,
        t_stop_ms=float(result.t_stop_ms),
        window_start_ms=warmup,
        dt_ms=float(result.dt_ms),
        info=info,
    )


def _load_nwb(path: Path, name: str) -> Dataset:
    from pynwb import NWBHDF5IO

    try:
        io = NWBHDF5IO(str(path), "r")
    except Exception as exc:  # h5py / hdmf raise many types for a bad file
        raise DataError(f"{str(path)!r} is not a readable NWB file: {exc}.") from None
    with io:
        nwb = io.read()
        units = nwb.units
        if units is None or len(units) == 0:
            raise DataError(f"{str(path)!r} has no units table (no spikes to show).")
        missing = {"population", "neuron"} - set(units.colnames)
        if missing:
            raise DataError(
                f"{str(path)!r}: the units table lacks the columns {sorted(missing)} that the "
                "viewer groups units by (population, neuron index within it)."
            )
        ends = np.asarray(units["spike_times"].data[:], np.int64)
        flat_times = np.asarray(units.spike_times.data[:], np.float64) * 1e3
        pop = np.asarray([str(s) for s in units["population"].data[:]])
        idx = np.asarray(units["neuron"].data[:], np.int64)
        cols = set(units.colnames)
        member = (
            np.asarray(units["member"].data[:], np.int64)
            if "member" in cols
            else np.zeros(pop.size, np.int64)
        )
        lab = {c: [str(s) for s in units[c].data[:]] for c in _LABEL_COLUMNS if c in cols}
        xyz = None
        if {"x", "y", "z"} <= cols:
            xyz = np.stack([np.asarray(units[c].data[:], np.float64) for c in "xyz"], axis=1)
        description = str(nwb.session_description)
    starts = np.concatenate([[0], ends[:-1]])
    rows = np.flatnonzero(member == 0)
    names = [str(p) for p in dict.fromkeys(pop[rows])]
    populations: dict[str, tuple[int, int]] = {}
    offset = 0
    for p in names:
        size = int(idx[rows][pop[rows] == p].max()) + 1
        populations[p] = (offset, offset + size)
        offset += size
    gid = np.array([populations[pop[r]][0] + idx[r] for r in rows], np.int64)
    labels: dict[str, dict[str, str]] = {p: {} for p in names}
    for c, values in lab.items():
        for p in names:
            first = rows[np.flatnonzero(pop[rows] == p)[0]]
            if values[first]:
                labels[p][c] = values[first]
    positions = None
    if xyz is not None and np.isfinite(xyz[rows]).any():
        positions = np.full((offset, 3), np.nan)
        positions[gid] = xyz[rows]
    t_list, n_list = [], []
    for r, g in zip(rows, gid):
        t = flat_times[starts[r] : ends[r]]
        t_list.append(t)
        n_list.append(np.full(t.size, g, np.int64))
    times = np.concatenate(t_list) if t_list else np.zeros(0)
    neuron = np.concatenate(n_list) if n_list else np.zeros(0, np.int64)
    order = np.argsort(times, kind="stable")
    times, neuron = times[order], neuron[order]
    # NWB stores no end of the recording: the last spike, rounded up to 100 ms
    t_stop = max(100.0, math.ceil((times.max() if times.size else 0.0) / 100.0 - 1e-9) * 100.0)
    return Dataset(
        name=name,
        path=str(path),
        kind="NWB",
        times_ms=times,
        neuron=neuron,
        populations=populations,
        labels=labels,
        positions_um=positions,
        t_stop_ms=t_stop,
        window_start_ms=0.0,
        info={"session_description": description},
    )
