"""A mouse body built by zentai: MJCF generated from a few numbers, compiled with MuJoCo.

Geometry (x forward, y left, z up; metres, kilograms): a capsule trunk and a head, two
forelimbs (humerus, radius/ulna, paw) and two hindlimbs (femur, tibia, foot) hinged in the
sagittal plane. Nose to tail base ~9 cm, mass ~27 g (adult C57BL/6: 20-30 g, 8-10 cm nose to
tail base). Every joint angle is 0 in the standing posture and positive in flexion
(shoulder/hip: limb forward; elbow: forearm forward-up; wrist: paw down-back; knee: shank back;
ankle: toes up); the ranges (:data:`JOINT_RANGES`, degrees around that posture) are
approximate rodent ranges [N].

Muscles: one antagonist pair per joint (24 in all), MuJoCo Hill-type ``<muscle>`` actuators on
spatial tendons that wrap a cylinder at the joint on the flexor or the extensor side, so the
moment arms keep their sign over the whole range. Each is named after the main flexor/extensor
of that joint in the mouse. Peak forces (0.5-2 N) are of the order of mouse limb muscles
(EDL ~0.4 N, soleus ~0.2 N in adult mice, Brooks & Faulkner 1988, J Physiol 404:71; the larger
gastrocnemius and quadriceps produce several times more) [N: chosen so that the body stands
and walks; halving them gave shorter, dragging steps, and the shoulder flexor needs 2 N to
swing a forelimb loaded by the front-heavy trunk forward].

Sensors: a 2 x 2 grid of touch taxels under every paw (plain ``<touch>`` sensors on box sites,
which avoids the ``touch_grid`` plugin crash of BODY_NOTES.md), tendon length and velocity and
actuator force per muscle, joint angle and velocity per joint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from zentai.errors import SpecError

__all__ = [
    "JOINTS",
    "JOINT_RANGES",
    "LIMBS",
    "MUSCLES",
    "MouseBody",
    "build_mouse",
    "mouse_mjcf",
]

#: left/right fore (F) and hind (H) limbs
LIMBS = ("LF", "RF", "LH", "RH")
# per limb kind, proximal to distal: joint, range (deg), and the segment it moves
_KIND_JOINTS = {
    "F": (("shoulder", (-50.0, 60.0)), ("elbow", (-40.0, 70.0)), ("wrist", (-50.0, 50.0))),
    "H": (("hip", (-40.0, 60.0)), ("knee", (-30.0, 70.0)), ("ankle", (-50.0, 30.0))),
}
# hinge axis per joint (flexion is positive rotation about it)
_AXIS = {"shoulder": -1, "elbow": -1, "wrist": 1, "hip": -1, "knee": 1, "ankle": -1}
# flexor, extensor of each joint: (name, peak isometric force N)
_MUSCLES = {
    "shoulder": (("spinodeltoideus", 2.0), ("teres_major", 1.2)),
    "elbow": (("biceps_brachii", 0.8), ("triceps_brachii", 1.4)),
    "wrist": (("flexor_carpi_ulnaris", 0.5), ("extensor_carpi_radialis", 0.5)),
    "hip": (("iliopsoas", 1.0), ("gluteus_maximus", 1.6)),
    "knee": (("semitendinosus", 0.8), ("vastus_lateralis", 1.6)),
    "ankle": (("tibialis_anterior", 0.6), ("gastrocnemius", 1.4)),
}
# segments in the standing posture, (x, z) metres: a zigzag like a mouse's limbs
_SEGMENTS = {
    "F": (
        ("humerus", (-0.004, -0.010), 0.0005),
        ("forearm", (0.003, -0.011), 0.0003),
        ("paw", (0.006, -0.001), 0.0001),
    ),
    "H": (
        ("femur", (0.006, -0.012), 0.0009),
        ("tibia", (-0.007, -0.013), 0.0005),
        ("foot", (0.009, -0.001), 0.0002),
    ),
}
#: outward (lateral) offset of each segment's far end, m: the limbs splay so the paws stand
#: wider than the trunk (a mouse's paws are ~2-2.5 cm apart across)
SPLAY = {"F": (0.002, 0.001, 0.0), "H": (0.002, 0.001, 0.0)}
# where each limb's first joint sits on the trunk (x, |y|, z) relative to the trunk centre
_ATTACH = {"F": (0.026, 0.010, -0.005), "H": (-0.026, 0.011, -0.005)}
TRUNK_HALF_LENGTH = 0.030
TRUNK_RADIUS = 0.010
TRUNK_MASS = 0.020
HEAD_LENGTH = 0.023  # trunk end to nose
#: nose to tail base (m): trunk capsule plus head
BODY_LENGTH = 2 * (TRUNK_HALF_LENGTH + TRUNK_RADIUS) + HEAD_LENGTH - TRUNK_RADIUS
HEAD_MASS = 0.0025

JOINTS = tuple(f"{lb}_{j}" for lb in LIMBS for j, _ in _KIND_JOINTS[lb[1]])
JOINT_RANGES = {f"{lb}_{j}": r for lb in LIMBS for j, r in _KIND_JOINTS[lb[1]]}
MUSCLES = tuple(f"{lb}_{m}" for lb in LIMBS for j, _ in _KIND_JOINTS[lb[1]] for m, _ in _MUSCLES[j])


def _f(*xs: float) -> str:
    return " ".join(f"{x:.6g}" for x in xs)


def _height(kind: str) -> float:
    return -_ATTACH[kind][2] - sum(z for _, (_, z), _ in _SEGMENTS[kind])


#: trunk-centre height (m) of the standing posture with the soles on the ground
STAND_HEIGHT = max(_height("F"), _height("H")) + 0.0016


def mouse_mjcf(
    *,
    timestep: float = 0.0005,
    friction: float = 1.0,
    length_ranges: dict | None = None,
    fixed: bool = False,
) -> str:
    """The MJCF text of the mouse (see the module docstring). ``length_ranges``: muscle name
    -> (shortest, longest) tendon length (m); without them MuJoCo's automatic computation is
    off and :func:`build_mouse` measures them over the joint ranges. ``fixed``: the trunk is
    held 5 cm above the floor (no free joint), for tests of single muscles."""
    trunk_sites, limbs, tendons, actuators, sensors = [], [], [], [], []
    for lb in LIMBS:
        kind, ys = lb[1], (1.0 if lb[0] == "L" else -1.0)
        ax, ay, az = _ATTACH[kind]
        parent = np.array([0.0, 0.0, -0.008])  # the trunk, as a segment ending at the joint
        lines: list[str] = []
        for k, ((jname, (lo, hi)), (seg, (sx, sz), mass)) in enumerate(
            zip(_KIND_JOINTS[kind], _SEGMENTS[kind])
        ):
            jn = f"{lb}_{jname}"
            dy = ys * SPLAY[kind][k]
            child = np.array([sx, dy, sz])
            axis = np.array([0.0, _AXIS[jname], 0.0])
            nf = np.cross(axis, child)  # where flexion moves the child
            nf /= np.linalg.norm(nf)
            # muscle origins sit on the parent, half-way up it, on the flexor/extensor side
            # ... offset across the parent bone to the side that flexion brings towards the
            # child (the parent turns by -theta relative to the child: its part near the
            # joint, along -parent, moves along axis x parent)
            n_par = np.cross(axis, parent)
            n_par /= np.linalg.norm(n_par)
            side = nf + n_par
            side /= np.linalg.norm(side)
            origins = []
            for role, s in (("flex", 1.0), ("ext", -1.0)):
                # in the trunk's frame, or the parent's (origin at the parent's joint)
                at = np.array([ax, ys * ay, az]) if k == 0 else parent
                o = at - 0.7 * parent + 0.0025 * s * n_par
                origins.append(f'<site name="{jn}_{role}_orig" pos="{_f(*o)}" size="0.0004"/>')
            # the wrapping cylinder and its side sites sit on the parent, at the joint, so the
            # side stays put while the child turns
            jpos = np.array([ax, ys * ay, az]) if k == 0 else parent
            origins.append(
                f'<geom name="{jn}_wrap" type="cylinder" size="0.0015 0.001" pos="{_f(*jpos)}" '
                'zaxis="0 1 0" contype="0" conaffinity="0" group="4" mass="0"/>'
            )
            for role, s in (("flex", 1.0), ("ext", -1.0)):
                origins.append(
                    f'<site name="{jn}_{role}_side" pos="{_f(*(jpos + 0.004 * s * side))}" '
                    'size="0.0004"/>'
                )
            if k == 0:
                trunk_sites.extend(origins)
            else:
                lines.extend(origins)
            pos = _f(ax, ys * ay, az) if k == 0 else _f(*parent)
            r = 0.0022 if k < 2 else 0.0015
            lines.append(f'<body name="{lb}_{seg}" pos="{pos}">')
            lines.append(
                f'<joint name="{jn}" axis="{_f(*axis)}" range="{lo:g} {hi:g}" damping="0.0005" '
                'armature="1e-6"/>'
            )
            lines.append(
                f'<geom name="{lb}_{seg}" type="capsule" fromto="0 0 0 {_f(sx, dy, sz)}" '
                f'size="{r:g}" mass="{mass:g}"/>'
            )
            for role, s in (("flex", 1.0), ("ext", -1.0)):
                ins = (0.4 if k < 2 else 0.8) * child + 0.0025 * s * nf
                lines.append(f'<site name="{jn}_{role}_ins" pos="{_f(*ins)}" size="0.0004"/>')
                mname, force = _MUSCLES[jname][0 if role == "flex" else 1]
                mn = f"{lb}_{mname}"
                tendons.append(
                    f'<spatial name="{mn}" width="0.0003"><site site="{jn}_{role}_orig"/>'
                    f'<geom geom="{jn}_wrap" sidesite="{jn}_{role}_side"/>'
                    f'<site site="{jn}_{role}_ins"/></spatial>'
                )
                lr = (length_ranges or {}).get(mn, (0.0, 0.0))
                actuators.append(
                    f'<muscle name="{mn}" tendon="{mn}" force="{force:g}" '
                    f'lengthrange="{_f(*lr)}" timeconst="0.01 0.04"/>'
                )
                sensors += [
                    f'<tendonpos name="{mn}_length" tendon="{mn}"/>',
                    f'<tendonvel name="{mn}_velocity" tendon="{mn}"/>',
                    f'<actuatorfrc name="{mn}_force" actuator="{mn}"/>',
                ]
            sensors += [
                f'<jointpos name="{jn}_angle" joint="{jn}"/>',
                f'<jointvel name="{jn}_velocity" joint="{jn}"/>',
            ]
            if k == 2:  # 2 x 2 touch taxels: proximal/distal half x medial/lateral half
                L = float(np.hypot(sx, sz))
                ang = math.degrees(math.atan2(-sz, sx))  # the box axes follow the paw
                for ix, fx in enumerate((0.25, 0.75)):
                    for iy, fy in enumerate((1.0, -1.0)):
                        nm = f"{lb}_taxel_{ix}{iy}"
                        lines.append(
                            f'<site name="{nm}" type="box" euler="0 {ang:.4g} 0" '
                            f'pos="{_f(fx * sx, fy * (r + 0.0005) / 2, fx * sz)}" '
                            f'size="{_f(0.25 * L + r / 2 + 0.0003, (r + 0.0005) / 2, r + 0.0005)}" '
                            'group="3"/>'
                        )
                        sensors.append(f'<touch name="{nm}" site="{nm}"/>')
            parent = child
        lines.extend(["</body>"] * len(_SEGMENTS[kind]))
        limbs.append("\n".join(lines))

    h = STAND_HEIGHT + (0.05 if fixed else 0.0)
    root = "" if fixed else '<freejoint name="root"/>'
    trunk = _f(-TRUNK_HALF_LENGTH, 0, 0, TRUNK_HALF_LENGTH, 0, 0)
    return f"""<mujoco model="zentai_mouse">
