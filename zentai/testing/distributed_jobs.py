"""Networks and jobs of the distributed tests (issue 10), importable by spawned processes."""

from __future__ import annotations

from typing import Any

import numpy as np

import zentai as zt
from zentai import units as u
from zentai.build import NetworkSpec, Population, Projection
from zentai.celltypes import LIF
from zentai.connectome import Bernoulli, DistanceGaussian, FixedIndegree, Normal
from zentai.record import PopulationRate, Spikes
from zentai.stim import DC, PoissonInput


def sheet_spec(n_e: int = 600, n_i: int = 150, seed: int = 1) -> NetworkSpec:
    """A positioned E/I sheet (1.2 mm along AP, sorted as atlas builds place neurons) with
    Gaussian local wiring, fixed in-degrees, delays of at least 1 ms, Poisson drive to all and
    DC to a subset of E: a network whose spatial tiles and overlapping exchange are used."""
    rs = np.random.default_rng(seed)

    def sheet(n: int) -> np.ndarray:
        p = np.column_stack([rs.uniform(0, 1200, n), rs.uniform(0, 300, n), rs.uniform(0, 600, n)])
        return p[np.argsort(p[:, 0], kind="stable")]

    return NetworkSpec(
        name="sheet",
        populations=(
            Population(
                name="E",
                size=n_e,
                model=LIF(),
                positions=sheet(n_e),
                initial={"v": Normal(-60.0, 4.0)},
            ),
            Population(name="I", size=n_i, model=LIF(tau_m=10.0), positions=sheet(n_i)),
        ),
        projections=(
            Projection(
                pre="E",
                post="E",
                rule=DistanceGaussian(p_max=0.3, sigma=150.0),
                weight=Normal(60.0, 6.0, low=0.0),
                delay=Normal(1.5, 0.3, low=1.0),
            ),
            Projection(pre="E", post="I", rule=FixedIndegree(60), weight=70.0, delay=1.0),
            Projection(
                pre="I",
                post="E",
                rule=Bernoulli(0.2),
                weight=-250.0,
                delay=Normal(1.2, 0.2, low=1.0),
            ),
            Projection(pre="I", post="I", rule=FixedIndegree(20), weight=-200.0, delay=1.0),
        ),
        stimuli=(
            PoissonInput(target="E", rate=8 * u.Hz, n_sources=1200, weight=80.0),
            PoissonInput(target="I", rate=8 * u.Hz, n_sources=1000, weight=80.0),
            DC(target="E", amplitude=150.0, neurons=tuple(range(0, n_e, 7)), start=20.0),
        ),
        recorders=(Spikes(), PopulationRate(bin=1.0)),
    )


def microcircuit_spec(scale: float = 0.02) -> NetworkSpec:
    from zentai.build.microcircuit import microcircuit

    return microcircuit(scale, record=True)


def simulate(comm: Any, which: str, kwargs: dict, duration: float) -> Any:
    """Build ``which`` on this rank's part, run, return the merged result on rank 0."""
    from zentai.distributed import DistributedSimulator

    spec = sheet_spec() if which == "sheet" else microcircuit_spec()
    d = DistributedSimulator(spec, comm, **kwargs)
    d.run(duration, progress=False)
    return d.gather_result(), d.stats(), d.fingerprint


def simulate_all(comm: Any, cases: list, duration: float) -> list:
    return [simulate(comm, which, kw, duration) for which, kw in cases]


def seed_by_rank(comm: Any) -> Any:
    """Every rank asks for another network seed: must stop before building."""
    from zentai.distributed import DistributedSimulator

    return DistributedSimulator(sheet_spec(), comm, network_seed=comm.rank)


def single(which: str, kwargs: dict, duration: float) -> Any:
    """The same run with the plain single-process Simulator."""
    spec = sheet_spec() if which == "sheet" else microcircuit_spec()
    net = zt.build.network(spec, seed=kwargs.get("network_seed", 0))
    sim = zt.sim.Simulator(
        net,
        seed=kwargs.get("seed", 0),
        dtype=kwargs.get("dtype", "float32"),
        n_ensembles=kwargs.get("n_ensembles", 1),
        backend=kwargs.get("backend", "auto"),
    )
    return sim.run(duration, progress=False), net
