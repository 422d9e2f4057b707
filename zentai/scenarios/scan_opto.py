"""``scan-opto``: in-silico scan optogenetics over the dorsal cortex (issue 8).

A laser spot (:class:`~zentai.stim.opto.LightSpot`) visits every point of a ``grid`` x
``grid`` raster spanning the modelled dorsal cortex (top view: anterior-posterior x
medio-lateral); ChR2-expressing excitatory cells receive the saturating photocurrent of
:class:`~zentai.stim.opto.ChR2` for ``light_ms``. For each site the responses of the recorded
downstream groups (SNr, CN, motor thalamus) are measured as the rate change in the
``response_ms`` after light onset against the ``baseline_ms`` before it, and the latency as the
first 1 ms bin (5 ms window) above the baseline mean + 4 sd. Sites run ``batch`` at a time, one
per ensemble member of one simulator (each member its own site and noise), with a progress bar.

Per site and recorded group: the mean rate change, the response magnitude (the RMS departure
of the 5 ms bins after light onset from the baseline mean, less the baseline bins' own spread:
it counts excitation and inhibition alike, as the SNr's triphasic and the CN's excitation-
inhibition responses would cancel in a mean) and the PSTH in 5 ms bins. The summary compares
motor with visual sites (one-sided Mann-Whitney U) and tests the magnitude map for spatial
structure (Moran's I); the checks are on the magnitude.

Light: 20 mW, saturating photocurrent (ChR2 ``i_max_pa``) ``photocurrent_pa`` = 2 nA by
default [N: calibrated to the model's excitability]. Under L5 cells expressing ChR2, light
makes them fire within a few ms; the model's Izhikevich pyramidal cells, held below threshold
by their network, did not fire at all during 10 ms of 20 mW light at the MOp centre with the
ChR2 default of 0.4 nA (fraction 0.003, 0 extra spikes in L2/3, L5A, L5B), a few with 1 nA,
and at 2 nA the L5B cells under the spot fired within 5 ms and the pons (4 -> 50 spikes per
5 ms), STN, SNr and CN answered in a single trial (measured). The spot scatters
(:class:`~zentai.stim.opto.LightSpot`): of 5 mW only 0.58 mW reaches the L5B cells 680 µm
down. With 5 mW and 0.4 nA the maps were noise (1024 sites: SNr +3.0 vs +0.1 Hz, Mann-Whitney
p 0.011, Moran's I 0.03, p 0.12; CN +0.05 vs +0.21 Hz), and with 20 mW and 0.4 nA too
(magnitude SNr 4.1 vs 1.2 Hz, p 0.035; CN nothing).

The model is :func:`zentai.build.cbgc.cbgc_spec` over motor, somatosensory and visual areas.
Cell depths below the pia are the mean depths of their layer in mouse cortex (:data:`DEPTH_UM`,
[N]). Outputs: ``summary.json`` (per group and measure: mean over motor-cortex and
visual-cortex sites, the Mann-Whitney p, Moran's I and its p; ``n_sites``, ``completed``,
``total_s``), ``maps.npz`` (rate-change, magnitude and latency maps, the per-site PSTHs
``psth_hz`` (group, site, bin) with ``psth_t_ms``, site coordinates, the area of each site)
and ``maps.png``.
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
#: bin width (ms) of the per-site PSTHs and of the response magnitude
BIN_MS = 5.0
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
    power_mw: float = 20.0,
    photocurrent_pa: float = 2000.0,
    baseline_ms: float = 50.0,
    light_ms: float = 10.0,
    response_ms: float = 40.0,
    gap_ms: float = 50.0,
    repeats: int = 1,
    seed: int = 0,
    progress: bool = True,
    device: str = "cpu",
    backend: str = "auto",
    num_threads: int | None = None,
) -> dict[str, Any]:
    """Scan every site ``repeats`` times; write the maps and the summary into ``out``.
    ``device``, ``backend``, ``num_threads``: as for :class:`~zentai.sim.Simulator`."""
    import dataclasses

    from tqdm.auto import tqdm

    import zentai as zt
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
    spot, chr2 = LightSpot(power_mw=power_mw), ChR2(i_max_pa=photocurrent_pa)

    n_sites = len(sites)
    # visits in a seeded random order: the members of one batch share the network's ongoing
    # rhythm, which painted stripes on the maps when neighbouring sites ran together
    visits = np.random.default_rng(seed).permutation(np.tile(np.arange(n_sites), repeats))
    B = min(batch, visits.size)
    sim = zt.sim.Simulator(
        net, n_ensembles=B, seed=seed, device=device, backend=backend, num_threads=num_threads
    )
    # each cell's bias as the engine has it (the builder folds constant currents into i_e)
    base_ie = {name: sim.get_param(name, "i_e").numpy() for name, *_ in cells}
    dt = sim.dt
    sim.run(200.0, progress=False)  # settle
    sim.population_counts()
    resp_sum = np.zeros((len(recorded), n_sites))
    mag_sum = np.zeros((len(recorded), n_sites))
    bin_steps = round(BIN_MS / sim.dt)
    n_base_bins = round(baseline_ms / BIN_MS)
    n_ev_bins = round((light_ms + response_ms) / BIN_MS)
    psth_sum = np.zeros((len(recorded), n_sites, n_base_bins + n_ev_bins))
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
            # 5 ms bins (Hz per neuron), (bins, B)
            hb = _binned(base[:, :, j], bin_steps, n_base_bins) / (n * BIN_MS * 1e-3)
            he = _binned(ev[:, :, j], bin_steps, n_ev_bins) / (n * BIN_MS * 1e-3)
            # response magnitude: RMS departure of the evoked bins from the baseline mean, less
            # the baseline bins' own spread (whatever the signs of the phases)
            mag = np.sqrt(((he - hb.mean(axis=0)) ** 2).mean(axis=0)) - hb.std(axis=0, ddof=1)
            for b, k in enumerate(idx):
                resp_sum[j, k] += r_ev[b] - r_base[b]
                mag_sum[j, k] += mag[b]
                psth_sum[j, k] += np.concatenate([hb[:, b], he[:, b]])
                above = np.flatnonzero(se[:, b] > thr[b])
                if above.size:  # end of the first window above
                    lat_all[j, n_done[k], k] = (above[0] + n_win) * dt
        n_done[idx] += 1
        bar.update(len(idx))
    bar.close()
    total_s = time.perf_counter() - t_start
    visited = np.maximum(n_done, 1)
    resp = np.where(n_done > 0, resp_sum / visited, np.nan)
    magnitude = np.where(n_done > 0, mag_sum / visited, np.nan)
    site_psth = psth_sum / visited[None, :, None]
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
        groups[g] = {
            "magnitude": _compare(magnitude[j], is_motor, is_visual, in_cortex, grid, seed),
            "rate_change": _compare(resp[j], is_motor, is_visual, in_cortex, grid, seed),
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
        "backend": sim.backend,
        "device": str(sim.device),
    }
    summary["checks"] = {}
    for g, v in groups.items():
        m = v["magnitude"]
        summary["checks"][f"{g}_motor_gt_visual"] = {
            "pass": bool(m["motor_gt_visual_p"] is not None and m["motor_gt_visual_p"] < ALPHA),
            "p": m["motor_gt_visual_p"],
        }
        summary["checks"][f"{g}_spatially_structured"] = {
            "pass": bool(m["morans_i_p"] is not None and m["morans_i_p"] < ALPHA),
            "morans_i": m["morans_i"],
            "p": m["morans_i_p"],
        }
    import io

    from zentai.io.atomic import write_bytes

    buf = io.BytesIO()
    np.savez(buf, sites_ap_ml_um=sites, site_area=site_area, response_hz=resp,
             magnitude_hz=magnitude, latency_ms=lat, psth_hz=site_psth,
             psth_t_ms=(np.arange(n_base_bins + n_ev_bins) - n_base_bins) * BIN_MS,
             groups=np.array(list(groups)), grid=grid)  # fmt: skip
    write_bytes(out / "maps.npz", buf.getvalue())
    _plot(out / "maps.png", (resp, magnitude, lat), list(groups), grid, ap, ml)
    write_json(out / "summary.json", summary)
    return summary


def _compare(values, is_motor, is_visual, in_cortex, grid, seed) -> dict[str, Any]:
    """Mean of ``values`` over motor and visual sites, the one-sided Mann-Whitney p of motor >
    visual, and Moran's I of the map of the cortical sites."""
    from scipy.stats import mannwhitneyu

    from zentai.analysis import morans_i

    keys = ("motor_sites_hz", "visual_sites_hz", "motor_gt_visual_p", "morans_i", "morans_i_p")
    out: dict[str, Any] = dict.fromkeys(keys)
    if is_motor.any():
        out["motor_sites_hz"] = float(np.mean(values[is_motor]))
    if is_visual.any():
        out["visual_sites_hz"] = float(np.mean(values[is_visual]))
    if is_motor.any() and is_visual.any():
        out["motor_gt_visual_p"] = float(
            mannwhitneyu(values[is_motor], values[is_visual], alternative="greater").pvalue
        )
    cortex_map = np.where(in_cortex, values, np.nan).reshape(grid, grid)
    if np.isfinite(cortex_map).sum() >= 3:
        out["morans_i"], out["morans_i_p"] = morans_i(cortex_map, permutations=999, seed=seed)
    return out