<compiler angle="degree" autolimits="true"><lengthrange mode="none"/></compiler>
<option timestep="{timestep:g}" gravity="0 0 -9.81" integrator="implicitfast"/>
<default>
  <geom friction="{friction:g} 0.005 0.0001" condim="3" solref="0.004 1" rgba="0.75 0.65 0.6 1"/>
  <site rgba="0.2 0.6 1 0.3" group="4"/>
</default>
<worldbody>
  <light pos="0 0 0.5" dir="0 0 -1"/>
  <geom name="floor" type="plane" size="2 2 0.01" rgba="0.85 0.85 0.85 1"/>
  <body name="trunk" pos="0 0 {h:.6g}">
    {root}
    <geom name="trunk" type="capsule" fromto="{trunk}" size="{TRUNK_RADIUS:g}"
      mass="{TRUNK_MASS:g}"/>
    <geom name="head" type="ellipsoid" pos="{TRUNK_HALF_LENGTH + 0.012:g} 0 0.003"
      size="0.011 0.0075 0.007" mass="{HEAD_MASS:g}"/>
    <site name="com" pos="0 0 0" size="0.001"/>
    {chr(10).join(trunk_sites)}
    {chr(10).join(limbs)}
  </body>
</worldbody>
<tendon>
{chr(10).join(tendons)}
</tendon>
<actuator>
{chr(10).join(actuators)}
</actuator>
<sensor>
{chr(10).join(sensors)}
  <framepos name="trunk_pos" objtype="body" objname="trunk"/>
