"""``brain-forelimb``: motor-cortex layer-5 output moves the forelimbs; paw touch reaches the
cortex.

The brain is the Potjans–Diesmann microcircuit (its L5E population stands in for MOp L5B, the
corticospinal layer, until an atlas-built motor cortex is wired here). Its L5E spike counts
drive the forelimb flexors (biceps brachii, spinodeltoideus, left and right); touch afferents
of the forepaws and spindle afferents of the forelimb muscles feed L4E. The mouse starts 3 mm
above the floor, so its paws touch down in the first tens of milliseconds, and stands on its
reflexes (no rhythm). Two runs, identical but for a DC current into L5E from ``stim_start``:
the summary compares the forelimb joint angles (``delta_angle_deg``, the largest change of a
mapped joint's mean angle over the stimulation, stimulated minus unstimulated) and reports the
touch afferents before and after touchdown (``touch_rate_before_hz``, ``touch_rate_hz``) and
the real-time factors of body alone and brain + body.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from zentai.cosim.loop import Afferent, BodySide, BrainSide, CoSim, Efferent, prepare
from zentai.errors import SpecError
from zentai.io.atomic import save_figure

__all__ = ["AFFERENTS", "EFFERENTS", "brain_forelimb", "make_side"]

FORE_FLEXORS = ("LF_biceps_brachii", "LF_spinodeltoideus", "RF_biceps_brachii",
                "RF_spinodeltoideus")  # fmt: skip
EFFERENTS = (Efferent(population="L5E", muscles=FORE_FLEXORS, r_max=100.0),)
AFFERENTS = (
    Afferent(kind="touch", population="L4E", sensors=("LF", "RF"), n_sources=20),
    Afferent(kind="spindle", population="L4E", sensors=FORE_FLEXORS, n_sources=20),
)
MAPPED_JOINTS = ("LF_shoulder", "LF_elbow", "RF_shoulder", "RF_elbow")


def _brain(stimulate: bool, scale: float, seed: int, stim_start_ms: float, amp_pa: float):
    import dataclasses

    import zentai as zt
    from zentai.stim import DC

    spec = zt.build.microcircuit(scale, record=False)
    if stimulate:
        spec = dataclasses.replace(
            spec, stimuli=(*spec.stimuli, DC(target="L5E", amplitude=amp_pa, start=stim_start_ms))
        )
    spec = prepare(spec, EFFERENTS, AFFERENTS)
    return zt.sim.Simulator(zt.build.network(spec, seed=seed), seed=seed)


def _body(seed: int):
    import mujoco

    from zentai.body.cpg import CPG
    from zentai.body.mouse import build_mouse
    from zentai.body.spinal import SpinalCord

    body = build_mouse()
    data = mujoco.MjData(body.model)
    data.qpos[2] += 0.003  # dropped from 3 mm: the paws touch down early in the run
    return body, data, SpinalCord(cpg=CPG(drive=0.0, seed=seed))


def make_side(
    rank: int,
    stimulate: bool = True,
    scale: float = 0.05,
    seed: int = 0,
    window_ms: float = 1.0,
    stim_start_ms: float = 200.0,
    amp_pa: float = 300.0,
):
    """Rank 0: the brain side; rank 1: the body side (for :func:`zentai.cosim.run_mpi`)."""
    if rank == 0:
        return BrainSide(_brain(stimulate, scale, seed, stim_start_ms, amp_pa), EFFERENTS,
                         AFFERENTS, window_ms)  # fmt: skip
    body, data, spinal = _body(seed)
    return BodySide(body, spinal, AFFERENTS, window_ms, data)


def _run(stimulate, duration_ms, scale, seed, window_ms, stim_start_ms, amp_pa):
    sim = _brain(stimulate, scale, seed, stim_start_ms, amp_pa)
    body, data, spinal = _body(seed)
    co = CoSim(sim, body, spinal, EFFERENTS, AFFERENTS, window_ms=window_ms, data=data)
    rec: dict[str, list] = {k: [] for k in ("t", "q", "exc", "act", "touch", "aff", "qpos")}
    from zentai.body.spinal import afferent_rates

    def record(c: CoSim) -> None:
        rec["t"].append(c.k * window_ms)
        rec["q"].append(body.joint_angles(data))
        rec["exc"].append(c.excitation.copy())
        rec["act"].append(data.act.copy())
        rec["touch"].append(afferent_rates(body, data)["touch"][:8].mean())
        rec["aff"].append(c.afferent_hz.copy())
        rec["qpos"].append(data.qpos.copy())

    t0 = time.perf_counter()
    co.run(duration_ms, callback=record)
    wall = time.perf_counter() - t0
    return {k: np.asarray(v) for k, v in rec.items()}, wall


def brain_forelimb(
    out: str | os.PathLike,
    *,
    duration_s: float = 1.0,
    scale: float = 0.05,
    seed: int = 0,
    window_ms: float = 1.0,
    stim_start_ms: float = 200.0,
    amp_pa: float = 300.0,
) -> dict[str, Any]:
    """Run the unstimulated and the stimulated loop; write summary.json and forelimb.png."""
    import mujoco

    from zentai.body.mouse import JOINTS, MUSCLES
    from zentai.io.jsonfile import write_json

    if not (0.3 <= duration_s <= 60):
        raise SpecError(f"brain-forelimb duration must be 0.3-60 s; got {duration_s!r}.")
    if not stim_start_ms < duration_s * 1e3:
        raise SpecError("brain-forelimb: the stimulation must start before the end of the run.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dur = duration_s * 1e3
    runs = {}
    walls = {}
    for stim in (False, True):
        runs[stim], walls[stim] = _run(stim, dur, scale, seed, window_ms, stim_start_ms, amp_pa)
    # body alone, same duration, same posture controller, no brain
    body, data, spinal = _body(seed)
    t0 = time.perf_counter()
    for _ in range(round(duration_s / body.model.opt.timestep)):
        data.ctrl[:] = spinal.step(body, data, body.model.opt.timestep)
        mujoco.mj_step(body.model, data)
    wall_body = time.perf_counter() - t0

    t = runs[True]["t"]
    during = t > stim_start_ms + 100.0  # after the command has built up
    ji = [JOINTS.index(j) for j in MAPPED_JOINTS]
    d_angle = {
        j: float(np.degrees(runs[True]["q"][during, i].mean() - runs[False]["q"][during, i].mean()))
        for j, i in zip(MAPPED_JOINTS, ji)
    }
    mi = [MUSCLES.index(m) for m in FORE_FLEXORS]
    touch = runs[False]["touch"]
    down = int(np.argmax(touch > 0)) if np.any(touch > 0) else len(touch)
    summary = {
        "scenario": "brain-forelimb",
        "duration_s": duration_s,
        "scale": scale,
        "seed": seed,
        "window_ms": window_ms,
        "stim": {"population": "L5E", "amplitude_pA": amp_pa, "start_ms": stim_start_ms},
        "delta_angle_deg": max(d_angle.values(), key=abs),
        "delta_angle_per_joint_deg": d_angle,
        "excitation_unstimulated": float(runs[False]["exc"][during][:, mi].mean()),
        "excitation_stimulated": float(runs[True]["exc"][during][:, mi].mean()),
        "touchdown_ms": float(t[down]) if down < len(t) else None,
        "touch_rate_before_hz": float(touch[:down].mean()) if down > 0 else 0.0,
        "touch_rate_hz": float(touch[down:].mean()) if down < len(t) else 0.0,
        "rtf_body": wall_body / duration_s,
        "rtf_brain_body": walls[True] / duration_s,
    }
    summary["checks"] = {
        "angle_change_ge_10deg": {"pass": abs(summary["delta_angle_deg"]) >= 10.0},
        "excitation_rises": {
            "pass": summary["excitation_stimulated"] > summary["excitation_unstimulated"]
        },
        "touch_rises_on_contact": {
            "pass": summary["touch_rate_hz"] > summary["touch_rate_before_hz"] + 10.0
        },
    }
    _plot(out / "forelimb.png", runs, stim_start_ms, ji, mi)
    from zentai.body.scenarios import render_strip

    q = runs[True]["qpos"]
    snaps = [q[i] for i in np.linspace(0, len(q) - 1, 5).round().astype(int)]
    summary["frames"] = render_strip(body, snaps, out / "frames.png", zoom=0.12) or "frames.png"
    write_json(out / "summary.json", summary)
    return summary


def _plot(path: Path, runs, stim_start_ms, ji, mi) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(4, 1, figsize=(8, 9), sharex=True)
    for stim, ls in ((False, "--"), (True, "-")):
        r = runs[stim]
        lab = "L5 stimulated" if stim else "unstimulated"
        ax[0].plot(r["t"], r["exc"][:, mi].mean(axis=1), ls, label=f"L5 command ({lab})")
        ax[0].plot(r["t"], r["act"][:, mi].mean(axis=1), ls, label=f"activation ({lab})")
        for i, name in zip(ji[:2], MAPPED_JOINTS[:2]):
            ax[1].plot(r["t"], np.degrees(r["q"][:, i]), ls, label=f"{name} ({lab})")
        ax[2].plot(r["t"], r["aff"][:, 0], ls, label=f"forepaw touch ({lab})")
        ax[3].plot(r["t"], r["aff"][:, 1], ls, label=f"flexor spindles ({lab})")
    for a in ax:
        a.axvline(stim_start_ms, color="k", lw=0.5)
        a.legend(fontsize=6)
    ax[0].set(ylabel="forelimb flexors")
    ax[1].set(ylabel="angle (deg)")
    ax[2].set(ylabel="afferent rate (Hz)")
    ax[3].set(ylabel="afferent rate (Hz)", xlabel="time (ms)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
