"""The light model: beam geometry, power conservation with Kubelka–Munk loss, ChR2 current."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from zentai.errors import SpecError
from zentai.stim.opto import ChR2, LightSpot


def test_surface_peak_and_power_through_every_plane():
    spot = LightSpot(power_mw=2.0, sigma_um=80.0, spread=0.4)
    assert spot.irradiance(0.0, 0.0) == pytest.approx(2.0 / (2 * math.pi * 0.08**2))
    for d_um in (0.0, 300.0, 800.0):
        # power through the plane at depth d: 2 pi \int E(r, d) r dr = P / (1 + S d)
        p, _ = quad(lambda r, d=d_um: 2 * math.pi * r * spot.irradiance(r * 1e3, d), 0, 5)
        assert p == pytest.approx(2.0 / (1 + 11.2 * d_um * 1e-3), rel=1e-6)


def test_light_falls_with_depth_and_distance():
    spot = LightSpot()
    depth = spot.irradiance(0.0, np.linspace(0, 1000, 11))
    lateral = spot.irradiance(np.linspace(0, 1000, 11), 200.0)
    assert np.all(np.diff(depth) < 0) and np.all(np.diff(lateral) < 0)
    # at 1 mm the Kubelka-Munk factor alone is 1 / 12.2 (Aravanis et al. 2007, S = 11.2 / mm)
    flat = LightSpot(spread=0.0)
    assert flat.irradiance(0, 1000.0) / flat.irradiance(0, 0.0) == pytest.approx(1 / 12.2)


def test_chr2_half_maximum_and_saturation():
    c = ChR2(i_max_pa=300.0, e50_mw_mm2=0.8)
    assert c.current(0.8) == pytest.approx(150.0)
    assert c.current(0.0) == 0.0 and c.current(1e6) == pytest.approx(300.0, rel=1e-5)
    with pytest.raises(SpecError, match=r"ChR2\.i_max_pa must be a positive number"):
        ChR2(i_max_pa=-1.0)
    with pytest.raises(SpecError, match="must be >= 0"):
        LightSpot().irradiance(-1.0, 0.0)