</sensor>
</mujoco>
"""


@dataclass
class MouseBody:
    """A compiled mouse: the MuJoCo model and name -> index tables."""

    model: object
    xml: str

    @cached_property
    def _ids(self) -> dict[str, np.ndarray]:
        import mujoco

        m = self.model

        def ids(kind: object, names: tuple[str, ...]) -> np.ndarray:
            return np.array([mujoco.mj_name2id(m, kind, n) for n in names])

        taxels = tuple(f"{lb}_taxel_{i}{j}" for lb in LIMBS for i in range(2) for j in range(2))
        return {
            "actuator": ids(mujoco.mjtObj.mjOBJ_ACTUATOR, MUSCLES),
            "joint_qpos": m.jnt_qposadr[ids(mujoco.mjtObj.mjOBJ_JOINT, JOINTS)],
            "joint_dof": m.jnt_dofadr[ids(mujoco.mjtObj.mjOBJ_JOINT, JOINTS)],
            "taxel_adr": m.sensor_adr[ids(mujoco.mjtObj.mjOBJ_SENSOR, taxels)],
            "tendon": ids(mujoco.mjtObj.mjOBJ_TENDON, MUSCLES),
        }

    @property
    def mass_kg(self) -> float:
        return float(np.sum(self.model.body_mass))

    def muscle_index(self, name: str) -> int:
        if name not in MUSCLES:
            from zentai.errors import closest

            raise SpecError(f"unknown muscle {name!r}; {closest(name, MUSCLES)}.")
        return MUSCLES.index(name)

    def joint_angles(self, data: object) -> np.ndarray:
        """Angles (rad) of :data:`JOINTS`, flexion positive."""
        return data.qpos[self._ids["joint_qpos"]].copy()

    def joint_velocities(self, data: object) -> np.ndarray:
        """Angular velocities (rad/s) of :data:`JOINTS`."""
        return data.qvel[self._ids["joint_dof"]].copy()

    def taxel_forces(self, data: object) -> np.ndarray:
        """(4 limbs, 4 taxels) normal contact force (N) on each paw's taxels."""
        return data.sensordata[self._ids["taxel_adr"]].reshape(4, 4).copy()

    def tendon_lengths(self, data: object) -> np.ndarray:
        return data.ten_length[self._ids["tendon"]].copy()

    def tendon_velocities(self, data: object) -> np.ndarray:
        return data.ten_velocity[self._ids["tendon"]].copy()

    def muscle_forces(self, data: object) -> np.ndarray:
        """Muscle tension (N, >= 0)."""
        return -data.actuator_force[self._ids["actuator"]].copy()


