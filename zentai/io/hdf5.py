"""Results as HDF5 files: :func:`write_result` and :func:`read_result`.

Layout (format ``zentai.result`` version 1; every array exactly as in the Result)::

    /                     attrs: format, format_version, zentai_version, dt_ms, t_stop_ms,
                                 n_ensembles, meta (JSON), summary (JSON, optional)
    /populations          name (str), start, stop (int64): global [start, stop) neuron ids;
                          recorded (str): populations whose spikes were recorded
    /spikes               member (int32), neuron (int64, global id), time_ms (float64),
                          population (int32, index into population_names), population_names
    /population_rate      (only if recorded) data (float64, Hz, dims member, population, time),
                          time (ms, bin centres), population (str), counts (int32, spikes per
                          step, dims step, member, population); attrs units, time_units, bin_ms,
                          recorder_bin_ms
    /states/<name>        one group per sampled state, ``/`` in the name written as ``%2F``:
                          data (dims member, neuron, time), neuron, time; attrs name, dims,
                          attrs (JSON of the DataArray's attrs)
    /spec                 (optional) the network spec as TOML text

Files are written to a temporary file in the same folder and renamed into place, so an
interrupted write never leaves a half-written file under the final name.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np
import xarray as xr

from zentai.errors import DataError, SpecError
from zentai.record.result import Result

__all__ = ["FORMAT", "FORMAT_VERSION", "read_result", "read_spec", "read_summary", "write_result"]

FORMAT = "zentai.result"
FORMAT_VERSION = 1
_STR = h5py.string_dtype(encoding="utf-8")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    return str(obj)


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=False)


def _escape(name: str) -> str:
    return name.replace("%", "%25").replace("/", "%2F")


def _write_array(group: h5py.Group, name: str, data: np.ndarray) -> h5py.Dataset:
    data = np.ascontiguousarray(data)
    if data.size >= 4096:
        return group.create_dataset(name, data=data, compression="gzip", shuffle=True)
    return group.create_dataset(name, data=data)


def _write_strings(group: h5py.Group, name: str, items: Any) -> None:
    group.create_dataset(name, data=np.array(list(items), dtype=object), dtype=_STR)


def _read_strings(ds: h5py.Dataset) -> tuple[str, ...]:
    return tuple(str(s) for s in ds.asstr()[()])


def _write(f: h5py.File, result: Result, spec: Any, summary: Mapping[str, Any] | None) -> None:
    from zentai import __version__

    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["zentai_version"] = __version__
    f.attrs["dt_ms"] = float(result.dt_ms)
    f.attrs["t_stop_ms"] = float(result.t_stop_ms)
    f.attrs["n_ensembles"] = int(result.n_ensembles)
    f.attrs["meta"] = _to_json(result.meta)
    if summary is not None:
        f.attrs["summary"] = _to_json(dict(summary))

    names = list(result.populations)
    g = f.create_group("populations")
    _write_strings(g, "name", names)
    g.create_dataset("start", data=np.array([result.populations[n][0] for n in names], np.int64))
    g.create_dataset("stop", data=np.array([result.populations[n][1] for n in names], np.int64))
    _write_strings(g, "recorded", result.recorded_populations)

    s = f.create_group("spikes")
    _write_array(s, "member", np.asarray(result.spike_member))
    _write_array(s, "neuron", np.asarray(result.spike_neuron))
    _write_array(s, "time_ms", np.asarray(result.spike_time_ms))
    starts = np.array([result.populations[n][0] for n in names], np.int64)
    order = np.argsort(starts, kind="stable")
    pop_idx = order[np.searchsorted(starts[order], result.spike_neuron, side="right") - 1]
    _write_array(s, "population", pop_idx.astype(np.int32))
    _write_strings(s, "population_names", names)
    s.attrs["time_units"] = "ms"

    if result.rate_counts is not None:
        r = f.create_group("population_rate")
        rate = result.population_rate
        _write_array(r, "data", rate.values)
        r.create_dataset("time", data=np.asarray(rate["time"].values, np.float64))
        _write_strings(r, "population", result.rate_populations)
        _write_array(r, "counts", np.asarray(result.rate_counts))
        r.attrs["units"] = rate.attrs["units"]
        r.attrs["time_units"] = rate.attrs["time_units"]
        r.attrs["bin_ms"] = float(rate.attrs["bin_ms"])
        r.attrs["recorder_bin_ms"] = float(result.rate_bin_ms)
        r.attrs["dims"] = json.dumps(list(rate.dims))

    st = f.create_group("states")
    for name, da in result.states.items():
        sg = st.create_group(_escape(name))
        sg.attrs["name"] = name
        sg.attrs["dims"] = json.dumps(list(da.dims))
        sg.attrs["attrs"] = _to_json(dict(da.attrs))
        _write_array(sg, "data", np.asarray(da.values))
        coords = [c for c in da.coords if da[c].dims == (c,)]
        sg.attrs["coords"] = json.dumps(coords)
        cg = sg.create_group("coords")
        for c in coords:
            cg.create_dataset(c, data=np.asarray(da[c].values))

    if spec is not None:
        text = spec if isinstance(spec, str) else _spec_text(spec)
        f.create_dataset("spec", data=text, dtype=_STR)


def _spec_text(spec: Any) -> str:
    from zentai.io.toml import dumps

    return dumps(spec)


def write_result(
    result: Result,
    path: str | os.PathLike,
    *,
    spec: Any = None,
    summary: Mapping[str, Any] | None = None,
) -> None:
    """Write ``result`` to the HDF5 file ``path`` (see the module docstring for the layout).

    Parameters
    ----------
    result : Result
    path : path
        Written atomically (temporary file in the same folder, then renamed).
    spec : NetworkSpec or str, optional
        Stored as TOML text under ``/spec`` (read back with :func:`read_spec`).
    summary : mapping, optional
        JSON-serialisable run summary, stored as the root attribute ``summary``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from zentai.record.result import Result
    >>> res = Result(dt_ms=0.1, t_stop_ms=10.0, n_ensembles=1, populations={"E": (0, 2)},
    ...              spike_member=np.zeros(2, np.int32), spike_neuron=np.array([0, 1]),
    ...              spike_time_ms=np.array([1.5, 2.5]), recorded_populations=("E",))
    >>> path = os.path.join(tempfile.mkdtemp(), "r.h5")
    >>> write_result(res, path)
    >>> read_result(path).spike_time_ms.tolist()
    [1.5, 2.5]
    """
    if not isinstance(result, Result):
        raise SpecError(f"write_result expects a Result; got {type(result).__name__}.")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise DataError(f"cannot write {path!r}: folder {folder!r} does not exist.")
    # not tempfile.mkstemp: its 0600 mode would end up on the final file
    tmp = os.path.join(
        folder, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    )
    try:
        with h5py.File(tmp, "w-") as f:
            _write(f, result, spec, summary)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _open(path: str | os.PathLike) -> h5py.File:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"result file {path!r} does not exist.")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path!r} is not a readable HDF5 file: {exc}.") from None
    if f.attrs.get("format") != FORMAT:
        f.close()
        raise DataError(f"{path!r} is not a zentai result file (no format={FORMAT!r} attribute).")
    version = int(f.attrs.get("format_version", -1))
    if version > FORMAT_VERSION:
        f.close()
        raise DataError(
            f"{path!r} has result format version {version}; this zentai reads up to "
            f"{FORMAT_VERSION}. Upgrade zentai."
        )
    return f


def read_result(path: str | os.PathLike) -> Result:
    """Read a :class:`~zentai.record.result.Result` written by :func:`write_result`."""
    with _open(path) as f:
        g = f["populations"]
        names = _read_strings(g["name"])
        start, stop = g["start"][()], g["stop"][()]
        populations = {n: (int(a), int(b)) for n, a, b in zip(names, start, stop, strict=True)}
        s = f["spikes"]
        res = Result(
            dt_ms=float(f.attrs["dt_ms"]),
            t_stop_ms=float(f.attrs["t_stop_ms"]),
            n_ensembles=int(f.attrs["n_ensembles"]),
            populations=populations,
            spike_member=s["member"][()],
            spike_neuron=s["neuron"][()],
            spike_time_ms=s["time_ms"][()],
            recorded_populations=_read_strings(g["recorded"]),
            meta=json.loads(f.attrs["meta"]),
        )
        if "population_rate" in f:
            r = f["population_rate"]
            res.rate_counts = r["counts"][()]
            res.rate_bin_ms = float(r.attrs["recorder_bin_ms"])
            res.rate_populations = _read_strings(r["population"])
        for sg in f["states"].values():
            coords = {c: sg["coords"][c][()] for c in json.loads(sg.attrs["coords"])}
            res.states[str(sg.attrs["name"])] = xr.DataArray(
                sg["data"][()],
                dims=tuple(json.loads(sg.attrs["dims"])),
                coords=coords,
                attrs=json.loads(sg.attrs["attrs"]),
            )
    return res


def read_summary(path: str | os.PathLike) -> dict[str, Any] | None:
    """The run summary stored with the result, or ``None``."""
    with _open(path) as f:
        text = f.attrs.get("summary")
        return None if text is None else json.loads(text)


def read_spec(path: str | os.PathLike) -> Any:
    """The :class:`~zentai.build.NetworkSpec` stored with the result, or ``None``."""
    with _open(path) as f:
        if "spec" not in f:
            return None
        text = f["spec"].asstr()[()]
    from zentai.io.toml import loads

    return loads(text, source=f"{os.fspath(path)!r}:/spec")
