"""Results as NWB files (Neurodata Without Borders 2, written with pynwb).

:func:`write_nwb` stores a :class:`~zentai.record.result.Result` the way a recording of the
same cells would be stored, so one tool reads both:

* every recorded neuron of one ensemble member is a row of the ``units`` table with its spike
  times (s) and the columns ``population``, ``neuron`` (index within its population),
  ``member``, ``cell_type``, ``cell_class``, ``region``, ``layer`` (from the population's
  labels; empty where a label is absent) and ``x``, ``y``, ``z`` (CCF µm, NaN without
  positions); every neuron of the recorded populations is listed, silent ones included;
* population rates (a :class:`~zentai.record.PopulationRate` recorder) are a
  ``TimeSeries`` per population in the processing module ``zentai`` (Hz per bin, member 0..B-1
  as columns);
* synthetic recordings (``signals``: :func:`zentai.record.synthetic.calcium_imaging`,
  ``fiber_photometry`` or any xarray with a ``time`` dimension in s) are a ``TimeSeries`` each
  in the module ``zentai_signals`` (time first, the other dimensions flattened into columns;
  regular frames as a rate, irregular ones as timestamps);
* the spec, when given, is kept as TOML text in the file's ``notes``.

:func:`read_nwb_spikes` reads the units back ((population, neuron, member) -> spike times in
ms), for round trips and for recordings written by other tools that use the same columns.
Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
from typing import Any

import numpy as np

from zentai.errors import DataError, SpecError
from zentai.record.result import Result

__all__ = ["read_nwb_spikes", "write_nwb"]

_LABELS = ("cell_type", "cell_class", "region", "layer")
#: a fixed session start, so the same run writes the same file (NWB requires one)
EPOCH = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)


def write_nwb(
    result: Result,
    path: str | os.PathLike,
    *,
    spec: Any = None,
    session_description: str = "zentai simulation",
    identifier: str | None = None,
    session_start_time: _dt.datetime = EPOCH,
    signals: Any = None,
) -> None:
    """Write ``result`` as an NWB file at ``path`` (module docstring).

    Parameters
    ----------
    result : Result
    path : path
        Ends in ``.nwb``; written atomically.
    spec : NetworkSpec, optional
        Source of the labels and positions of the units, and stored as TOML in ``notes``.
    session_description, identifier, session_start_time
        NWB's required session fields (identifier: by default from the result's seed and
        duration).
    signals : mapping of str to xarray.DataArray, optional
        Synthetic recordings to store beside the spikes (module docstring).
    """
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    if not isinstance(result, Result):
        raise SpecError(f"write_nwb expects a Result; got {type(result).__name__}.")
    path = os.fspath(path)
    if not path.endswith(".nwb"):
        raise SpecError(f"write_nwb: the file name must end in .nwb; got {path!r}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DataError(f"cannot write {path!r}: folder {folder!r} does not exist.")
    notes = ""
    if spec is not None:
        from zentai.io.toml import dumps

        notes = dumps(spec)
    if identifier is None:
        identifier = f"zentai-seed{result.meta.get('seed', 0)}-{result.t_stop_ms:g}ms"
    nwb = NWBFile(
        session_description=session_description,
        identifier=identifier,
        session_start_time=session_start_time,
        notes=notes or "no spec stored",
        source_script="zentai",
        source_script_file_name="zentai",
    )
    for col, desc in (
        ("population", "zentai population name"),
        ("neuron", "index of the neuron within its population"),
        ("member", "ensemble member"),
        ("cell_type", "cell type label of the population"),
        ("cell_class", "cell class label (E / I, ...)"),
        ("region", "brain region label"),
        ("layer", "cortical or cerebellar layer label"),
        ("x", "CCF x position (µm), NaN if unknown"),
        ("y", "CCF y position (µm), NaN if unknown"),
        ("z", "CCF z position (µm), NaN if unknown"),
    ):
        nwb.add_unit_column(name=col, description=desc)
    order = np.lexsort((result.spike_time_ms, result.spike_neuron, result.spike_member))
    mem, neu, tms = (
        result.spike_member[order],
        result.spike_neuron[order],
        result.spike_time_ms[order],
    )
    for pop in result.recorded_populations:
        a, b = result.populations[pop]
        p = spec.population(pop) if spec is not None else None
        labels = dict(p.labels) if p is not None else {}
        pos = p.positions if p is not None and p.positions is not None else None
        for m in range(result.n_ensembles):
            lo = np.searchsorted(mem, m, "left")
            hi = np.searchsorted(mem, m, "right")
            nm, tm = neu[lo:hi], tms[lo:hi]
            starts = np.searchsorted(nm, np.arange(a, b), "left")
            stops = np.searchsorted(nm, np.arange(a, b), "right")
            for k in range(b - a):
                xyz = pos[k] if pos is not None else (np.nan, np.nan, np.nan)
                nwb.add_unit(
                    spike_times=tm[starts[k] : stops[k]] / 1e3,
                    population=pop,
                    neuron=k,
                    member=m,
                    **{lab: str(labels.get(lab, "")) for lab in _LABELS},
                    x=float(xyz[0]),
                    y=float(xyz[1]),
                    z=float(xyz[2]),
                )
    if result.rate_counts is not None:
        mod = nwb.create_processing_module(name="zentai", description="zentai recorders")
        rate = result.population_rate  # (member, population, time), Hz per neuron, binned
        bin_ms = float(rate.attrs["bin_ms"])
        t0_ms = result.t_stop_ms - result.rate_counts.shape[0] * result.dt_ms
        for c, pop in enumerate(result.rate_populations):
            mod.add(
                TimeSeries(
                    name=f"population_rate {pop.replace('/', '_')}",
                    description=f"population rate of {pop} (Hz per neuron) per {bin_ms:g} ms bin",
                    data=np.asarray(rate.values[:, c, :].T, dtype=np.float64),  # (bins, members)
                    unit="Hz",
                    rate=1e3 / bin_ms,
                    starting_time=t0_ms / 1e3,
                )
            )
    if signals:
        mod = nwb.create_processing_module(
            name="zentai_signals", description="synthetic recordings of the simulated cells"
        )
        for name, arr in dict(signals).items():
            mod.add(_signal_series(TimeSeries, str(name), arr))
    tmp = os.path.join(folder, f".{os.getpid()}.{secrets.token_hex(4)}.{os.path.basename(path)}")
    try:
        with NWBHDF5IO(tmp, "w") as io:
            io.write(nwb)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _signal_series(TimeSeries: Any, name: str, arr: Any) -> Any:
    """One synthetic recording (xarray, a ``time`` dimension in s) as an NWB TimeSeries."""
    dims = getattr(arr, "dims", None)
    if dims is None or "time" not in dims:
        raise SpecError(
            f"write_nwb signals[{name!r}] must be an xarray.DataArray with a 'time' dimension "
            f"(s), e.g. from zentai.record.synthetic.calcium_imaging; got {type(arr).__name__}"
            + (f" with dims {dims}" if dims is not None else "")
            + "."
        )
    arr = arr.transpose("time", ...)
    t = np.asarray(arr["time"].values, dtype=np.float64)
    data = np.asarray(arr.values, dtype=np.float64).reshape(t.size, -1)
    if data.shape[1] == 1:
        data = data[:, 0]
    if not np.all(np.isfinite(data)):
        raise SpecError(f"write_nwb signals[{name!r}] holds non-finite values.")
    others = [d for d in arr.dims if d != "time"]
    desc = arr.attrs.get("description") or (
        f"{arr.name or name}" + (f", columns: {' x '.join(others)}" if others else "")
    )
    common = {"name": f"signal {name}", "description": str(desc), "data": data,
              "unit": str(arr.attrs.get("units", arr.name or "a.u."))}  # fmt: skip
    steps = np.diff(t)
    if t.size >= 2 and np.allclose(steps, steps[0], rtol=1e-9, atol=1e-12) and steps[0] > 0:
        return TimeSeries(**common, rate=1.0 / float(steps[0]), starting_time=float(t[0]))
    if t.size >= 2 and not np.all(steps > 0):
        raise SpecError(f"write_nwb signals[{name!r}]: times must increase.")
    return TimeSeries(**common, timestamps=t)


def read_nwb_spikes(path: str | os.PathLike) -> dict[tuple[str, int, int], np.ndarray]:
    """Spike times (ms) of every unit of an NWB file, keyed by (population, neuron, member)
    (the columns :func:`write_nwb` writes)."""
    from pynwb import NWBHDF5IO

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"NWB file {path!r} does not exist.")
    out = {}
    with NWBHDF5IO(path, "r") as io:
        units = io.read().units
        if units is None:
            return out
        missing = {"population", "neuron", "member"} - set(units.colnames)
        if missing:
            raise DataError(f"{path!r}: the units table lacks the columns {sorted(missing)}.")
        for r in range(len(units)):
            key = (
                str(units["population"][r]),
                int(units["neuron"][r]),
                int(units["member"][r]),
            )
            out[key] = np.asarray(units["spike_times"][r], dtype=np.float64) * 1e3
    return out
