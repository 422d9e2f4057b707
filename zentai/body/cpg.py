"""Spinal central pattern generator: Matsuoka half-centre oscillators, one per limb.

Each limb has a flexor and an extensor half-centre (Matsuoka 1985, Biol Cybern 52:367; as in
Taga et al. 1991 for locomotion):

    tau_r du_i/dt = -u_i - beta v_i - w y_j + s_i + sum_k c_ik y_k + f_i
    tau_a dv_i/dt = -v_i + y_i,        y_i = max(0, u_i)

``j`` the antagonist of the same limb, ``c`` the inter-limb coupling (between flexor
half-centres; negative = inhibition), ``s`` the descending drive (tonic input: it scales the
amplitude; the drive also shortens ``tau_r``/``tau_a``, raising the frequency), ``f`` sensory
feedback: paw contact excites the extensor and inhibits the flexor, which ends a swing when the
paw lands (phase resetting by touch, as in Ekeberg & Pearson 2005).

Gaits: ``"trot"`` (diagonal pairs in phase: LF+RH, RF+LH) and ``"pace"`` (ipsilateral pairs
in phase); in both, homologous left and right limbs alternate. Coupling is inhibitory between
the flexor centres of limbs that should alternate (a lateral-sequence walk, quarter cycles
apart, needs asymmetric coupling and is not offered). With the defaults the rhythm is ~2 Hz,
a slow stride frequency for a mouse, which steps at a few Hz [N].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zentai.errors import SpecError

__all__ = ["CPG", "GAITS"]

#: limb order as zentai.body.mouse.LIMBS: LF, RF, LH, RH
#: target phase of each limb's flexor burst (fraction of a cycle)
GAITS = {
    "trot": np.array([0.0, 0.5, 0.5, 0.0]),
    "pace": np.array([0.0, 0.5, 0.0, 0.5]),
}


@dataclass
class CPG:
    """Four Matsuoka oscillators coupled into a gait (parameters in seconds and unit-free).

    ``drive``: descending drive (tonic input s, >= 0); ``freq_gain``: how much the drive
    speeds the rhythm (time constants divided by ``1 + freq_gain (drive - 1)``).
    """

    gait: str = "trot"
    tau_r: float = 0.016
    tau_a: float = 0.2
    beta: float = 2.5
    w: float = 2.0
    coupling: float = 0.3
    drive: float = 1.0
    freq_gain: float = 0.5
    touch_gain: float = 0.3
    stance_bias: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.gait not in GAITS:
            raise SpecError(f"CPG.gait must be one of {list(GAITS)}; got {self.gait!r}.")
        for name in ("tau_r", "tau_a"):
            if not getattr(self, name) > 0:
                raise SpecError(f"CPG.{name} must be > 0 s; got {getattr(self, name)!r}.")
        phase = GAITS[self.gait]
        # inhibition between the flexor centres of limbs half a cycle apart
        d = phase[:, None] - phase[None, :]
        self.C = -self.coupling * 0.5 * (1.0 - np.cos(2 * math.pi * d))
        np.fill_diagonal(self.C, 0.0)
        rng = np.random.default_rng(self.seed)
        # start each limb at its gait phase: flexor active where the phase is near 0
        self.u = np.stack([np.cos(2 * math.pi * phase), -np.cos(2 * math.pi * phase)], 1)
        self.u += 0.01 * rng.standard_normal(self.u.shape)
        self.v = np.maximum(self.u, 0.0) * 0.5

    def set_drive(self, drive: float) -> None:
        """Descending drive (amplitude and frequency), e.g. from L5B activity."""
        if not (math.isfinite(drive) and drive >= 0):
            raise SpecError(f"CPG drive must be finite and >= 0; got {drive!r}.")
        self.drive = float(drive)

    def step(self, dt: float, touch: np.ndarray | None = None) -> np.ndarray:
        """Advance ``dt`` s; ``touch`` (4,) in [0, 1] per paw. Returns y (4 limbs, 2): the
        flexor and extensor outputs (>= 0)."""
        speed = max(1.0 + self.freq_gain * (self.drive - 1.0), 0.1)
        tr, ta = self.tau_r / speed, self.tau_a / speed
        y = np.maximum(self.u, 0.0)
        inp = np.full((4, 2), self.drive)
        inp[:, 1] += self.stance_bias  # a longer extensor (stance) phase
        inp[:, 0] += self.C @ y[:, 0]
        inp[:, 1] += self.C @ y[:, 1]
        if touch is not None:
            t = np.asarray(touch, dtype=np.float64)
            inp[:, 1] += self.touch_gain * t
            inp[:, 0] -= self.touch_gain * t
        du = (-self.u - self.beta * self.v - self.w * y[:, ::-1] + inp) / tr
        dv = (-self.v + y) / ta
        self.u = self.u + dt * du
        self.v = self.v + dt * dv
        return np.maximum(self.u, 0.0)

    def state(self) -> dict[str, np.ndarray]:
        return {"u": self.u.copy(), "v": self.v.copy(), "drive": self.drive}

    def load_state(self, st: dict) -> None:
        self.u, self.v, self.drive = np.array(st["u"]), np.array(st["v"]), float(st["drive"])
