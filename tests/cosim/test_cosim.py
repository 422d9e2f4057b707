"""Brain–body co-simulation: window rules, name checks, brain-forelimb, MPI = in-process."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mujoco")

from zentai.cosim import Afferent, BodySide, CoSim, Efferent
from zentai.cosim.forelimb import AFFERENTS, EFFERENTS, _body, _brain, brain_forelimb
from zentai.errors import SpecError


@pytest.fixture(scope="module")
def parts():
    return _brain(False, 0.02, 0, 200.0, 300.0), *_body(0)


def test_bad_windows_and_names_are_refused(parts):
    sim, body, data, spinal = parts
    with pytest.raises(SpecError, match=r"not a multiple of the body time step \(0.5 ms\)"):
        CoSim(sim, body, spinal, EFFERENTS, AFFERENTS, window_ms=0.3, data=data)
    with pytest.raises(SpecError, match=r"longer than the efferent delay \(5 ms\)"):
        CoSim(sim, body, spinal, EFFERENTS, AFFERENTS, window_ms=10.0, data=data)
    bad_muscle = (Efferent(population="L5E", muscles=("LF_bicep",)),)
    with pytest.raises(SpecError, match="unknown muscle 'LF_bicep'"):
        CoSim(sim, body, spinal, bad_muscle, AFFERENTS, data=data)
    with pytest.raises(SpecError, match="efferent population 'M1L5B' is not in the brain"):
        CoSim(sim, body, spinal, (Efferent(population="M1L5B", muscles=()),), AFFERENTS)
    with pytest.raises(SpecError, match="unknown touch sensor 'LX'"):
        BodySide(body, spinal, (Afferent(kind="touch", population="L4E", sensors=("LX",)),), 1.0)
    with pytest.raises(SpecError, match=r"Afferent\.kind must be one of"):
        Afferent(kind="pain", population="L4E")
    with pytest.raises(SpecError, match="has no PoissonInput in the brain"):
        other = (Afferent(kind="joint", population="L4E", n_sources=7),)
        CoSim(sim, body, spinal, EFFERENTS, other, data=data)


def test_brain_forelimb_moves_the_forelimb_and_feels_the_floor(tmp_path):
    s = brain_forelimb(tmp_path, duration_s=0.6, scale=0.02)
    assert abs(s["delta_angle_deg"]) >= 10.0
    assert s["excitation_stimulated"] > s["excitation_unstimulated"]
    assert s["touch_rate_before_hz"] == 0.0 and s["touch_rate_hz"] > 10.0
    assert all(c["pass"] for c in s["checks"].values())
    assert s["rtf_body"] > 0 and s["rtf_brain_body"] > s["rtf_body"]


@pytest.mark.slow
def test_two_mpi_ranks_give_the_in_process_trajectory_bit_for_bit(tmp_path):
    pytest.importorskip("mpi4py")
    mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        pytest.skip("no mpiexec next to the interpreter (pip install mpich)")
    n = 250
    out = tmp_path / "mpi.npz"
    r = subprocess.run(
        [mpiexec, "-n", "2", sys.executable, "-m", "zentai.cosim._mpi_check", str(out), str(n)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    sim = _brain(True, 0.05, 0, 200.0, 300.0)
    body, data, spinal = _body(0)
    co = CoSim(sim, body, spinal, EFFERENTS, AFFERENTS, data=data)
    qs = []
    co.run(n, callback=lambda c: qs.append(data.qpos.copy()))
    mpi = np.load(out)["qpos"]
    assert mpi.shape == (n, data.qpos.size)
    assert np.array_equal(mpi, np.array(qs))
    assert np.ptp(np.array(qs)[:, 2]) > 0  # the body moved (not a trivially equal run)
