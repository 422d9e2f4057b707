"""Body scenarios: ``cpg-walk`` (the mouse walks on its spinal CPG).

:func:`cpg_walk` runs the body with :class:`~zentai.body.spinal.SpinalCord` for ``duration``
seconds and writes ``summary.json``, ``body.png`` (muscle activations, joint angles, afferent
rates over time) and, when offscreen rendering works (``MUJOCO_GL=egl``), ``frames.png`` (a
strip of side views). Summary keys: ``distance_body_lengths`` (forward displacement of the trunk
/ :data:`~zentai.body.mouse.BODY_LENGTH`), ``min_trunk_height_mm`` (lowest trunk-centre height
after the first 0.2 s; the body has fallen when it is below :data:`FALL_HEIGHT_MM`, i.e. the
belly on the floor), ``lr_phase_rad`` (phase of the left relative to the right limbs' proximal
joint angle at the stepping frequency, fore and hind averaged on the circle), ``rtf`` (wall /
model time) and ``checks``.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from zentai.errors import SpecError
from zentai.io.atomic import save_figure

__all__ = ["FALL_HEIGHT_MM", "cpg_walk", "lr_phase"]

#: trunk-centre height (mm) below which the mouse lies on its belly (trunk radius + 2 mm)
FALL_HEIGHT_MM = 12.0


def lr_phase(left: np.ndarray, right: np.ndarray, dt: float) -> tuple[float, float]:
    """(phase of ``left`` relative to ``right`` in (-pi, pi], frequency Hz) at the largest
    peak of the left signal's spectrum (mean removed)."""
    a = np.fft.rfft(left - left.mean())
    b = np.fft.rfft(right - right.mean())
    k = int(np.argmax(np.abs(a[1:]))) + 1
    return float(np.angle(a[k] * np.conj(b[k]))), k / (len(left) * dt)


