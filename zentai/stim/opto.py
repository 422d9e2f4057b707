"""Optogenetic light: a laser spot on the brain surface and the ChR2-like current it drives.

Irradiance at lateral distance ``r`` from the spot axis and depth ``d`` below the surface::

    E(r, d) = P / (2 pi s(d)^2) * exp(-r^2 / (2 s(d)^2)) * 1 / (1 + S d)

a Gaussian spot of power ``P`` and width ``s(d) = s0 + spread * d`` (the beam widens as it
scatters), attenuated with depth by the Kubelka–Munk transmission of a scattering medium,
``S`` = 11.2 / mm for mouse brain at 473 nm (Aravanis et al. 2007, J Neural Eng 4:S143). The
power crossing any plane at depth d is exactly ``P / (1 + S d)``.

The photocurrent of a ChR2-expressing cell saturates with irradiance,
``I = I_max E / (E + E50)``; ``I_max`` ~ hundreds of pA and ``E50`` ~ 1 mW/mm^2 are typical of
ChR2(H134R) in cortical neurons [N: a single-compartment simplification of the channel's
kinetics; the current is held while the light is on].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from zentai.errors import SpecError

__all__ = ["ChR2", "LightSpot"]


def _positive(owner: str, **values: float) -> None:
    for name, v in values.items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise SpecError(f"{owner}.{name} must be a positive number; got {v!r}.")


@dataclass(frozen=True)
class LightSpot:
    """A laser spot on the surface (see the module docstring). Units: mW, µm, 1/mm."""

    power_mw: float = 1.0
    sigma_um: float = 100.0
    spread: float = 0.3
    scatter_per_mm: float = 11.2

    def __post_init__(self) -> None:
        _positive("LightSpot", power_mw=self.power_mw, sigma_um=self.sigma_um)
        if not (self.spread >= 0 and self.scatter_per_mm >= 0):
            raise SpecError(
                f"LightSpot.spread and scatter_per_mm must be >= 0; got {self.spread}, "
                f"{self.scatter_per_mm}."
            )

    def irradiance(self, lateral_um: Any, depth_um: Any) -> np.ndarray:
        """Irradiance (mW/mm²) at lateral distance(s) and depth(s) (µm, broadcast)."""
        r = np.asarray(lateral_um, dtype=np.float64) * 1e-3
        d = np.asarray(depth_um, dtype=np.float64) * 1e-3
        if np.any(d < 0) or np.any(r < 0):
            raise SpecError("LightSpot.irradiance: distances and depths must be >= 0 µm.")
        s = self.sigma_um * 1e-3 + self.spread * d
        return (
            self.power_mw
            / (2 * math.pi * s**2)
            * np.exp(-(r**2) / (2 * s**2))
            / (1.0 + self.scatter_per_mm * d)
        )


@dataclass(frozen=True)
class ChR2:
    """Saturating ChR2-like photocurrent ``I_max E / (E + E50)`` (pA; E in mW/mm²)."""

    i_max_pa: float = 400.0
    e50_mw_mm2: float = 1.0

    def __post_init__(self) -> None:
        _positive("ChR2", i_max_pa=self.i_max_pa, e50_mw_mm2=self.e50_mw_mm2)

    def current(self, irradiance: Any) -> np.ndarray:
        e = np.asarray(irradiance, dtype=np.float64)
        return self.i_max_pa * e / (e + self.e50_mw_mm2)
