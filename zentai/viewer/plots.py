"""Static figures of a :class:`~zentai.record.result.Result` (matplotlib, Agg, no pyplot).

Figures are :class:`matplotlib.figure.Figure` objects drawn on an Agg canvas, so nothing here
touches pyplot's global figure list or the interactive backend.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from zentai.errors import SpecError, closest
from zentai.record.result import Result

__all__ = ["cell_class", "raster_and_rates", "raster_and_rates_figure"]

#: colours of excitatory, inhibitory and other populations
COLORS = {"E": "#1f5fa8", "I": "#c0392b", "?": "#555555"}
_SHADES = {"E": "Blues", "I": "Reds", "?": "Greys"}


def cell_class(population: str, classes: Mapping[str, str] | None = None) -> str:
    """``"E"``, ``"I"`` or ``"?"`` for a population name.

    ``classes`` (e.g. from the spec's ``labels["cell_class"]``) wins; otherwise a name ending
    in ``E`` / ``I`` (``"L2/3E"``, ``"MOp.L5.I"``) decides.

    Examples
    --------
    >>> cell_class("L2/3E"), cell_class("MOp.L5.I"), cell_class("TC"), cell_class("x", {"x": "I"})
    ('E', 'I', '?', 'I')
    """
    if classes and population in classes:
        c = str(classes[population]).upper()[:1]
        return c if c in ("E", "I") else "?"
    last = population.rsplit(".", 1)[-1]
    if last.endswith("E"):
        return "E"
    if last.endswith("I"):
        return "I"
    return "?"


def _window(result: Result, t_start: float | None, t_stop: float | None) -> tuple[float, float]:
    t0 = 0.0 if t_start is None else float(t_start)
    t1 = result.t_stop_ms if t_stop is None else float(t_stop)
    if not (np.isfinite(t0) and np.isfinite(t1) and 0.0 <= t0 < t1 <= result.t_stop_ms + 1e-9):
        raise SpecError(
            f"raster_and_rates time window must satisfy 0 <= t_start < t_stop <= "
            f"{result.t_stop_ms:g} ms (the simulated time); got [{t0:g}, {t1:g}] ms."
        )
    return t0, t1


def _rate_traces(
    result: Result, pops: Sequence[str], t0: float, t1: float, member: int
) -> tuple[np.ndarray, dict[str, np.ndarray], float]:
    """(time_ms, {pop: Hz}, bin_ms): recorded population rates, else binned spikes (1 ms)."""
    if result.rate_counts is not None and set(pops) <= set(result.rate_populations):
        rate = result.population_rate
        bin_ms = float(rate.attrs["bin_ms"])
        t = rate["time"].values
        sel = (t - bin_ms / 2 >= t0 - 1e-9) & (t + bin_ms / 2 <= t1 + 1e-9)
        data = rate.isel(member=member)
        return t[sel], {p: data.sel(population=p).values[sel] for p in pops}, bin_ms
    bin_ms = max(result.dt_ms, 1.0)
    edges = np.arange(t0, t1 + 0.5 * bin_ms, bin_ms)
    if edges.size < 2:
        edges = np.array([t0, t1])
    out = {}
    for p in pops:
        a, b = result.populations[p]
        times, _ = result.spikes(p, member)
        counts, _ = np.histogram(times, edges)
        out[p] = counts / max(b - a, 1) / (np.diff(edges) * 1e-3)
    return 0.5 * (edges[1:] + edges[:-1]), out, bin_ms


def raster_and_rates_figure(
    result: Result,
    t_start: float | None = None,
    t_stop: float | None = None,
    max_neurons_per_pop: int = 200,
    *,
    populations: Sequence[str] | None = None,
    classes: Mapping[str, str] | None = None,
    member: int = 0,
    title: str | None = None,
) -> Figure:
    """A figure: spike raster (populations stacked top to bottom) with mean rates beside it,
    and population rate traces below.

    Parameters
    ----------
    result : Result
    t_start, t_stop : float, optional
        Window in ms; defaults to the whole run.
    max_neurons_per_pop : int
        At most this many neurons of each population are drawn (evenly spaced ids).
    populations : sequence of str, optional
        Populations to show, in order; defaults to those whose spikes were recorded.
    classes : mapping of str to str, optional
        ``"E"`` / ``"I"`` per population for the colours (see :func:`cell_class`).
    member : int
        Ensemble member to show.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Attached to an Agg canvas; not registered with pyplot.
    """
    if not isinstance(result, Result):
        raise SpecError(f"raster_and_rates expects a Result; got {type(result).__name__}.")
    pops = list(result.recorded_populations if populations is None else populations)
    if not pops:
        raise SpecError(
            "raster_and_rates needs at least one population with recorded spikes; got an empty "
            "population list. Add zt.record.Spikes() to the spec (or pass populations=[...])."
        )
    for p in pops:
        if p not in result.recorded_populations:
            known = result.recorded_populations or tuple(result.populations)
            raise SpecError(
                f"raster_and_rates: population {p!r} has no recorded spikes; {closest(p, known)}."
            )
    if isinstance(max_neurons_per_pop, bool) or not (
        isinstance(max_neurons_per_pop, (int, np.integer)) and max_neurons_per_pop >= 1
    ):
        raise SpecError(
            f"raster_and_rates max_neurons_per_pop must be a positive integer; got "
            f"{max_neurons_per_pop!r}."
        )
    t0, t1 = _window(result, t_start, t_stop)
    mean_rates = result.rates_hz(t0, t1, member)
    classes_of = {p: cell_class(p, classes) for p in pops}

    fig = Figure(figsize=(11.0, 8.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2, 2, width_ratios=(5, 1), height_ratios=(3, 1.3))
    ax_r = fig.add_subplot(grid[0, 0])
    ax_b = fig.add_subplot(grid[0, 1], sharey=ax_r)
    ax_t = fig.add_subplot(grid[1, 0], sharex=ax_r)

    # raster: population k occupies rows [y0, y0 + shown), the first population on top
    y0 = 0
    centres, heights = [], []
    for p in reversed(pops):
        a, b = result.populations[p]
        size = b - a
        shown = int(min(size, max_neurons_per_pop))
        keep = np.unique(np.round(np.linspace(0, size - 1, shown)).astype(np.int64)) if size else []
        row_of = np.full(max(size, 1), -1, dtype=np.int64)
        row_of[keep] = np.arange(len(keep))
        times, idx = result.spikes(p, member)
        sel = (times > t0) & (times <= t1)
        times, rows = times[sel], row_of[idx[sel]]
        on = rows >= 0
        ax_r.scatter(
            times[on],
            y0 + rows[on],
            s=4.0,
            marker="|",
            linewidths=0.7,
            color=COLORS[classes_of[p]],
            rasterized=True,
        )
        centres.append(y0 + len(keep) / 2)
        heights.append(len(keep))
        y0 += len(keep)
        ax_r.axhline(y0, color="0.85", linewidth=0.5)
    centres, heights = centres[::-1], heights[::-1]
    ax_r.set_xlim(t0, t1)
    ax_r.set_ylim(0, max(y0, 1))
    ax_r.set_yticks(centres, pops)
    ax_r.tick_params(axis="x", labelbottom=False)
    ax_r.set_ylabel(f"population (≤ {max_neurons_per_pop} neurons each)")
    ax_r.set_title(title or "spikes", loc="left")

    # mean rates, one bar per population band
    values = [mean_rates[p] for p in pops]
    ax_b.barh(
        centres,
        values,
        height=[0.8 * h for h in heights],
        color=[COLORS[classes_of[p]] for p in pops],
    )
    for c, v in zip(centres, values, strict=True):
        ax_b.annotate(
            f"{v:.2f}",
            (v, c),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax_b.set_xlabel("mean rate (Hz)")
    ax_b.tick_params(axis="y", labelleft=False)
    ax_b.set_xlim(0, max(max(values, default=0.0), 1e-3) * 1.35)

    # population rate traces, shades of blue (E) and red (I)
    t, traces, bin_ms = _rate_traces(result, pops, t0, t1, member)
    import matplotlib as mpl

    for cls in ("E", "I", "?"):
        group = [p for p in pops if classes_of[p] == cls]
        cmap = mpl.colormaps[_SHADES[cls]]
        for k, p in enumerate(group):
            shade = cmap(0.45 + 0.5 * k / max(len(group) - 1, 1))
            ax_t.plot(t, traces[p], color=shade, linewidth=0.8, label=p)
    ax_t.set_xlim(t0, t1)
    ax_t.set_xlabel("time (ms)")
    ax_t.set_ylabel(f"rate (Hz, {bin_ms:g} ms bins)")
    ax_l = fig.add_subplot(grid[1, 1])
    ax_l.axis("off")
    handles, labels = ax_t.get_legend_handles_labels()
    ax_l.legend(
        handles,
        labels,
        ncol=2 if len(pops) > 6 else 1,
        fontsize=8,
        loc="center left",
        frameon=False,
        title="population rate",
    )
    return fig


def raster_and_rates(
    result: Result,
    path: str | os.PathLike,
    t_start: float | None = None,
    t_stop: float | None = None,
    max_neurons_per_pop: int = 200,
    **kwargs: object,
) -> Path:
    """Draw :func:`raster_and_rates_figure` and save it as a PNG at ``path``.

    Extra keyword arguments go to :func:`raster_and_rates_figure`. The file is written to a
    temporary name and renamed, so ``path`` never holds a half-written image.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    fig = raster_and_rates_figure(result, t_start, t_stop, max_neurons_per_pop, **kwargs)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
