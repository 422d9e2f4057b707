"""``scan-opto``: in-silico scan optogenetics over the dorsal cortex (issue 8).

A laser spot (:class:`~zentai.stim.opto.LightSpot`) visits every point of a ``grid`` x
``grid`` raster spanning the modelled dorsal cortex (top view: anterior-posterior x
medio-lateral); ChR2-expressing excitatory cells receive the saturating photocurrent of
:class:`~zentai.stim.opto.ChR2` for ``light_ms``. For each site the responses of the recorded
downstream groups (SNr, CN, motor thalamus) are measured as the rate change in the
``response_ms`` after light onset against the ``baseline_ms`` before it, and the latency as the
first 1 ms bin (5 ms window) above the baseline mean + 4 sd. Sites run ``batch`` at a time, one
per ensemble member of one simulator (each member its own site and noise), with a progress bar.

The model is :func:`zentai.build.cbgc.cbgc_spec` over motor, somatosensory and visual areas.
Cell depths below the pia are the mean depths of their layer in mouse cortex (:data:`DEPTH_UM`,
[N]). Outputs: ``summary.json`` (per group: mean response of motor-cortex sites vs
visual-cortex sites and their ratio; ``n_sites``, ``completed``, ``total_s``), ``maps.npz``
(response and latency maps, site coordinates, the area of each site) and ``maps.png``.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from zentai.errors import SpecError

__all__ = ["DEPTH_UM", "DORSAL_REGIONS", "RECORDED", "scan_opto"]

DORSAL_REGIONS = ("MOp", "MOs", "SSp-ul", "SSp-bfd", "VISp", "VISam",
                  "VAL", "VM", "PG", "SIM", "IP", "DN")  # fmt: skip
#: mean depth below the pia (µm) of each layer of mouse cortex (~1 mm thick) [N]
DEPTH_UM = {"L1": 50.0, "L2/3": 220.0, "L4": 400.0, "L5A": 520.0, "L5B": 680.0,
            "L6a": 850.0, "L6b": 960.0}  # fmt: skip
#: recorded groups -> population
RECORDED = {"SNr": "SNr", "CN": "CBN.E", "TH": "TH.TC"}
MOTOR = ("MOp", "MOs")
#: significance level of the summary's checks: motor sites respond more than visual sites
#: (one-sided Mann-Whitney U over the sites) and the response map is spatially structured
#: (Moran's I of the cortical sites, rook neighbours, 999 seeded permutations)
ALPHA = 0.01


def scan_opto(
    out: str | os.PathLike,
    *,
    grid: int = 32,
    regions: tuple[str, ...] = DORSAL_REGIONS,
    fraction: float = 0.003,
    bg_scale: float = 0.002,
    batch: int = 32,
    power_mw: float = 5.0,
    baseline_ms: float = 50.0,
    light_ms: float = 10.0,
    response_ms: float = 40.0,
    gap_ms: float = 50.0,
    repeats: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Scan every site ``repeats`` times; write the maps and the summary into ``out``."""
    import dataclasses

    from scipy.stats import mannwhitneyu
    from tqdm.auto import tqdm

    import zentai as zt
    from zentai.analysis import morans_i
    from zentai.build.cbgc import cbgc_spec
    from zentai.io.jsonfile import write_json
    from zentai.record import PopulationRate
    from zentai.stim.opto import ChR2, LightSpot

    for name, v in (("grid", grid), ("batch", batch), ("repeats", repeats)):
        if not (isinstance(v, int) and v >= 1):
            raise SpecError(f"scan-opto {name} must be an integer >= 1; got {v!r}.")
    for name, v in (("baseline_ms", baseline_ms), ("light_ms", light_ms),
                    ("response_ms", response_ms)):  # fmt: skip
        if not v > 0:
            raise SpecError(f"scan-opto {name} must be > 0 ms; got {v!r}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    atlas = zt.atlas.load("allen_mouse_100um")
    spec, layout = cbgc_spec(
        atlas, fraction=fraction, bg_scale=bg_scale, seed=seed, regions=regions
    )
    recorded = [p for p in RECORDED.values() if p in {q.name for q in spec.populations}]
    spec = dataclasses.replace(spec, recorders=(PopulationRate(populations=tuple(recorded)),))
    net = zt.build.network(spec, seed=seed)

    # excitatory cortical cells: top-view coordinates (AP, ML) and depth
    cells = []
    for p in spec.populations:
        if p.name.startswith("Isocortex.") and p.name.endswith(".E"):
            pos = layout.positions[p.name]
            depth = DEPTH_UM.get(p.labels.get("layer", ""), 500.0)
            cells.append((p.name, pos[:, [0, 2]], depth, layout.area[p.name]))
    top = np.concatenate([c[1] for c in cells])
    lo, hi = top.min(axis=0), top.max(axis=0)
    ap = np.linspace(lo[0], hi[0], grid)
    ml = np.linspace(lo[1], hi[1], grid)
    sites = np.array([(a, m) for a in ap for m in ml])
    # area of each site: that of the nearest excitatory cell (-1 when none within 300 µm)
    areas_all = np.concatenate([c[3] for c in cells])
    site_area = []
    for s in sites:
        d = np.linalg.norm(top - s[None, :], axis=1)
        i = int(np.argmin(d))
        site_area.append(layout.areas[areas_all[i]] if d[i] <= 300.0 and areas_all[i] >= 0 else "")
    spot, chr2 = LightSpot(power_mw=power_mw), ChR2()

    n_sites = len(sites)
    # visits in a seeded random order: the members of one batch share the network's ongoing
    # rhythm, which painted stripes on the maps when neighbouring sites ran together
    visits = np.random.default_rng(seed).permutation(np.tile(np.arange(n_sites), repeats))
    B = min(batch, visits.size)
    sim = zt.sim.Simulator(net, n_ensembles=B, seed=seed)
    # each cell's bias as the engine has it (the builder folds constant currents into i_e)
    base_ie = {name: sim.get_param(name, "i_e").numpy() for name, *_ in cells}
    dt = sim.dt
    sim.run(200.0, progress=False)  # settle
    sim.population_counts()
    resp_sum = np.zeros((len(recorded), n_sites))
    n_done = np.zeros(n_sites, dtype=np.int64)
    lat_all = np.full((len(recorded), repeats, n_sites), np.nan)
    bar = tqdm(total=visits.size, desc="scan-opto", unit="visit", disable=not progress)
    n_win = round(5.0 / dt)
    for start in range(0, visits.size, B):
        idx = visits[start : start + B]
        currents = {}
        for name, xy, depth, _ in cells:
            cur = np.zeros((B, len(xy)))
            for b, k in enumerate(idx):
                r = np.linalg.norm(xy - sites[k][None, :], axis=1)
                cur[b] = chr2.current(spot.irradiance(r, depth))
            currents[name] = cur
        sim.run(baseline_ms, progress=False)
        base = sim.population_counts(per_step=True).astype(np.float64)  # (steps, B, P)
        # the photocurrent adds to each cell's own bias current, which is restored after
        for name, cur in currents.items():
            sim.set_param(name, "i_e", base_ie[name] + cur)
        sim.run(light_ms, progress=False)
        for name in currents:
            sim.set_param(name, "i_e", base_ie[name])
        sim.run(response_ms, progress=False)
        ev = sim.population_counts(per_step=True).astype(np.float64)
        sim.run(gap_ms, progress=False)
        sim.population_counts()
        for j, pop in enumerate(recorded):
            a, b_ = net.pop_slices[pop]
            n = b_ - a
            win_s = (light_ms + response_ms) * 1e-3
            r_base = base[:, :, j].sum(axis=0) / (n * baseline_ms * 1e-3)
            r_ev = ev[:, :, j].sum(axis=0) / (n * win_s)
            sb = _window_sums(base[:, :, j], n_win)
            se = _window_sums(ev[:, :, j], n_win)
            thr = sb.mean(axis=0) + 4 * sb.std(axis=0) + 1.0
            for b, k in enumerate(idx):
                resp_sum[j, k] += r_ev[b] - r_base[b]
                above = np.flatnonzero(se[:, b] > thr[b])
                if above.size:  # end of the first window above
                    lat_all[j, n_done[k], k] = (above[0] + n_win) * dt
        n_done[idx] += 1
        bar.update(len(idx))
    bar.close()
    total_s = time.perf_counter() - t_start
    with np.errstate(invalid="ignore"):
        resp = np.where(n_done > 0, resp_sum / np.maximum(n_done, 1), np.nan)
    with warnings.catch_warnings():  # sites that never crossed the threshold stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        lat = np.nanmedian(lat_all, axis=1)

    site_area = np.array(site_area)
    is_motor = np.isin(site_area, MOTOR)
    is_visual = np.char.startswith(site_area.astype(str), "VIS")
    groups = {}
    in_cortex = site_area != ""
    for j, pop in enumerate(recorded):
        g = next(k for k, v in RECORDED.items() if v == pop)
        m = float(np.mean(resp[j, is_motor])) if is_motor.any() else None
        v = float(np.mean(resp[j, is_visual])) if is_visual.any() else None
        p_mv = None
        if is_motor.any() and is_visual.any():
            p_mv = float(mannwhitneyu(resp[j, is_motor], resp[j, is_visual],
                                      alternative="greater").pvalue)  # fmt: skip
        cortex_map = np.where(in_cortex, resp[j], np.nan).reshape(grid, grid)
        moran, p_moran = (None, None)
        if np.isfinite(cortex_map).sum() >= 3:
            moran, p_moran = morans_i(cortex_map, permutations=999, seed=seed)
        groups[g] = {
            "motor_sites_hz": m,
            "visual_sites_hz": v,
            "motor_minus_visual_hz": None if m is None or v is None else m - v,
            "motor_gt_visual_p": p_mv,
            "morans_i": moran,
            "morans_i_p": p_moran,
            "median_latency_motor_ms": (
                float(np.nanmedian(lat[j, is_motor]))
                if is_motor.any() and np.isfinite(lat[j, is_motor]).any()
                else None
            ),
        }
    summary = {
        "scenario": "scan-opto",
        "grid": grid,
        "n_sites": n_sites,
        "repeats": repeats,
        "completed": int(np.isfinite(resp[0]).sum()) if recorded else 0,
        "batch": B,
        "regions": list(regions),
        "fraction": fraction,
        "n_neurons": net.n_neurons,
        "light": {"power_mw": power_mw, "ms": light_ms},
        "n_motor_sites": int(is_motor.sum()),
        "n_visual_sites": int(is_visual.sum()),
        "responses": groups,
        "total_s": total_s,
    }
    summary["checks"] = {}
    for g, v in groups.items():
        summary["checks"][f"{g}_motor_gt_visual"] = {
            "pass": bool(v["motor_gt_visual_p"] is not None and v["motor_gt_visual_p"] < ALPHA),
            "p": v["motor_gt_visual_p"],
        }
        summary["checks"][f"{g}_spatially_structured"] = {
            "pass": bool(v["morans_i_p"] is not None and v["morans_i_p"] < ALPHA),
            "morans_i": v["morans_i"],
            "p": v["morans_i_p"],
        }
    import io

    from zentai.io.atomic import write_bytes

    buf = io.BytesIO()
    np.savez(buf, sites_ap_ml_um=sites, site_area=site_area, response_hz=resp, latency_ms=lat,
             groups=np.array(list(groups)), grid=grid)  # fmt: skip
    write_bytes(out / "maps.npz", buf.getvalue())
    _plot(out / "maps.png", resp, lat, list(groups), grid, ap, ml)
    write_json(out / "summary.json", summary)
    return summary


def _window_sums(counts: np.ndarray, n: int) -> np.ndarray:
    """Sums of ``n`` consecutive steps, (steps - n + 1, members)."""
    c = np.cumsum(np.vstack([np.zeros((1, counts.shape[1])), counts]), axis=0)
    return c[n:] - c[:-n]


def _plot(path, resp, lat, names, grid, ap, ml) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zentai.io.atomic import save_figure

    fig, axes = plt.subplots(2, len(names), figsize=(3.6 * len(names), 6), squeeze=False)
    ext = [ml[0] / 1e3, ml[-1] / 1e3, ap[-1] / 1e3, ap[0] / 1e3]
    for j, g in enumerate(names):
        for row, (data, label) in enumerate(((resp, "rate change (Hz)"), (lat, "latency (ms)"))):
            ax = axes[row, j]
            im = ax.imshow(data[j].reshape(grid, grid), extent=ext, cmap="viridis", aspect="equal")
            ax.set_title(f"{g}: {label}", fontsize=8)
            ax.set_xlabel("ML (mm)", fontsize=7)
            ax.set_ylabel("AP (mm)", fontsize=7)
            fig.colorbar(im, ax=ax, shrink=0.7)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