def _binned(counts: np.ndarray, steps: int, n_bins: int) -> np.ndarray:
    """Sums over ``n_bins`` consecutive bins of ``steps`` steps, (n_bins, members)."""
    return counts[: n_bins * steps].reshape(n_bins, steps, -1).sum(axis=1)


def _window_sums(counts: np.ndarray, n: int) -> np.ndarray:
    """Sums of ``n`` consecutive steps, (steps - n + 1, members)."""
    c = np.cumsum(np.vstack([np.zeros((1, counts.shape[1])), counts]), axis=0)
    return c[n:] - c[:-n]


def _plot(path, maps, names, grid, ap, ml) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zentai.io.atomic import save_figure

    labels = ("rate change (Hz)", "response magnitude (Hz)", "latency (ms)")
    fig, axes = plt.subplots(3, len(names), figsize=(3.6 * len(names), 9), squeeze=False)
    ext = [ml[0] / 1e3, ml[-1] / 1e3, ap[-1] / 1e3, ap[0] / 1e3]
    for j, g in enumerate(names):
        for row, (data, label) in enumerate(zip(maps, labels)):
            ax = axes[row, j]
            im = ax.imshow(data[j].reshape(grid, grid), extent=ext, cmap="viridis", aspect="equal")
            ax.set_title(f"{g}: {label}", fontsize=8)
            ax.set_xlabel("ML (mm)", fontsize=7)
            ax.set_ylabel("AP (mm)", fontsize=7)
            fig.colorbar(im, ax=ax, shrink=0.7)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