def build_mouse(
    *, timestep: float = 0.0005, friction: float = 1.0, fixed: bool = False
) -> MouseBody:
    """Compile the mouse (muscle length ranges are computed by MuJoCo at compile time)."""
    import mujoco

    if not (0 < timestep <= 0.002):
        raise SpecError(f"body timestep must be in (0, 2 ms]; got {timestep * 1e3:g} ms.")
    kw = {"timestep": timestep, "friction": friction, "fixed": fixed}
    first = mujoco.MjModel.from_xml_string(mouse_mjcf(**kw))
    xml = mouse_mjcf(**kw, length_ranges=_length_ranges(first))
    return MouseBody(mujoco.MjModel.from_xml_string(xml), xml)


def _length_ranges(m: object, n: int = 41) -> dict[str, tuple[float, float]]:
    """Each muscle's tendon length at the ends of its joint's range (a tendon spans one
    joint, and its length is monotonic in that joint's angle), swept on ``n`` angles."""
    import mujoco

    d = mujoco.MjData(m)
    out = {}
    for jn in JOINTS:
        j = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, jn)
        lo, hi = m.jnt_range[j]
        lengths = []
        for q in np.linspace(lo, hi, n):
            d.qpos[:] = m.qpos0
            d.qpos[m.jnt_qposadr[j]] = q
            mujoco.mj_kinematics(m, d)
            mujoco.mj_comPos(m, d)
            mujoco.mj_tendon(m, d)
            lengths.append(d.ten_length.copy())
        lengths = np.array(lengths)
        lb, joint = jn.split("_", 1)
        for mname, _ in _MUSCLES[joint]:
            t = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_TENDON, f"{lb}_{mname}")
            out[f"{lb}_{mname}"] = (float(lengths[:, t].min()), float(lengths[:, t].max()))
    return out
