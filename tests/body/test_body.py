"""The mouse body: anatomy, muscle geometry, touch, the CPG, and the cpg-walk scenario."""

import math

import numpy as np
import pytest

mujoco = pytest.importorskip("mujoco")

from zentai.body.cpg import CPG  # noqa: E402
from zentai.body.mouse import (  # noqa: E402
    BODY_LENGTH,
    JOINTS,
    MUSCLES,
    build_mouse,
)
from zentai.body.scenarios import FALL_HEIGHT_MM, cpg_walk, lr_phase  # noqa: E402
from zentai.body.spinal import SpinalCord, afferent_rates  # noqa: E402
from zentai.errors import SpecError  # noqa: E402


@pytest.fixture(scope="module")
def fixed():
    return build_mouse(fixed=True)


def test_anatomy_is_mouse_sized_with_24_named_muscles():
    b = build_mouse()
    assert 0.020 <= b.mass_kg <= 0.030
    assert 0.08 <= BODY_LENGTH <= 0.10
    assert b.model.nu == 24 == len(MUSCLES) and len(JOINTS) == 12
    assert "LH_gastrocnemius" in MUSCLES and "RF_triceps_brachii" in MUSCLES
    assert b.model.nsensor == 24 * 3 + 12 * 2 + 16 + 1  # tendon/force, joints, taxels, trunk


def _moment_arms(body, joint, n=61):
    """-dL/dq of the joint's (flexor, extensor) tendon over its whole range (m)."""
    m = body.model
    d = mujoco.MjData(m)
    j = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, joint)
    k = JOINTS.index(joint)
    out = []
    for q in np.linspace(*m.jnt_range[j], n):
        lengths = []
        for dq in (-1e-5, 1e-5):
            d.qpos[:] = m.qpos0
            d.qpos[m.jnt_qposadr[j]] = q + dq
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            mujoco.mj_tendon(m, d)
            lengths.append(body.tendon_lengths(d)[2 * k : 2 * k + 2])
        out.append(-(lengths[1] - lengths[0]) / 2e-5)
    return np.array(out)


@pytest.mark.parametrize("joint", JOINTS)
def test_antagonists_have_opposite_moment_arms_over_the_whole_range(fixed, joint):
    arms = _moment_arms(fixed, joint)
    assert np.all(arms[:, 0] > 1e-3), arms[:, 0]  # flexor: flexes (>= 1 mm arm)
    assert np.all(arms[:, 1] < -1e-3), arms[:, 1]  # extensor: extends


@pytest.mark.parametrize("k", range(12))
def test_each_muscle_alone_moves_its_joint_its_way(fixed, k):
    m = fixed.model
    angle = {}
    for role in (0, 1):
        d = mujoco.MjData(m)
        d.ctrl[2 * k + role] = 1.0
        for _ in range(600):  # 0.3 s
            mujoco.mj_step(m, d)
        angle[role] = fixed.joint_angles(d)[k]
    assert angle[0] > math.radians(5), (JOINTS[k], angle)  # flexor alone flexes
    assert angle[1] < -math.radians(5), (JOINTS[k], angle)  # extensor alone extends


def test_standing_paws_carry_the_body_weight_and_touch_afferents_fire():
    """Standing still on its reflexes, the taxels' normal forces add up to m g (the paws carry
    the whole weight) and the touch afferents fire; lifted off the floor they are silent."""
    b = build_mouse()
    d = mujoco.MjData(b.model)
    spinal = SpinalCord(cpg=CPG(drive=0.0))  # no rhythm: posture only
    for _ in range(2000):
        d.ctrl[:] = spinal.step(b, d, b.model.opt.timestep)
        mujoco.mj_step(b.model, d)
    weight = b.mass_kg * 9.81
    assert abs(b.taxel_forces(d).sum() - weight) < 0.1 * weight
    assert d.qpos[2] * 1e3 > FALL_HEIGHT_MM
    touch = afferent_rates(b, d)["touch"]
    assert touch.max() > 50.0
    lifted = build_mouse(fixed=True)
    air = mujoco.MjData(lifted.model)
    mujoco.mj_forward(lifted.model, air)
    assert afferent_rates(lifted, air)["touch"].max() == 0.0


def test_cpg_trot_alternates_left_right_and_drive_speeds_it_up():
    def run(drive):
        c = CPG(drive=drive)
        ys = np.array([c.step(0.0005)[:, 0] for _ in range(12000)])[4000:]
        ph, f = lr_phase(ys[:, 0], ys[:, 1], 0.0005)  # LF vs RF
        diag, _ = lr_phase(ys[:, 0], ys[:, 3], 0.0005)  # LF vs RH
        return ph, diag, f, ys.max()

    ph, diag, f1, amp1 = run(1.0)
    assert abs(abs(ph) - math.pi) < 0.2 and abs(diag) < 0.2
    _, _, f2, amp2 = run(1.6)
    assert f2 > f1 and amp2 > amp1


def test_touch_ends_a_swing():
    """Paw contact inhibits the flexor half-centre: during a flexor burst, touch cuts it."""
    a, b = CPG(gait="trot", seed=1), CPG(gait="trot", seed=1)
    for _ in range(3000):
        a.step(0.0005)
        b.step(0.0005)
    limb = int(np.argmax(np.maximum(a.u[:, 0], 0)))  # a limb in its flexor burst
    touch = np.zeros(4)
    touch[limb] = 1.0
    for _ in range(40):
        ya = a.step(0.0005)
        yb = b.step(0.0005, touch)
    assert yb[limb, 0] < ya[limb, 0] and yb[limb, 1] >= ya[limb, 1]


def test_cpg_walk_meets_its_criteria(tmp_path):
    s = cpg_walk(tmp_path, duration_s=5.0, seed=0, frames=2)
    assert s["distance_body_lengths"] >= 1.0
    assert s["min_trunk_height_mm"] > FALL_HEIGHT_MM
    assert abs(abs(s["lr_phase_rad"]) - math.pi) <= 0.5
    assert all(c["pass"] for c in s["checks"].values())
    assert (tmp_path / "summary.json").exists() and (tmp_path / "body.png").exists()


def test_bad_body_input():
    with pytest.raises(SpecError, match="gait must be one of"):
        CPG(gait="gallop")
    with pytest.raises(SpecError, match="unknown muscle 'LF_bicep'"):
        build_mouse(fixed=True).muscle_index("LF_bicep")
    with pytest.raises(SpecError, match="timestep"):
        build_mouse(timestep=0.01)