def render_strip(body: Any, states: list[np.ndarray], path: Path, zoom: float = 0.25) -> str | None:
    """Side views of the body at the given qpos vectors, tiled into one PNG; returns None on
    success or the reason rendering is unavailable."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import mujoco

        m = body.model
        d = mujoco.MjData(m)
        renderer = mujoco.Renderer(m, 200, 300)
    except Exception as exc:  # no GL context: report, do not fail the run
        return f"offscreen rendering unavailable ({type(exc).__name__}: {exc})"
    cam = mujoco.MjvCamera()
    cam.distance, cam.elevation, cam.azimuth = zoom, -10.0, 90.0
    tiles = []
    for q in states:
        d.qpos[:] = q
        mujoco.mj_forward(m, d)
        cam.lookat[:] = [d.qpos[0], 0.0, 0.02]
        renderer.update_scene(d, camera=cam)
        tiles.append(renderer.render().copy())
    renderer.close()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tiles), figsize=(2.4 * len(tiles), 1.8))
    for ax, img, q in zip(np.atleast_1d(axes), tiles, states):
        ax.imshow(img)
        ax.set_axis_off()
        ax.set_title(f"x = {q[0] * 100:.1f} cm", fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
    return None


def cpg_walk(
    out: str | os.PathLike,
    *,
    duration_s: float = 5.0,
    seed: int = 0,
    gait: str = "trot",
    frames: int = 6,
) -> dict[str, Any]:
    """Walk the mouse on its CPG for ``duration_s``; write the outputs into ``out``."""
    import mujoco

    from zentai.body.cpg import CPG
    from zentai.body.mouse import BODY_LENGTH, JOINTS, MUSCLES, build_mouse
    from zentai.body.spinal import AFFERENTS, SpinalCord, afferent_rates
    from zentai.io.jsonfile import write_json

    if not (isinstance(duration_s, (int, float)) and 0.5 <= duration_s <= 600):
        raise SpecError(f"cpg-walk duration must be 0.5-600 s; got {duration_s!r}.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    body = build_mouse()
    m = body.model
    d = mujoco.MjData(m)
    spinal = SpinalCord(cpg=CPG(gait=gait, seed=seed))
    dt = m.opt.timestep
    n = round(duration_s / dt)
    every = max(1, round(0.005 / dt))  # record every 5 ms
    rec: dict[str, list] = {k: [] for k in ("t", "x", "z", "up", "q", "act", *AFFERENTS)}
    snaps = []
    snap_at = set(np.linspace(0, n - 1, frames).round().astype(int).tolist())
    t0 = time.perf_counter()
    for i in range(n):
        d.ctrl[:] = spinal.step(body, d, dt)
        mujoco.mj_step(m, d)
        if i % every == 0:
            rec["t"].append((i + 1) * dt)
            rec["x"].append(d.qpos[0])
            rec["z"].append(d.qpos[2])
            rec["up"].append(d.xmat[1][8])
            rec["q"].append(body.joint_angles(d))
            rec["act"].append(d.act.copy())
            for k, v in afferent_rates(body, d).items():
                rec[k].append(v)
        if i in snap_at:
            snaps.append(d.qpos.copy())
    wall = time.perf_counter() - t0
    r = {k: np.asarray(v) for k, v in rec.items()}
    settle = r["t"] > 0.2
    q = r["q"]
    ji = {j: i for i, j in enumerate(JOINTS)}
    dts = every * dt
    ph_f, _ = lr_phase(q[settle, ji["LF_shoulder"]], q[settle, ji["RF_shoulder"]], dts)
    ph_h, f_h = lr_phase(q[settle, ji["LH_hip"]], q[settle, ji["RH_hip"]], dts)
    lr = float(np.angle(np.exp(1j * ph_f) + np.exp(1j * ph_h)))
    dist = float(r["x"][-1] - r["x"][0])
    min_h = float(r["z"][settle].min() * 1e3)
    summary = {
        "scenario": "cpg-walk",
        "duration_s": duration_s,
        "seed": seed,
        "gait": gait,
        "distance_m": dist,
        "body_length_m": BODY_LENGTH,
        "distance_body_lengths": dist / BODY_LENGTH,
        "min_trunk_height_mm": min_h,
        "fall_height_mm": FALL_HEIGHT_MM,
        "min_trunk_up": float(r["up"][settle].min()),
        "lr_phase_rad": lr,
        "lr_phase_fore_rad": ph_f,
        "lr_phase_hind_rad": ph_h,
        "step_frequency_hz": f_h,
        "lateral_drift_m": float(d.qpos[1]),
        "mass_g": body.mass_kg * 1e3,
        "n_muscles": len(MUSCLES),
        "wall_s": wall,
        "rtf": wall / duration_s,
        "mean_afferent_hz": {k: float(r[k][settle].mean()) for k in AFFERENTS},
    }
    summary["checks"] = {
        "forward_1_body_length": {"pass": summary["distance_body_lengths"] >= 1.0},
        "no_fall": {"pass": min_h > FALL_HEIGHT_MM and summary["min_trunk_up"] > 0.5},
        "lr_alternate": {"pass": abs(abs(lr) - math.pi) <= 0.5},
    }
    _plot(out / "body.png", r, settle)
    summary["frames"] = render_strip(body, snaps, out / "frames.png") or "frames.png"
    write_json(out / "summary.json", summary)
    return summary


def _plot(path: Path, r: dict[str, np.ndarray], settle: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zentai.body.mouse import JOINTS, MUSCLES

    t = r["t"]
    fig, ax = plt.subplots(4, 1, figsize=(9, 9), sharex=True)
    for i in (0, 1, 12, 13):  # LF shoulder flexor/extensor, LH hip flexor/extensor
        ax[0].plot(t, r["act"][:, i], lw=0.8, label=MUSCLES[i])
    ax[0].set(ylabel="activation")
    ax[0].legend(fontsize=6, ncol=4)
    for i in (0, 3, 6, 9):
        ax[1].plot(t, np.degrees(r["q"][:, i]), lw=0.8, label=JOINTS[i])
    ax[1].set(ylabel="angle (deg)")
    ax[1].legend(fontsize=6, ncol=4)
    for k in ("spindle", "golgi", "joint", "touch"):
        ax[2].plot(t, r[k].mean(axis=1), lw=0.8, label=k)
    ax[2].set(ylabel="afferent rate (Hz)")
    ax[2].legend(fontsize=6, ncol=4)
    ax[3].plot(t, r["x"] * 100, label="forward (cm)")
    ax[3].plot(t, r["z"] * 1000, label="trunk height (mm)")
    ax[3].set(xlabel="time (s)")
    ax[3].legend(fontsize=6)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
