"""The spinal cord of the body: CPG, stretch reflex, and afferent firing rates.

:class:`SpinalCord` turns the CPG's half-centre outputs into muscle activations. Each joint
has a reference angle set by the rhythm (flexor burst: the joint flexes by ``flex_deg``;
extensor burst: it extends by ``ext_deg``) and a stretch reflex around it: a muscle is
excited in proportion to how far (and how fast) the joint is from the reference in the
direction that stretches it (spindle feedback onto its motor neurons), on top of a small
co-activation. This is the CPG-plus-reflex organisation of Ekeberg & Pearson (2005, J
Neurophysiol 94:4256); the gains here are chosen for this body [N].

:func:`afferent_rates` gives the firing rates of four afferent classes from the body's
sensors, for the brain's Poisson inputs (BODY_NOTES.md; rate models after Prochazka &
Gorassini 1998 (spindle: length and velocity), Golgi tendon organs ~ force, joint receptors
~ angle, slowly adapting Merkel-like touch ~ saturating normal force) [N: gains].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zentai.body.cpg import CPG

__all__ = ["AFFERENTS", "SpinalCord", "afferent_rates"]

AFFERENTS = ("spindle", "golgi", "joint", "touch")


@dataclass
class SpinalCord:
    """CPG + reflex controller producing the 24 muscle activations of the mouse.

    ``flex_deg`` / ``ext_deg``: per joint of a limb (proximal, middle, distal) the flexion
    during swing and the extension during stance at full half-centre output; ``kp``
    (activation per rad), ``kd`` (s): reflex gains; ``base``: co-activation; ``y_max``: the
    half-centre output taken as "full".
    """

    cpg: CPG = field(default_factory=CPG)
    flex_deg: tuple[float, float, float] = (50.0, 35.0, 15.0)
    ext_deg: tuple[float, float, float] = (40.0, 5.0, 10.0)
    kp: float = 10.0
    kd: float = 0.03
    base: float = 0.05
    y_max: float = 0.6
    touch_force: float = 0.02  # N of paw force taken as full contact for the CPG
    command_deg: float = 30.0  # reflex reference shift of a full descending command

    def __post_init__(self) -> None:
        self.a_f = np.radians(np.asarray(self.flex_deg, dtype=np.float64))
        self.a_e = np.radians(np.asarray(self.ext_deg, dtype=np.float64))
        self.y = np.zeros((4, 2))

    def step(self, body, data, dt: float, command: np.ndarray | None = None) -> np.ndarray:
        """Advance the CPG by ``dt`` and return the 24 activations in [0, 1].

        ``command`` (24,) in [0, 1]: a descending excitation per muscle (e.g. from L5B). It is
        added to the muscle's activation and moves its joint's reflex reference by
        ``command_deg`` towards the muscle's action (flexors +, extensors -)."""
        touch = np.clip(body.taxel_forces(data).sum(axis=1) / self.touch_force, 0.0, 1.0)
        self.y = self.cpg.step(dt, touch) / self.y_max
        q = body.joint_angles(data).reshape(4, 3)
        qd = body.joint_velocities(data).reshape(4, 3)
        ref = self.a_f[None, :] * self.y[:, [0]] - self.a_e[None, :] * self.y[:, [1]]
        if command is not None:
            c = np.asarray(command, dtype=np.float64)
            ref = ref + np.radians(self.command_deg) * (c[0::2] - c[1::2]).reshape(4, 3)
        err = ref - q - self.kd * qd
        act = np.empty(24)
        act[0::2] = (self.base + self.kp * np.maximum(err, 0.0)).reshape(-1)
        act[1::2] = (self.base + self.kp * np.maximum(-err, 0.0)).reshape(-1)
        if command is not None:
            act += c
        return np.clip(act, 0.0, 1.0)


def afferent_rates(body, data, *, max_hz: float = 200.0) -> dict[str, np.ndarray]:
    """Firing rates (Hz) of the afferents of the body's state, per class:

    - ``spindle`` (24, per muscle): 10 + 4000 * stretch beyond the shortest length + 0.5 *
      lengthening speed (mm/s, positive part) (a primary ending: length + velocity);
    - ``golgi`` (24): 150 Hz per N of muscle tension;
    - ``joint`` (12): 20 + 60 * |angle| (rad);
    - ``touch`` (16 taxels): ``max_hz * F / (F + 5 mN)``, saturating (Merkel-like).

    All clipped to [0, ``max_hz``].
    """
    lo = body.model.actuator_lengthrange[body._ids["actuator"], 0]
    stretch = np.maximum(body.tendon_lengths(data) - lo, 0.0)
    vel = np.maximum(body.tendon_velocities(data), 0.0) * 1e3
    f = body.muscle_forces(data)
    taxel = body.taxel_forces(data).reshape(-1)
    rates = {
        "spindle": 10.0 + 4000.0 * stretch + 0.5 * vel,
        "golgi": 150.0 * f,
        "joint": 20.0 + 60.0 * np.abs(body.joint_angles(data)),
        "touch": max_hz * taxel / (taxel + 0.005),
    }
    return {k: np.clip(v, 0.0, max_hz) for k, v in rates.items()}
