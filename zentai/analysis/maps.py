"""Activity maps over atlas voxels: binned voxel rates, top views and activity centroids (A6).

Voxel volumes follow the Allen CCF array order (AP, DV, ML), so a top (dorsal) view reduces
axis 1 (DV).

Examples
--------
>>> import numpy as np
>>> from zentai import analysis
>>> positions_um = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0]])
>>> analysis.centroid(np.array([1.0, 3.0]), positions_um).tolist()
[75.0, 0.0, 0.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from zentai.analysis.rates import _spike_arrays, _time_arg, _time_window
from zentai.errors import SpecError

__all__ = ["centroid", "morans_i", "top_view", "voxel_activity"]


def voxel_activity(
    spikes: Any,
    neuron_voxel: Any,
    n_voxels: int | None = None,
    *,
    shape: tuple[int, ...] | None = None,
    bin_ms: Any = None,
    t_start_ms: Any = 0.0,
    t_stop_ms: Any = None,
    member: int = 0,
) -> xr.DataArray:
    """Firing rate (Hz per neuron) of the neurons in each voxel, binned in time.

    Parameters
    ----------
    spikes : Result or (times_ms, neuron_ids)
    neuron_voxel : int array (n_neurons,) or (n_neurons, ndim)
        Voxel of each neuron (global id -> voxel): a flat index (``-1`` = none), or integer
        voxel coordinates that are flattened (C order) with ``shape``.
    n_voxels : int, optional
        Number of flat voxels (default: ``prod(shape)`` or ``max(neuron_voxel) + 1``).
    shape : tuple of int, optional
        Grid shape; the result is then a volume with dims ``(axis_0, ..., time)``.
    bin_ms : float or quantity, optional
        Bin width; default one bin over the whole window. Bins are right-closed as in
        :func:`zentai.analysis.population_rate`.
    t_start_ms, t_stop_ms : window (``t_stop_ms`` defaults to a Result's end; required for
        raw arrays).

    Returns
    -------
    DataArray (voxel, time) or (axis_0, ..., time)
        Voxels without neurons are 0. attrs ``units='Hz'``, ``bin_ms``; time = bin centres (ms).
    """
    owner = "voxel_activity"
    times, ids = _spike_arrays(spikes, member, owner)
    nv = np.asarray(neuron_voxel)
    if nv.size == 0 or nv.dtype.kind not in "iu" or nv.ndim not in (1, 2):
        raise SpecError(
            f"{owner}.neuron_voxel must be a non-empty integer array (n_neurons,) or "
            f"(n_neurons, ndim); got dtype {nv.dtype} shape {nv.shape}."
        )
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if any(s < 1 for s in shape):
            raise SpecError(f"{owner}.shape must be positive integers; got {shape!r}.")
    if nv.ndim == 2:
        if shape is None or nv.shape[1] != len(shape):
            raise SpecError(
                f"{owner}.shape must be given with one entry per coordinate column of "
                f"neuron_voxel ({nv.shape[1]}); got {shape!r}."
            )
        inside = np.all((nv >= 0) & (nv < np.array(shape)), axis=1)
        flat = np.full(nv.shape[0], -1, np.int64)
        flat[inside] = np.ravel_multi_index(tuple(nv[inside].T), shape)
    else:
        flat = nv.astype(np.int64)
    total = int(np.prod(shape)) if shape is not None else None
    if n_voxels is None:
        n_voxels = total if total is not None else int(flat.max()) + 1
    if total is not None and n_voxels != total:
        raise SpecError(f"{owner}.n_voxels must equal prod(shape) = {total}; got {n_voxels}.")
    if not (isinstance(n_voxels, (int, np.integer)) and n_voxels >= 1) or flat.max() >= n_voxels:
        raise SpecError(
            f"{owner}.n_voxels must be a positive integer above every voxel index "
            f"(max {int(flat.max())}); got {n_voxels!r}."
        )
    t0, t1 = _time_window(spikes, t_start_ms, t_stop_ms, owner)
    bin_w = t1 - t0 if bin_ms is None else _time_arg(bin_ms, f"{owner}.bin_ms")
    if bin_w <= 0:
        raise SpecError(f"{owner}.bin_ms must be positive; got {bin_ms!r}.")
    n_bins = int(np.floor((t1 - t0) / bin_w + 1e-9))
    if n_bins < 1:
        raise SpecError(
            f"{owner}.bin_ms must not exceed the window {t1 - t0:g} ms; got {bin_w:g} ms."
        )
    if ids.size and ids.max() >= flat.size:
        raise SpecError(
            f"{owner}.neuron_voxel must cover every spiking neuron id (max {int(ids.max())}); "
            f"got {flat.size} entries."
        )
    b = np.ceil((times - t0) / bin_w - 1e-9).astype(np.int64) - 1
    v = flat[ids] if ids.size else ids
    keep = (b >= 0) & (b < n_bins) & (v >= 0)
    counts = np.bincount(v[keep] * n_bins + b[keep], minlength=n_voxels * n_bins)
    counts = counts.reshape(n_voxels, n_bins).astype(np.float64)
    n_per_voxel = np.bincount(flat[flat >= 0], minlength=n_voxels).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n_per_voxel[:, None] > 0, counts / n_per_voxel[:, None], 0.0)
    rate /= bin_w * 1e-3
    centres = t0 + (np.arange(n_bins) + 0.5) * bin_w
    attrs = {"units": "Hz", "time_units": "ms", "bin_ms": bin_w}
    if shape is not None:
        dims = (*(f"axis_{i}" for i in range(len(shape))), "time")
        return xr.DataArray(
            rate.reshape(*shape, n_bins), dims=dims, coords={"time": centres}, attrs=attrs
        )
    return xr.DataArray(
        rate,
        dims=("voxel", "time"),
        coords={"voxel": np.arange(n_voxels), "time": centres},
        attrs=attrs,
    )


def top_view(volume: Any, axis: int | str = 1, reduce: str = "max") -> Any:
    """Project a volume along ``axis`` (default 1 = DV in CCF order) by max or sum.

    NaNs are ignored. A DataArray may name the axis by dimension; the result keeps the type
    of the input.
    """
    owner = "top_view"
    if reduce not in ("max", "sum"):
        raise SpecError(f"{owner}.reduce must be 'max' or 'sum'; got {reduce!r}.")
    if isinstance(volume, xr.DataArray):
        if isinstance(axis, str):
            if axis not in volume.dims:
                raise SpecError(f"{owner}.axis must be a dimension of {volume.dims}; got {axis!r}.")
            name = axis
        else:
            if not -volume.ndim <= axis < volume.ndim or volume.ndim < 2:
                raise SpecError(
                    f"{owner}.axis must index one of {volume.ndim} dims (>= 2); got {axis!r}."
                )
            name = volume.dims[axis]
        fn = volume.max if reduce == "max" else volume.sum
        return fn(dim=name, skipna=True, keep_attrs=True)
    arr = np.asarray(volume, dtype=np.float64)
    if arr.ndim < 2 or isinstance(axis, str) or not -arr.ndim <= axis < arr.ndim:
        raise SpecError(
            f"{owner}.axis must be an integer axis of a volume with >= 2 dims; "
            f"got axis {axis!r} for shape {arr.shape}."
        )
    if arr.size == 0:
        raise SpecError(f"{owner}.volume must not be empty; got shape {arr.shape}.")
    if reduce == "sum":
        return np.nansum(arr, axis=axis)
    all_nan = np.all(np.isnan(arr), axis=axis)
    out = np.max(np.where(np.isnan(arr), -np.inf, arr), axis=axis)
    out[all_nan] = np.nan
    return out


def centroid(activity: Any, positions_um: Any, weights: Any = None) -> np.ndarray:
    """Activity-weighted centre of mass in µm.

    ``sum_v w_v a_v x_v / sum_v w_v a_v`` over voxels (or neurons) ``v``.

    Parameters
    ----------
    activity : array (n,) or (n, n_times), non-negative (a DataArray's values are used)
    positions_um : array (n, ndim)
    weights : array (n,), optional, non-negative (e.g. neurons per voxel)

    Returns
    -------
    ndarray (ndim,) or (n_times, ndim)
        NaN where the total weighted activity is zero.
    """
    owner = "centroid"
    a = np.asarray(activity.values if isinstance(activity, xr.DataArray) else activity, float)
    x = np.asarray(positions_um, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise SpecError(f"{owner}.positions_um must be a non-empty (n, ndim) array; got {x.shape}.")
    if a.ndim not in (1, 2) or a.shape[0] != x.shape[0]:
        raise SpecError(
            f"{owner}.activity must have shape ({x.shape[0]},) or ({x.shape[0]}, n_times) to "
            f"match positions_um; got {a.shape}."
        )
    if np.any(a < 0) or not np.all(np.isfinite(a)):
        raise SpecError(f"{owner}.activity must be finite and non-negative; got min {a.min()!r}.")
    w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (x.shape[0],) or np.any(w < 0):
        raise SpecError(
            f"{owner}.weights must be non-negative with shape ({x.shape[0]},); got {w.shape}."
        )
    wa = (a.T * w).T  # (n,) or (n, T)
    total = wa.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        if a.ndim == 1:
            return (wa @ x) / total if total > 0 else np.full(x.shape[1], np.nan)
        c = (wa.T @ x) / total[:, None]
    c[total <= 0] = np.nan
    return c


def morans_i(grid_values: Any, *, permutations: int = 999, seed: int = 0) -> tuple[float, float]:
    """Moran's I of a 2-D map (rook neighbours) and its one-sided permutation p-value.

    ``I = (n / W) sum_ij w_ij z_i z_j / sum_i z_i²`` with ``z`` the deviations from the mean of
    the valid cells (finite values; NaN marks cells outside the map), ``w_ij = 1`` for cells
    sharing an edge, ``W`` the number of ordered neighbour pairs (Moran 1950, Biometrika 37:17).
    I > 0 means neighbouring cells are alike (a spatially structured map), ~ -1 / (n - 1) for a
    map without structure, -1 for a checkerboard. ``p`` is the share of ``permutations``
    shuffles of the valid values (seeded) with an I at least as large, counting the map itself
    ((k + 1) / (permutations + 1)).

    Examples
    --------
    >>> import numpy as np
    >>> checker = (np.indices((4, 4)).sum(axis=0) % 2).astype(float)
    >>> round(morans_i(checker, permutations=0)[0], 6)
    -1.0
    """
    x = np.asarray(grid_values, dtype=np.float64)
    if x.ndim != 2:
        raise SpecError(f"morans_i needs a 2-D map; got an array of shape {x.shape}.")
    if not (isinstance(permutations, int) and permutations >= 0):
        raise SpecError(f"morans_i permutations must be an integer >= 0; got {permutations!r}.")
    valid = np.isfinite(x)
    n = int(valid.sum())
    if n < 3:
        raise SpecError(f"morans_i needs at least 3 finite cells; the map has {n}.")
    pairs = []
    for a, b in ((valid[1:, :] & valid[:-1, :], (1, 0)), (valid[:, 1:] & valid[:, :-1], (0, 1))):
        i, j = np.nonzero(a)
        pairs.append((np.ravel_multi_index((i, j), x.shape),
                      np.ravel_multi_index((i + b[0], j + b[1]), x.shape)))  # fmt: skip
    u = np.concatenate([p[0] for p in pairs])
    v = np.concatenate([p[1] for p in pairs])
    if u.size == 0:
        raise SpecError("morans_i: no two valid cells of the map are neighbours.")
    flat_valid = np.flatnonzero(valid.ravel())
    pos = np.full(x.size, -1)
    pos[flat_valid] = np.arange(n)
    u, v = pos[u], pos[v]
    vals = x.ravel()[flat_valid]

    def stat(y: np.ndarray) -> float:
        z = y - y.mean()
        ss = float(z @ z)
        if ss == 0.0:
            return float("nan")
        # W and the double sum count each of the u.size undirected pairs twice
        return n / u.size * float((z[u] * z[v]).sum()) / ss

    observed = stat(vals)
    if permutations == 0 or not np.isfinite(observed):
        return observed, float("nan")
    gen = np.random.default_rng(seed)
    null = np.array([stat(gen.permutation(vals)) for _ in range(permutations)])
    p = (int((null >= observed).sum()) + 1) / (permutations + 1)
    return observed, p
